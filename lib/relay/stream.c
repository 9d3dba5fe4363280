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

/* ---- connection lifetime --------------------------------------------------- */

static void conn_free(struct conn *c)
{
    struct relay *r = c->r;
    conn_unmark_dirty(c);
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
    (void)l;
    relay_flush_dirty(arg);
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
