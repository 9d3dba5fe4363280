/* client.c - the client end of a SIMPP stream.  See client.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "client.h"
#include "net.h"
#include "pepkey.h"
#include "ev.h"
#include "keyfile.h"
#include "sbuf.h"
#include "sasl.h"
#include "srv.h"
#include "tls.h"
#include "util.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_SASL_CB "urn:xmpp:sasl-cb:0"

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
        if (r < 0) { c->closed = c->tampered = 1; return XS_STOP; }
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
        c->closed = c->tampered = 1;
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
                c->closed = c->tampered = 1;
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
        c->closed = c->tampered = 1;
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

static int tls_begin(struct client *c);

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
    if (tls_begin(c) < 0) return -1;
    xs_reset(c->xs);
    return stream_start(c);
}

/* the TLS handshake on the connection, the certificate checked for the
 * domain (RFC 6125) */
static int tls_begin(struct client *c)
{
    char err[512];
    if (!c->tlsctx && !(c->tlsctx = tls_client_new(c->tls_ca, 0, err, sizeof err))) return fail(c, "TLS: %s", err);
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
    return 0;
}

int client_open(struct client *c)
{
    xs_callbacks cb = { open_cb, outer_cb, close_cb };
    xs_limits lim = { 1u << 20, 0, 0, 0 };
    xs_init();
    if (!(c->xs = xs_new(&lim, &cb, c))) return fail(c, "out of memory");
    /* XEP-0368: TLS from the first byte */
    if (c->tls_mode == CLIENT_TLS_DIRECT && tls_begin(c) < 0) return -1;
    if (stream_start(c) < 0) return -1;
    if (c->tls_mode != CLIENT_TLS_OFF && !c->tls && xs_child(c->features, "starttls", "urn:ietf:params:xml:ns:xmpp-tls")) {
        if (start_tls(c) < 0) return -1;
    } else if (c->tls_mode == CLIENT_TLS_REQUIRE && !c->tls)
        return fail(c, "the relay does not offer TLS (STARTTLS)");
    const xs_node *s = xs_child(c->features, "simpp", SIMPP_NS);
    if (!s) return 0;               /* an ordinary server: client_xmpp_login */
    c->simpp = 1;
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
    e = post.oom ? -1 : send_b64(c, "<iq type='set' id='simpp-r3'><register xmlns='" SIMPP_NS "'><r3>", m, ml, sb_str(&post));
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

/* RFC 6120 7: bind a resource (the server's choice when none is given);
 * c->jid is then the full JID.  RFC 3921's session, where a server still
 * asks for it. */
static int bind_resource(struct client *c, const char *resource)
{
    xs_node *n = NULL;
    int e;
    if (!xs_child(c->features, "bind", NS_BIND)) return fail(c, "the relay offers no resource binding");
    sbuf b = { 0 };
    sb_puts(&b, "<iq type='set' id='simpp-bind'><bind xmlns='" NS_BIND "'>");
    if (resource && *resource) { sb_puts(&b, "<resource>"); sb_esc(&b, resource); sb_puts(&b, "</resource>"); }
    sb_puts(&b, "</bind></iq>");
    e = b.oom ? -1 : client_send(c, b.p, b.n);
    sb_free(&b);
    if (e < 0 || !(n = wait_iq(c, "simpp-bind"))) return -1;
    const xs_node *j = xs_child(xs_child(n, "bind", NS_BIND), "jid", NS_BIND);
    if (!j) {
        fail(c, "resource binding refused: %s", condition(n));
        xs_node_free(n);
        return -1;
    }
    snprintf(c->jid, sizeof c->jid, "%s", xs_text(j));
    xs_node_free(n);
    const xs_node *sess = xs_child(c->features, "session", NS_SESSION);
    if (sess && !xs_child(sess, "optional", NS_SESSION)) {
        static const char q[] = "<iq type='set' id='simpp-session'><session xmlns='" NS_SESSION "'/></iq>";
        if (client_send(c, q, sizeof q - 1) < 0 || !(n = wait_iq(c, "simpp-session"))) return -1;
        const char *type = xs_getattr(n, "type", NULL);
        e = type && !strcmp(type, "result") ? 0 : fail(c, "session establishment refused: %s", condition(n));
        xs_node_free(n);
        return e;
    }
    return 0;
}

int client_master_key(struct client *c, const char *jid, const sc_key *kr, uint8_t ka[SIMPP_KEY])
{
    sc_key *ku_a = NULL;
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    int r = 0;
    /* K_A = KR_A . KU_S, recomputed from the key (or the password it came from) */
    if (sc_key_public(kr, pub, &pl) < 0 || !(ku_a = sc_key_from_public(sc_key_curve(kr), pub, pl)) ||
        simpp_master_key(kr, c->server_key, jid, ku_a, c->server_key, ka) != SIMPP_OK)
        r = fail(c, "unable to derive the master key (is the key on the relay's curve?)");
    sc_key_free(ku_a);
    return r;
}

int client_login(struct client *c, const char *jid, const sc_key *kr, int suite, int mode,
                 const char *resource)
{
    uint8_t ka[SIMPP_KEY];
    int r = client_master_key(c, jid, kr, ka) < 0 ? -1 : client_login_ka(c, jid, ka, suite, mode, resource);
    sc_zero(ka, sizeof ka);
    return r;
}

int client_login_ka(struct client *c, const char *jid, const uint8_t ka[SIMPP_KEY], int suite, int mode,
                    const char *resource)
{
    struct simpp_ctx ctx = { c->stream_id, c->suites, c->nsuites };
    struct simpp_login lg;
    uint8_t m[SIMPP_MSG_MAX], *in = NULL;
    size_t ml = sizeof m, il;
    int e, r = -1;
    xs_node *n = NULL;
    memset(&lg, 0, sizeof lg);
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
    r = c->no_bind ? 0 : bind_resource(c, resource);
out:
    simpp_login_wipe(&lg);
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

/* RFC 6120 3.2: the SRV targets of the domain in order (direct TLS or
 * STARTTLS each), else the domain itself on 5222 */
static int connect_srv(const char *domain, int *fd, int *direct, char *err, size_t errlen)
{
    struct srv_target t[16];
    int n = srv_lookup(domain, t, sizeof t / sizeof *t);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", domain, errno == ENOENT ? "the domain's DNS says it offers no XMPP service"
                                                                : "DNS look-up of its XMPP service failed");
        return -1;
    }
    for (int i = 0; i < n; i++)
        if ((*fd = net_connect(t[i].host, t[i].port, 10000)) >= 0) {
            *direct = t[i].direct;
            return 0;
        }
    if (n == 0 && (*fd = net_connect(domain, "5222", 10000)) >= 0) {
        *direct = 0;
        return 0;
    }
    if (n) snprintf(err, errlen, "unable to connect to any of the %d servers of %s (first %s:%s): %s", n, domain,
                    t[0].host, t[0].port, net_strerror());
    else snprintf(err, errlen, "unable to connect to %s:5222 (no SRV records): %s", domain, net_strerror());
    return -1;
}

