/*
 * sm.h - the client's side of XEP-0198 stream management: the stanzas it
 * sent (or has yet to send) that the server has not acknowledged, in order,
 * with the numbers the server counts them by.  No I/O: the caller sends
 * what sm_next_unsent gives and tells what the server said.
 *
 * Every stanza goes in with sm_add (unsent) and stays until an <a h/> or
 * <resumed h/> counts it; after a broken connection the ones left are sent
 * again (sm_unsend_all) on the next stream, in the order they were first
 * given.  Counters are modulo 2^32 (XEP-0198 5).
 */
#ifndef SIMPP_SM_H
#define SIMPP_SM_H

#include <stddef.h>
#include <stdint.h>

#define NS_SM3 "urn:xmpp:sm:3"

struct sm_item {
    struct sm_item *next;
    uint32_t seq;                   /* its number on the stream, once sent */
    int sent;
    size_t len;
    char xml[];
};

struct sm_queue {
    struct sm_item *head, *tail;
    struct sm_item *unsent;         /* the first one not sent on this stream */
    size_t n, bytes, inflight;      /* all held; sent and not acknowledged */
    uint32_t seq;                   /* stanzas sent on this stream (the server's h) */
};

/* a copy of xml, unsent, at the end; -1 out of memory */
int sm_add(struct sm_queue *q, const char *xml, size_t len);
/* the same at the front (a presence sent again before the rest) */
int sm_add_first(struct sm_queue *q, const char *xml, size_t len);
/* the next stanza to send on this stream, or NULL */
struct sm_item *sm_next_unsent(const struct sm_queue *q);
/* it went out: it gets the next number; with keep 0 (no stream
 * management) it is dropped at once */
void sm_mark_sent(struct sm_queue *q, int keep);
/* the server has handled h stanzas: drop those; returns how many went */
size_t sm_acked(struct sm_queue *q, uint32_t h);
/* a new stream: everything held is unsent again; the server's count
 * starts at base (its h in <resumed/>, 0 on a new stream) */
void sm_unsend_all(struct sm_queue *q, uint32_t base);
void sm_free(struct sm_queue *q);
/* what a person may see of a held stanza: "message to=.. id=.." (kind, to
 * and id only, never a body), in buf */
void sm_describe(const struct sm_item *it, char *buf, size_t cap);

#endif
