/*
 * s2s.c - server-to-server streams (RFC 6120 4, 5, 6 on jabber:server).
 *
 * Ours: a stanza for another domain finds that domain's stream, or starts
 * one and waits in its queue (at most s2s_queue stanzas).  Where the domain
 * is served comes from a static route, else DNS SRV _xmpp-server._tcp, else
 * the domain itself on 5269; the look-up and the TCP connect run on a
 * worker thread, never in the loop.  Then: header, STARTTLS (required), the
 * handshake with the peer's certificate checked for the domain and ours
 * shown, SASL EXTERNAL (our certificate proves our domain), the restart,
 * and the queue goes out.  A stream that cannot be set up bounces every
 * stanza it held to its sender with remote-server-not-found (after one
 * more try a second later).
 *
 * Theirs: a server connects to the s2s port, says which domain it is,
 * starts TLS, and logs in with EXTERNAL; only a certificate that chains to
 * a trusted CA and names that domain gets it in.  Every stanza must then
 * come from that domain and go to ours: anything else is a stream error.
 * Server Dialback (XEP-0220) is not offered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include "net.h"
#include "relay/route.h"
#include "relay/s2s.h"
#include "relay/work.h"
#include "util.h"

#define NS_DB "jabber:server:dialback"

struct qitem {
    struct qitem *next;
    char *xml;
    size_t len;
    char name[12];              /* message, presence, iq: for a bounce */
    char *from, *to, *id, *type;
};

struct s2s {
    char domain[256];           /* the other side */
    int out;                    /* ours */
    int authed;                 /* the other side proved its domain (theirs), or we ours */
    int tries;                  /* ours: connection attempts so far */
    double tokens;              /* theirs: stanzas it may still send now */
    int64_t tokens_at;
    int throttled;              /* theirs: logged once */
    struct qitem *q, *qtail;    /* ours: waiting for the stream */
    int nq;
    struct conn_job *job;       /* ours: look-up and connect under way */
    struct conn *next;          /* ours: r->s2s_out */
};

struct conn_job {
    struct job job;
    struct conn *c;             /* NULL once the stream was given up */
    char domain[256], host[256], port[8];
    int fd;
    char why[700];
};

