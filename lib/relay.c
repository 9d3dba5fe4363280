/*
 * relay.c - simpp-relayd's connections: accept with limits, the XML stream
 * (RFC 6120 4), stream features, SIMPP registration R1-R3 (paper 001 Fig. 5)
 * as an iq before authentication, SASL (RFC 6120 6) with the SIMPP login
 * S1-S3 (Fig. 6) as mechanism "SIMPP" plus SCRAM-SHA-256 and PLAIN for
 * ordinary clients, the SIMPP channel after login, timeouts and draining.
 * What happens to stanzas once a session is bound is in route.c.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "net.h"
#include "relay_int.h"
#include "util.h"

#define READ_CHUNK 16384

static const char SYNTH_HEADER[] =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

void relay_config_defaults(struct relay_config *c)
{
    memset(c, 0, sizeof *c);
    c->domain = "localhost";
    c->host = "127.0.0.1";
    c->port = "5222";
    c->allow_register = 1;
    c->allow_scram = 1;
    c->allow_plain = 0;
    c->suites[0] = SC_SUITE_CHACHA20_POLY1305;
    c->suites[1] = SC_SUITE_AES128_GCM;
    c->suites[2] = SC_SUITE_AES128_CBC_HMAC;
    c->nsuites = 3;
    c->policy = RELAY_POLICY_OPEN;
    c->max_stanza = 65536;
    c->max_conns = 20000;
    c->max_per_addr = 100;
    c->reg_per_min = 60;
    c->auth_timeout = 30;
    c->idle_timeout = 600;
    c->max_outbuf = 4u << 20;
    c->offline_quota = 1000;
    c->ready_fd = -1;
}

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

/* ---- JIDs ------------------------------------------------------------------ */

/* localpart and domain: RFC 7622 3.3.1 forbids " & ' / : < > @ and controls;
 * ASCII is lower-cased (the common case of its case mapping). */
static int part_ok(char *s, int local)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255) return 0;
    for (char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch == 0x7f) return 0;
        if (local && strchr("\"&'/:<>@", ch)) return 0;
        if (!local && strchr("\"&'/<>@", ch)) return 0;
        if (ch >= 'A' && ch <= 'Z') *p = (char)(ch + 32);
    }
    return 1;
}

int jid_parse(const char *s, struct jid *j)
{
    const char *at, *slash;
    size_t n;
    memset(j, 0, sizeof *j);
    if (!s) return -1;
    slash = strchr(s, '/');
    at = memchr(s, '@', slash ? (size_t)(slash - s) : strlen(s));
    if (at) {
        n = (size_t)(at - s);
        if (n == 0 || n >= sizeof j->local) return -1;
        memcpy(j->local, s, n);
        if (!part_ok(j->local, 1)) return -1;
        s = at + 1;
    }
    n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof j->domain) return -1;
    memcpy(j->domain, s, n);
    if (!part_ok(j->domain, 0)) return -1;
    if (slash) {
        const unsigned char *p = (const unsigned char *)slash + 1;
        n = strlen(slash + 1);
        if (n == 0 || n >= sizeof j->resource) return -1;
        for (size_t i = 0; i < n; i++)
            if (p[i] < 0x20 || p[i] == 0x7f) return -1;
        memcpy(j->resource, slash + 1, n);
    }
    return 0;
}

