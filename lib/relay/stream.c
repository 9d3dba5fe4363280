/*
 * stream.c - simpp-relayd's streams: accept with limits, the XML stream
 * (RFC 6120 4) and its restarts, stream features, the SIMPP channel after
 * login, timeouts, signals and draining, and the loop itself.  It hands
 * stanzas before authentication to auth.c and after it to route.c; what it
 * writes goes through conn.c.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
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
#include "relay/auth.h"
#include "relay/route.h"
#include "relay/s2s.h"
#include "relay/work.h"
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
    c->allow_plain = 1;
    c->tls_required = 1;
    c->workers = 0;             /* workers_default(): a CPU left for the loop */
    c->auth_per_min = 60;
    c->s2s_queue = 1000;
    c->s2s_streams = 4;
    c->s2s_idle = 600;
    c->s2s_rate = 2000;
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
    c->resume_timeout = 300;
    c->ready_fd = -1;
}

/* ---- per-address accounting ------------------------------------------------ */

static unsigned strhash(const char *s)
{
    unsigned h = 2166136261u;                    /* FNV-1a */
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* An address with no connection left keeps its entry for a minute after
 * its last PLAIN attempt, so that reconnecting does not refill its budget;
 * such entries go when their bucket is next walked. */
static int addr_stale(const struct addr_count *a, int64_t now)
{
    return a->n <= 0 && (a->tokens_at == 0 || now - a->tokens_at > 60000);
}

static struct addr_count *addr_get(struct relay *r, const char *addr, int create)
{
    unsigned b = strhash(addr) % ADDR_BUCKETS;
    int64_t now = ev_now_ms();
    for (struct addr_count **pp = &r->addrs[b]; *pp;) {
        struct addr_count *a = *pp;
        if (strcmp(a->addr, addr) == 0) return a;
        if (addr_stale(a, now)) {
            *pp = a->next;
            free(a);
        } else
            pp = &a->next;
    }
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
        if (--a->n <= 0 && addr_stale(a, ev_now_ms())) {
            *pp = a->next;
            free(a);
        }
        return;
    }
}

/* ---- connection lifetime --------------------------------------------------- */

static void conn_free(struct conn *c)
{
    struct relay *r = c->r;
    conn_unmark_dirty(c);
    if (c->kind == K_C2S && (c->state >= CS_BOUND || c->bare)) route_gone(c);
    if (c->kind == K_S2S_IN || c->kind == K_S2S_OUT) s2s_gone(c);
    auth_cancel(c);
    if (c->tls) {
        tls_close(c->tls);
        tls_free(c->tls);
    }
    if (c->fd >= 0) {
        /* what the peer sent that was never read is read and dropped
         * (bounded; the socket does not block): a close with unread data
         * is a reset, and a reset can overtake the stream error just
         * written, which the peer then never sees */
        char junk[4096];
        for (int i = 0; i < 16 && read(c->fd, junk, sizeof junk) > 0; i++) {}
        ev_del(r->loop, c->fd, EV_READ | EV_WRITE);
        close(c->fd);
    }
    if (c->timer > 0) ev_timer_del(r->loop, c->timer);
    if (c->pause_timer > 0) ev_timer_del(r->loop, c->pause_timer);
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
    conn_sm_free(c);
    free(c->pend);
    free(c->authuser);
    free(c->bare);
    free(c->full);
    free(c->presence);
    free(c);
}

/* after any callback: a closing connection with nothing left to write goes */
static void tls_up(struct conn *c);

static long long conn_timer_cb(ev_loop *l, long long id, void *arg);

/* XEP-0198: the connection broke under a resumable session: the session
 * stays (presence, what is sent to it, held) until a resume or the end of
 * the window; the socket goes */
static int detach(struct conn *c)
{
    struct relay *r = c->r;
    if (!c->sm_resume || !c->io_failed || !c->full || r->draining || c->kind != K_C2S) return 0;
    conn_unmark_dirty(c);
    if (c->tls) {
        tls_free(c->tls);
        c->tls = NULL;
    }
    if (c->fd >= 0) {
        ev_del(r->loop, c->fd, EV_READ | EV_WRITE);
        close(c->fd);
        c->fd = -1;
    }
    if (c->pause_timer > 0) ev_timer_del(r->loop, c->pause_timer);
    c->pause_timer = 0;
    sb_free(&c->out);
    xs_free(c->inner);
    c->inner = NULL;
    if (c->chan) {                          /* the next stream has its own channel */
        simpp_chan_wipe(c->chan);
        free(c->chan);
        c->chan = NULL;
    }
    c->detached = 1;
    c->io_failed = 0;
    c->state = CS_BOUND;
    if (c->timer > 0) ev_timer_del(r->loop, c->timer);
    c->timer = ev_timer_add(r->loop, (long long)r->cfg->resume_timeout * 1000, conn_timer_cb, c);
    relay_log(r, "detached jid=%s held=%d window=%ds", c->full, c->smq_n, r->cfg->resume_timeout);
    return 1;
}

