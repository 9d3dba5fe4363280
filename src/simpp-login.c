/*
 * simpp-login - log in to a SIMPP relay (S1-S3 of paper 001 Fig. 6), bind a
 * resource, then hand the authenticated, encrypted channel on: to a program
 * it runs (chain-loading: the program reads and writes plain stanzas on fds
 * 6 and 7, while simpp-login seals and opens the SIMPP frames), or with no
 * program to stdin/stdout, one stanza a line, for people and scripts.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clientopt.h"
#include "ev.h"
#include "keyagent.h"
#include "sbuf.h"
#include "keyfile.h"
#include "sm.h"
#include "util.h"

#define USAGE \
"usage: simpp-login [-v] [-c host[:port]] [-s relay.pub | -x [-W fd] [-M mech]] [-t tls] [-T cafile]\n" \
"                   [-C suite] [-m mode] [-r resource] [-R seconds] [-D seconds] [-A seconds]\n" \
"                   (-k keyfile|pkcs11:URI [-E fd] | -p [-P fd] [-K rounds]) jid [prog [arg...]]\n" \
"\n" \
"  jid          the account, user@domain\n" \
"  prog         run prog with the session on fds 6 (read) and 7 (write): plain XMPP\n" \
"               stanzas, one a line; without prog: stanzas on stdin and stdout\n" \
"  -c addr      connect to the server (else fds 6/7, as under tcpclient, else the\n" \
"               domain's DNS SRV records, else domain:5222)\n" \
"  -s file      the relay's pinned public key (from simpp-register): a SIMPP login\n" \
"  -x           an ordinary XMPP login with the server's password (automatic on a\n" \
"               server without SIMPP, when -s is not given)\n" \
"  -W fd        the server's password from fd (else the terminal)\n" \
"  -M mech      only this SASL mechanism: SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS), PLAIN\n" \
"  -k keyfile   the account's private key; -E fd: its passphrase from fd\n" \
"  -k pkcs11:.. the key on a PKCS#11 token (RFC 7512 URI); -E fd: the PIN from fd\n" \
"  -p           derive the key from the password; -P fd: the password from fd\n" \
"  -K rounds    PBKDF2 rounds for -p (default 600000)\n" \
"  -t tls       auto (STARTTLS when offered, the default; required for -x), require,\n" \
"               direct (TLS from the first byte, XEP-0368), or off\n" \
"  -T cafile    trust the CA certificates in cafile (PEM) for the server's TLS\n" \
"               certificate (default: the system's CA store)\n" \
"  -C suite     chacha20-poly1305, aes128-gcm or aes128-cbc-hmac-sha256\n" \
"  -m mode      keyfile, password, javacard, mifare or pkcs11 (the default for a\n" \
"               pkcs11: key); the relay records the level it can prove\n" \
"  -r resource  the resource to bind (default: the relay picks one)\n" \
"  -R seconds   when the connection breaks, log in again and resume the stream\n" \
"               (XEP-0198) for up to this long, then give up (default 300; 0: never)\n" \
"  -D seconds   the longest wait between two attempts (default 30)\n" \
"  -A seconds   a connection that does not answer <r/> in this long is taken as\n" \
"               broken (default 10)\n" \
"  -v           show the stanzas on stderr\n"

static void usage(int code)
{
    fputs(USAGE, code ? stderr : stdout);
    exit(code);
}


static const char SYNTH_HEADER[] =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

#define NS_LINK "urn:simpp:1:link"

/* At most this much waits for the program: beyond it, the relay is not
 * read until the program catches up (the relay then holds the rest, or
 * cuts off a reader this slow, as it does any slow reader) */
#define PEND_MAX (1u << 20)
/* At most this many stanzas (or bytes) from the program wait for the
 * server's acknowledgement: beyond it the program is not read (nothing is
 * dropped) */
#define HELD_MAX 10000
#define HELD_BYTES (16u << 20)
#define ASK_EVERY 10            /* <r/> after this many stanzas sent */
#define ASK_IDLE_MS 1000        /* and when this long idle with some unacknowledged */
#define KEEPALIVE_MS 30000      /* <r/> as a ping after this long without a word */
#define BACKOFF_BASE_MS 250

