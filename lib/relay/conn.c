/*
 * conn.c - what simpp-relayd writes to a connection: stanzas queued and
 * written once per loop iteration, sealed on a SIMPP channel, stanza and
 * stream errors, the close, and offline rows deleted only once written.
 * Below routing (route.c) and stream set-up (stream.c): it calls neither,
 * and hands a connection that is done back through r->settle.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relay/conn.h"
#include "util.h"

void relay_log(struct relay *r, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    (void)r;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* one event a line, whatever a peer put in the values we log */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    fprintf(stderr, "%s: %s\n", progname, buf);
}

unsigned relay_allowed_mask(const struct relay *r)
{
    unsigned m = 0;
    for (size_t i = 0; i < r->cfg->nsuites; i++) m |= 1u << r->cfg->suites[i];
    return m;
}

/* ---- output ------------------------------------------------------------------ */

static void conn_write_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct conn *c = arg;
    (void)l; (void)fd; (void)mask;
    conn_flush(c);
    c->r->settle(c);
}

void conn_delete_after_write(struct conn *c, int64_t id)
{
    if (c->out_written >= c->out_queued) {
        store_offline_delete(c->r->st, id);
        return;
    }
    if (c->npend == c->capend) {
        size_t cap = c->capend ? 2 * c->capend : 16;
        struct pend_del *p = realloc(c->pend, cap * sizeof *p);
        if (!p) return;                     /* kept: delivered again later */
        c->pend = p;
        c->capend = cap;
    }
    c->pend[c->npend].id = id;
    c->pend[c->npend].end = c->out_queued;
    c->npend++;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long resume_cb(ev_loop *l, long long id, void *arg)
{
    struct conn *c = arg;
    (void)id;
    c->pause_timer = 0;
    if (c->fd >= 0 && c->state != CS_CLOSING) ev_add(l, c->fd, EV_READ, c->r->read_cb, c);
    return EV_NOMORE;
}

void conn_pause(struct conn *c, int ms)
{
    if (c->pause_timer || c->fd < 0) return;
    ev_del(c->r->loop, c->fd, EV_READ);
    c->pause_timer = ev_timer_add(c->r->loop, ms, resume_cb, c);
}

static long long trim_cb(ev_loop *l, long long id, void *arg)
{
    struct relay *r = arg;
    (void)l; (void)id;
    if (r->hs_ended != r->hs_seen) {            /* still handshaking: wait on */
        r->hs_seen = r->hs_ended;
        return TLS_TRIM_MS;
    }
    malloc_trim(0);                             /* ~0.3 ms for 10,000 sessions */
    r->hs_trimmed = r->hs_ended;
    r->trim_timer = 0;
    return EV_NOMORE;
}

/* a handshake ended (either way) */
static void hs_ended(struct relay *r)
{
    r->hs_ended++;
    if (r->trim_timer || r->hs_ended - r->hs_trimmed < TLS_TRIM_MIN) return;
    r->hs_seen = r->hs_ended;
    r->trim_timer = ev_timer_add(r->loop, TLS_TRIM_MS, trim_cb, r);
    if (r->trim_timer < 0) r->trim_timer = 0;
}

int conn_tls_step(struct conn *c)
{
    struct relay *r = c->r;
    if (r->hs_us >= HS_BUDGET_US) return 0;     /* the next iteration: the fd stays ready */
    int64_t t0 = now_us();
    int rc = tls_handshake(c->tls);
    r->hs_us += now_us() - t0;
    if (rc != TLS_WANT_WRITE && rc != TLS_WANT_READ) hs_ended(r);
    if (rc == TLS_OK) {
        if (ev_mask(r->loop, c->fd) & EV_WRITE) ev_del(r->loop, c->fd, EV_WRITE);
        return 1;
    }
    if (rc == TLS_WANT_WRITE) {
        ev_add(r->loop, c->fd, EV_WRITE, conn_write_cb, c);
        return 0;
    }
    if (rc == TLS_WANT_READ) {
        if (ev_mask(r->loop, c->fd) & EV_WRITE) ev_del(r->loop, c->fd, EV_WRITE);
        return 0;
    }
    relay_log(r, "tls-failed addr=%s%s%s reason=%s", c->addr, c->kind == K_S2S_OUT ? " domain=" : "",
              c->kind == K_S2S_OUT ? c->remote : "", tls_error(c->tls));
    sb_reset(&c->out);
    c->state = CS_CLOSING;
    return -1;
}

/* one write of what is queued: the count, 0 when the socket is full, -1
 * when the connection is gone */
static ssize_t out_write(struct conn *c)
{
    if (c->tls) {
        ssize_t w = tls_write(c->tls, c->out.p, c->out.n);
        if (w == TLS_WANT_WRITE || w == TLS_WANT_READ) return 0;
        return w > 0 ? w : -1;
    }
    for (;;) {
        ssize_t w = write(c->fd, c->out.p, c->out.n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return w > 0 ? w : -1;
    }
}

void conn_flush(struct conn *c)
{
    if (c->tls && !tls_done(c->tls)) {
        if (c->state == CS_TLS) conn_tls_step(c);
        return;
    }
    while (c->out.n) {
        ssize_t w = out_write(c);
        if (w == 0) break;
        if (w < 0) {
            sb_reset(&c->out);
            c->state = CS_CLOSING;
            c->io_failed = 1;               /* broken, not ended: resumable */
            break;
        }
        sb_consume(&c->out, (size_t)w);
        c->out_written += (size_t)w;
    }
    size_t done = 0;
    while (done < c->npend && c->pend[done].end <= c->out_written)
        store_offline_delete(c->r->st, c->pend[done++].id);
    if (done) {
        memmove(c->pend, c->pend + done, (c->npend - done) * sizeof *c->pend);
        c->npend -= done;
    }
    /* an idle session keeps no output buffer: 10,000 of them add up */
    if (c->out.n == 0 && c->out.cap) sb_free(&c->out);
    if (c->out.n)
        ev_add(c->r->loop, c->fd, EV_WRITE, conn_write_cb, c);
    else if (ev_mask(c->r->loop, c->fd) & EV_WRITE)
        ev_del(c->r->loop, c->fd, EV_WRITE);
}

/* Output is queued and written once per loop iteration (before_sleep):
 * one write for everything a callback produced, not one per stanza. */
static void mark_dirty(struct conn *c)
{
    if (c->dirty) return;
    c->dirty = 1;
    c->dnext = c->r->dirty;
    c->dprev = NULL;
    if (c->r->dirty) c->r->dirty->dprev = c;
    c->r->dirty = c;
}

void conn_unmark_dirty(struct conn *c)
{
    if (!c->dirty) return;
    if (c->dprev) c->dprev->dnext = c->dnext; else c->r->dirty = c->dnext;
    if (c->dnext) c->dnext->dprev = c->dprev;
    c->dirty = 0;
    c->dnext = c->dprev = NULL;
}

void conn_raw(struct conn *c, const char *d, size_t n)
{
    if (c->fd < 0) return;
    sb_put(&c->out, d, n);
    c->out_queued += n;
    if (c->out.oom || c->out.n > c->r->cfg->max_outbuf) {
        /* a reader that does not read is cut off rather than grow us */
        relay_log(c->r, "slow-reader addr=%s jid=%s queued=%zu", c->addr,
                  c->full ? c->full : "-", c->out.n);
        sb_free(&c->out);
        c->state = CS_CLOSING;
    }
    mark_dirty(c);
}

/* ---- XEP-0198 ------------------------------------------------------------------ */

struct sm_item {
    struct sm_item *next;
    uint32_t seq;               /* its number in sm_out */
    size_t len;
    char xml[];
};

#define SM_ASK_EVERY 10         /* <r/> after this many unacknowledged stanzas */
#define SM_MAX_HELD 5000        /* a session holding more is not resumable */

static int is_stanza(const char *xml, size_t len)
{
    return (len > 8 && !strncmp(xml, "<message", 8)) || (len > 9 && !strncmp(xml, "<presence", 9)) ||
           (len > 3 && !strncmp(xml, "<iq", 3) && (xml[3] == ' ' || xml[3] == '>'));
}

static void send_now(struct conn *c, const char *xml, size_t len);

static void sm_hold(struct conn *c, const char *xml, size_t len)
{
    struct sm_item *it = malloc(sizeof *it + len);
    c->sm_out++;
    if (!it || c->smq_n >= SM_MAX_HELD) {
        /* too much held (or no memory): the session can no longer promise
         * exactly once; it ends like one without resumption */
        free(it);
        relay_log(c->r, "resume-off jid=%s reason=%s", c->full ? c->full : "-", it ? "too many unacknowledged" : "memory");
        conn_sm_free(c);
        c->sm_resume = 0;
        return;
    }
    it->next = NULL;
    it->seq = c->sm_out;
    it->len = len;
    memcpy(it->xml, xml, len);
    if (c->smq_tail) c->smq_tail->next = it; else c->smq = it;
    c->smq_tail = it;
    if (++c->smq_n % SM_ASK_EVERY == 0 && !c->detached) send_now(c, "<r xmlns='" NS_SM "'/>", strlen("<r xmlns='" NS_SM "'/>"));
}

void conn_sm_acked(struct conn *c, uint32_t h)
{
    /* h counts modulo 2^32 (XEP-0198 5): an item is acked if h is at or after it */
    while (c->smq && (int32_t)(h - c->smq->seq) >= 0) {
        struct sm_item *it = c->smq;
        c->smq = it->next;
        free(it);
        c->smq_n--;
    }
    if (!c->smq) c->smq_tail = NULL;
}

void conn_sm_resend(struct conn *c)
{
    for (struct sm_item *it = c->smq; it; it = it->next) send_now(c, it->xml, it->len);
}

void conn_sm_each(struct conn *c, void (*fn)(struct conn *c, const char *xml, size_t len, void *arg), void *arg)
{
    for (struct sm_item *it = c->smq; it; it = it->next) fn(c, it->xml, it->len, arg);
}

void conn_sm_free(struct conn *c)
{
    while (c->smq) {
        struct sm_item *it = c->smq;
        c->smq = it->next;
        free(it);
    }
    c->smq_tail = NULL;
    c->smq_n = 0;
}

void conn_send(struct conn *c, const char *xml, size_t len)
{
    if (c->kind == K_REMOTE) {              /* an answer to another domain's user */
        if (c->r->remote_send) c->r->remote_send(c->r, c->remote, xml, len, NULL);
        return;
    }
    if (c->state == CS_CLOSING && !c->detached) return;
    if (c->sm_resume && is_stanza(xml, len)) {
        sm_hold(c, xml, len);
        if (c->detached) return;            /* held for the resume */
    }
    send_now(c, xml, len);
}

static void send_now(struct conn *c, const char *xml, size_t len)
{
    if (c->state == CS_CLOSING || c->fd < 0) return;
    if (c->r->cfg->verbose) {
        /* the opening tag only (kind, type, addresses): never a body */
        const char *gt = memchr(xml, '>', len);
        size_t n = gt ? (size_t)(gt - xml) + 1 : len;
        relay_log(c->r, "out fd=%d %.*s", c->fd, (int)(n > 300 ? 300 : n), xml);
    }
    if (!c->chan) {
        conn_raw(c, xml, len);
        return;
    }
    /* SIMPP channel: <c xmlns='urn:simpp:1' n='SEQ'>base64(seal(stanza))</c> */
    size_t cl = len + SC_MAX_OVERHEAD, bl = 4 * ((cl + 2) / 3) + 1;
    uint8_t *ct = malloc(cl);
    char *b = malloc(bl), head[80];
    uint64_t seq;
    if (ct && b && simpp_chan_seal(c->chan, xml, len, ct, &cl, &seq) == SIMPP_OK &&
        sc_b64_encode(ct, cl, b, &bl) == 0) {
        int hl = snprintf(head, sizeof head, "<c xmlns='" SIMPP_NS "' n='%llu'>", (unsigned long long)seq);
        sb_put(&c->out, head, (size_t)hl);
        sb_put(&c->out, b, bl);
        conn_raw(c, "</c>", 4);
    } else {
        relay_log(c->r, "seal-failed fd=%d", c->fd);
        c->state = CS_CLOSING;
    }
    free(ct);
    free(b);
}

void conn_send_sb(struct conn *c, sbuf *b)
{
    if (!b->oom) conn_send(c, b->p, b->n);
    sb_free(b);
}

void conn_stream_error(struct conn *c, const char *cond, const char *text)
{
    size_t n;
    char *e;
    if (c->state == CS_CLOSING) return;
    if (c->state == CS_HEADER && c->kind != K_S2S_OUT) {   /* RFC 6120 4.9.1.2: open a stream first */
        char *h = xs_stream_header(XS_NS_CLIENT, c->r->cfg->domain, NULL, NULL, NULL, &n);
        if (h) conn_raw(c, h, n);
        free(h);
    }
    relay_log(c->r, "stream-error addr=%s jid=%s condition=%s%s%s", c->addr,
              c->full ? c->full : c->bare ? c->bare : "-", cond, text ? " text=" : "", text ? text : "");
    if ((e = xs_stream_error(cond, text, &n))) {
        /* the error and the close are sent in clear even on a SIMPP channel:
         * the peer may no longer be able to read frames */
        conn_raw(c, e, n);
        free(e);
    }
    c->state = CS_CLOSING;
}

void conn_stanza_error(struct conn *c, const xs_node *st, const char *etype, const char *cond)
{
    conn_stanza_error_text(c, st, etype, cond, NULL);
}

void conn_stanza_error_text(struct conn *c, const xs_node *st, const char *etype, const char *cond, const char *text)
{
    const char *id = xs_getattr(st, "id", NULL), *to = xs_getattr(st, "to", NULL);
    const char *type = xs_getattr(st, "type", NULL);
    sbuf b = { 0 };
    if (type && strcmp(type, "error") == 0) return;     /* never answer an error */
    sb_printf(&b, "<%s type='error'", st->name);
    if (to) { sb_puts(&b, " from='"); sb_esc(&b, to); sb_puts(&b, "'"); }
    if (c->full) { sb_puts(&b, " to='"); sb_esc(&b, c->full); sb_puts(&b, "'"); }
    if (id) { sb_puts(&b, " id='"); sb_esc(&b, id); sb_puts(&b, "'"); }
    sb_printf(&b, "><error type='%s'><%s xmlns='" NS_STANZAS "'/>", etype, cond);
    if (text) { sb_puts(&b, "<text xmlns='" NS_STANZAS "'>"); sb_esc(&b, text); sb_puts(&b, "</text>"); }
    sb_printf(&b, "</error></%s>", st->name);
    conn_send_sb(c, &b);
}

void conn_close(struct conn *c)
{
    if (c->state != CS_CLOSING) {
        conn_raw(c, XS_STREAM_CLOSE, strlen(XS_STREAM_CLOSE));
        c->state = CS_CLOSING;
    }
}

void relay_flush_dirty(struct relay *r)
{
    while (r->dirty) {
        struct conn *c = r->dirty;
        conn_unmark_dirty(c);
        conn_flush(c);
        r->settle(c);
    }
}

int conn_header_ok(struct conn *c, const xs_header *h, const char *ns, const char *port_kind)
{
    if (!h->content_ns || strcmp(h->content_ns, ns) != 0) {
        char why[80];
        snprintf(why, sizeof why, "this is a %s port: %s", port_kind, ns);
        xs_fail(c->xs, "invalid-namespace", why);
        return -1;
    }
    if (!h->version || strncmp(h->version, "1.", 2) != 0) {
        conn_stream_error(c, "unsupported-version", NULL);
        return -1;
    }
    if (!h->to || strcasecmp(h->to, c->r->cfg->domain) != 0) {
        conn_stream_error(c, "host-unknown", h->to ? h->to : "no 'to'");
        return -1;
    }
    return 0;
}

/* RFC 6120 5.4: <starttls/> is answered <proceed/> and the handshake starts
 * on the same socket.  Whatever the client sent after <starttls/> in clear
 * is dropped, never read as part of the protected stream (5.4.3.3): the
 * parser stops here and restarts once TLS is up. */
int conn_starttls(struct conn *c, const xs_node *st, tls_ctx *ctx)
{
    static const char proceed[] = "<proceed xmlns='" NS_TLS "'/>", failure[] = "<failure xmlns='" NS_TLS "'/>";
    if (strcmp(st->name, "starttls") != 0 || !ctx || c->tls) {
        conn_raw(c, failure, sizeof failure - 1);       /* 5.4.2.2: then close */
        conn_close(c);
        return 1;
    }
    conn_raw(c, proceed, sizeof proceed - 1);
    conn_flush(c);
    if (c->state == CS_CLOSING) return 1;
    if (c->out.n || !(c->tls = tls_accept(ctx, c->fd))) {
        conn_stream_error(c, "internal-server-error", "unable to start TLS");
        return 1;
    }
    c->state = CS_TLS;
    return 1;
}