static char *dupz(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void q_free(struct qitem *q)
{
    free(q->xml);
    free(q->from);
    free(q->to);
    free(q->id);
    free(q->type);
    free(q);
}

/* ---- the header ------------------------------------------------------------ */

static void send_header(struct conn *c, const char *to, const char *id)
{
    size_t n;
    char *h = xs_stream_header(XS_NS_SERVER, c->r->cfg->domain, to, id, NULL, &n);
    if (!h) {
        conn_stream_error(c, "internal-server-error", NULL);
        return;
    }
    /* the dialback namespace declared, as servers expect on jabber:server */
    char *gt = strrchr(h, '>');
    conn_raw(c, h, (size_t)(gt - h));
    conn_raw(c, " xmlns:db='" NS_DB "'>", strlen(" xmlns:db='" NS_DB "'>"));
    free(h);
}

/* ---- theirs ---------------------------------------------------------------- */

static int count_in(struct relay *r, const char *domain)
{
    int n = 0;
    for (struct conn *k = r->conns; k; k = k->next)
        if (k->kind == K_S2S_IN && k->s2s && k->s2s->authed && strcmp(k->s2s->domain, domain) == 0) n++;
    return n;
}

static int in_open_cb(void *arg, const xs_header *h)
{
    struct conn *c = arg;
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    struct jid j;
    uint8_t rnd[16];
    if (conn_header_ok(c, h, XS_NS_SERVER, "server") < 0) return XS_STOP;
    /* which domain the peer says it is: it proves it with its certificate */
    if (!h->from || jid_parse(h->from, &j) < 0 || j.local[0] || j.resource[0] ||
        strcmp(j.domain, r->cfg->domain) == 0 || (s->domain[0] && strcmp(s->domain, j.domain) != 0)) {
        conn_stream_error(c, "invalid-from", h->from ? h->from : "no 'from'");
        return XS_STOP;
    }
    snprintf(s->domain, sizeof s->domain, "%s", j.domain);
    if (sc_random(rnd, sizeof rnd) < 0) return XS_STOP;
    sc_hex_encode(rnd, sizeof rnd, c->stream_id);
    send_header(c, s->domain, c->stream_id);
    sbuf b = { 0 };
    sb_puts(&b, "<stream:features>");
    if (!c->tls) {
        sb_puts(&b, "<starttls xmlns='" NS_TLS "'><required/></starttls>");
        c->state = CS_PREAUTH;
    } else if (!s->authed) {
        sb_puts(&b, "<mechanisms xmlns='" NS_SASL "'>");
        if (tls_peer_is(c->tls, s->domain)) sb_puts(&b, "<mechanism>EXTERNAL</mechanism>");
        sb_puts(&b, "</mechanisms>");
        c->state = CS_PREAUTH;
    } else
        c->state = CS_BOUND;
    sb_puts(&b, "</stream:features>");
    if (!b.oom) conn_raw(c, b.p, b.n);
    sb_free(&b);
    return XS_CONTINUE;
}

static void in_auth(struct conn *c, const xs_node *st)
{
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    const char *mech = xs_getattr(st, "mechanism", NULL), *t = xs_text(st);
    uint8_t az[300];
    size_t azl = sizeof az;
    /* the authzid, if any, is the domain the stream was opened for */
    int az_ok = strcmp(t, "=") == 0 || t[0] == 0 ||
                (sc_b64_decode(t, strlen(t), az, &azl) == 0 && azl == strlen(s->domain) &&
                 memcmp(az, s->domain, azl) == 0);
    if (strcmp(st->name, "auth") != 0 || !mech || strcmp(mech, "EXTERNAL") != 0 || !az_ok || !c->tls ||
        !tls_peer_is(c->tls, s->domain) || count_in(r, s->domain) >= r->cfg->s2s_streams) {
        relay_log(r, "s2s-refused addr=%s domain=%s reason=%s", c->addr, s->domain,
                  !c->tls || !tls_peer_is(c->tls, s->domain) ? "no certificate for the domain"
                  : !az_ok ? "authzid" : mech && strcmp(mech, "EXTERNAL") == 0 ? "too many streams" : "mechanism");
        conn_raw(c, "<failure xmlns='" NS_SASL "'><not-authorized/></failure>",
                 strlen("<failure xmlns='" NS_SASL "'><not-authorized/></failure>"));
        conn_close(c);
        return;
    }
    s->authed = 1;
    relay_log(r, "s2s-in addr=%s domain=%s tls=%s", c->addr, s->domain, tls_version(c->tls));
    conn_raw(c, "<success xmlns='" NS_SASL "'/>", strlen("<success xmlns='" NS_SASL "'/>"));
    c->state = CS_RESTART;
    xs_reset(c->xs);
}

/* a stanza from the peer's domain to ours */
static void in_stanza(struct conn *c, xs_node *st)
{
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    const char *from = xs_getattr(st, "from", NULL), *to = xs_getattr(st, "to", NULL);
    struct jid jf, jt;
    if (!st->ns || strcmp(st->ns, XS_NS_SERVER) != 0 ||
        (strcmp(st->name, "message") && strcmp(st->name, "presence") && strcmp(st->name, "iq"))) {
        conn_stream_error(c, "unsupported-stanza-type", st->name);
        return;
    }
    /* RFC 6120 4.9.3.9, 8.1.2.2: the sender is of the authenticated domain */
    if (!from || jid_parse(from, &jf) < 0 || strcmp(jf.domain, s->domain) != 0) {
        relay_log(r, "s2s-spoof addr=%s domain=%s from=%s", c->addr, s->domain, from ? from : "-");
        conn_stream_error(c, "invalid-from", from ? from : "no 'from'");
        return;
    }
    if (!to || jid_parse(to, &jt) < 0 || strcmp(jt.domain, r->cfg->domain) != 0) {
        conn_stream_error(c, "host-unknown", to ? to : "no 'to'");
        return;
    }
    /* a server that floods waits: reading stops for a while (logged once) */
    int64_t now = ev_now_ms();
    double rate = r->cfg->s2s_rate;
    s->tokens = s->tokens_at ? s->tokens + (double)(now - s->tokens_at) * rate / 1000 : rate;
    if (s->tokens > rate) s->tokens = rate;
    s->tokens_at = now;
    if (s->tokens < 1) {
        if (!s->throttled++) relay_log(r, "s2s-throttled addr=%s domain=%s rate=%d/s", c->addr, s->domain, r->cfg->s2s_rate);
        conn_pause(c, 100);
    }
    s->tokens -= 1;
    c->last = now;
    xs_rename_ns(st, XS_NS_SERVER, XS_NS_CLIENT);
    /* the sender, as routing sees it: a user of that domain, at its level */
    char bare[600];
    struct conn stub;
    memset(&stub, 0, sizeof stub);
    jid_bare(&jf, bare, sizeof bare);
    stub.r = r;
    stub.fd = -1;
    stub.kind = K_REMOTE;
    stub.remote = s->domain;
    stub.state = CS_BOUND;
    stub.full = (char *)from;
    stub.bare = bare;
    stub.level = route_domain_level(r, s->domain);
    route_remote(&stub, st);
    r->routed++;
}

static int in_stanza_cb(void *arg, xs_node *st)
{
    struct conn *c = arg;
    int stop = 0;
    if (c->state == CS_PREAUTH && !c->tls && st->ns && strcmp(st->ns, NS_TLS) == 0)
        stop = conn_starttls(c, st, c->r->s2s_stls);
    else if (c->state == CS_PREAUTH && c->tls && st->ns && strcmp(st->ns, NS_SASL) == 0)
        in_auth(c, st);
    else if (c->state == CS_BOUND)
        in_stanza(c, st);
    else
        conn_stream_error(c, "not-authorized", "TLS and authentication first");
    xs_node_free(st);
    return stop || c->state == CS_CLOSING || c->state == CS_RESTART ? XS_STOP : XS_CONTINUE;
}

static void any_close_cb(void *arg)
{
    conn_close(arg);
}

int s2s_accepted(struct conn *c)
{
    xs_limits lim = { c->r->cfg->max_stanza + 1024, 0, 0, 1 };
    xs_callbacks cb = { in_open_cb, in_stanza_cb, any_close_cb };
    if (!(c->s2s = calloc(1, sizeof *c->s2s))) return -1;
    xs_free(c->xs);
    if (!(c->xs = xs_new(&lim, &cb, c))) return -1;
    c->kind = K_S2S_IN;
    return 0;
}

/* ---- ours ------------------------------------------------------------------ */

static void bounce_all(struct conn *c, const char *cond)
{
    struct s2s *s = c->s2s;
    struct qitem *q = s->q;
    s->q = s->qtail = NULL;
    s->nq = 0;
    while (q) {
        struct qitem *next = q->next;
        /* an error is never answered with an error */
        if (q->from && (!q->type || strcmp(q->type, "error") != 0))
            route_bounce(c->r, q->name, q->from, q->to, q->id, cond);
        q_free(q);
        q = next;
    }
}

static void out_unlink(struct conn *c)
{
    for (struct conn **pp = &c->r->s2s_out; *pp; pp = &(*pp)->s2s->next)
        if (*pp == c) {
            *pp = c->s2s->next;
            break;
        }
}

/* given up before it was ever a connection of the relay */
static void out_discard(struct conn *c, const char *cond)
{
    bounce_all(c, cond);
    out_unlink(c);
    xs_free(c->xs);
    free(c->s2s);
    free(c);
}

static int out_open_cb(void *arg, const xs_header *h)
{
    struct conn *c = arg;
    if (!h->content_ns || strcmp(h->content_ns, XS_NS_SERVER) != 0) {
        xs_fail(c->xs, "invalid-namespace", "expected jabber:server");
        return XS_STOP;
    }
    snprintf(c->stream_id, sizeof c->stream_id, "%.32s", h->id ? h->id : "");
    return XS_CONTINUE;
}

static void out_ready(struct conn *c)
{
    struct s2s *s = c->s2s;
    c->state = CS_BOUND;
    relay_log(c->r, "s2s-out domain=%s addr=%s tls=%s queued=%d", s->domain, c->addr, tls_version(c->tls), s->nq);
    while (s->q) {
        struct qitem *q = s->q;
        s->q = q->next;
        conn_raw(c, q->xml, q->len);
        q_free(q);
    }
    s->qtail = NULL;
    s->nq = 0;
}

static int out_stanza_cb(void *arg, xs_node *st)
{
    struct conn *c = arg;
    struct s2s *s = c->s2s;
    int stop = 0;
    if (st->ns && strcmp(st->ns, XS_NS_STREAMS) == 0 && strcmp(st->name, "features") == 0) {
        if (!c->tls) {
            if (!xs_child(st, "starttls", NS_TLS)) {
                relay_log(c->r, "s2s-failed domain=%s reason=no TLS offered", s->domain);
                conn_stream_error(c, "policy-violation", "TLS is required");
            } else
                conn_raw(c, "<starttls xmlns='" NS_TLS "'/>", strlen("<starttls xmlns='" NS_TLS "'/>"));
        } else if (!s->authed) {
            const xs_node *m = xs_child(st, "mechanisms", NS_SASL);
            int ext = 0;
            for (const xs_node *k = m ? m->children : NULL; k; k = k->next)
                if (k->name && strcmp(k->name, "mechanism") == 0 && strcmp(xs_text(k), "EXTERNAL") == 0) ext = 1;
            if (!ext) {
                relay_log(c->r, "s2s-failed domain=%s reason=EXTERNAL not offered (our certificate not taken)",
                          s->domain);
                conn_stream_error(c, "policy-violation", "no way to authenticate");
            } else {
                char az[400];
                size_t al = sizeof az;
                sc_b64_encode(c->r->cfg->domain, strlen(c->r->cfg->domain), az, &al);
                sbuf b = { 0 };
                sb_printf(&b, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>%s</auth>", az);
                if (!b.oom) conn_raw(c, b.p, b.n);
                sb_free(&b);
            }
        } else
            out_ready(c);
    } else if (st->ns && strcmp(st->ns, NS_TLS) == 0 && strcmp(st->name, "proceed") == 0 && !c->tls) {
        if (!(c->tls = tls_connect(c->r->s2s_ctls, c->fd, c->fd, s->domain))) {
            conn_stream_error(c, "internal-server-error", NULL);
        } else {
            c->state = CS_TLS;
            stop = 1;                       /* nothing after <proceed/> in clear */
            conn_tls_step(c);               /* our hello: the peer waits for it */
        }
    } else if (st->ns && strcmp(st->ns, NS_SASL) == 0 && strcmp(st->name, "success") == 0 && c->tls) {
        s->authed = 1;
        xs_reset(c->xs);
        send_header(c, s->domain, NULL);
    } else if (st->ns && strcmp(st->ns, NS_SASL) == 0 && strcmp(st->name, "failure") == 0) {
        relay_log(c->r, "s2s-failed domain=%s reason=the peer refused our certificate", s->domain);
        conn_close(c);
    } else if (st->ns && strcmp(st->ns, XS_NS_STREAMS) == 0 && strcmp(st->name, "error") == 0) {
        const xs_node *k = st->children;
        while (k && !k->name) k = k->next;
        relay_log(c->r, "s2s-failed domain=%s reason=stream error %s", s->domain, k ? k->name : "?");
        conn_close(c);
    } else if (st->ns && strcmp(st->ns, NS_TLS) == 0 && strcmp(st->name, "failure") == 0) {
        conn_close(c);
    }
    /* anything else on our stream (it is one-way) is ignored */
    xs_node_free(st);
    return stop || c->state == CS_CLOSING ? XS_STOP : XS_CONTINUE;
}

void s2s_tls_up(struct conn *c)
{
    c->state = CS_HEADER;
    send_header(c, c->s2s->domain, NULL);
}

/* where the domain is served: a static route, SRV, or the domain itself */
static void srv_lookup(struct conn_job *p)
{
    unsigned char ans[4096];
    char name[300];
    ns_msg msg;
    ns_rr rr;
    int n, best = 65536;
    snprintf(name, sizeof name, "_xmpp-server._tcp.%s", p->domain);
    n = res_query(name, ns_c_in, ns_t_srv, ans, sizeof ans);
    if (n > 0 && ns_initparse(ans, n, &msg) == 0)
        for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
            if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7)
                continue;
            const unsigned char *d = ns_rr_rdata(rr);
            int prio = d[0] << 8 | d[1], port = d[4] << 8 | d[5];
            char target[256];
            if (prio >= best || ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), d + 6, target,
                                                   sizeof target) < 0)
                continue;
            if (!strcmp(target, ".")) return;   /* "no service here" (RFC 2782) */
            best = prio;
            snprintf(p->host, sizeof p->host, "%s", target);
            snprintf(p->port, sizeof p->port, "%d", port);
        }
    if (!p->host[0]) {
        snprintf(p->host, sizeof p->host, "%s", p->domain);
        snprintf(p->port, sizeof p->port, "5269");
    }
}