int client_reconnect(const char *hostport, const char *domain, int *fd, int *direct, char *err, size_t errlen)
{
    char host[256], port[16];
    *direct = 0;
    if (!hostport) return connect_srv(domain, fd, direct, err, errlen);
    if (net_parse_hostport(hostport, host, sizeof host, port, sizeof port, "5222") < 0) {
        snprintf(err, errlen, "%s: expected host[:port]", hostport);
        return -1;
    }
    if ((*fd = net_connect(host, port, 10000)) < 0) {
        snprintf(err, errlen, "unable to connect to %s: %s", hostport, net_strerror());
        return -1;
    }
    return 0;
}

int client_connect(const char *hostport, int allow_stdio, int *rfd, int *wfd, char *err, size_t errlen)
{
    return client_connect_to(hostport, NULL, allow_stdio, rfd, wfd, NULL, err, errlen);
}

int client_connect_to(const char *hostport, const char *domain, int allow_stdio, int *rfd, int *wfd, int *direct,
                      char *err, size_t errlen)
{
    char host[256], port[16];
    struct stat st;
    if (direct) *direct = 0;
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
    /* stdin/stdout as the connection: a socket there (inetd style), or when
     * there is no domain to look up */
    if (allow_stdio && (!domain || (fstat(0, &st) == 0 && S_ISSOCK(st.st_mode)))) {
        net_nodelay(1);                 /* under inetd or socat, a socket */
        *rfd = 0;
        *wfd = 1;
        return 0;
    }
    if (domain && direct) {
        int fd;
        if (connect_srv(domain, &fd, direct, err, errlen) < 0) return -1;
        *rfd = *wfd = fd;
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

/* ---- an ordinary XMPP server: SASL with the server's password ---------- */

/* mechanisms in the order we prefer them; PLAIN only inside TLS */
static const struct { const char *name; int scram, hash, plus; } MECHS[] = {
    { "SCRAM-SHA-256-PLUS", 1, SC_HASH_SHA256, 1 },
    { "SCRAM-SHA-1-PLUS", 1, SC_HASH_SHA1, 1 },
    { "SCRAM-SHA-256", 1, SC_HASH_SHA256, 0 },
    { "SCRAM-SHA-1", 1, SC_HASH_SHA1, 0 },
    { "PLAIN", 0, 0, 0 },
};

static int offered(const xs_node *mechs, const char *name)
{
    for (const xs_node *k = mechs ? mechs->children : NULL; k; k = k->next)
        if (is(k, "mechanism", NS_SASL) && !strcmp(xs_text(k), name)) return 1;
    return 0;
}

/* the channel binding to use with a -PLUS mechanism: one the server names
 * (XEP-0440), else tls-unique, which only TLS 1.2 has (RFC 5929; servers
 * that name nothing may know no other, so under TLS 1.3 a -PLUS
 * mechanism is then not used); -1 when there is none */
static int pick_binding(struct client *c, const char **name, uint8_t data[TLS_CB_MAX])
{
    const xs_node *cbs = xs_child(c->features, "sasl-channel-binding", NS_SASL_CB);
    static const char *const TYPES[] = { "tls-exporter", "tls-server-end-point", "tls-unique" };
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++) {
        int named = 0;
        for (const xs_node *k = cbs ? cbs->children : NULL; k; k = k->next)
            if (is(k, "channel-binding", NS_SASL_CB) && !strcmp(xs_getattr(k, "type", NULL) ? xs_getattr(k, "type", NULL) : "", TYPES[i]))
                named = 1;
        if (cbs ? !named : i != 2) continue;
        int n = i == 0 ? tls_cb_exporter(c->tls, data) : i == 1 ? tls_cb_endpoint(c->tls, data) : tls_cb_unique(c->tls, data);
        if (n > 0) { *name = TYPES[i]; return n; }
    }
    return -1;
}

/* the base64 payload of a SASL element, NUL-terminated; "=" is empty */
static char *sasl_payload(const xs_node *n, size_t *len)
{
    const char *t = xs_text(n);
    size_t tl = strlen(t), cap = tl / 4 * 3 + 4;
    char *p = malloc(cap + 1);
    *len = 0;
    if (!p) return NULL;
    if (!strcmp(t, "=") || !tl) { p[0] = 0; return p; }
    *len = cap;
    if (sc_b64_decode(t, tl, (uint8_t *)p, len) < 0) { free(p); return NULL; }
    p[*len] = 0;
    return p;
}

static int sasl_refused(struct client *c, const xs_node *n, const char *mech)
{
    const char *cond = condition(n);
    return fail(c, "login refused (%s): %s%s", mech, cond,
                !strcmp(cond, "not-authorized") ? " (wrong account or password?)" : "");
}

static int scram_login(struct client *c, const char *mech, int hash, int plus, const char *user,
                       const char *pw, size_t pwlen)
{
    char out[SCRAM_OUT_MAX];
    size_t ol = sizeof out, il;
    char *in = NULL;
    xs_node *n = NULL;
    int r = -1, e;
    scram_client *sc = scram_client_new_hash(hash, user, pw, pwlen);
    if (!sc) return fail(c, "the password cannot be used with SCRAM (control characters or too long?)");
    if (plus) {
        const char *cbname = NULL;
        uint8_t cb[TLS_CB_MAX];
        int cl = pick_binding(c, &cbname, cb);
        if (cl < 0 || scram_client_channel(sc, cbname, cb, (size_t)cl) != SASL_OK) {
            fail(c, "no channel binding for %s", mech);
            goto out;
        }
        if (c->verbose) fprintf(stderr, "%s: %s bound to %s\n", progname, mech, cbname);
    }
    if ((e = scram_client_first(sc, out, &ol)) != SASL_OK) { fail(c, "SCRAM: %s", sasl_strerror(e)); goto out; }
    sbuf a = { 0 };
    sb_printf(&a, "<auth xmlns='" NS_SASL "' mechanism='%s'>", mech);
    e = send_b64(c, sb_str(&a), (const uint8_t *)out, ol, "</auth>");
    sb_free(&a);
    if (e < 0 || !(n = wait_sasl(c))) goto out;
    if (!is(n, "challenge", NS_SASL)) { sasl_refused(c, n, mech); goto out; }
    if (!(in = sasl_payload(n, &il))) { fail(c, "the server's SCRAM challenge is not base64"); goto out; }
    ol = sizeof out;
    if ((e = scram_client_final(sc, in, il, out, &ol)) != SASL_OK) {
        fail(c, "the server's SCRAM challenge: %s", sasl_strerror(e));
        goto out;
    }
    xs_node_free(n);
    n = NULL;
    if (send_b64(c, "<response xmlns='" NS_SASL "'>", (const uint8_t *)out, ol, "</response>") < 0 ||
        !(n = wait_sasl(c)))
        goto out;
    /* RFC 6120 6.4.6: the server's final message with <success/>, or (some
     * servers) in one more challenge answered by an empty response */
    if (is(n, "challenge", NS_SASL)) {
        free(in);
        if (!(in = sasl_payload(n, &il)) || scram_client_verify(sc, in, il) != SASL_OK) {
            fail(c, "the server did not prove it knows the password: refusing it");
            goto out;
        }
        xs_node_free(n);
        static const char empty[] = "<response xmlns='" NS_SASL "'/>";
        if (client_send(c, empty, sizeof empty - 1) < 0 || !(n = wait_sasl(c))) goto out;
        if (!is(n, "success", NS_SASL)) { sasl_refused(c, n, mech); goto out; }
        r = 0;
        goto out;
    }
    if (!is(n, "success", NS_SASL)) { sasl_refused(c, n, mech); goto out; }
    free(in);
    if (!(in = sasl_payload(n, &il)) || (e = scram_client_verify(sc, in, il)) != SASL_OK) {
        fail(c, "the server did not prove it knows the password: refusing it");
        goto out;
    }
    r = 0;
out:
    if (in) { sc_zero(in, strlen(in)); free(in); }
    sc_zero(out, sizeof out);
    xs_node_free(n);
    scram_client_free(sc);
    return r;
}

static int plain_login(struct client *c, const char *user, const char *pw, size_t pwlen)
{
    size_t ul = strlen(user), ml = ul + pwlen + 2;
    uint8_t *m = malloc(ml);
    xs_node *n = NULL;
    int r = -1;
    if (!m) return fail(c, "out of memory");
    m[0] = 0;
    memcpy(m + 1, user, ul);
    m[1 + ul] = 0;
    memcpy(m + 2 + ul, pw, pwlen);
    if (send_b64(c, "<auth xmlns='" NS_SASL "' mechanism='PLAIN'>", m, ml, "</auth>") == 0 && (n = wait_sasl(c)))
        r = is(n, "success", NS_SASL) ? 0 : sasl_refused(c, n, "PLAIN");
    sc_zero(m, ml);
    free(m);
    xs_node_free(n);
    return r;
}

int client_xmpp_login(struct client *c, const char *jid, const char *pw, size_t pwlen, const char *mech,
                      const char *resource)
{
    const xs_node *mechs = xs_child(c->features, "mechanisms", NS_SASL);
    char user[1024];
    const char *at = strchr(jid, '@');
    size_t i, n = sizeof MECHS / sizeof *MECHS;
    uint8_t cb[TLS_CB_MAX];
    const char *cbname;
    int r;
    if (!at || (size_t)(at - jid) >= sizeof user) return fail(c, "%s: expected user@domain", jid);
    memcpy(user, jid, (size_t)(at - jid));
    user[at - jid] = 0;
    if (!mechs) return fail(c, "the server offers no SASL mechanism%s", c->tls ? "" : " (is TLS required?)");
    for (i = 0; i < n; i++) {
        if (mech && strcmp(mech, MECHS[i].name)) continue;
        if (!offered(mechs, MECHS[i].name)) continue;
        if (MECHS[i].plus && (!c->tls || pick_binding(c, &cbname, cb) < 0)) continue;
        if (!MECHS[i].scram && !c->tls) {
            if (mech) return fail(c, "PLAIN shows the password: refused outside TLS");
            continue;
        }
        break;
    }
    if (i == n)
        return fail(c, mech ? "the server does not offer %s%s" : "the server offers no mechanism we accept%s",
                    mech ? mech : (c->tls ? "" : " outside TLS (SCRAM-SHA-256, SCRAM-SHA-1)"),
                    mech ? (c->tls ? "" : " outside TLS") : "");
    if (c->verbose) fprintf(stderr, "%s: SASL %s\n", progname, MECHS[i].name);
    r = MECHS[i].scram ? scram_login(c, MECHS[i].name, MECHS[i].hash, MECHS[i].plus, user, pw, pwlen)
                      : plain_login(c, user, pw, pwlen);
    if (r < 0) return -1;
    /* outer_cb restarted the parser at <success/>: a new stream */
    if (stream_start(c) < 0) return -1;
    return c->no_bind ? 0 : bind_resource(c, resource);
}

int client_bind(struct client *c, const char *resource)
{
    return bind_resource(c, resource);
}

/* ---- the SIMPP key in PEP (lib/pepkey.h) ------------------------------- */

static int publish(struct client *c, const char *item, const char *access, xs_node **res)
{
    sbuf b = { 0 };
    sb_puts(&b, "<iq type='set' id='simpp-pep'><pubsub xmlns='" NS_PUBSUB "'><publish node='" PK_NODE "'>"
                "<item id='current'>");
    sb_puts(&b, item);
    sb_puts(&b, "</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
                "<field var='pubsub#access_model'><value>");
    sb_esc(&b, access);
    /* only the access model: a server refuses fields it does not know
     * (ejabberd 23.01: pubsub#max_items), and the one item id keeps one item */
    sb_puts(&b, "</value></field></x></publish-options></pubsub></iq>");
    int e = b.oom ? fail(c, "out of memory") : client_send(c, b.p, b.n);
    sb_free(&b);
    return e < 0 || !(*res = wait_iq(c, "simpp-pep")) ? -1 : 0;
}

/* XEP-0060 8.2: the node's access model set by its owner (a node made
 * earlier with another model refuses publish-options that differ) */
static int configure(struct client *c, const char *access)
{
    sbuf b = { 0 };
    xs_node *n = NULL;
    sb_puts(&b, "<iq type='set' id='simpp-pep-conf'><pubsub xmlns='" NS_PUBSUB_OWNER "'><configure node='" PK_NODE "'>"
                "<x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>"
                "<field var='pubsub#access_model'><value>");
    sb_esc(&b, access);
    sb_puts(&b, "</value></field></x></configure></pubsub></iq>");
    int e = b.oom ? fail(c, "out of memory") : client_send(c, b.p, b.n);
    sb_free(&b);
    if (e < 0 || !(n = wait_iq(c, "simpp-pep-conf"))) return -1;
    const char *type = xs_getattr(n, "type", NULL);
    e = type && !strcmp(type, "result") ? 0 : fail(c, "the server refused to change the key's access model: %s", condition(n));
    xs_node_free(n);
    return e;
}

int client_pep_publish(struct client *c, const char *jid, const sc_key *kr, const char *access, int64_t now)
{
    char *item = pk_item_make(kr, jid, now);
    xs_node *n = NULL;
    int r = -1;
    if (!item) return fail(c, "unable to sign the key item");
    if (publish(c, item, access, &n) < 0) goto out;
    const char *type = xs_getattr(n, "type", NULL);
    /* a node made with other options: precondition-not-met (XEP-0060
     * 7.1.5), or conflict from some servers */
    if (type && !strcmp(type, "error") && (!strcmp(condition(n), "precondition-not-met") || !strcmp(condition(n), "conflict"))) {
        xs_node_free(n);
        n = NULL;
        if (configure(c, access) < 0 || publish(c, item, access, &n) < 0) goto out;
        type = xs_getattr(n, "type", NULL);
    }
    if (!type || strcmp(type, "result")) {
        const char *cond = condition(n);
        fail(c, "the server refused to publish the key: %s%s", cond,
             !strcmp(cond, "service-unavailable") || !strcmp(cond, "feature-not-implemented")
                 ? " (the server has no PEP, XEP-0163)" : "");
        goto out;
    }
    r = 0;
out:
    free(item);
    xs_node_free(n);
    return r;
}

sc_key *client_pep_fetch(struct client *c, const char *jid, int need_sig, int64_t *when)
{
    sbuf b = { 0 };
    xs_node *n = NULL;
    sc_key *k = NULL;
    char err[256];
    sb_puts(&b, "<iq type='get' id='simpp-pep-get' to='");
    sb_esc(&b, jid);
    sb_puts(&b, "'><pubsub xmlns='" NS_PUBSUB "'><items node='" PK_NODE "' max_items='1'/></pubsub></iq>");
    int e = b.oom ? fail(c, "out of memory") : client_send(c, b.p, b.n);
    sb_free(&b);
    if (e < 0 || !(n = wait_iq(c, "simpp-pep-get"))) return NULL;
    const xs_node *key = pk_find(n);
    const char *type = xs_getattr(n, "type", NULL);
    if (!key) fail(c, "no SIMPP key published for %s: %s", jid,
                   type && !strcmp(type, "result") ? "nothing on the node" : condition(n));
    else if (!(k = pk_item_check(key, jid, need_sig, when, err, sizeof err))) fail(c, "%s", err);
    xs_node_free(n);
    return k;
}