/* how to log in again, and the state that outlives one connection */
struct link {
    struct client c;
    struct client_opts *o;
    const char *jid;
    int suite;
    uint8_t *ka;                    /* K_A, in locked memory (a SIMPP login) */
    char resource[1024];            /* the bound one, asked for again */
    int can_reconnect;
    long giveup_ms, cap_ms, ack_ms;
    int up;
    /* XEP-0198 */
    int sm_on;                      /* <enable/> sent: what we send is counted */
    int sm_counting;                /* <enabled/> came: what we get is counted */
    char sm_id[256];                /* the resumption id, when offered */
    uint32_t h_in;
    struct sm_queue q;
    int64_t r_sent_at, last_tx, last_rx;
    char *presence;                 /* the program's last undirected presence */
    size_t presence_len;
    /* the outage */
    int64_t lost_at, next_try;
    int attempts;
    char why[256];
};

static void link_line(sbuf *pend, int lout_ok, const char *state, const char *attr, size_t n)
{
    if (lout_ok) sb_printf(pend, "<link xmlns='" NS_LINK "' state='%s' %s='%zu'/>\n", state, attr, n);
}

static int is_name(const xs_node *n, const char *name, const char *ns)
{
    return n->name && !strcmp(n->name, name) && n->ns && !strcmp(n->ns, ns);
}

static int is_stanza(const xs_node *n)
{
    return n->name && (!strcmp(n->name, "message") || !strcmp(n->name, "presence") || !strcmp(n->name, "iq")) &&
           (!n->ns || !strcmp(n->ns, XS_NS_CLIENT));
}

static int sm_send(struct link *l, const char *xml)
{
    if (l->c.sent_close) return 0;  /* after our </stream:stream>, nothing more */
    if (client_send(&l->c, xml, strlen(xml)) == 0) return 0;
    l->c.closed = 1;                /* a write that fails is a broken connection */
    return -1;
}

static void ask(struct link *l)
{
    if (sm_send(l, "<r xmlns='" NS_SM3 "'/>") == 0 && !l->r_sent_at) l->r_sent_at = ev_now_ms();
}

/* a new stream (bound, not resumed): stream management from 0, if offered */
static int enable_sm(struct link *l)
{
    l->h_in = 0;
    l->sm_counting = 0;
    l->sm_id[0] = 0;
    l->r_sent_at = 0;
    sm_unsend_all(&l->q, 0);
    l->sm_on = l->giveup_ms > 0 && xs_child(l->c.features, "sm", NS_SM3) != NULL;
    return l->sm_on ? sm_send(l, "<enable xmlns='" NS_SM3 "' resume='true'/>") : 0;
}

/* one stanza from the relay: XEP-0198 is ours, the rest goes to the program */
static void from_relay(struct link *l, xs_node *n, sbuf *pend, int lout_ok)
{
    l->last_rx = ev_now_ms();
    if (n->ns && !strcmp(n->ns, NS_SM3) && l->sm_on) {
        const char *h = xs_getattr(n, "h", NULL);
        unsigned long hv;
        if (!strcmp(n->name, "r")) {
            char a[80];
            snprintf(a, sizeof a, "<a xmlns='" NS_SM3 "' h='%u'/>", l->h_in);
            sm_send(l, a);
        } else if (!strcmp(n->name, "a") && h && parse_ulong(h, 0, UINT32_MAX, &hv) == 0) {
            sm_acked(&l->q, (uint32_t)hv);
            l->r_sent_at = 0;
        } else if (!strcmp(n->name, "enabled")) {
            const char *id = xs_getattr(n, "id", NULL), *res = xs_getattr(n, "resume", NULL);
            l->sm_counting = 1;
            if (id && res && (!strcmp(res, "true") || !strcmp(res, "1")) && strlen(id) < sizeof l->sm_id)
                snprintf(l->sm_id, sizeof l->sm_id, "%s", id);
        } else if (!strcmp(n->name, "failed")) {
            /* no stream management on this stream: what was sent stays sent */
            l->sm_on = 0;
            while (l->q.head && l->q.head->sent) sm_acked(&l->q, l->q.head->seq);
        }
        xs_node_free(n);
        return;
    }
    if (l->sm_counting && is_stanza(n)) l->h_in++;
    size_t len;
    char *xml = xs_serialize(n, XS_NS_CLIENT, &len);
    xs_node_free(n);
    if (lout_ok && xml) {
        sb_put(pend, xml, len);
        sb_put(pend, "\n", 1);
    }
    free(xml);
}

