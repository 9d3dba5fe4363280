/* client.c - the client end of a SIMPP stream.  See client.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "client.h"
#include "net.h"
#include "ev.h"
#include "keyfile.h"
#include "sbuf.h"
#include "tls.h"
#include "util.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"

static const char SYNTH_HEADER[] =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

struct cl_item { xs_node *n; struct cl_item *next; };

static int fail(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return -1;
}

static void trace(struct client *c, const char *dir, const char *xml, size_t len)
{
    if (c->verbose) fprintf(stderr, "%s: %s %.*s\n", progname, dir, (int)len, xml);
}

static void enqueue(struct client *c, xs_node *n)
{
    struct cl_item *it = malloc(sizeof *it);
    if (!it) { xs_node_free(n); return; }
    it->n = n;
    it->next = NULL;
    if (c->tail) c->tail->next = it; else c->head = it;
    c->tail = it;
    if (c->verbose) {
        size_t l;
        char *s = xs_serialize(n, XS_NS_CLIENT, &l);
        if (s) trace(c, "<", s, l);
        free(s);
    }
}

static int inner_cb(void *arg, xs_node *n)
{
    enqueue(arg, n);
    return XS_CONTINUE;
}

static int open_frame(struct client *c, xs_node *f)
{
    const char *ns = xs_getattr(f, "n", NULL), *t = xs_text(f);
    size_t tl = strlen(t), cl = tl / 4 * 3 + 4, pl;
    uint8_t *ct = malloc(cl), *pt = malloc(cl);
    char *end;
    int r = -1;
    unsigned long long seq = ns ? strtoull(ns, &end, 10) : 0;
    if (!ns || *end || !ct || !pt || sc_b64_decode(t, tl, ct, &cl) < 0)
        fail(c, "relay sent a malformed frame");
    else if (pl = cl, simpp_chan_open(c->chan, seq, ct, cl, pt, &pl) != SIMPP_OK)
        fail(c, "a frame from the relay failed authentication or is out of sequence");
    else if (xs_feed(c->inner, pt, pl) < 0)
        fail(c, "relay sent bad XML inside a frame: %s", xs_error(c->inner));
    else
        r = 0;
    if (pt) sc_zero(pt, cl);
    free(ct);
    free(pt);
    return r;
}

static int outer_cb(void *arg, xs_node *n)
{
    struct client *c = arg;
    if (c->chan && n->name && !strcmp(n->name, "c") && n->ns && !strcmp(n->ns, SIMPP_NS)) {
        int r = open_frame(c, n);
        xs_node_free(n);
        if (r < 0) { c->closed = 1; return XS_STOP; }
        return XS_CONTINUE;
    }
    if (n->name && !strcmp(n->name, "error") && n->ns && !strcmp(n->ns, XS_NS_STREAMS)) {
        const xs_node *k = n->children;
        while (k && !k->name) k = k->next;
        const xs_node *tx = xs_child(n, "text", NULL);
        fail(c, "stream error from the relay: %s%s%s", k ? k->name : "undefined-condition",
             tx ? ": " : "", tx ? xs_text(tx) : "");
        enqueue(c, n);
        c->closed = 1;
        return XS_STOP;
    }
    if (c->chan) {
        /* after a SIMPP login only frames count: anything in clear could
         * have been put there by anyone on the path */
        fail(c, "the relay sent <%s/> in clear after login; refusing it", n->name ? n->name : "?");
        xs_node_free(n);
        c->closed = 1;
        return XS_STOP;
    }
    int success = n->name && !strcmp(n->name, "success") && n->ns && !strcmp(n->ns, NS_SASL);
    int proceed = n->name && !strcmp(n->name, "proceed") && n->ns && !strcmp(n->ns, "urn:ietf:params:xml:ns:xmpp-tls");
    enqueue(c, n);
    /* RFC 6120 5.4.3.3: nothing after <proceed/> is read in clear */
    if (proceed) return XS_STOP;
    /* RFC 6120 6.4.6: what follows <success/> is a new stream */
    if (success) xs_reset(c->xs);
    return XS_CONTINUE;
}

static int open_cb(void *arg, const xs_header *h)
{
    struct client *c = arg;
    snprintf(c->stream_id, sizeof c->stream_id, "%s", h->id ? h->id : "");
    return XS_CONTINUE;
}