int jid_bare(const struct jid *j, char *buf, size_t cap)
{
    int n = j->local[0] ? snprintf(buf, cap, "%s@%s", j->local, j->domain)
                        : snprintf(buf, cap, "%s", j->domain);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* ---- K_A at rest ------------------------------------------------------------- */

int relay_wrap_key(const sc_key *server_key, uint8_t out[32])
{
    uint8_t d[SC_MAX_SCALAR];
    size_t dl = sizeof d;
    int r = -1;
    if (sc_key_scalar(server_key, d, &dl) == 0)
        r = sc_hkdf_sha256("simpp/1 store", 13, d, dl, "K_A wrap", 8, out, 32);
    sc_zero(d, sizeof d);
    return r;
}

int relay_wrap(const uint8_t wk[32], const char *jid, const uint8_t ka[32], uint8_t *out,
               size_t *outlen)
{
    size_t cl;
    if (*outlen < SC_NONCE_LEN + 32 + 16 || sc_random(out, SC_NONCE_LEN) < 0) return -1;
    cl = *outlen - SC_NONCE_LEN;
    /* the JID is the associated data: a row copied to another user does not open */
    if (sc_seal(SC_SUITE_CHACHA20_POLY1305, wk, out, jid, strlen(jid), ka, 32,
                out + SC_NONCE_LEN, &cl) < 0)
        return -1;
    *outlen = SC_NONCE_LEN + cl;
    return 0;
}

int relay_unwrap(const uint8_t wk[32], const char *jid, const uint8_t *in, size_t len,
                 uint8_t ka[32])
{
    uint8_t pt[64];
    size_t pl = sizeof pt;
    int r = -1;
    if (len != SC_NONCE_LEN + 32 + 16) return -1;
    if (sc_open(SC_SUITE_CHACHA20_POLY1305, wk, in, jid, strlen(jid), in + SC_NONCE_LEN,
                len - SC_NONCE_LEN, pt, &pl) == 0 && pl == 32) {
        memcpy(ka, pt, 32);
        r = 0;
    }
    sc_zero(pt, sizeof pt);
    return r;
}

/* ---- per-address accounting ------------------------------------------------ */

static unsigned strhash(const char *s)
{
    unsigned h = 2166136261u;                    /* FNV-1a */
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static struct addr_count *addr_get(struct relay *r, const char *addr, int create)
{
    unsigned b = strhash(addr) % ADDR_BUCKETS;
    for (struct addr_count *a = r->addrs[b]; a; a = a->next)
        if (strcmp(a->addr, addr) == 0) return a;
    if (!create) return NULL;
    struct addr_count *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    snprintf(a->addr, sizeof a->addr, "%s", addr);
    a->next = r->addrs[b];
    r->addrs[b] = a;
    return a;
}

static void addr_put(struct relay *r, const char *addr)
{
    unsigned b = strhash(addr) % ADDR_BUCKETS;
    for (struct addr_count **pp = &r->addrs[b]; *pp; pp = &(*pp)->next) {
        struct addr_count *a = *pp;
        if (strcmp(a->addr, addr) != 0) continue;
        if (--a->n <= 0) {
            *pp = a->next;
            free(a);
        }
        return;
    }
}

/* ---- output ------------------------------------------------------------------ */

static void conn_write_cb(ev_loop *l, int fd, int mask, void *arg);

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

static void conn_flush(struct conn *c)
{
    while (c->out.n) {
        ssize_t w = write(c->fd, c->out.p, c->out.n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (w <= 0) {
            sb_reset(&c->out);
            c->state = CS_CLOSING;
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
    if (c->out.n == 0 && c->out.cap > 1024) sb_free(&c->out);
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

static void unmark_dirty(struct conn *c)
{
    if (!c->dirty) return;
    if (c->dprev) c->dprev->dnext = c->dnext; else c->r->dirty = c->dnext;
    if (c->dnext) c->dnext->dprev = c->dprev;
    c->dirty = 0;
    c->dnext = c->dprev = NULL;
}

static void conn_raw(struct conn *c, const char *d, size_t n)
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

void conn_send(struct conn *c, const char *xml, size_t len)
{
    if (c->state == CS_CLOSING) return;
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
    if (c->state == CS_HEADER) {            /* RFC 6120 4.9.1.2: open a stream first */
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
    const char *id = xs_getattr(st, "id", NULL), *to = xs_getattr(st, "to", NULL);
    const char *type = xs_getattr(st, "type", NULL);
    sbuf b = { 0 };
    if (type && strcmp(type, "error") == 0) return;     /* never answer an error */
    sb_printf(&b, "<%s type='error'", st->name);
    if (to) { sb_puts(&b, " from='"); sb_esc(&b, to); sb_puts(&b, "'"); }
    if (c->full) { sb_puts(&b, " to='"); sb_esc(&b, c->full); sb_puts(&b, "'"); }
    if (id) { sb_puts(&b, " id='"); sb_esc(&b, id); sb_puts(&b, "'"); }
    sb_printf(&b, "><error type='%s'><%s xmlns='" NS_STANZAS "'/></error></%s>", etype, cond, st->name);
    conn_send_sb(c, &b);
}

/* ---- connection lifetime --------------------------------------------------- */

static void conn_free(struct conn *c)
{
    struct relay *r = c->r;
    unmark_dirty(c);
    if (c->state >= CS_BOUND || c->bare) route_gone(c);
    if (c->fd >= 0) {
        ev_del(r->loop, c->fd, EV_READ | EV_WRITE);
        close(c->fd);
    }
    if (c->timer > 0) ev_timer_del(r->loop, c->timer);
    addr_put(r, c->addr);
    if (c->prev) c->prev->next = c->next; else r->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    r->nconns--;
    xs_free(c->xs);
    xs_free(c->inner);
    if (c->chan) { simpp_chan_wipe(c->chan); free(c->chan); }
    if (c->login) { simpp_login_wipe(c->login); free(c->login); }
    if (c->reg) { simpp_reg_wipe(c->reg); free(c->reg); }
    scram_server_free(c->scram);
    sb_free(&c->out);
    free(c->pend);
    free(c->authuser);
    free(c->bare);
    free(c->full);
    free(c->presence);
    free(c);
}

void conn_close(struct conn *c)
{
    if (c->state != CS_CLOSING) {
        conn_raw(c, XS_STREAM_CLOSE, strlen(XS_STREAM_CLOSE));
        c->state = CS_CLOSING;
    }
}

/* after any callback: a closing connection with nothing left to write goes */
static void conn_settle(struct conn *c)
{
    if (c->state == CS_CLOSING && c->out.n == 0) {
        relay_log(c->r, "close addr=%s jid=%s", c->addr, c->full ? c->full : c->bare ? c->bare : "-");
        conn_free(c);
    }
}

static void before_sleep(ev_loop *l, void *arg)
{
    struct relay *r = arg;
    (void)l;
    while (r->dirty) {
        struct conn *c = r->dirty;
        unmark_dirty(c);
        conn_flush(c);
        conn_settle(c);
    }
}

static void conn_write_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct conn *c = arg;
    (void)l; (void)fd; (void)mask;
    conn_flush(c);
    conn_settle(c);
}

/* ---- stream features ------------------------------------------------------- */

static void send_features(struct conn *c)
{
    const struct relay_config *cfg = c->r->cfg;
    sbuf b = { 0 };
    sb_puts(&b, "<stream:features>");
    if (c->state == CS_PREAUTH) {
        char key[2 * SC_MAX_PUB];
        size_t kl = sizeof key;
        sb_puts(&b, "<mechanisms xmlns='" NS_SASL "'><mechanism>SIMPP</mechanism>");
        if (cfg->allow_scram) sb_puts(&b, "<mechanism>SCRAM-SHA-256</mechanism>");
        if (cfg->allow_plain) sb_puts(&b, "<mechanism>PLAIN</mechanism>");
        sb_puts(&b, "</mechanisms>");
        /* the relay's public key KU_S and its suites, in preference order:
         * clients pin the key; the list is bound into every handshake */
        sc_b64_encode(c->r->spub, c->r->spublen, key, &kl);
        sb_printf(&b, "<simpp xmlns='" SIMPP_NS "' curve='%s' key='%s'%s>",
                  sc_curve_name(sc_key_curve(c->r->key)), key,
                  cfg->allow_register ? " register='true'" : "");
        for (size_t i = 0; i < cfg->nsuites; i++)
            sb_printf(&b, "<suite>%s</suite>", sc_suite_name(cfg->suites[i]));
        sb_puts(&b, "</simpp>");
    } else {
        sb_puts(&b, "<bind xmlns='" NS_BIND "'/><session xmlns='" NS_SESSION "'><optional/></session>"
                    "<sm xmlns='" NS_SM "'/>");
    }
    sb_puts(&b, "</stream:features>");
    conn_send_sb(c, &b);
}

/* ---- SASL ---------------------------------------------------------------------- */

static void sasl_reply(struct conn *c, const char *elem, const uint8_t *data, size_t len)
{
    sbuf b = { 0 };
    sb_printf(&b, "<%s xmlns='" NS_SASL "'", elem);
    if (data) {
        size_t bl = 4 * ((len + 2) / 3) + 1;
        char *e = malloc(bl);
        if (e && sc_b64_encode(data, len, e, &bl) == 0) {
            sb_puts(&b, ">");
            /* RFC 6120 6.4.2: empty data is "=" */
            sb_puts(&b, bl ? e : "=");
            sb_printf(&b, "</%s>", elem);
        } else
            sb_puts(&b, "/>");
        free(e);
    } else
        sb_puts(&b, "/>");
    conn_send_sb(c, &b);
}

static void sasl_fail(struct conn *c, const char *cond, const char *why)
{
    sbuf b = { 0 };
    relay_log(c->r, "auth-fail addr=%s user=%s mechanism=%s reason=%s", c->addr,
              c->authuser ? c->authuser : "-", c->mech == MECH_SIMPP ? "SIMPP" : "SCRAM/PLAIN", why);
    sb_printf(&b, "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
    conn_send_sb(c, &b);
    if (c->login) { simpp_login_wipe(c->login); free(c->login); c->login = NULL; }
    scram_server_free(c->scram);
    c->scram = NULL;
    free(c->authuser);
    c->authuser = NULL;
    c->mech = MECH_NONE;
    c->state = CS_PREAUTH;
    /* RFC 6120 6.4.5: the server may close after a number of retries */
    if (++c->auth_failures >= 3) conn_stream_error(c, "policy-violation", "too many failed attempts");
}

/* decode the base64 payload of <auth/> or <response/>; "=" is empty */
static uint8_t *sasl_payload(const xs_node *n, size_t *len)
{
    const char *t = xs_text(n);
    size_t tl = strlen(t), cap = tl / 4 * 3 + 4;
    uint8_t *p = malloc(cap);
    if (!p) return NULL;
    *len = cap;
    if (strcmp(t, "=") == 0) { *len = 0; return p; }
    if (sc_b64_decode(t, tl, p, len) < 0) { free(p); return NULL; }
    return p;
}

static void auth_succeeded(struct conn *c, const char *bare, int level, const uint8_t *data,
                           size_t dlen)
{
    sasl_reply(c, "success", data, dlen);
    free(c->bare);
    c->bare = strdup(bare);
    c->level = level;
    c->state = CS_RESTART;
    c->mech = MECH_NONE;
    /* RFC 6120 6.4.6: both sides restart the stream; bytes after <success/>
     * are a new stream */
    xs_reset(c->xs);
}

static int split_domain_ok(struct relay *r, const char *s, char *bare, size_t cap)
{
    struct jid j;
    if (jid_parse(s, &j) < 0 || !j.local[0] || j.resource[0]) return 0;
    if (strcmp(j.domain, r->cfg->domain) != 0) return 0;
    return jid_bare(&j, bare, cap) == 0;
}

static void sasl_simpp_s1(struct conn *c, const uint8_t *s1, size_t len)
{
    struct relay *r = c->r;
    char id[SIMPP_ID_MAX + 1], bare[512];
    struct store_user u;
    uint8_t ka[SIMPP_KEY], s2[SIMPP_MSG_MAX];
    size_t s2l = sizeof s2;
    struct simpp_ctx ctx = { c->stream_id, r->cfg->suites, r->cfg->nsuites };
    int e;
    if (simpp_s1_id(s1, len, id, sizeof id) < 0) { sasl_fail(c, "malformed-request", "bad S1"); return; }
    c->authuser = strdup(id);
    if (!split_domain_ok(r, id, bare, sizeof bare)) { sasl_fail(c, "not-authorized", "foreign or bad JID"); return; }
    e = store_user_get(r->st, bare, &u);
    if (e == STORE_NOTFOUND || (e == STORE_OK && u.wkalen == 0)) {
        sasl_fail(c, "not-authorized", "unknown user");
        return;
    }
    if (e != STORE_OK) { sasl_fail(c, "temporary-auth-failure", store_errmsg(r->st)); return; }
    if (relay_unwrap(r->wrapkey, bare, u.wka, u.wkalen, ka) < 0) {
        sc_zero(&u, sizeof u);
        sasl_fail(c, "temporary-auth-failure", "stored master key does not unwrap");
        return;
    }
    c->login = calloc(1, sizeof *c->login);
    /* S1 -> S2: only HKDF and AEAD here, no public-key operation (the paper's point) */
    e = c->login ? simpp_s1_accept(c->login, &ctx, ka, relay_allowed_mask(r), s1, len, s2, &s2l)
                 : SIMPP_EINTERNAL;
    sc_zero(ka, sizeof ka);
    if (e != SIMPP_OK) {
        sasl_fail(c, e == SIMPP_ESUITE ? "mechanism-too-weak" : e == SIMPP_EFORMAT ? "malformed-request"
                                                                  : "not-authorized", simpp_strerror(e));
        return;
    }
    /* the level: how the key is held now, never above how it was registered */
    int lv = simpp_mode_level(c->login->mode);
    c->level = lv < u.level ? lv : u.level;
    sc_zero(&u, sizeof u);
    c->state = CS_SASL;
    sasl_reply(c, "challenge", s2, s2l);
}

static void sasl_simpp_s3(struct conn *c, const uint8_t *s3, size_t len)
{
    struct relay *r = c->r;
    int e = simpp_s3_verify(c->login, s3, len);
    if (e != SIMPP_OK) { sasl_fail(c, "not-authorized", simpp_strerror(e)); return; }
    if (!(c->chan = calloc(1, sizeof *c->chan))) { sasl_fail(c, "temporary-auth-failure", "memory"); return; }
    simpp_chan_init(c->chan, c->login, 1);
    relay_log(r, "login addr=%s jid=%s mechanism=SIMPP mode=%s level=%s suite=%s", c->addr,
              c->authuser, simpp_mode_name(c->login->mode), simpp_level_name(c->level),
              sc_suite_name(c->login->suite));
    simpp_login_wipe(c->login);
    free(c->login);
    c->login = NULL;
    char bare[512];
    split_domain_ok(r, c->authuser, bare, sizeof bare);
    /* <success/> itself goes out in clear: the channel starts with the new
     * stream (doc/PROTOCOL.md) */
    struct simpp_chan *ch = c->chan;
    c->chan = NULL;
    auth_succeeded(c, bare, c->level, NULL, 0);
    c->chan = ch;
}

static int user_scram(struct relay *r, const char *user, struct scram_cred *cred, char *bare, size_t cap)
{
    struct store_user u;
    char jid[SASL_MAX_NAME + 300];
    snprintf(jid, sizeof jid, "%s@%s", user, r->cfg->domain);
    if (!split_domain_ok(r, jid, bare, cap)) return -1;
    if (store_user_get(r->st, bare, &u) != STORE_OK || !u.has_scram || u.saltlen != SCRAM_SALT_LEN)
        return -1;
    memcpy(cred->salt, u.scram_salt, SCRAM_SALT_LEN);
    cred->iter = u.scram_iter;
    memcpy(cred->stored_key, u.scram_stored, 32);
    memcpy(cred->server_key, u.scram_server, 32);
    sc_zero(&u, sizeof u);
    return 0;
}

static void sasl_scram_first(struct conn *c, const uint8_t *m, size_t len)
{
    char user[SASL_MAX_NAME + 1], bare[512], out[SCRAM_OUT_MAX];
    size_t ol = sizeof out;
    struct scram_cred cred;
    int e;
    if (!(c->scram = scram_server_new())) { sasl_fail(c, "temporary-auth-failure", "memory"); return; }
    e = scram_server_first(c->scram, (const char *)m, len, NULL, 0, user, sizeof user);
    if (e != SASL_OK) { sasl_fail(c, sasl_condition(e), sasl_strerror(e)); return; }
    c->authuser = strdup(user);
    int known = user_scram(c->r, user, &cred, bare, sizeof bare) == 0;
    /* an unknown user gets a challenge that looks like any other */
    e = scram_server_challenge(c->scram, known ? &cred : NULL, out, &ol);
    sc_zero(&cred, sizeof cred);
    if (e != SASL_OK) { sasl_fail(c, sasl_condition(e), sasl_strerror(e)); return; }
    if (known) { free(c->authuser); c->authuser = strdup(bare); }
    c->state = CS_SASL;
    sasl_reply(c, "challenge", (const uint8_t *)out, ol);
}

static void sasl_scram_final(struct conn *c, const uint8_t *m, size_t len)
{
    char out[SCRAM_OUT_MAX];
    size_t ol = sizeof out;
    int e = scram_server_final(c->scram, (const char *)m, len, out, &ol);
    if (e != SASL_OK || !strchr(c->authuser, '@')) {
        sasl_fail(c, e != SASL_OK ? sasl_condition(e) : "not-authorized",
                  e != SASL_OK ? sasl_strerror(e) : "unknown user");
        return;
    }
    relay_log(c->r, "login addr=%s jid=%s mechanism=SCRAM-SHA-256 level=xmpp", c->addr, c->authuser);
    scram_server_free(c->scram);
    c->scram = NULL;
    char bare[512];
    snprintf(bare, sizeof bare, "%s", c->authuser);
    auth_succeeded(c, bare, SIMPP_LEVEL_XMPP, (const uint8_t *)out, ol);
}

static void sasl_plain(struct conn *c, const uint8_t *m, size_t len)
{
    char authz[SASL_MAX_AUTHZID + 1], user[SASL_MAX_NAME + 1], pw[SASL_MAX_PW + 1], bare[512];
    size_t pwl;
    struct scram_cred cred, got;
    int e = sasl_plain_parse(m, len, authz, sizeof authz, user, sizeof user, pw, sizeof pw, &pwl);
    if (e != SASL_OK) { sasl_fail(c, sasl_condition(e), sasl_strerror(e)); return; }
    c->authuser = strdup(user);
    int known = user_scram(c->r, user, &cred, bare, sizeof bare) == 0;
    if (!known) {
        /* derive anyway, so an unknown user costs the same time as a known one */
        memset(&cred, 0, sizeof cred);
        cred.iter = SCRAM_ITER_DEFAULT;
    }
    int ok = scram_make_cred_salt(pw, pwl, cred.salt, cred.iter, &got) == SASL_OK && known &&
             (!authz[0] || strcmp(authz, bare) == 0) && sc_ct_eq(got.stored_key, cred.stored_key, 32);
    sc_zero(pw, sizeof pw);
    sc_zero(&cred, sizeof cred);
    sc_zero(&got, sizeof got);
    if (!ok) { sasl_fail(c, "not-authorized", "bad password or unknown user"); return; }
    relay_log(c->r, "login addr=%s jid=%s mechanism=PLAIN level=xmpp", c->addr, bare);
    auth_succeeded(c, bare, SIMPP_LEVEL_XMPP, NULL, 0);
}

static void handle_sasl(struct conn *c, xs_node *st)
{
    const struct relay_config *cfg = c->r->cfg;
    uint8_t *m;
    size_t len;
    if (strcmp(st->name, "abort") == 0) {
        c->auth_failures--;              /* an abort is not a guess */
        sasl_fail(c, "aborted", "client aborted");
        return;
    }
    if (!(m = sasl_payload(st, &len))) { sasl_fail(c, "incorrect-encoding", "bad base64"); return; }
    if (strcmp(st->name, "auth") == 0 && c->state == CS_PREAUTH) {
        const char *mech = xs_getattr(st, "mechanism", NULL);
        if (mech && strcmp(mech, "SIMPP") == 0) {
            c->mech = MECH_SIMPP;
            sasl_simpp_s1(c, m, len);
        } else if (mech && strcmp(mech, "SCRAM-SHA-256") == 0 && cfg->allow_scram) {
            c->mech = MECH_SCRAM;
            sasl_scram_first(c, m, len);
        } else if (mech && strcmp(mech, "PLAIN") == 0 && cfg->allow_plain) {
            c->mech = MECH_SCRAM;
            sasl_plain(c, m, len);
        } else
            sasl_fail(c, "invalid-mechanism", mech ? mech : "none");
    } else if (strcmp(st->name, "response") == 0 && c->state == CS_SASL) {
        if (c->mech == MECH_SIMPP) sasl_simpp_s3(c, m, len);
        else sasl_scram_final(c, m, len);
    } else
        sasl_fail(c, "malformed-request", "out of order");
    sc_zero(m, len);
    free(m);
}

/* ---- SIMPP registration (an iq before authentication) ----------------------- */

static void iq_reply_elem(struct conn *c, const xs_node *iq, const char *elem, const uint8_t *d, size_t dl)
{
    const char *id = xs_getattr(iq, "id", NULL);
    sbuf b = { 0 };
    size_t bl = 4 * ((dl + 2) / 3) + 1;
    char *e = malloc(bl);
    sb_puts(&b, "<iq type='result'");
    if (id) { sb_puts(&b, " id='"); sb_esc(&b, id); sb_puts(&b, "'"); }
    sb_puts(&b, ">");
    if (elem && e && sc_b64_encode(d, dl, e, &bl) == 0)
        sb_printf(&b, "<register xmlns='" SIMPP_NS "'><%s>%s</%s></register>", elem, e, elem);
    sb_puts(&b, "</iq>");
    free(e);
    conn_send_sb(c, &b);
}

static int reg_throttled(struct relay *r)
{
    int64_t now = ev_now_ms();
    if (now - r->reg_window >= 60000) {
        r->reg_window = now;
        r->reg_count = 0;
    }
    return ++r->reg_count > r->cfg->reg_per_min;
}

static void handle_register(struct conn *c, xs_node *iq, const xs_node *reg)
{
    struct relay *r = c->r;
    const xs_node *r1 = xs_child(reg, "r1", SIMPP_NS), *r3 = xs_child(reg, "r3", SIMPP_NS);
    const char *type = xs_getattr(iq, "type", NULL);
    uint8_t in[SIMPP_MSG_MAX], out[SIMPP_MSG_MAX];
    size_t il = sizeof in, ol = sizeof out;
    const char *t;
    if (!type || strcmp(type, "set") != 0 || (!r1 == !r3)) {
        conn_stanza_error(c, iq, "modify", "bad-request");
        return;
    }
    if (!r->cfg->allow_register) {
        relay_log(r, "register-refused addr=%s reason=closed", c->addr);
        conn_stanza_error(c, iq, "cancel", "not-allowed");
        return;
    }
    t = xs_text(r1 ? r1 : r3);
    if (sc_b64_decode(t, strlen(t), in, &il) < 0) { conn_stanza_error(c, iq, "modify", "bad-request"); return; }
    if (r1) {
        struct simpp_ctx ctx = { c->stream_id, r->cfg->suites, r->cfg->nsuites };
        char bare[512];
        struct store_user u;
        if (reg_throttled(r)) {
            relay_log(r, "register-refused addr=%s reason=rate", c->addr);
            conn_stanza_error(c, iq, "wait", "resource-constraint");
            return;
        }
        if (!c->reg && !(c->reg = calloc(1, sizeof *c->reg))) { conn_stanza_error(c, iq, "wait", "internal-server-error"); return; }
        int e = simpp_r1_accept(c->reg, &ctx, r->key, in, il, out, &ol);
        if (e != SIMPP_OK) {
            relay_log(r, "register-refused addr=%s reason=%s", c->addr, simpp_strerror(e));
            conn_stanza_error(c, iq, "modify", e == SIMPP_ESUITE ? "policy-violation" : "bad-request");
            return;
        }
        if (!split_domain_ok(r, c->reg->id, bare, sizeof bare) || strcmp(bare, c->reg->id) != 0 ||
            strlen(bare) >= STORE_JID_MAX) {
            relay_log(r, "register-refused addr=%s id=%s reason=bad-jid", c->addr, c->reg->id);
            conn_stanza_error(c, iq, "modify", "jid-malformed");
            simpp_reg_wipe(c->reg);
            return;
        }
        if (store_user_get(r->st, bare, &u) == STORE_OK) {
            sc_zero(&u, sizeof u);
            relay_log(r, "register-refused addr=%s jid=%s reason=exists", c->addr, bare);
            conn_stanza_error(c, iq, "cancel", "conflict");
            simpp_reg_wipe(c->reg);
            return;
        }
        iq_reply_elem(c, iq, "r2", out, ol);
        return;
    }
    /* R3 */
    if (!c->reg || c->reg->state != SIMPP_R2) { conn_stanza_error(c, iq, "modify", "unexpected-request"); return; }
    int e = simpp_r3_verify(c->reg, in, il);
    if (e != SIMPP_OK) {
        relay_log(r, "register-refused addr=%s jid=%s reason=%s", c->addr, c->reg->id, simpp_strerror(e));
        conn_stanza_error(c, iq, "auth", "not-authorized");
        simpp_reg_wipe(c->reg);
        return;
    }
    struct store_user u;
    memset(&u, 0, sizeof u);
    memcpy(u.jid, c->reg->id, strnlen(c->reg->id, sizeof u.jid - 1));   /* length checked at R1 */
    u.level = simpp_mode_level(c->reg->mode);
    u.curve = c->reg->curve;
    memcpy(u.pub, c->reg->pub, c->reg->publen);
    u.publen = c->reg->publen;
    u.wkalen = sizeof u.wka;
    u.created = (int64_t)time(NULL);
    if (relay_wrap(r->wrapkey, u.jid, c->reg->ka, u.wka, &u.wkalen) < 0) {
        conn_stanza_error(c, iq, "wait", "internal-server-error");
        simpp_reg_wipe(c->reg);
        return;
    }
    e = store_user_add(r->st, &u);
    simpp_reg_wipe(c->reg);
    sc_zero(&u.wka, sizeof u.wka);
    if (e == STORE_EXISTS) {
        relay_log(r, "register-refused addr=%s jid=%s reason=exists", c->addr, u.jid);
        conn_stanza_error(c, iq, "cancel", "conflict");
    } else if (e != STORE_OK) {
        relay_log(r, "register-failed addr=%s jid=%s reason=%s", c->addr, u.jid, store_errmsg(r->st));
        conn_stanza_error(c, iq, "wait", e == STORE_FULL ? "resource-constraint" : "internal-server-error");
    } else {
        relay_log(r, "register addr=%s jid=%s level=%s", c->addr, u.jid, simpp_level_name(u.level));
        iq_reply_elem(c, iq, NULL, NULL, 0);
    }
}

/* ---- stanza dispatch --------------------------------------------------------- */

static void handle_preauth(struct conn *c, xs_node *st)
{
    if (st->ns && strcmp(st->ns, NS_SASL) == 0) {
        handle_sasl(c, st);
        return;
    }
    if (strcmp(st->name, "iq") == 0) {
        const xs_node *reg = xs_child(st, "register", SIMPP_NS);
        if (reg) {
            handle_register(c, st, reg);
            return;
        }
    }
    /* RFC 6120 6.4.1 ... 4.9.3.20: stanzas before authentication */
    conn_stream_error(c, "not-authorized", NULL);
}

static int inner_stanza_cb(void *arg, xs_node *st)
{
    struct conn *c = arg;
    if (c->state == CS_CLOSING) { xs_node_free(st); return XS_STOP; }
    route_stanza(c, st);
    xs_node_free(st);
    return c->state == CS_CLOSING ? XS_STOP : XS_CONTINUE;
}

/* one SIMPP frame: open, then parse what it holds as stanzas */
static void handle_frame(struct conn *c, xs_node *f)
{
    const char *n = xs_getattr(f, "n", NULL), *t = xs_text(f);
    size_t tl = strlen(t), cl = tl / 4 * 3 + 4, pl;
    unsigned long long seq;
    char *end;
    uint8_t *ct, *pt;
    if (!n || *n < '0' || *n > '9' || (errno = 0, seq = strtoull(n, &end, 10), *end || errno)) {
        conn_stream_error(c, "bad-format", "frame without a sequence number");
        return;
    }
    ct = malloc(cl);
    pt = malloc(cl);
    if (!ct || !pt || sc_b64_decode(t, tl, ct, &cl) < 0) {
        conn_stream_error(c, "bad-format", "frame is not base64");
    } else if (pl = cl, simpp_chan_open(c->chan, seq, ct, cl, pt, &pl) != SIMPP_OK) {
        /* a replayed, reordered, dropped or changed frame ends the stream */
        conn_stream_error(c, "not-authorized", "frame failed authentication or is out of sequence");
    } else if (xs_feed(c->inner, pt, pl) < 0) {
        conn_stream_error(c, xs_error(c->inner), xs_error_text(c->inner));
    }
    if (pt) sc_zero(pt, cl);
    free(ct);
    free(pt);
}

static int outer_stanza_cb(void *arg, xs_node *st)
{
    struct conn *c = arg;
    c->last = ev_now_ms();
    if (c->r->cfg->verbose)
        relay_log(c->r, "in fd=%d %s%s%s", c->fd, st->name, xs_getattr(st, "type", NULL) ? " type=" : "",
                  xs_getattr(st, "type", NULL) ? xs_getattr(st, "type", NULL) : "");
    switch (c->state) {
    case CS_PREAUTH:
    case CS_SASL:
        handle_preauth(c, st);
        break;
    case CS_AUTHED:
    case CS_BOUND:
        if (c->chan) {
            if (strcmp(st->name, "c") == 0 && st->ns && strcmp(st->ns, SIMPP_NS) == 0)
                handle_frame(c, st);
            else
                conn_stream_error(c, "policy-violation", "only SIMPP frames after a SIMPP login");
        } else
            route_stanza(c, st);
        break;
    default:
        break;
    }
    xs_node_free(st);
    return c->state == CS_CLOSING ? XS_STOP : XS_CONTINUE;
}

static int outer_open_cb(void *arg, const xs_header *h)
{
    struct conn *c = arg;
    struct relay *r = c->r;
    uint8_t rnd[16];
    size_t n;
    char *hdr;
    if (!h->content_ns || strcmp(h->content_ns, XS_NS_CLIENT) != 0) {
        xs_fail(c->xs, "invalid-namespace", "this is a client port: jabber:client");
        return XS_STOP;
    }
    if (!h->version || strncmp(h->version, "1.", 2) != 0) {
        conn_stream_error(c, "unsupported-version", NULL);
        return XS_STOP;
    }
    if (!h->to || strcasecmp(h->to, r->cfg->domain) != 0) {
        conn_stream_error(c, "host-unknown", h->to ? h->to : "no 'to'");
        return XS_STOP;
    }
    /* a fresh stream id every stream: SIMPP binds its handshakes to it */
    if (sc_random(rnd, sizeof rnd) < 0) return XS_STOP;
    sc_hex_encode(rnd, sizeof rnd, c->stream_id);
    if (!(hdr = xs_stream_header(XS_NS_CLIENT, r->cfg->domain, NULL, c->stream_id, NULL, &n))) return XS_STOP;
    conn_raw(c, hdr, n);
    free(hdr);
    if (c->state == CS_HEADER) {
        c->state = CS_PREAUTH;
    } else if (c->state == CS_RESTART) {
        c->state = CS_AUTHED;
        if (c->chan) {
            xs_limits lim = { r->cfg->max_stanza, 0, 0, 1 };
            xs_callbacks cb = { NULL, inner_stanza_cb, NULL };
            if (!(c->inner = xs_new(&lim, &cb, c)) ||
                xs_feed(c->inner, SYNTH_HEADER, sizeof SYNTH_HEADER - 1) < 0) {
                conn_stream_error(c, "internal-server-error", NULL);
                return XS_STOP;
            }
        }
    } else {
        conn_stream_error(c, "conflict", "stream already open");
        return XS_STOP;
    }
    send_features(c);
    return XS_CONTINUE;
}

static void outer_close_cb(void *arg)
{
    conn_close(arg);
}

static void conn_read_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct conn *c = arg;
    char buf[READ_CHUNK];
    ssize_t n;
    (void)l; (void)mask;
    if (c->state == CS_CLOSING) {           /* read and drop until the peer goes */
        n = read(fd, buf, sizeof buf);
        if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) { sb_reset(&c->out); conn_settle(c); }
        return;
    }
    n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        relay_log(c->r, "disconnect addr=%s jid=%s", c->addr, c->full ? c->full : c->bare ? c->bare : "-");
        sb_reset(&c->out);
        c->state = CS_CLOSING;
        conn_settle(c);
        return;
    }
    c->last = ev_now_ms();
    if (xs_feed(c->xs, buf, (size_t)n) < 0 && c->state != CS_CLOSING)
        conn_stream_error(c, xs_error(c->xs), xs_error_text(c->xs));
    conn_settle(c);
}

static long long conn_timer_cb(ev_loop *l, long long id, void *arg)
{
    struct conn *c = arg;
    int64_t now = ev_now_ms();
    (void)l; (void)id;
    if (c->state == CS_CLOSING) {           /* a peer that never reads its close */
        c->timer = 0;
        sb_reset(&c->out);
        conn_settle(c);
        return EV_NOMORE;
    }
    int64_t left;
    if (c->state < CS_AUTHED)
        left = c->born + (int64_t)c->r->cfg->auth_timeout * 1000 - now;
    else
        left = c->last + (int64_t)c->r->cfg->idle_timeout * 1000 - now;
    if (left > 0) return left;
    conn_stream_error(c, "connection-timeout", c->state < CS_AUTHED ? "no login in time" : "idle");
    conn_flush(c);
    return 2000;                            /* then give the close 2 s */
}

static void accept_cb(ev_loop *l, int lfd, int mask, void *arg)
{
    struct relay *r = arg;
    (void)mask;
    for (int i = 0; i < 64; i++) {
        char addr[48];
        int fd = net_accept(lfd, addr, sizeof addr);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                relay_log(r, "accept-failed error=%s", strerror(errno));
            return;
        }
        struct addr_count *a = addr_get(r, addr, 1);
        if (!a || r->nconns >= r->cfg->max_conns || a->n >= r->cfg->max_per_addr || r->draining) {
            relay_log(r, "refused addr=%s reason=%s", addr,
                      r->draining ? "draining" : !a ? "memory" : r->nconns >= r->cfg->max_conns ? "max-conns" : "max-per-addr");
            close(fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof *c);
        xs_limits lim = { r->cfg->max_stanza * 4 / 3 + 1024, 0, 0, 1 };
        xs_callbacks cb = { outer_open_cb, outer_stanza_cb, outer_close_cb };
        if (!c || !(c->xs = xs_new(&lim, &cb, c)) || ev_add(l, fd, EV_READ, conn_read_cb, c) < 0) {
            if (c) xs_free(c->xs);
            free(c);
            close(fd);
            continue;
        }
        a->n++;
        /* stanzas are small and interactive: no Nagle delay (a login would
         * otherwise wait for the peer's delayed ACK at each round trip) */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->r = r;
        c->fd = fd;
        c->state = CS_HEADER;
        snprintf(c->addr, sizeof c->addr, "%s", addr);
        c->born = c->last = ev_now_ms();
        c->timer = ev_timer_add(l, (long long)r->cfg->auth_timeout * 1000, conn_timer_cb, c);
        c->next = r->conns;
        if (r->conns) r->conns->prev = c;
        r->conns = c;
        r->nconns++;
        if (r->cfg->verbose) relay_log(r, "accept addr=%s fd=%d", addr, fd);
    }
}

/* ---- signals and draining ---------------------------------------------------- */

static long long drain_timer_cb(ev_loop *l, long long id, void *arg)
{
    struct relay *r = arg;
    (void)id;
    int pending = 0;
    for (struct conn *c = r->conns; c; c = c->next) pending += c->out.n > 0;
    if (!pending || ev_now_ms() >= r->drain_deadline) {
        ev_stop(l);
        return EV_NOMORE;
    }
    return 50;
}

static void signal_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct relay *r = arg;
    int sig;
    (void)mask;
    while ((sig = ev_signal_next(fd)) > 0) {
        if (sig != SIGTERM && sig != SIGINT) continue;
        if (r->draining) continue;
        relay_log(r, "draining signal=%d connections=%d", sig, r->nconns);
        r->draining = 1;
        ev_del(l, r->lfd, EV_READ);
        close(r->lfd);
        r->lfd = -1;
        for (struct conn *c = r->conns, *next; c; c = next) {
            next = c->next;
            if (c->state != CS_CLOSING) conn_stream_error(c, "system-shutdown", NULL);
            conn_settle(c);
        }
        r->drain_deadline = ev_now_ms() + 2000;
        ev_timer_add(l, 0, drain_timer_cb, r);
    }
}

int relay_run(const struct relay_config *cfg, const sc_key *server_key, store *st)
{
    struct relay *r = calloc(1, sizeof *r);
    const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char port[16] = "";
    int rc = 0;
    if (!r) return -1;
    r->cfg = cfg;
    r->st = st;
    r->key = server_key;
    r->spublen = sizeof r->spub;
    signal(SIGPIPE, SIG_IGN);
    xs_init();
    uint8_t fake[32];
    if (relay_wrap_key(server_key, r->wrapkey) < 0 || sc_key_public(server_key, r->spub, &r->spublen) < 0 ||
        /* SCRAM's fake salts for unknown users must be as stable as real ones
         * across restarts, or they tell who exists: derive them from the key */
        sc_hkdf_sha256("simpp/1 scram", 13, r->wrapkey, 32, "fake salt", 9, fake, sizeof fake) < 0 ||
        scram_server_secret(fake, sizeof fake, SCRAM_ITER_DEFAULT) != SASL_OK) {
        relay_log(r, "fatal: server key is unusable");
        free(r);
        return -1;
    }
    if ((r->lfd = net_listen(cfg->host, cfg->port, 1024)) < 0) {
        relay_log(r, "unable to listen on %s port %s: %s", cfg->host, cfg->port, strerror(errno));
        free(r);
        return -1;
    }
    if (getsockname(r->lfd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) snprintf(port, sizeof port, "%u", ntohs(((struct sockaddr_in *)&ss)->sin_port));
        else snprintf(port, sizeof port, "%u", ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    }
    r->loop = ev_new(cfg->max_conns + 64);
    if (!r->loop || ev_add(r->loop, r->lfd, EV_READ, accept_cb, r) < 0 ||
        (r->sfd = ev_signal_fd(r->loop, sigs, 3, signal_cb, r)) < 0) {
        relay_log(r, "unable to start the event loop: %s", strerror(errno));
        rc = -1;
        goto out;
    }
    ev_set_beforesleep(r->loop, before_sleep, r);
    relay_log(r, "listening host=%s port=%s domain=%s", cfg->host, port, cfg->domain);
    if (cfg->ready_fd >= 0) {
        /* readiness for supervisors (s6 style: a line on an fd) */
        dprintf(cfg->ready_fd, "%s\n", port);
        close(cfg->ready_fd);
    }
    ev_run(r->loop);
    relay_log(r, "stopped routed=%llu stored=%llu", (unsigned long long)r->routed,
              (unsigned long long)r->stored);
out:
    while (r->conns) {
        r->conns->state = CS_CLOSING;
        sb_reset(&r->conns->out);
        conn_free(r->conns);
    }
    if (r->lfd >= 0) close(r->lfd);
    if (r->sfd >= 0) close(r->sfd);
    for (int i = 0; i < ADDR_BUCKETS; i++)
        while (r->addrs[i]) {
            struct addr_count *a = r->addrs[i];
            r->addrs[i] = a->next;
            free(a);
        }
    if (r->loop) ev_free(r->loop);
    sc_zero(r->wrapkey, sizeof r->wrapkey);
    free(r);
    return rc;
}