static void conn_settle(struct conn *c)
{
    if (c->state == CS_TLS && tls_done(c->tls)) tls_up(c);
    if (c->state == CS_CLOSING && c->out.n == 0 && detach(c)) return;
    if (c->state == CS_CLOSING && c->out.n == 0) {
        relay_log(c->r, "close addr=%s jid=%s", c->addr, c->full ? c->full : c->bare ? c->bare : "-");
        conn_free(c);
    }
}

static void before_sleep(ev_loop *l, void *arg)
{
    struct relay *r = arg;
    (void)l;
    r->hs_us = 0;
    relay_flush_dirty(r);
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
        /* TLS first, if there is TLS and the stream is not in it yet; not
         * <required/>: SIMPP logins seal their channel themselves */
        if (c->r->tls && !c->tls) sb_puts(&b, "<starttls xmlns='" NS_TLS "'/>");
        auth_features(c, &b);
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

/* ---- stanza dispatch --------------------------------------------------------- */

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

/* ---- TLS ------------------------------------------------------------------- */

static int starttls(struct conn *c, const xs_node *st)
{
    return conn_starttls(c, st, c->r->tls);
}

/* the handshake is done: a new stream starts inside TLS (5.4.3.3) */
static void tls_up(struct conn *c)
{
    if (c->r->cfg->verbose)
        relay_log(c->r, "tls addr=%s version=%s cipher=%s", c->addr, tls_version(c->tls), tls_cipher(c->tls));
    xs_reset(c->xs);
    if (c->kind == K_S2S_OUT) s2s_tls_up(c);
    else c->state = CS_HEADER;
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
        if (st->ns && strcmp(st->ns, NS_TLS) == 0) {
            int stop = starttls(c, st);
            xs_node_free(st);
            return stop ? XS_STOP : XS_CONTINUE;
        }
        auth_stanza(c, st);
        break;
    case CS_SASL:
        auth_stanza(c, st);
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
    if (conn_header_ok(c, h, XS_NS_CLIENT, "client") < 0) return XS_STOP;
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

/* the peer went (EOF, reset, a broken TLS record) */
static void conn_gone(struct conn *c, const char *tlserr)
{
    if (tlserr)
        relay_log(c->r, "tls-failed addr=%s jid=%s reason=%s", c->addr,
                  c->full ? c->full : c->bare ? c->bare : "-", tlserr);
    else
        relay_log(c->r, "disconnect addr=%s jid=%s", c->addr, c->full ? c->full : c->bare ? c->bare : "-");
    sb_reset(&c->out);
    c->state = CS_CLOSING;
    c->io_failed = 1;
    conn_settle(c);
}

static void conn_input(struct conn *c, const char *buf, size_t n)
{
    c->last = ev_now_ms();
    if (xs_feed(c->xs, buf, n) < 0 && c->state != CS_CLOSING)
        conn_stream_error(c, xs_error(c->xs), xs_error_text(c->xs));
}

/* a readable TLS connection: the handshake, then every record there is */
static void tls_read_cb(struct conn *c, char *buf, size_t cap)
{
    if (c->state == CS_TLS) {
        int rc = conn_tls_step(c);
        if (rc > 0) tls_up(c);
        if (rc <= 0) {
            conn_settle(c);
            return;
        }
    }
    for (;;) {
        ssize_t n = tls_read(c->tls, buf, cap);
        if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) break;
        if (n <= 0) {
            conn_gone(c, n == TLS_CLOSED ? NULL : tls_error(c->tls));
            return;
        }
        conn_input(c, buf, (size_t)n);
        if (c->state == CS_CLOSING || !c->tls || !tls_pending(c->tls)) break;
    }
    conn_settle(c);
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
    if (c->tls) {
        tls_read_cb(c, buf, sizeof buf);
        return;
    }
    n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        conn_gone(c, NULL);
        return;
    }
    conn_input(c, buf, (size_t)n);
    conn_settle(c);
}