static void connect_run(struct job *j)
{
    struct conn_job *p = (struct conn_job *)j;
    if (!p->host[0]) srv_lookup(p);
    if (!p->host[0]) {
        p->fd = -1;
        snprintf(p->why, sizeof p->why, "no XMPP service for %s", p->domain);
        return;
    }
    p->fd = net_connect(p->host, p->port, 10000);
    if (p->fd < 0) snprintf(p->why, sizeof p->why, "%s port %s: %s", p->host, p->port, net_strerror());
}

static void out_start(struct conn *c);

static long long retry_cb(ev_loop *l, long long id, void *arg)
{
    (void)l;
    (void)id;
    out_start(arg);
    return EV_NOMORE;
}

static void connect_done(struct job *j)
{
    struct conn_job *p = (struct conn_job *)j;
    struct conn *c = p->c;
    if (!c) {                               /* the relay stopped meanwhile */
        if (p->fd >= 0) close(p->fd);
        free(p);
        return;
    }
    struct relay *r = c->r;
    c->s2s->job = NULL;
    if (p->fd < 0) {
        relay_log(r, "s2s-failed domain=%s reason=%s try=%d", c->s2s->domain, p->why, c->s2s->tries);
        free(p);
        if (c->s2s->tries < 2) ev_timer_add(r->loop, 1000, retry_cb, c);
        else out_discard(c, "remote-server-not-found");
        return;
    }
    net_nonblock(p->fd);
    c->fd = p->fd;
    snprintf(c->addr, sizeof c->addr, "%.40s", p->host);
    free(p);
    if (r->adopt(c) < 0) {
        close(c->fd);
        c->fd = -1;
        out_discard(c, "remote-server-not-found");
        return;
    }
    send_header(c, c->s2s->domain, NULL);
}

