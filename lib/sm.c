/* sm.c - the client's XEP-0198 queue.  See sm.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm.h"

static struct sm_item *item(const char *xml, size_t len)
{
    struct sm_item *it = malloc(sizeof *it + len + 1);
    if (!it) return NULL;
    memset(it, 0, sizeof *it);
    it->len = len;
    memcpy(it->xml, xml, len);
    it->xml[len] = 0;
    return it;
}

int sm_add(struct sm_queue *q, const char *xml, size_t len)
{
    struct sm_item *it = item(xml, len);
    if (!it) return -1;
    if (q->tail) q->tail->next = it; else q->head = it;
    q->tail = it;
    if (!q->unsent) q->unsent = it;
    q->n++;
    q->bytes += len;
    return 0;
}

int sm_add_first(struct sm_queue *q, const char *xml, size_t len)
{
    if (q->head && q->head->sent) return sm_add(q, xml, len);      /* only before anything went */
    struct sm_item *it = item(xml, len);
    if (!it) return -1;
    it->next = q->head;
    q->head = it;
    if (!q->tail) q->tail = it;
    q->unsent = it;
    q->n++;
    q->bytes += len;
    return 0;
}

struct sm_item *sm_next_unsent(const struct sm_queue *q)
{
    return q->unsent;
}

static void drop_head(struct sm_queue *q)
{
    struct sm_item *it = q->head;
    q->head = it->next;
    if (!q->head) q->tail = NULL;
    if (q->unsent == it) q->unsent = q->head;
    if (it->sent) q->inflight--;
    q->n--;
    q->bytes -= it->len;
    memset(it->xml, 0, it->len);        /* a plain user's body goes no further */
    free(it);
}

void sm_mark_sent(struct sm_queue *q, int keep)
{
    struct sm_item *it = q->unsent;
    if (!it) return;
    it->sent = 1;
    it->seq = ++q->seq;
    q->inflight++;
    q->unsent = it->next;
    if (!keep) drop_head(q);            /* it is the first: all before it went the same way */
}

size_t sm_acked(struct sm_queue *q, uint32_t h)
{
    size_t n = 0;
    /* an item is acknowledged if h is at or after its number */
    while (q->head && q->head->sent && (int32_t)(h - q->head->seq) >= 0) {
        drop_head(q);
        n++;
    }
    return n;
}

void sm_unsend_all(struct sm_queue *q, uint32_t base)
{
    for (struct sm_item *it = q->head; it; it = it->next) it->sent = 0;
    q->unsent = q->head;
    q->inflight = 0;
    q->seq = base;
}

void sm_free(struct sm_queue *q)
{
    while (q->head) drop_head(q);
    memset(q, 0, sizeof *q);
}

/* the value of attribute name in the opening tag of xml, quoted ' or " */
static void attr(const char *xml, const char *name, char *out, size_t cap)
{
    const char *gt = strchr(xml, '>');
    size_t nl = strlen(name);
    out[0] = 0;
    for (const char *p = xml; p && (!gt || p < gt); p = strchr(p + 1, ' ')) {
        if (strncmp(p + 1, name, nl) || p[1 + nl] != '=' || (p[2 + nl] != '\'' && p[2 + nl] != '"')) continue;
        const char *v = p + 3 + nl, *e = strchr(v, p[2 + nl]);
        if (!e || (gt && e > gt)) return;
        snprintf(out, cap, "%.*s", (int)(e - v), v);
        return;
    }
}

void sm_describe(const struct sm_item *it, char *buf, size_t cap)
{
    char kind[16], to[300], id[200];
    size_t k = strcspn(it->xml + 1, " />");
    snprintf(kind, sizeof kind, "%.*s", (int)(k < sizeof kind ? k : sizeof kind - 1), it->xml + 1);
    attr(it->xml, "to", to, sizeof to);
    attr(it->xml, "id", id, sizeof id);
    snprintf(buf, cap, "%s to=%s id=%s", kind, to[0] ? to : "-", id[0] ? id : "-");
}
