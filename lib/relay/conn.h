/*
 * conn.h - simpp-relayd's connections and the relay they belong to, as the
 * files of lib/relay/ share them, and the output of a connection (conn.c),
 * the lowest layer: routing (route.h) and authentication (auth.h) sit on it,
 * stream set-up (stream.c) on both.  Not a public interface.
 */
#ifndef SIMPP_RELAY_CONN_H
#define SIMPP_RELAY_CONN_H

#include <stdint.h>

#include "ev.h"
#include "relay/relay.h"
#include "sasl.h"
#include "sbuf.h"
#include "simpp.h"
#include "store.h"
#include "xmlstream.h"

#define NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_ROSTER  "jabber:iq:roster"
#define NS_SM      "urn:xmpp:sm:3"
#define NS_PING    "urn:xmpp:ping"
#define NS_DISCO   "http://jabber.org/protocol/disco#info"
#define NS_DELAY   "urn:xmpp:delay"

enum conn_state {
    CS_HEADER,      /* waiting for the client's stream header */
    CS_PREAUTH,     /* features sent: SASL or SIMPP registration */
    CS_SASL,        /* a SASL exchange is under way */
    CS_RESTART,     /* authenticated: waiting for the new stream header */
    CS_AUTHED,      /* new stream open: waiting for resource binding */
    CS_BOUND,       /* a full JID: stanzas flow */
    CS_CLOSING,     /* closing: flushing, reading nothing more */
};

struct relay;

struct conn {
    struct relay *r;
    int fd;
    int state;
    char addr[48];
    char stream_id[33];
    xs_stream *xs;              /* what the client sends */
    xs_stream *inner;           /* the stanzas inside SIMPP frames */
    struct simpp_chan *chan;    /* after SIMPP login: every stanza sealed */
    sbuf out;                   /* bytes not yet written */
    /* authentication under way */
    int mech;                   /* MECH_* */
    int auth_failures;
    int s2_sent, r2_sent;       /* one S2 and one R2 a stream: never a second under K_A */
    struct simpp_login *login;
    struct simpp_reg *reg;
    scram_server *scram;
    char *authuser;             /* bare JID during SASL */
    /* the session */
    char *bare, *full;          /* JIDs once authenticated / bound */
    int level;                  /* enum simpp_level */
    int available;              /* initial presence sent */
    int interested;             /* asked for the roster: gets pushes */
    char *presence;             /* last broadcast presence, serialised */
    int sm;                     /* XEP-0198 acks enabled */
    uint32_t sm_in;             /* stanzas handled, for <a h=''/> */
    int64_t born, last;         /* ms, monotonic */
    /* offline messages handed to this connection: each row is deleted only
     * once the bytes carrying it have been written to the socket, so a
     * crash before that leaves it stored (delivered later, not lost) */
    uint64_t out_queued, out_written;
    struct pend_del { int64_t id; uint64_t end; } *pend;
    size_t npend, capend;
    long long timer;
    struct conn *hnext;         /* same hash bucket (sessions by bare JID) */
    struct conn *next, *prev;   /* all connections */
    struct conn *dnext, *dprev; /* output waiting for the next flush */
    int dirty;
};

enum { MECH_NONE, MECH_SIMPP, MECH_SCRAM };

struct addr_count {
    char addr[48];
    int n;
    struct addr_count *next;
};

#define SESS_BUCKETS 4096
#define ADDR_BUCKETS 1024

struct relay {
    const struct relay_config *cfg;
    ev_loop *loop;
    store *st;
    const sc_key *key;
    uint8_t wrapkey[32];
    uint8_t spub[SC_MAX_PUB];
    size_t spublen;
    int lfd, sfd;
    int nconns;
    struct conn *conns;
    struct conn *dirty;         /* connections with output to flush */
    struct conn *sess[SESS_BUCKETS];
    struct addr_count *addrs[ADDR_BUCKETS];
    int64_t reg_window;         /* start of the current registration minute */
    int reg_count;
    int draining;
    int64_t drain_deadline;
    uint64_t routed, stored;    /* counters for the log at exit */
    /* stream.c: a connection whose output went or failed; frees it if done */
    void (*settle)(struct conn *c);
};

/* conn.c */
void relay_log(struct relay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
unsigned relay_allowed_mask(const struct relay *r);
void conn_raw(struct conn *c, const char *d, size_t n);    /* bytes as they are */
void conn_send(struct conn *c, const char *xml, size_t len); /* a stanza (sealed on a channel) */
void conn_send_sb(struct conn *c, sbuf *b);
/* delete offline row id once everything queued so far has been written */
void conn_delete_after_write(struct conn *c, int64_t id);
void conn_stream_error(struct conn *c, const char *cond, const char *text);
void conn_close(struct conn *c);
/* <TYPE type='error' ...><error type=T><COND/></error></TYPE> back to the sender */
void conn_stanza_error(struct conn *c, const xs_node *st, const char *etype, const char *cond);
void conn_flush(struct conn *c);            /* write what the socket takes now */
void conn_unmark_dirty(struct conn *c);
void relay_flush_dirty(struct relay *r);    /* every connection with output */

#endif