static long long conn_timer_cb(ev_loop *l, long long id, void *arg)
{
    struct conn *c = arg;
    int64_t now = ev_now_ms();
    (void)l; (void)id;
    if (c->detached) {                      /* no resume in time: offline, as today */
        c->timer = 0;
        relay_log(c->r, "resume-expired jid=%s held=%d", c->full, c->smq_n);
        route_expire(c);
        c->detached = 0;
        c->state = CS_CLOSING;
        conn_settle(c);
        return EV_NOMORE;
    }
    if (c->state == CS_CLOSING) {           /* a peer that never reads its close */
        c->timer = 0;
        sb_reset(&c->out);
        conn_settle(c);
        return EV_NOMORE;
    }
    int64_t left;
    int s2s = c->kind != K_C2S, up = s2s ? c->state == CS_BOUND : c->state >= CS_AUTHED;
    if (!up)
        left = c->born + (int64_t)c->r->cfg->auth_timeout * 1000 - now;
    else
        left = c->last + (int64_t)(s2s ? c->r->cfg->s2s_idle : c->r->cfg->idle_timeout) * 1000 - now;
    if (left > 0) return left;
    conn_stream_error(c, "connection-timeout", !up ? "no login in time" : "idle");
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
        c->acct = a;
        if (lfd == r->tlsfd && !(c->tls = tls_accept(r->tls, fd))) {
            xs_free(c->xs);
            free(c);
            ev_del(l, fd, EV_READ);
            close(fd);
            a->n--;
            continue;
        }
        /* stanzas are small and interactive: no Nagle delay (a login would
         * otherwise wait for the peer's delayed ACK at each round trip) */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->r = r;
        if (lfd == r->s2sfd && s2s_accepted(c) < 0) {
            ev_del(l, fd, EV_READ);
            xs_free(c->xs);
            free(c->s2s);
            free(c);
            close(fd);
            a->n--;
            continue;
        }
        c->fd = fd;
        c->state = c->tls ? CS_TLS : CS_HEADER;     /* direct TLS: XEP-0368 */
        c->tls_port = c->tls != NULL;
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

/* SIGHUP: the certificate, key and chain read again.  New connections get
 * them; those under way keep the context they started with.  A file that
 * does not load leaves the old context in place. */
static void tls_reload(struct relay *r)
{
    char err[512];
    tls_ctx *t;
    if (!r->cfg->tls_cert) return;
    if (!(t = tls_server_new(r->cfg->tls_cert, r->cfg->tls_key, r->cfg->tls_chain, err, sizeof err))) {
        relay_log(r, "tls-reload-failed reason=%s (the old certificate stays)", err);
        return;
    }
    tls_ctx_free(r->tls);
    r->tls = t;
    relay_log(r, "tls-reload cert=%s", r->cfg->tls_cert);
}

/* a server stream we opened (s2s.c), connected: into the loop */
static int adopt(struct conn *c)
{
    struct relay *r = c->r;
    if (ev_add(r->loop, c->fd, EV_READ, conn_read_cb, c) < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->born = c->last = ev_now_ms();
    c->timer = ev_timer_add(r->loop, (long long)r->cfg->auth_timeout * 1000, conn_timer_cb, c);
    c->next = r->conns;
    if (r->conns) r->conns->prev = c;
    r->conns = c;
    r->nconns++;
    return 0;
}

static int bound_port(int fd, char *port, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return -1;
    if (ss.ss_family == AF_INET) snprintf(port, cap, "%u", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    else snprintf(port, cap, "%u", ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    return 0;
}

static void signal_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct relay *r = arg;
    int sig;
    (void)mask;
    while ((sig = ev_signal_next(fd)) > 0) {
        if (sig == SIGHUP) {
            tls_reload(r);
            continue;
        }
        if (sig != SIGTERM && sig != SIGINT) continue;
        if (r->draining) continue;
        relay_log(r, "draining signal=%d connections=%d", sig, r->nconns);
        r->draining = 1;
        ev_del(l, r->lfd, EV_READ);
        close(r->lfd);
        r->lfd = -1;
        if (r->tlsfd >= 0) {
            ev_del(l, r->tlsfd, EV_READ);
            close(r->tlsfd);
            r->tlsfd = -1;
        }
        if (r->s2sfd >= 0) {
            ev_del(l, r->s2sfd, EV_READ);
            close(r->s2sfd);
            r->s2sfd = -1;
        }
        for (struct conn *c = r->conns, *next; c; c = next) {
            next = c->next;
            /* what resumable sessions hold goes to the offline store: after a
             * restart there is nothing to resume */
            if (c->sm_resume) route_expire(c);
            if (c->detached) {
                c->detached = 0;
                c->state = CS_CLOSING;
            }
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
    char port[16] = "", tport[16] = "", sport[16] = "", err[512];
    int rc = 0;
    if (!r) return -1;
    r->lfd = r->sfd = r->tlsfd = r->s2sfd = -1;
    r->adopt = adopt;
    r->read_cb = conn_read_cb;
    r->cfg = cfg;
    r->st = st;
    r->key = server_key;
    r->spublen = sizeof r->spub;
    r->settle = conn_settle;
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
    if (cfg->tls_cert &&
        !(r->tls = tls_server_new(cfg->tls_cert, cfg->tls_key, cfg->tls_chain, err, sizeof err))) {
        relay_log(r, "fatal: tls: %s", err);
        free(r);
        return -2;
    }
    if (s2s_init(r) < 0) {
        s2s_fini(r);
        tls_ctx_free(r->tls);
        free(r);
        return -2;
    }
    if ((r->lfd = net_listen(cfg->host, cfg->port, 1024)) < 0 ||
        (cfg->tls_port && (r->tlsfd = net_listen(cfg->host, cfg->tls_port, 1024)) < 0) ||
        (cfg->s2s && cfg->s2s_port && (r->s2sfd = net_listen(cfg->host, cfg->s2s_port, 1024)) < 0)) {
        relay_log(r, "unable to listen on %s port %s: %s", cfg->host,
                  r->lfd < 0 ? cfg->port : r->tlsfd < 0 && cfg->tls_port ? cfg->tls_port : cfg->s2s_port,
                  strerror(errno));
        rc = -1;
        goto out;
    }
    bound_port(r->lfd, port, sizeof port);
    if (r->tlsfd >= 0) bound_port(r->tlsfd, tport, sizeof tport);
    if (r->s2sfd >= 0) bound_port(r->s2sfd, sport, sizeof sport);
    r->loop = ev_new(cfg->max_conns + 64);
    if (!r->loop || ev_add(r->loop, r->lfd, EV_READ, accept_cb, r) < 0 ||
        (r->tlsfd >= 0 && ev_add(r->loop, r->tlsfd, EV_READ, accept_cb, r) < 0) ||
        (r->s2sfd >= 0 && ev_add(r->loop, r->s2sfd, EV_READ, accept_cb, r) < 0) ||
        (r->sfd = ev_signal_fd(r->loop, sigs, 3, signal_cb, r)) < 0 ||
        !(r->workers = workers_new(r->loop, cfg->workers, 4 * cfg->max_conns))) {
        relay_log(r, "unable to start the event loop: %s", strerror(errno));
        rc = -1;
        goto out;
    }
    ev_set_beforesleep(r->loop, before_sleep, r);
    relay_log(r, "listening host=%s port=%s domain=%s tls=%s%s%s%s%s workers=%d", cfg->host, port, cfg->domain,
              r->tls ? "starttls" : "none", tport[0] ? " tls_port=" : "", tport, sport[0] ? " s2s_port=" : "",
              sport, workers_count(r->workers));
    if (!r->tls && cfg->tls_required && (cfg->allow_scram || cfg->allow_plain))
        relay_log(r, "no tls_cert: password logins are off until TLS is configured (SIMPP logins work)");
    if (cfg->ready_fd >= 0) {
        /* readiness for supervisors (s6 style: a line on an fd); the direct
         * TLS port follows the first when there is one */
        if (sport[0]) dprintf(cfg->ready_fd, "%s %s %s\n", port, tport[0] ? tport : "-", sport);
        else if (tport[0]) dprintf(cfg->ready_fd, "%s %s\n", port, tport);
        else dprintf(cfg->ready_fd, "%s\n", port);
        close(cfg->ready_fd);
    }
    ev_run(r->loop);
    relay_log(r, "stopped routed=%llu stored=%llu", (unsigned long long)r->routed,
              (unsigned long long)r->stored);
out:
    r->draining = 1;                        /* nothing starts again now */
    while (r->conns) {
        r->conns->state = CS_CLOSING;
        sb_reset(&r->conns->out);
        conn_free(r->conns);
    }
    s2s_fini(r);
    workers_free(r->workers);
    if (r->lfd >= 0) close(r->lfd);
    if (r->tlsfd >= 0) close(r->tlsfd);
    if (r->s2sfd >= 0) close(r->s2sfd);
    if (r->sfd >= 0) close(r->sfd);
    tls_ctx_free(r->tls);
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