static void close_cb(void *arg)
{
    struct client *c = arg;
    c->closed = 1;
}

void client_init(struct client *c, int rfd, int wfd, const char *domain)
{
    memset(c, 0, sizeof *c);
    c->rfd = rfd;
    c->wfd = wfd;
    c->domain = domain;
    c->timeout_ms = 30000;
}

void client_free(struct client *c)
{
    while (c->head) {
        struct cl_item *it = c->head;
        c->head = it->next;
        xs_node_free(it->n);
        free(it);
    }
    c->tail = NULL;
    xs_free(c->xs);
    xs_free(c->inner);
    xs_node_free(c->features);
    sc_key_free(c->server_key);
    if (c->chan) { simpp_chan_wipe(c->chan); free(c->chan); }
    tls_free(c->tls);
    tls_ctx_free(c->tlsctx);
    c->tls = NULL;
    c->tlsctx = NULL;
    c->xs = c->inner = NULL;
    c->features = NULL;
    c->server_key = NULL;
    c->chan = NULL;
}

/* wait until fd is ready for ev (POLLIN/POLLOUT), within the timeout */
static int wait_fd(struct client *c, int fd, short ev)
{
    struct pollfd p = { fd, ev, 0 };
    int pr;
    do pr = poll(&p, 1, c->timeout_ms); while (pr < 0 && errno == EINTR);
    if (pr < 0) return fail(c, "poll: %s", strerror(errno));
    if (pr == 0) return fail(c, "no answer from the relay in time");
    return 0;
}