/* the program's stanza: kept until the server has it */
struct local { struct link *l; int oom; };

static int local_cb(void *arg, xs_node *n)
{
    struct local *p = arg;
    struct link *l = p->l;
    if (n->ns && !strcmp(n->ns, NS_SM3) && l->giveup_ms > 0) {
        /* stream management is simpp-login's (with -R 0 it is the program's) */
        warnx("the program sent <%s xmlns='%s'/>: stream management is simpp-login's; dropped", n->name ? n->name : "?", NS_SM3);
        xs_node_free(n);
        return XS_CONTINUE;
    }
    size_t len;
    char *xml = xs_serialize(n, XS_NS_CLIENT, &len);
    if (xml && is_name(n, "presence", XS_NS_CLIENT) && !xs_getattr(n, "to", NULL)) {
        free(l->presence);
        if ((l->presence = malloc(len))) memcpy(l->presence, xml, len);
        l->presence_len = l->presence ? len : 0;
    }
    xs_node_free(n);
    if (!xml || sm_add(&l->q, xml, len) < 0) p->oom = 1;
    free(xml);
    return p->oom ? XS_STOP : XS_CONTINUE;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A stream error that ends the session for good: someone else took the
 * resource, the account was closed, the relay said we are wrong.  Going
 * away (system-shutdown), idling out, a reset: worth coming back. */
static int fatal_stream_error(const struct client *c)
{
    const char *err = c->err;
    /* what came is not what the relay sent: the stream ends, as before */
    if (c->tampered) return 1;
    static const char pre[] = "stream error from the relay: ";
    const char *e = strstr(err, pre);
    if (!e) return 0;
    e += sizeof pre - 1;
    static const char *const again[] = { "system-shutdown", "connection-timeout", "reset", "internal-server-error",
                                         "remote-connection-failed", "undefined-condition" };
    for (size_t i = 0; i < sizeof again / sizeof *again; i++)
        if (!strncmp(e, again[i], strlen(again[i]))) return 0;
    return 1;
}

/* a delay before the next attempt: exponential, full jitter, capped */
static long backoff(const struct link *l)
{
    uint32_t r = 0;
    long top = BACKOFF_BASE_MS;
    for (int i = 1; i < l->attempts && top < l->cap_ms; i++) top *= 2;
    if (top > l->cap_ms) top = l->cap_ms;
    sc_random(&r, sizeof r);
    long d = (long)(r % (uint32_t)(top + 1));
    return d < 50 ? 50 : d;         /* never a tight loop */
}

/* The connection is gone: tell the program and stderr, start the clock */
static void link_down(struct link *l, sbuf *pend, int lout_ok)
{
    snprintf(l->why, sizeof l->why, "%s", l->c.err[0] ? l->c.err : "the connection broke");
    if (l->c.rfd >= 0) close(l->c.rfd);
    if (l->c.wfd >= 0 && l->c.wfd != l->c.rfd) close(l->c.wfd);
    client_free(&l->c);
    l->c.rfd = l->c.wfd = -1;
    l->up = 0;
    l->sm_counting = 0;
    l->lost_at = ev_now_ms();
    l->attempts = 0;
    l->next_try = l->lost_at + backoff(l);
    link_line(pend, lout_ok, "down", "pending", l->q.n);
    fprintf(stderr, "%s: connection lost: %s; reconnecting\n", progname, l->why);
}

/* the user's secret refused, or a relay that is not the pinned one: no retry */
static int refused(const struct client *c)
{
    return strstr(c->err, "refused") || strstr(c->err, "does not check") || strstr(c->err, "did not prove") ||
           strstr(c->err, "no channel binding");
}

/* One attempt: connect, the pinned key, log in, resume or a new stream.
 * 0 up, -1 try again later (l->why), else an exit code (l->why). */
static int attempt(struct link *l, sbuf *pend, int lout_ok)
{
    struct client *c = &l->c;
    struct client_opts *o = l->o;
    const char *domain = strchr(l->jid, '@') + 1;
    char err[256];
    int fd, direct, wrote, code;
    l->attempts++;
    if (client_reconnect(o->addr, domain, &fd, &direct, err, sizeof err) < 0) {
        snprintf(l->why, sizeof l->why, "%s", err);
        return -1;
    }
    client_init(c, fd, fd, domain);
    c->verbose = o->verbose;
    c->tls_mode = direct && o->tls != CLIENT_TLS_OFF ? CLIENT_TLS_DIRECT : o->tls;
    c->tls_ca = o->cafile;
    c->timeout_ms = l->ack_ms > 10000 ? (int)l->ack_ms : 10000;
    c->no_bind = 1;
    /* a blocking write into a silent network must end too */
    struct timeval tv = { l->ack_ms / 1000, (l->ack_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int r = -1;
    if (client_open(c) < 0) {
        if (c->tls_failed) r = EX_NOPERM;
    } else if (!o->xmpp) {
        if (!c->simpp) {
            snprintf(c->err, sizeof c->err, "the server no longer speaks SIMPP (no <simpp/> feature)");
            r = EX_PROTOCOL;
        } else if ((code = client_pin(c, o->pin, 0, &wrote)))
            r = code;
        else if (client_login_ka(c, l->jid, l->ka, l->suite, o->mode, NULL) == 0)
            r = 0;
        else if (refused(c))
            r = EX_NOPERM;
    } else if (!c->tls && o->tls != CLIENT_TLS_OFF) {
        snprintf(c->err, sizeof c->err, "the server no longer offers TLS: refusing to send it the password");
        r = EX_PROTOCOL;
    } else if (client_xmpp_login(c, l->jid, o->srvpw, o->srvpwlen, o->mech, NULL) == 0)
        r = 0;
    else if (refused(c))
        r = EX_NOPERM;
    if (r == 0 && l->sm_id[0]) {
        /* XEP-0198 5: resume on the new, authenticated stream */
        char m[400];
        xs_node *n = NULL;
        snprintf(m, sizeof m, "<resume xmlns='" NS_SM3 "' previd='%s' h='%u'/>", l->sm_id, l->h_in);
        if (sm_send(l, m) < 0 || !(n = client_next(c, -1))) r = -1;
        else if (is_name(n, "resumed", NS_SM3)) {
            unsigned long h;
            const char *hs = xs_getattr(n, "h", NULL);
            if (!hs || parse_ulong(hs, 0, UINT32_MAX, &h) < 0) {
                snprintf(c->err, sizeof c->err, "the server resumed without saying what it has (no h)");
                xs_node_free(n);
                r = -1;
                goto fail;
            }
            sm_acked(&l->q, (uint32_t)h);
            sm_unsend_all(&l->q, (uint32_t)h);
            l->sm_counting = 1;
            l->up = 1;
            l->r_sent_at = 0;
            link_line(pend, lout_ok, "resumed", "resent", l->q.n);
            fprintf(stderr, "%s: resumed (%zu resent)\n", progname, l->q.n);
            xs_node_free(n);
            return 0;
        } else if (!is_name(n, "failed", NS_SM3)) {
            snprintf(c->err, sizeof c->err, "no answer to <resume/>");
            r = -1;
        }
        xs_node_free(n);
    }
    if (r == 0) {
        /* the server lost the session: a new one, the same resource,
         * presence again, then what it never acknowledged */
        size_t resent = l->q.n;
        if (client_bind(c, l->resource) < 0 || enable_sm(l) < 0) r = refused(c) ? EX_NOPERM : -1;
        else {
            if (l->presence) sm_add_first(&l->q, l->presence, l->presence_len);
            l->up = 1;
            link_line(pend, lout_ok, "new", "resent", resent);
            fprintf(stderr, "%s: new stream (the server lost the session; %zu resent)\n", progname, resent);
            return 0;
        }
    }
fail:
    snprintf(l->why, sizeof l->why, "%s", c->err[0] ? c->err : "the login failed");
    if (c->rfd >= 0) close(c->rfd);
    client_free(c);
    c->rfd = c->wfd = -1;
    return r;
}

/* give up: say why and what was never acknowledged (kind, to, id: no body) */
static void give_up(struct link *l)
{
    fprintf(stderr, "%s: gave up after %d attempts in %ld s: %s\n", progname, l->attempts,
            (long)((ev_now_ms() - l->lost_at + 500) / 1000), l->why);
    for (struct sm_item *it = l->q.head; it; it = it->next) {
        char d[600];
        sm_describe(it, d, sizeof d);
        fprintf(stderr, "%s: pending: %s\n", progname, d);
    }
}

enum { END_LOCAL = 0, END_RELAY = 1, END_INPUT = 2, END_GAVE_UP = 3, END_FATAL = 4 };

static int64_t soonest(int64_t a, int64_t b)
{
    return !a ? b : !b ? a : a < b ? a : b;
}

/* Move stanzas both ways until one side ends, riding through broken
 * connections.  When the local side ends first, what it sent goes out, the
 * stream is closed and whatever the relay still sends (answers to the last
 * stanzas) is passed on until it closes too.  Returns END_LOCAL when the
 * local side ended first, END_RELAY when the relay did, END_INPUT on bad
 * input, END_GAVE_UP, or END_FATAL (*fatal: the exit code, l->why). */
static int relay_loop(struct link *l, int lin, int lout, int *fatal)
{
    struct client *c = &l->c;
    struct local p = { l, 0 };
    xs_callbacks cb = { NULL, local_cb, NULL };
    xs_limits lim = { 1u << 20, 0, 0, 0 };
    xs_stream *local = xs_new(&lim, &cb, &p);
    char buf[16384];
    int rc = -1, local_done = 0, lout_ok = 1;
    int64_t deadline = 0;
    /* What goes to the local side waits here rather than in a blocking
     * write: a program busy writing to us (a burst of lines) would otherwise
     * never read, and both ends would stop for good. */
    sbuf pend = { 0 };
    int nonblock = fcntl(lout, F_GETFL) >= 0 && (fcntl(lout, F_GETFL) & O_NONBLOCK);
    if (!local || xs_feed(local, SYNTH_HEADER, sizeof SYNTH_HEADER - 1) < 0) die(EX_OSERR, "out of memory");
    l->last_rx = l->last_tx = ev_now_ms();
    for (;;) {
        xs_node *n;
        int64_t now;
        while (l->up && pend.n < PEND_MAX && client_pending(c) && (n = client_next(c, 0)))
            from_relay(l, n, &pend, lout_ok);
        /* the program's stanzas, in order, once each on this stream */
        struct sm_item *it;
        while (l->up && !c->closed && !c->sent_close && (it = sm_next_unsent(&l->q))) {
            if (client_send(c, it->xml, it->len) < 0) { c->closed = 1; break; }
            sm_mark_sent(&l->q, l->sm_on);
            l->last_tx = ev_now_ms();
            if (l->sm_on && l->q.seq % ASK_EVERY == 0) ask(l);
        }
        if (pend.oom || p.oom) die(EX_OSERR, "out of memory");
        /* a blocking descriptor (a terminal, a file) is written at once */
        if (lout_ok && pend.n && !nonblock) {
            if (write_all(lout, pend.p, pend.n) < 0) lout_ok = 0;
            sb_reset(&pend);
        }
        if (!lout_ok) {
            sb_reset(&pend);
            if (!local_done) { local_done = 1; rc = END_LOCAL; }   /* nobody reads us any more */
        }
        now = ev_now_ms();
        /* (stanzas still queued in c: the program is behind, the timers wait) */
        int timers = l->up && !c->sent_close && !client_pending(c) && l->sm_on;
        if (timers) {
            /* a silent network is noticed: <r/> unanswered */
            if (l->r_sent_at && now - l->r_sent_at >= l->ack_ms) {
                snprintf(c->err, sizeof c->err, "no answer to <r/> in %ld ms", l->ack_ms);
                c->closed = 1;
            } else if (!l->r_sent_at && ((l->q.inflight && now - l->last_tx >= ASK_IDLE_MS) ||
                                         now - l->last_rx >= KEEPALIVE_MS))
                ask(l);
        }
        /* the connection broke (not our own close): come back if we can */
        if (l->up && c->closed && !client_pending(c) && !c->sent_close && l->giveup_ms > 0 && l->can_reconnect &&
            !fatal_stream_error(c))
            link_down(l, &pend, lout_ok);
        if (!l->up) {
            if (local_done && !l->q.n) { rc = END_LOCAL; break; }   /* nothing left to deliver */
            if (now >= l->next_try) {
                int r = attempt(l, &pend, lout_ok);
                now = ev_now_ms();
                if (r > 0) { *fatal = r; rc = END_FATAL; break; }
                if (r < 0 && now - l->lost_at >= l->giveup_ms) { give_up(l); rc = END_GAVE_UP; break; }
                if (r < 0) {
                    l->next_try = now + backoff(l);
                    if (l->next_try > l->lost_at + l->giveup_ms) l->next_try = l->lost_at + l->giveup_ms;
                } else
                    l->last_rx = l->last_tx = now;
                continue;
            }
        } else {
            if (c->closed && !pend.n) { if (rc < 0) rc = END_RELAY; break; }
            if (c->closed && !deadline) deadline = now + 5000;   /* the rest, if read in time */
            if (local_done && !deadline && !sm_next_unsent(&l->q)) {
                client_send_close(c);
                deadline = now + 5000;
            }
        }
        int64_t wake = deadline;
        if (!l->up) wake = soonest(wake, l->next_try);
        else if (timers) {
            wake = soonest(wake, l->r_sent_at ? l->r_sent_at + l->ack_ms
                                 : soonest(l->q.inflight ? l->last_tx + ASK_IDLE_MS : 0, l->last_rx + KEEPALIVE_MS));
        }
        int64_t wait = wake ? wake - now : -1;
        if (deadline && deadline - now <= 0) break;
        if (wait < 0 && wake) wait = 0;
        int full = pend.n >= PEND_MAX, held = l->q.n >= HELD_MAX || l->q.bytes >= HELD_BYTES;
        struct pollfd pf[3] = { { !l->up || c->closed || full ? -1 : c->rfd, POLLIN, 0 },
                                { local_done || held ? -1 : lin, POLLIN, 0 },
                                { pend.n ? lout : -1, POLLOUT, 0 } };
        if (poll(pf, 3, (int)wait) < 0) {
            if (errno == EINTR) continue;
            die_sys(EX_OSERR, "poll");
        }
        if (pf[2].revents) {
            ssize_t w = write(lout, pend.p, pend.n);
            if (w > 0) sb_consume(&pend, (size_t)w);
            else if (w < 0 && errno != EAGAIN && errno != EINTR) lout_ok = 0;
        }
        if (pf[0].revents && client_pump(c) < 0 && !client_pending(c) && !pend.n) {
            /* the next turn decides: a break to ride through, or the end */
            if (!(l->giveup_ms > 0 && l->can_reconnect && !c->sent_close && !fatal_stream_error(c))) {
                if (rc < 0) rc = END_RELAY;
                break;
            }
        }
        if (pf[1].revents) {
            ssize_t r = read(lin, buf, sizeof buf);
            if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (r <= 0) { local_done = 1; rc = END_LOCAL; continue; }
            if (xs_feed(local, buf, (size_t)r) < 0) {
                warnx("local input: %s %s; closing", xs_error(local), xs_error_text(local));
                local_done = 1;
                rc = END_INPUT;
            }
        }
    }
    /* what the relay still sent, and the last link line, to the program */
    if (lout_ok && pend.n) {
        if (nonblock) fcntl(lout, F_SETFL, fcntl(lout, F_GETFL) & ~O_NONBLOCK);
        write_all(lout, pend.p, pend.n);
        if (nonblock) fcntl(lout, F_SETFL, fcntl(lout, F_GETFL) | O_NONBLOCK);
    }
    if (rc < 0) rc = c->closed ? END_RELAY : END_LOCAL;
    sb_free(&pend);
    xs_free(local);
    /* a stream that ended on an error (a stream error, a bad frame, text in
     * clear) is a failure even after the local side was done */
    if (rc == END_LOCAL && l->up && c->err[0]) rc = END_RELAY;
    return rc;
}

/* secrets kept for logging in again: in memory that is not swapped out or
 * dumped, wiped on the way out */
static uint8_t *locked_alloc(size_t n)
{
    uint8_t *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die_sys(EX_OSERR, "mmap");
    mlock(p, n);                    /* best effort: RLIMIT_MEMLOCK may say no */
    madvise(p, n, MADV_DONTDUMP);
    return p;
}

static void locked_free(uint8_t *p, size_t n)
{
    if (!p) return;
    sc_zero(p, n);
    munlock(p, n);
    munmap(p, n);
}

static void link_free(struct link *l)
{
    struct client_opts *o = l->o;
    if (l->c.rfd >= 0 || l->c.xs) client_free(&l->c);
    sm_free(&l->q);
    if (l->presence) sc_zero(l->presence, l->presence_len);
    free(l->presence);
    locked_free(l->ka, SIMPP_KEY);
    sc_zero(o->srvpw, sizeof o->srvpw);
    o->srvpwlen = 0;
    munlock(o->srvpw, sizeof o->srvpw);
}

static int exit_code(const struct link *l, int rc, int fatal)
{
    if (rc == END_GAVE_UP) return EX_UNAVAILABLE;
    if (rc == END_FATAL) {
        fprintf(stderr, "%s: %s\n", progname, l->why);
        return fatal;
    }
    if (rc == END_RELAY && l->c.err[0]) warnx("%s", l->c.err);
    return -1;
}

static long seconds_opt(const char *opt, const char *arg, unsigned long max)
{
    unsigned long v;
    if (parse_ulong(arg, 0, max, &v) < 0) die(EX_USAGE, "-%s %s: seconds, 0 to %lu", opt, arg, max);
    return (long)v;
}

int main(int argc, char **argv)
{
    int opt;
    const char *resource = NULL;
    struct client_opts o;
    struct link l;
    struct client *c = &l.c;
    memset(&l, 0, sizeof l);
    l.giveup_ms = 300000;
    l.cap_ms = 30000;
    l.ack_ms = 10000;
    util_setprog(argv[0]);
    /* our own options end at the JID; what follows belongs to the program */
    int own = 1;
    while (own < argc && argv[own][0] == '-' && strcmp(argv[own], "--")) {
        if (!strcmp(argv[own], "--help")) usage(0);
        if (!strcmp(argv[own], "--version")) print_version();
        if (strlen(argv[own]) == 2 && strchr(CLIENT_OPTS_ARG "rRDA", argv[own][1])) own++;
        own++;
    }
    if (argv_has_secret(own < argc ? own : argc, argv))
        die(EX_USAGE, "secrets are never taken on the command line: use the terminal or -P/-E fd");
    client_opts_init(&o);
    while ((opt = getopt(argc, argv, "+hVr:R:D:A:" CLIENT_OPTS)) != -1) {
        if (client_opt(&o, opt, optarg)) continue;
        if (opt == 'h') usage(0);
        else if (opt == 'V') print_version();
        else if (opt == 'r') resource = optarg;
        else if (opt == 'R') l.giveup_ms = seconds_opt("R", optarg, 86400 * 365) * 1000;
        else if (opt == 'D') l.cap_ms = seconds_opt("D", optarg, 3600) * 1000;
        else if (opt == 'A') l.ack_ms = seconds_opt("A", optarg, 3600) * 1000;
        else usage(EX_USAGE);
    }
    if (argc - optind < 1) usage(EX_USAGE);
    if (l.cap_ms < 1000) die(EX_USAGE, "-D: at least 1 second");
    if (l.ack_ms < 1000) die(EX_USAGE, "-A: at least 1 second");
    const char *jid = argv[optind];
    char **prog = argc - optind > 1 ? argv + optind + 1 : NULL;
    /* a connection we made ourselves can be made again; one handed to us
     * on fds 6/7 (tcpclient) cannot */
    l.can_reconnect = o.addr || fcntl(6, F_GETFD) < 0 || fcntl(7, F_GETFD) < 0;
    o.keep_pw = l.giveup_ms > 0 && l.can_reconnect;
    if (o.keep_pw) mlock(o.srvpw, sizeof o.srvpw);
    sc_key *kr = client_start(c, &o, jid, 0, 0);
    int s = o.suite, verbose = o.verbose;
    l.o = &o;
    l.jid = jid;
    l.suite = s;
    if (o.xmpp)
        client_start_xmpp(c, &o, jid, resource);
    else {
        /* K_A, not the private key, is what a login again needs */
        l.ka = locked_alloc(SIMPP_KEY);
        if (client_master_key(c, jid, kr, l.ka) < 0 || client_login_ka(c, jid, l.ka, s, o.mode, resource) < 0)
            die(strstr(c->err, "refused") || strstr(c->err, "does not check") ? EX_NOPERM : EX_PROTOCOL, "%s", c->err);
        if (!o.keep_pw) {
            locked_free(l.ka, SIMPP_KEY);
            l.ka = NULL;
        }
    }
    const char *slash = strchr(c->jid, '/');
    snprintf(l.resource, sizeof l.resource, "%s", slash ? slash + 1 : resource ? resource : "");
    if (verbose && o.xmpp) fprintf(stderr, "%s: logged in as %s (an ordinary XMPP login)\n", progname, c->jid);
    else if (verbose) fprintf(stderr, "%s: logged in as %s (suite %s)\n", progname, c->jid, sc_suite_name(s));
    struct timeval tv = { l.ack_ms / 1000, 0 };
    setsockopt(c->wfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    l.up = 1;
    if (enable_sm(&l) < 0) die(EX_PROTOCOL, "%s", c->err);
    signal(SIGPIPE, SIG_IGN);

    int fatal = 0;
    if (!prog) {
        sc_key_free(kr);
        int rc = relay_loop(&l, 0, 1, &fatal), code = exit_code(&l, rc, fatal);
        link_free(&l);
        return code >= 0 ? code : rc == END_RELAY ? EX_UNAVAILABLE : rc == END_INPUT ? EX_DATAERR : 0;
    }
    /* chain-load: the program gets the plain side of the channel on 6/7 */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) die_sys(EX_OSERR, "socketpair");
    /* the user's private key for the program (simpp-session signs its
     * handshakes with it) on fd 8: never on disk or argv; a key on a token
     * stays there, and this process serves it (keyagent.h) */
    struct key_handoff *kh = key_handoff(kr);
    if (!kh) die_sys(EX_OSERR, "unable to pass the key");
    pid_t pid = fork();
    if (pid < 0) die_sys(EX_OSERR, "fork");
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        /* via a spare descriptor: sv[1] may itself be 6 or 7, and close-on-exec */
        int spare = fcntl(sv[1], F_DUPFD, 10), kspare = fcntl(key_handoff_fd(kh), F_DUPFD, 10);
        if (spare < 0 || kspare < 0 || dup2(spare, 6) < 0 || dup2(spare, 7) < 0 || dup2(kspare, 8) < 0)
            die_sys(EX_OSERR, "dup2");
        close(spare);
        close(kspare);
        setenv("SIMPP_KEYFD", "8", 1);
        /* public facts only: who we are logged in as (never a key) */
        setenv("SIMPP_JID", c->jid, 1);
        setenv("SIMPP_DOMAIN", c->domain, 1);
        /* how we logged in: "simpp" (the relay's directory is reached
         * through the SIMPP channel) or "xmpp" (an ordinary server) */
        setenv("SIMPP_LOGIN", o.xmpp ? "xmpp" : "simpp", 1);
        if (o.xmpp) unsetenv("SIMPP_SUITE");
        else setenv("SIMPP_SUITE", sc_suite_name(s), 1);
        execvp(prog[0], prog);
        die_sys(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR, "unable to run %s", prog[0]);
    }
    close(sv[1]);
    key_handoff_parent(kh);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    int rc = relay_loop(&l, sv[0], sv[0], &fatal), code = exit_code(&l, rc, fatal);
    shutdown(sv[0], SHUT_WR);                   /* the program sees EOF */
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    close(sv[0]);
    key_handoff_end(kh);
    link_free(&l);
    if (code >= 0) return code;                 /* gave up, or refused on the way back */
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