static void out_start(struct conn *c)
{
    struct relay *r = c->r;
    struct conn_job *p = calloc(1, sizeof *p);
    if (!p) {
        out_discard(c, "internal-server-error");
        return;
    }
    c->s2s->tries++;
    p->c = c;
    p->fd = -1;
    snprintf(p->domain, sizeof p->domain, "%s", c->s2s->domain);
    for (size_t i = 0; i < r->cfg->nroutes; i++)
        if (strcmp(r->cfg->routes[i].domain, p->domain) == 0) {
            snprintf(p->host, sizeof p->host, "%s", r->cfg->routes[i].host);
            snprintf(p->port, sizeof p->port, "%s", r->cfg->routes[i].port);
        }
    p->job.run = connect_run;
    p->job.done = connect_done;
    if (workers_submit(r->workers, &p->job) < 0) {
        free(p);
        out_discard(c, "resource-constraint");
        return;
    }
    c->s2s->job = p;
}

static struct conn *out_new(struct relay *r, const char *domain)
{
    struct conn *c = calloc(1, sizeof *c);
    xs_limits lim = { r->cfg->max_stanza + 1024, 0, 0, 1 };
    xs_callbacks cb = { out_open_cb, out_stanza_cb, any_close_cb };
    if (!c || !(c->s2s = calloc(1, sizeof *c->s2s)) || !(c->xs = xs_new(&lim, &cb, c))) {
        if (c) free(c->s2s);
        free(c);
        return NULL;
    }
    c->r = r;
    c->fd = -1;
    c->kind = K_S2S_OUT;
    c->state = CS_HEADER;
    c->s2s->out = 1;
    snprintf(c->s2s->domain, sizeof c->s2s->domain, "%s", domain);
    c->s2s->next = r->s2s_out;
    r->s2s_out = c;
    out_start(c);
    return c;
}