static int tls_write_all(struct client *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = tls_write(c->tls, p, n);
        if (w == TLS_WANT_WRITE || w == TLS_WANT_READ) {
            if (wait_fd(c, w == TLS_WANT_WRITE ? c->wfd : c->rfd, w == TLS_WANT_WRITE ? POLLOUT : POLLIN) < 0)
                return -1;
            continue;
        }
        if (w < 0) return fail(c, "unable to write to the relay: TLS: %s", tls_error(c->tls));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_all(struct client *c, const char *p, size_t n)
{
    if (c->tls) return tls_write_all(c, p, n);
    while (n) {
        ssize_t w = write(c->wfd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return fail(c, "unable to write to the relay: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int client_send(struct client *c, const char *xml, size_t len)
{
    trace(c, ">", xml, len);
    if (!c->chan) return write_all(c, xml, len);
    size_t cl = len + SC_MAX_OVERHEAD, bl = 4 * ((cl + 2) / 3) + 1;
    uint8_t *ct = malloc(cl);
    char *b = malloc(bl);
    uint64_t seq;
    sbuf f = { 0 };
    int r = -1;
    if (ct && b && simpp_chan_seal(c->chan, xml, len, ct, &cl, &seq) == SIMPP_OK &&
        sc_b64_encode(ct, cl, b, &bl) == 0) {
        sb_printf(&f, "<c xmlns='" SIMPP_NS "' n='%llu'>", (unsigned long long)seq);
        sb_put(&f, b, bl);
        sb_puts(&f, "</c>");
        r = f.oom ? fail(c, "out of memory") : write_all(c, f.p, f.n);
    } else
        fail(c, "unable to seal a frame");
    sb_free(&f);
    free(ct);
    free(b);
    return r;
}

/* read once (waiting up to ms) and feed the parser */
static int read_some(struct client *c, int ms)
{
    struct pollfd p = { c->rfd, POLLIN, 0 };
    char buf[16384];
    int pr;
    do pr = poll(&p, 1, ms); while (pr < 0 && errno == EINTR);
    if (pr < 0) return fail(c, "poll: %s", strerror(errno));
    if (pr == 0) return 0;
    ssize_t n;
    if (c->tls) {
        /* every record already here, so that nothing waits inside TLS
         * while poll() sees an empty socket */
        do {
            n = tls_read(c->tls, buf, sizeof buf);
            if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) return 0;
            if (n <= 0) {
                c->closed = 1;
                if (!c->err[0]) {
                    if (n == TLS_CLOSED) fail(c, "the relay closed the connection");
                    else fail(c, "TLS: %s", tls_error(c->tls));
                }
                return -1;
            }
            if (xs_feed(c->xs, buf, (size_t)n) < 0) {
                c->closed = 1;
                return fail(c, "relay sent bad XML: %s %s", xs_error(c->xs), xs_error_text(c->xs));
            }
        } while (tls_pending(c->tls));
        return 1;
    }
    n = read(c->rfd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    if (n <= 0) {
        c->closed = 1;
        if (!c->err[0]) fail(c, "the relay closed the connection");
        return -1;
    }
    if (xs_feed(c->xs, buf, (size_t)n) < 0) {
        c->closed = 1;
        return fail(c, "relay sent bad XML: %s %s", xs_error(c->xs), xs_error_text(c->xs));
    }
    return 1;
}

int client_pump(struct client *c)
{
    if (c->closed) return -1;
    int r = read_some(c, 0);
    return r < 0 ? -1 : 0;
}

int client_pending(const struct client *c)
{
    return c->head != NULL;
}

xs_node *client_next(struct client *c, int timeout_ms)
{
    int64_t deadline = ev_now_ms() + (timeout_ms < 0 ? c->timeout_ms : timeout_ms);
    for (;;) {
        if (c->head) {
            struct cl_item *it = c->head;
            xs_node *n = it->n;
            c->head = it->next;
            if (!c->head) c->tail = NULL;
            free(it);
            return n;
        }
        if (c->closed) {
            if (!c->err[0]) fail(c, "the relay closed the stream");
            return NULL;
        }
        int64_t left = deadline - ev_now_ms();
        if (left <= 0) {
            fail(c, "no answer from the relay in time");
            return NULL;
        }
        if (read_some(c, (int)left) < 0) return NULL;
    }
}

static int is(const xs_node *n, const char *name, const char *ns)
{
    return n && n->name && !strcmp(n->name, name) && (!ns || (n->ns && !strcmp(n->ns, ns)));
}

/* send our header, wait for the relay's and its features */
static int stream_start(struct client *c)
{
    size_t hl;
    char *h = xs_stream_header(XS_NS_CLIENT, NULL, c->domain, NULL, NULL, &hl);
    if (!h || write_all(c, h, hl) < 0) { free(h); return -1; }
    trace(c, ">", h, hl);
    free(h);
    xs_node *f = client_next(c, -1);
    if (!f) return -1;
    if (!is(f, "features", XS_NS_STREAMS)) {
        int stream_error = is(f, "error", XS_NS_STREAMS);
        xs_node_free(f);
        return stream_error ? -1 : fail(c, "the relay sent no stream features");
    }
    xs_node_free(c->features);
    c->features = f;
    return 0;
}

/* RFC 6120 5.4: <starttls/>, <proceed/>, the handshake with the name
 * checked, and a new stream inside TLS */
static int start_tls(struct client *c)
{
    static const char st[] = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    char err[512];
    xs_node *n;
    if (!(c->tlsctx = tls_client_new(c->tls_ca, 0, err, sizeof err))) return fail(c, "TLS: %s", err);
    if (write_all(c, st, sizeof st - 1) < 0) return -1;
    trace(c, ">", st, sizeof st - 1);
    if (!(n = client_next(c, -1))) return -1;
    int go = is(n, "proceed", "urn:ietf:params:xml:ns:xmpp-tls");
    xs_node_free(n);
    if (!go) return fail(c, "the relay refused STARTTLS");
    /* nothing the relay sent in clear after <proceed/> counts: the
     * parser stopped there (outer_cb), and starts again inside TLS */
    if (!(c->tls = tls_connect(c->tlsctx, c->rfd, c->wfd, c->domain))) return fail(c, "TLS: out of memory");
    for (;;) {
        int r = tls_handshake(c->tls);
        if (r == TLS_OK) break;
        if (r != TLS_WANT_READ && r != TLS_WANT_WRITE) {
            c->tls_failed = 1;
            return fail(c, "TLS with %s: %s (-T file trusts a CA; -t off relies on SIMPP alone)", c->domain,
                        tls_error(c->tls));
        }
        if (wait_fd(c, r == TLS_WANT_WRITE ? c->wfd : c->rfd, r == TLS_WANT_WRITE ? POLLOUT : POLLIN) < 0) return -1;
    }
    if (c->verbose) fprintf(stderr, "%s: TLS %s %s with %s\n", progname, tls_version(c->tls), tls_cipher(c->tls), c->domain);
    xs_reset(c->xs);
    return stream_start(c);
}

int client_open(struct client *c)
{
    xs_callbacks cb = { open_cb, outer_cb, close_cb };
    xs_limits lim = { 1u << 20, 0, 0, 0 };
    xs_init();
    if (!(c->xs = xs_new(&lim, &cb, c))) return fail(c, "out of memory");
    if (stream_start(c) < 0) return -1;
    if (c->tls_mode != CLIENT_TLS_OFF && xs_child(c->features, "starttls", "urn:ietf:params:xml:ns:xmpp-tls")) {
        if (start_tls(c) < 0) return -1;
    } else if (c->tls_mode == CLIENT_TLS_REQUIRE)
        return fail(c, "the relay does not offer TLS (STARTTLS)");
    const xs_node *s = xs_child(c->features, "simpp", SIMPP_NS);
    if (!s) return fail(c, "this relay does not speak SIMPP (no <simpp/> feature)");
    const char *key = xs_getattr(s, "key", NULL), *curve = xs_getattr(s, "curve", NULL);
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    int cv = curve ? sc_curve_from_name(curve) : 0;
    if (!key || !cv || sc_b64_decode(key, strlen(key), pub, &pl) < 0 ||
        !(c->server_key = sc_key_from_public(cv, pub, pl)))
        return fail(c, "the relay announced an invalid key");
    const char *reg = xs_getattr(s, "register", NULL);
    c->can_register = reg && !strcmp(reg, "true");
    for (const xs_node *k = s->children; k; k = k->next)
        if (is(k, "suite", SIMPP_NS)) {
            /* every advertised suite is bound into the handshake: keep all */
            if (c->nsuites == sizeof c->suites) return fail(c, "the relay advertises too many suites");
            int su = sc_suite_from_name(xs_text(k));
            /* an unknown name is kept as 0xff: it is part of what is bound */
            c->suites[c->nsuites++] = (uint8_t)(su ? su : 0xff);
        }
    return 0;
}

int client_pin(struct client *c, const char *pubfile, int tofu, int *wrote)
{
    sc_key *pinned;
    uint8_t a[SC_MAX_PUB], b[SC_MAX_PUB];
    size_t al = sizeof a, bl = sizeof b;
    char fa[KF_FPR_LEN], fb[KF_FPR_LEN];
    *wrote = 0;
    /* a fingerprint instead of a file: what people read to each other */
    if (!strncmp(pubfile, "SHA256:", 7)) {
        kf_fingerprint(c->server_key, fb);
        if (strcmp(fb, pubfile) == 0) return 0;
        fail(c, "THE RELAY'S KEY HAS CHANGED: pinned %s, relay shows %s; refusing", pubfile, fb);
        return EX_NOPERM;
    }
    if (!(pinned = kf_read(pubfile, NULL, 0, 0))) {
        int sys = kf_errno == KF_ESYS;
        if (sys && errno == ENOENT && tofu) {
            if (kf_write_public(pubfile, c->server_key, 0) < 0) {
                fail(c, "unable to write %s: %s", pubfile, strerror(errno));
                return EX_CANTCREAT;
            }
            *wrote = 1;
            return 0;
        }
        fail(c, "%s: %s", pubfile, kf_strerror(kf_errno));
        return sys ? EX_NOINPUT : EX_DATAERR;
    }
    int same = sc_key_curve(pinned) == sc_key_curve(c->server_key) &&
               sc_key_public(pinned, a, &al) == 0 && sc_key_public(c->server_key, b, &bl) == 0 &&
               al == bl && sc_ct_eq(a, b, al);
    if (!same) {
        kf_fingerprint(pinned, fa);
        kf_fingerprint(c->server_key, fb);
        fail(c, "THE RELAY'S KEY HAS CHANGED: pinned %s, relay shows %s; refusing", fa, fb);
    }
    sc_key_free(pinned);
    return same ? 0 : EX_NOPERM;
}

int client_pick_suite(const struct client *c, int want)
{
    for (size_t i = 0; i < c->nsuites; i++)
        if (sc_suite_keylen(c->suites[i]) && (!want || c->suites[i] == want)) return c->suites[i];
    return 0;
}

/* the stanza-level error condition of an iq/SASL failure */
static const char *condition(const xs_node *n)
{
    const xs_node *e = xs_child(n, "error", NULL);
    if (e) n = e;
    for (const xs_node *k = n->children; k; k = k->next)
        if (k->name && strcmp(k->name, "text")) return k->name;
    return "undefined-condition";
}

static xs_node *wait_iq(struct client *c, const char *id)
{
    for (;;) {
        xs_node *n = client_next(c, -1);
        if (!n) return NULL;
        const char *nid = xs_getattr(n, "id", NULL);
        if (is(n, "iq", NULL) && nid && !strcmp(nid, id)) return n;
        xs_node_free(n);                    /* nothing else is expected yet */
    }
}

static int send_b64(struct client *c, const char *pre, const uint8_t *d, size_t dl, const char *post)
{
    size_t bl = 4 * ((dl + 2) / 3) + 1;
    char *b = malloc(bl);
    sbuf s = { 0 };
    int r = -1;
    if (b && sc_b64_encode(d, dl, b, &bl) == 0) {
        sb_puts(&s, pre);
        sb_put(&s, b, bl);
        sb_puts(&s, post);
        r = s.oom ? -1 : client_send(c, s.p, s.n);
    }
    sb_free(&s);
    free(b);
    return r;
}

static uint8_t *b64_of(const xs_node *n, size_t *len)
{
    const char *t = xs_text(n);
    size_t tl = strlen(t), cap = tl / 4 * 3 + 4;
    uint8_t *p = malloc(cap);
    *len = cap;
    if (p && sc_b64_decode(t, tl, p, len) < 0) { free(p); p = NULL; }
    return p;
}

int client_register(struct client *c, const char *jid, const sc_key *kr, int suite, int mode)
{
    struct simpp_ctx ctx = { c->stream_id, c->suites, c->nsuites };
    struct simpp_reg reg;
    uint8_t m[SIMPP_MSG_MAX], *in = NULL;
    size_t ml = sizeof m, il;
    int e, r = -1;
    xs_node *n = NULL;
    if (!c->can_register) return fail(c, "the relay does not take registrations");
    if ((e = simpp_r1_make(&reg, &ctx, jid, kr, c->server_key, suite, mode, m, &ml)) != SIMPP_OK) {
        fail(c, "R1: %s", simpp_strerror(e));
        goto out;
    }
    if (send_b64(c, "<iq type='set' id='simpp-r1'><register xmlns='" SIMPP_NS "'><r1>", m, ml,
                 "</r1></register></iq>") < 0 || !(n = wait_iq(c, "simpp-r1")))
        goto out;
    const xs_node *r2 = xs_child(xs_child(n, "register", SIMPP_NS), "r2", SIMPP_NS);
    if (!r2) {
        const char *cond = condition(n);
        fail(c, "registration refused: %s%s", cond, !strcmp(cond, "conflict") ? " (the account exists)" : "");
        goto out;
    }
    if (!(in = b64_of(r2, &il))) { fail(c, "R2 is not base64"); goto out; }
    ml = sizeof m;
    if ((e = simpp_r2_answer(&reg, kr, in, il, m, &ml)) != SIMPP_OK) {
        fail(c, "R2 does not check (%s): the relay is not the one whose key we hold", simpp_strerror(e));
        goto out;
    }
    xs_node_free(n);
    n = NULL;
    /* the proofs of a card level go beside R3 (c->reg_extra) */
    sbuf post = { 0 };
    sb_puts(&post, "</r3>");
    if (c->reg_extra) sb_puts(&post, c->reg_extra);
    sb_puts(&post, "</register></iq>");
    e = post.oom ? -1 : send_b64(c, "<iq type='set' id='simpp-r3'><register xmlns='" SIMPP_NS "'><r3>", m, ml, post.p);
    sb_free(&post);
    if (e < 0 || !(n = wait_iq(c, "simpp-r3"))) goto out;
    const char *type = xs_getattr(n, "type", NULL);
    if (!type || strcmp(type, "result")) {
        const char *cond = condition(n);
        const xs_node *tx = xs_child(xs_child(n, "error", NULL), "text", NULL);
        fail(c, "registration refused: %s%s%s%s", cond, !strcmp(cond, "conflict") ? " (the account exists)" : "",
             tx ? ": " : "", tx ? xs_text(tx) : "");
        goto out;
    }
    /* the level the relay recorded, and why */
    const xs_node *got = xs_child(n, "register", SIMPP_NS);
    const char *lv = got ? xs_getattr(got, "level", NULL) : NULL, *note = got ? xs_getattr(got, "note", NULL) : NULL;
    snprintf(c->reg_level, sizeof c->reg_level, "%s", lv ? lv : "");
    snprintf(c->reg_note, sizeof c->reg_note, "%s", note ? note : "");
    r = 0;
out:
    xs_node_free(n);
    free(in);
    simpp_reg_wipe(&reg);
    return r;
}

static xs_node *wait_sasl(struct client *c)
{
    for (;;) {
        xs_node *n = client_next(c, -1);
        if (!n || (n->ns && !strcmp(n->ns, NS_SASL))) return n;
        xs_node_free(n);
    }
}

int client_login(struct client *c, const char *jid, const sc_key *kr, int suite, int mode,
                 const char *resource)
{
    struct simpp_ctx ctx = { c->stream_id, c->suites, c->nsuites };
    struct simpp_login lg;
    uint8_t ka[SIMPP_KEY], m[SIMPP_MSG_MAX], *in = NULL;
    size_t ml = sizeof m, il;
    int e, r = -1;
    xs_node *n = NULL;
    sc_key *ku_a = NULL;
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    memset(&lg, 0, sizeof lg);
    /* K_A = KR_A . KU_S, recomputed from the key (or the password it came from) */
    if (sc_key_public(kr, pub, &pl) < 0 || !(ku_a = sc_key_from_public(sc_key_curve(kr), pub, pl)) ||
        simpp_master_key(kr, c->server_key, jid, ku_a, c->server_key, ka) != SIMPP_OK) {
        fail(c, "unable to derive the master key (is the key on the relay's curve?)");
        goto out;
    }
    if ((e = simpp_s1_make(&lg, &ctx, jid, ka, suite, mode, m, &ml)) != SIMPP_OK) {
        fail(c, "S1: %s", simpp_strerror(e));
        goto out;
    }
    if (send_b64(c, "<auth xmlns='" NS_SASL "' mechanism='SIMPP'>", m, ml, "</auth>") < 0 ||
        !(n = wait_sasl(c)))
        goto out;
    if (!is(n, "challenge", NS_SASL)) {
        fail(c, "login refused: %s", condition(n));
        goto out;
    }
    if (!(in = b64_of(n, &il))) { fail(c, "S2 is not base64"); goto out; }
    ml = sizeof m;
    if ((e = simpp_s2_answer(&lg, in, il, m, &ml)) != SIMPP_OK) {
        fail(c, "S2 does not check (%s): refusing this relay", simpp_strerror(e));
        goto out;
    }
    xs_node_free(n);
    if (send_b64(c, "<response xmlns='" NS_SASL "'>", m, ml, "</response>") < 0 || !(n = wait_sasl(c)))
        goto out;
    if (!is(n, "success", NS_SASL)) {
        fail(c, "login refused: %s", condition(n));
        goto out;
    }
    /* the channel starts with the new stream */
    xs_limits lim = { 1u << 20, 0, 0, 0 };
    xs_callbacks icb = { NULL, inner_cb, NULL };
    if (!(c->chan = calloc(1, sizeof *c->chan)) || !(c->inner = xs_new(&lim, &icb, c)) ||
        xs_feed(c->inner, SYNTH_HEADER, sizeof SYNTH_HEADER - 1) < 0) {
        fail(c, "out of memory");
        goto out;
    }
    simpp_chan_init(c->chan, &lg, 0);
    if (stream_start(c) < 0) goto out;
    if (!xs_child(c->features, "bind", NS_BIND)) { fail(c, "the relay offers no resource binding"); goto out; }
    sbuf b = { 0 };
    sb_puts(&b, "<iq type='set' id='simpp-bind'><bind xmlns='" NS_BIND "'>");
    if (resource && *resource) { sb_puts(&b, "<resource>"); sb_esc(&b, resource); sb_puts(&b, "</resource>"); }
    sb_puts(&b, "</bind></iq>");
    e = b.oom ? -1 : client_send(c, b.p, b.n);
    sb_free(&b);
    xs_node_free(n);
    n = NULL;
    if (e < 0 || !(n = wait_iq(c, "simpp-bind"))) goto out;
    const xs_node *j = xs_child(xs_child(n, "bind", NS_BIND), "jid", NS_BIND);
    if (!j) { fail(c, "resource binding refused: %s", condition(n)); goto out; }
    snprintf(c->jid, sizeof c->jid, "%s", xs_text(j));
    r = 0;
out:
    sc_zero(ka, sizeof ka);
    simpp_login_wipe(&lg);
    sc_key_free(ku_a);
    xs_node_free(n);
    free(in);
    return r;
}

void client_send_close(struct client *c)
{
    if (c->closed || c->sent_close) return;
    c->sent_close = 1;
    trace(c, ">", XS_STREAM_CLOSE, strlen(XS_STREAM_CLOSE));
    write_all(c, XS_STREAM_CLOSE, strlen(XS_STREAM_CLOSE));
}

void client_close(struct client *c)
{
    if (!c->closed) {
        client_send_close(c);
        /* wait briefly for the relay's own close */
        int64_t end = ev_now_ms() + 2000;
        while (!c->closed && ev_now_ms() < end)
            if (read_some(c, (int)(end - ev_now_ms())) < 0) break;
    }
}

int client_connect(const char *hostport, int allow_stdio, int *rfd, int *wfd, char *err, size_t errlen)
{
    char host[256], port[16];
    if (hostport) {
        int fd;
        if (net_parse_hostport(hostport, host, sizeof host, port, sizeof port, "5222") < 0) {
            snprintf(err, errlen, "%s: expected host[:port]", hostport);
            return -1;
        }
        if ((fd = net_connect(host, port, 10000)) < 0) {
            snprintf(err, errlen, "unable to connect to %s: %s", hostport, net_strerror());
            return -1;
        }
        *rfd = *wfd = fd;
        return 0;
    }
    if (fcntl(6, F_GETFD) >= 0 && fcntl(7, F_GETFD) >= 0) {
        /* tcpclient leaves Nagle on unless given -D */
        net_nodelay(7);
        *rfd = 6;
        *wfd = 7;
        return 0;
    }
    if (allow_stdio) {
        net_nodelay(1);                 /* under inetd or socat, a socket */
        *rfd = 0;
        *wfd = 1;
        return 0;
    }
    snprintf(err, errlen, "no connection: give -c host:port, or run under tcpclient (fds 6/7)");
    return -1;
}

sc_key *client_key(const char *keyfile, int passfd, int frompw, int pwfd, const char *jid,
                   unsigned long rounds, int curve, char *err, size_t errlen, int *code)
{
    char secret[1024];
    size_t sl = 0;
    sc_key *k = NULL;
    if (frompw) {
        if (read_secret(pwfd, "password: ", secret, sizeof secret, &sl) < 0) {
            *code = errno == ENOTTY ? EX_USAGE : EX_IOERR;
            snprintf(err, errlen, "password: %s", errno == ENOTTY ? "no terminal to ask on; give it on an fd" : strerror(errno));
            return NULL;
        }
        *code = EX_DATAERR;
        if (sl == 0) snprintf(err, errlen, "password: empty");
        else if (!(k = sc_key_from_password(curve, secret, sl, jid, strlen(jid), rounds)))
            snprintf(err, errlen, "unable to derive the key from the password");
        sc_zero(secret, sizeof secret);
        return k;
    }
    char *text;
    size_t len;
    if (!keyfile) {
        *code = EX_USAGE;
        snprintf(err, errlen, "no key: give -k keyfile or -p (password)");
        return NULL;
    }
    if (read_file(keyfile, 64 * 1024, &text, &len) < 0) {
        *code = EX_NOINPUT;
        snprintf(err, errlen, "unable to read %s: %s", keyfile, strerror(errno));
        return NULL;
    }
    if (kf_is_encrypted(text) && read_secret(passfd, "passphrase: ", secret, sizeof secret, &sl) < 0) {
        *code = errno == ENOTTY ? EX_USAGE : EX_IOERR;
        snprintf(err, errlen, "passphrase: %s", errno == ENOTTY ? "no terminal to ask on; give it on an fd" : strerror(errno));
        sc_zero(text, len);
        free(text);
        return NULL;
    }
    k = kf_parse(text, len, sl ? secret : NULL, sl, 1);
    if (!k) {
        *code = kf_errno == KF_EPASS ? EX_NOPERM : EX_DATAERR;
        snprintf(err, errlen, "%s: %s", keyfile, kf_strerror(kf_errno));
    }
    sc_zero(secret, sizeof secret);
    sc_zero(text, len);
    free(text);
    return k;
}