static void remote_send(struct relay *r, const char *domain, const char *xml, size_t len, const xs_node *st)
{
    struct conn *c;
    for (c = r->s2s_out; c; c = c->s2s->next)
        if (strcmp(c->s2s->domain, domain) == 0 && c->state != CS_CLOSING) break;
    if (!r->cfg->s2s || strcmp(domain, r->cfg->domain) == 0) {
        if (st) route_bounce(r, st->name, xs_getattr(st, "from", NULL), xs_getattr(st, "to", NULL),
                             xs_getattr(st, "id", NULL), "remote-server-not-found");
        return;
    }
    if (!c && !(c = out_new(r, domain))) {
        if (st) route_bounce(r, st->name, xs_getattr(st, "from", NULL), xs_getattr(st, "to", NULL),
                             xs_getattr(st, "id", NULL), "internal-server-error");
        return;
    }
    if (c->state == CS_BOUND) {
        conn_raw(c, xml, len);
        c->last = ev_now_ms();
        return;
    }
    struct s2s *s = c->s2s;
    if (s->nq >= r->cfg->s2s_queue) {
        relay_log(r, "s2s-queue-full domain=%s", domain);
        if (st) route_bounce(r, st->name, xs_getattr(st, "from", NULL), xs_getattr(st, "to", NULL),
                             xs_getattr(st, "id", NULL), "resource-constraint");
        return;
    }
    struct qitem *q = calloc(1, sizeof *q);
    if (!q || !(q->xml = malloc(len))) {
        free(q);
        return;
    }
    memcpy(q->xml, xml, len);
    q->len = len;
    if (st) {
        snprintf(q->name, sizeof q->name, "%s", st->name);
        q->from = dupz(xs_getattr(st, "from", NULL));
        q->to = dupz(xs_getattr(st, "to", NULL));
        q->id = dupz(xs_getattr(st, "id", NULL));
        q->type = dupz(xs_getattr(st, "type", NULL));
    }
    if (s->qtail) s->qtail->next = q; else s->q = q;
    s->qtail = q;
    s->nq++;
}

/* ---- both -------------------------------------------------------------------- */

void s2s_gone(struct conn *c)
{
    struct s2s *s = c->s2s;
    if (!s) return;
    if (s->out) {
        out_unlink(c);
        if (s->job) s->job->c = NULL;
        bounce_all(c, "remote-server-timeout");
    }
    free(s);
    c->s2s = NULL;
}

int s2s_init(struct relay *r)
{
    const struct relay_config *cfg = r->cfg;
    char err[512];
    r->remote_send = remote_send;
    if (!cfg->s2s) return 0;
    if (!cfg->tls_cert) {
        relay_log(r, "fatal: s2s: federation needs tls_cert and tls_key (peers check our domain)");
        return -1;
    }
    if (!(r->s2s_stls = tls_server_new(cfg->tls_cert, cfg->tls_key, cfg->tls_chain, err, sizeof err)) ||
        tls_ctx_ask_peer_cert(r->s2s_stls, cfg->s2s_ca, err, sizeof err) < 0 ||
        !(r->s2s_ctls = tls_client_new(cfg->s2s_ca, 0, err, sizeof err)) ||
        tls_ctx_show_cert(r->s2s_ctls, cfg->tls_cert, cfg->tls_key, cfg->tls_chain, err, sizeof err) < 0) {
        relay_log(r, "fatal: s2s: %s", err);
        return -1;
    }
    return 0;
}

void s2s_fini(struct relay *r)
{
    /* streams not yet connections of the relay */
    while (r->s2s_out) {
        struct conn *c = r->s2s_out;
        if (c->fd >= 0) {                   /* a connection: conn_free has it */
            out_unlink(c);
            continue;
        }
        if (c->s2s->job) c->s2s->job->c = NULL;
        out_discard(c, "remote-server-timeout");
    }
    tls_ctx_free(r->s2s_stls);
    tls_ctx_free(r->s2s_ctls);
}
