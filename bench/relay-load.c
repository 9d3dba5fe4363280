/*
 * relay-load - load generator for bench/relay: many XMPP client connections
 * from one process and one epoll loop, against simpp-relayd or any RFC 6120
 * server on a loopback address.
 *
 *   relay-load -c 127.0.0.1:PORT -m MODE [options] [-P fd]
 *
 * Modes (every one bounded in time and in count, and stops by itself):
 *   flood     -p pairs clients pair up; each keeps -w messages in flight to
 *             its partner (a message received is answered by one more), for
 *             -t seconds after -W seconds of warm-up: routed messages/s
 *   rate      -p pairs, a fixed total of -r messages/s spread round-robin
 *             over the clients, each body carrying its send time: one-way
 *             latency p50/p90/p99/max over -t seconds after -W of warm-up;
 *             with -L N, N more clients log in and out over and over all
 *             the while (warm-up included), in a second process so that
 *             their handshakes never delay the measuring loop: accounts
 *             2*pairs+1 .. -n, their figures as bg_logins_per_s etc.;
 *             logins still under way at the end are dropped
 *   idle      -n N[,N2...] connections logged in, bound, available, then
 *             idle: the server's VmRSS (from /proc, -s pid) at each count,
 *             against its VmRSS before the first connection; with -t they
 *             stay that many seconds more
 *   login     -k logins (-j at a time, at most -t seconds) cycling over -n
 *             accounts: connect, stream, SASL, restart, bind, close;
 *             logins/s, and the server's CPU time per login (-s pid)
 *   register  (-S) SIMPP registration R1-R3 of -n accounts, one after the
 *             other through lib/client.c
 *   port      print a free loopback TCP port and exit
 *   probe     wait until host:port accepts a connection (at most -t s)
 *
 * Two domains: with -R host:port/domain the odd clients of flood and rate
 * log in to that second server as PREFIXi@domain, so that every message
 * crosses from one domain to the other (server-to-server, both ways); with
 * -1 only the first server's clients send (one way, for a second server that
 * cannot reach back), and in flood a message received makes its sender
 * send one more.
 *
 * TLS: -T starttls upgrades each stream with STARTTLS (RFC 6120 5.4) before
 * anything else; -T direct speaks TLS from the first byte (XEP-0368: -c
 * names the server's direct-TLS port).  The server's certificate is checked
 * against -C cafile for the name -D (default localhost), through lib/tls.h
 * as the clients do, non-blocking in the same epoll loop.
 *
 * Authentication: SCRAM-SHA-256 (default) or -a plain for accounts
 * PREFIXi@DOMAIN (i = 1..n), all with the one password read from -P fd.
 * -S logs in with SIMPP S1-S3 instead (simpp-relayd only): every stanza
 * after the login travels sealed in the SIMPP channel.  With -S -m login -B
 * each login goes through lib/client.c's blocking client_login, one after
 * the other, which includes the client's own ECDH for K_A; lib/client.c
 * stays in clear as the other SIMPP rows do, unless -T asks for TLS (then
 * checked against -C cafile, as simpp-login checks it).  SIMPP accounts
 * are "s1".."sN" unless -u says otherwise; their keys are derived from their
 * JIDs (a hash taken as the private scalar), so the registering run and
 * later runs agree without key files.  Bench accounts only: anyone who
 * knows the JID knows the key.
 *
 * Output: "name value" lines on stdout, for the script to pick up.
 *
 * Why the client side is built this way:
 *   - One process, non-blocking sockets, level-triggered epoll: thousands
 *     of sessions cost a struct each, not a thread each.
 *   - The load generator must be cheaper than what it measures, so the
 *     stream is not parsed with libxml2: a scanner only finds where each
 *     top-level element ends (tags, quotes, depth) and the few values
 *     needed are picked out of the element text.  Servers send plain
 *     well-formed XML; the scanner is not a validator.
 *   - SCRAM: the costly part of a SCRAM client is Hi(), PBKDF2 with the
 *     server's iteration count (10,000 here).  RFC 5802 5.1 lets a client
 *     keep ClientKey and ServerKey for a salt and iteration count; this one
 *     does (keyed by salt and count: all accounts share one password), so
 *     the logins/s figure measures the server, not the client's PBKDF2.
 *     lib/sasl.h's scram_client has no way to reuse those keys; -X uses it
 *     anyway (full PBKDF2 on every login) as a cross-check.
 *   - SIMPP: lib/client.c blocks on one stream at a time, so the engine
 *     here runs S1-S3 and the channel itself with lib/simpp.h's functions
 *     (the same ones lib/client.c calls).  K_A, which costs the client an
 *     ECDH, is computed once per account before anything is timed; the
 *     server does no public-key work at login either way.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "crypto.h"
#include "net.h"
#include "sasl.h"
#include "sbuf.h"
#include "simpp.h"
#include "tls.h"
#include "util.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_PING "urn:xmpp:ping"
#define NS_TLS  "urn:ietf:params:xml:ns:xmpp-tls"

#define READ_MAX    65536
#define SCAN_MAX    (1u << 20)      /* one element may not exceed this */
#define MAX_CONNS   60000
#define MAX_CKPT    8
#define BODY_PAD    "bench-relay-load-payload-0123456789"

#define USAGE \
"usage: relay-load -c host:port -m flood|rate|idle|login|register|port|probe [options] [-P fd]\n" \
"  -n N[,N2..]  clients or accounts (idle: checkpoints)    -p pairs   (flood, rate)\n" \
"  -w W         messages in flight per client (flood)      -r msg/s   (rate)\n" \
"  -t secs      measured time (or cap)    -W secs warm-up  -k logins  -j concurrency\n" \
"  -u prefix    account names PREFIXi (default user)       -D domain  (default localhost)\n" \
"  -a scram|plain  SASL mechanism     -X SCRAM through lib/sasl.h, no key cache\n" \
"  -T starttls|direct  TLS first (the server's certificate checked with -C cafile);\n" \
"               with -S only for -B and register (lib/client.c; else in clear)\n" \
"  -L N         with -m rate: N more clients log in and out meanwhile (second process)\n" \
"  -S           SIMPP login and channel (simpp-relayd; accounts s1..sN unless -u)\n" \
"  -B           with -S -m login: one login at a time through lib/client.c\n" \
"  -s pid       the server's process, for VmRSS and CPU time\n" \
"  -R host:port/domain  flood, rate: the odd clients on this second server, this domain\n" \
"  -1           with -R: one way, only the first server's clients send\n" \
"  -P fd        read the accounts' password from fd\n"

enum { TLS_NONE, TLS_STARTTLS, TLS_DIRECT };
enum { M_FLOOD, M_RATE, M_IDLE, M_LOGIN, M_REGISTER, M_PORT, M_PROBE };
enum { ST_FREE, ST_CONNECT, ST_STARTTLS, ST_HANDSHAKE, ST_FEAT1, ST_SASL, ST_FEAT2, ST_BIND, ST_PING, ST_READY, ST_DONE, ST_DEAD };

/* ---- options and global state ------------------------------------------------ */

static struct {
    int mode;
    char host[256], port[16];
    struct sockaddr_in sa, sa2;
    const char *domain, *prefix;
    const char *domain2;            /* -R: the partner domain, NULL none */
    int oneway;                     /* -1: only the even clients send */
    long n[MAX_CKPT];
    int nck;
    int pairs, window, conc;
    long logins;
    double rate, secs, warm;
    int secs_given;
    int plain, libscram, simpp, blocking;
    int tls;                        /* TLS_NONE, TLS_STARTTLS, TLS_DIRECT */
    const char *cafile;
    int bg;                         /* -L: clients logging in meanwhile */
    int acct0;                      /* login mode: accounts acct0+1 .. n */
    pid_t server;
    char pw[SASL_MAX_PW + 1];
    size_t pwl;
} O;

static int ep = -1;
static tls_ctx *g_tls;              /* -T: the client context (checks -C) */
static char g_kprefix[8];           /* "bg_" in the -L process */
static char g_res = 'r';            /* first letter of the resources bound */
static char g_tlsinfo[128];         /* the first handshake's version and cipher */
static int nconns;
static struct conn *conns;
static int64_t t_start;

/* counters */
static uint64_t g_rx, g_err, g_dead, g_ready, g_logins, g_login_fail;
static int g_sending;               /* flood/rate: clients may send */
static int64_t g_win0, g_win1;      /* measured window, ns */
static int64_t *lat;                /* rate: one-way latencies; login: login times; ns */
static size_t nlat, caplat;
static uint64_t g_sent_win;         /* rate: sent inside the window */

/* SIMPP: the relay's key and suites, and each account's K_A */
static sc_key *ku_s;
static uint8_t g_suites[8];
static size_t g_nsuites;
static int g_suite;
static uint8_t (*g_ka)[SIMPP_KEY];

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double secs_since(int64_t t0)
{
    return (double)(now_ns() - t0) / 1e9;
}

/* ---- the server's process, from /proc -------------------------------------- */

static long proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if (!(f = fopen(path, "r"))) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) { kb = strtol(line + 6, NULL, 10); break; }
    fclose(f);
    return kb;
}

/* utime + stime in seconds (fields 14 and 15 of /proc/PID/stat) */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    size_t n;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (!(f = fopen(path, "r"))) return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the command name may hold spaces: count fields after its ')' */
    if (!(p = strrchr(buf, ')'))) return -1;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the element scanner ---------------------------------------------------- */

/* Splits a stream into its header and top-level elements.  depth 0: before
 * the header; 1: between stanzas; > 1: inside one that began at start. */
struct scan {
    char *b;
    size_t n, cap, pos, start;
    int depth;
};

enum { SC_MORE, SC_HEADER, SC_ELEM, SC_CLOSE, SC_ERROR };

static int scan_feed(struct scan *s, const char *d, size_t len)
{
    size_t keep = s->depth > 1 ? s->start : s->pos;
    if (keep) {
        memmove(s->b, s->b + keep, s->n - keep);
        s->n -= keep;
        s->pos -= keep;
        s->start = s->depth > 1 ? s->start - keep : 0;
    }
    if (s->cap - s->n < len) {
        size_t nc = s->cap ? s->cap : 4096;
        char *nb;
        while (nc - s->n < len) nc *= 2;
        if (nc > SCAN_MAX || !(nb = realloc(s->b, nc))) return -1;
        s->b = nb;
        s->cap = nc;
    }
    memcpy(s->b + s->n, d, len);
    s->n += len;
    return 0;
}

static void scan_reset(struct scan *s, int depth)
{
    s->n = s->pos = s->start = 0;
    s->depth = depth;
}

static void scan_free(struct scan *s)
{
    free(s->b);
    memset(s, 0, sizeof *s);
}

static int is_stream_tag(const char *t, size_t len)
{
    /* t: after '<'; a prefixed or unprefixed "stream" element */
    size_t i = 0;
    while (i < len && t[i] != ' ' && t[i] != '\t' && t[i] != '\n' && t[i] != '\r' && t[i] != '>' && t[i] != '/') i++;
    return (i == 13 && memcmp(t, "stream:stream", 13) == 0) || (i == 6 && memcmp(t, "stream", 6) == 0);
}

static const char *find(const char *h, size_t hl, const char *needle)
{
    return memmem(h, hl, needle, strlen(needle));
}

static int scan_next(struct scan *s, const char **el, size_t *ellen)
{
    for (;;) {
        char *b = s->b, *lt;
        size_t n = s->n, i, j;
        if (s->pos >= n) return SC_MORE;
        if (!(lt = memchr(b + s->pos, '<', n - s->pos))) {     /* character data */
            s->pos = n;
            return SC_MORE;
        }
        i = (size_t)(lt - b);
        if (i + 1 >= n) { s->pos = i; return SC_MORE; }
        char k = b[i + 1];
        if (k == '?' || k == '!') {
            /* the XML declaration; comments and CDATA do not occur in
             * XMPP streams from a server but are stepped over alike */
            const char *term = k == '?' ? "?>" : (n - i >= 9 && !memcmp(b + i, "<![CDATA[", 9)) ? "]]>"
                             : (n - i >= 4 && !memcmp(b + i, "<!--", 4)) ? "-->" : ">";
            const char *e = find(b + i + 2, n - i - 2, term);
            if (!e) { s->pos = i; return SC_MORE; }
            s->pos = (size_t)(e - b) + strlen(term);
            continue;
        }
        char q = 0;
        for (j = i + 1; j < n; j++) {
            char ch = b[j];
            if (q) { if (ch == q) q = 0; }
            else if (ch == '\'' || ch == '"') q = ch;
            else if (ch == '>') break;
        }
        if (j >= n) { s->pos = i; return SC_MORE; }
        s->pos = j + 1;
        if (k == '/') {
            if (s->depth <= 1) return SC_CLOSE;            /* </stream:stream> */
            if (--s->depth == 1) {
                *el = b + s->start;
                *ellen = j + 1 - s->start;
                return SC_ELEM;
            }
            continue;
        }
        int selfclose = b[j - 1] == '/';
        if (s->depth == 0 || (s->depth == 1 && is_stream_tag(b + i + 1, j - i - 1))) {
            s->depth = 1;                                   /* a (new) stream header */
            *el = b + i;
            *ellen = j + 1 - i;
            return SC_HEADER;
        }
        if (s->depth == 1) {
            s->start = i;
            if (selfclose) {
                *el = b + i;
                *ellen = j + 1 - i;
                return SC_ELEM;
            }
            s->depth = 2;
            continue;
        }
        if (!selfclose) s->depth++;
    }
}

/* ---- picking values out of an element's text ------------------------------ */

/* length of the start tag, '>' included (quotes respected) */
static size_t start_tag_len(const char *e, size_t len)
{
    char q = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = e[i];
        if (q) { if (ch == q) q = 0; }
        else if (ch == '\'' || ch == '"') q = ch;
        else if (ch == '>') return i + 1;
    }
    return len;
}

static int name_is(const char *e, size_t len, const char *name)
{
    size_t nl = strlen(name);
    if (len < nl + 2 || e[0] != '<' || memcmp(e + 1, name, nl) != 0) return 0;
    char ch = e[1 + nl];
    return ch == ' ' || ch == '>' || ch == '/' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* an attribute of the start tag into out (NUL-terminated); -1 if absent or too long */
static int attr_of(const char *e, size_t len, const char *name, char *out, size_t cap)
{
    size_t tl = start_tag_len(e, len), nl = strlen(name), i = 1;
    while (i < tl && e[i] != ' ' && e[i] != '\t' && e[i] != '\n' && e[i] != '\r') i++;
    while (i < tl) {
        while (i < tl && (e[i] == ' ' || e[i] == '\t' || e[i] == '\n' || e[i] == '\r')) i++;
        size_t a = i;
        while (i < tl && e[i] != '=' && e[i] != ' ' && e[i] != '>' && e[i] != '/') i++;
        size_t al = i - a;
        while (i < tl && e[i] == ' ') i++;
        if (i >= tl || e[i] != '=') { i++; continue; }
        i++;
        while (i < tl && e[i] == ' ') i++;
        if (i >= tl || (e[i] != '\'' && e[i] != '"')) return -1;
        char q = e[i++];
        size_t v = i;
        while (i < tl && e[i] != q) i++;
        if (i >= tl) return -1;
        if (al == nl && memcmp(e + a, name, nl) == 0) {
            if (i - v >= cap) return -1;
            memcpy(out, e + v, i - v);
            out[i - v] = 0;
            return 0;
        }
        i++;
    }
    return -1;
}

/* the character data of an element of simple content: after its start tag,
 * up to its end tag */
static void text_of(const char *e, size_t len, const char **t, size_t *tl)
{
    size_t st = start_tag_len(e, len);
    *t = e + st;
    *tl = 0;
    if (st >= 2 && e[st - 2] == '/') return;
    for (size_t i = len; i > st; i--)
        if (e[i - 1] == '<') { *tl = i - 1 - st; return; }
}

/* the text of the first descendant <name>...</name> */
static int child_text(const char *e, size_t len, const char *name, const char **t, size_t *tl)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s", name);
    snprintf(close, sizeof close, "</%s>", name);
    const char *p = e, *end = e + len;
    while ((p = find(p, (size_t)(end - p), open))) {
        const char *after = p + strlen(open);
        if (after < end && (*after == '>' || *after == ' ')) break;
        p = after;
    }
    if (!p) return -1;
    const char *gt = memchr(p, '>', (size_t)(end - p));
    if (!gt) return -1;
    if (gt[-1] == '/') { *t = gt + 1; *tl = 0; return 0; }
    const char *c = find(gt + 1, (size_t)(end - gt - 1), close);
    if (!c) return -1;
    *t = gt + 1;
    *tl = (size_t)(c - gt - 1);
    return 0;
}

/* ---- SCRAM-SHA-256, client side, with ClientKey/ServerKey kept per salt ---- */

struct keyent {
    uint8_t salt[64];
    size_t saltlen;
    unsigned long iter;
    uint8_t ck[32], stk[32], svk[32];   /* ClientKey, StoredKey, ServerKey */
    int used;
};
#define KEYCACHE 1024
static struct keyent keycache[KEYCACHE];

static const struct keyent *scram_keys(const uint8_t *salt, size_t sl, unsigned long iter)
{
    static struct keyent scratch;
    unsigned h = 2166136261u;
    for (size_t i = 0; i < sl; i++) h = (h ^ salt[i]) * 16777619u;
    h ^= (unsigned)iter;
    for (unsigned k = 0; k < KEYCACHE; k++) {
        struct keyent *e = &keycache[(h + k) % KEYCACHE];
        if (e->used && e->saltlen == sl && e->iter == iter && memcmp(e->salt, salt, sl) == 0) return e;
        if (!e->used && sl <= sizeof e->salt) {
            uint8_t sp[32];
            if (sc_pbkdf2_sha256(O.pw, O.pwl, salt, sl, iter, sp, sizeof sp) < 0 ||
                sc_hmac_sha256(sp, 32, "Client Key", 10, e->ck) < 0 ||
                sc_hmac_sha256(sp, 32, "Server Key", 10, e->svk) < 0)
                return NULL;
            sc_zero(sp, sizeof sp);
            sc_sha256(e->ck, 32, e->stk);
            memcpy(e->salt, salt, sl);
            e->saltlen = sl;
            e->iter = iter;
            e->used = 1;
            return e;
        }
    }
    /* full table (or an odd salt): derive without keeping */
    uint8_t sp[32];
    if (sl > sizeof scratch.salt || sc_pbkdf2_sha256(O.pw, O.pwl, salt, sl, iter, sp, sizeof sp) < 0 ||
        sc_hmac_sha256(sp, 32, "Client Key", 10, scratch.ck) < 0 ||
        sc_hmac_sha256(sp, 32, "Server Key", 10, scratch.svk) < 0)
        return NULL;
    sc_zero(sp, sizeof sp);
    sc_sha256(scratch.ck, 32, scratch.stk);
    return &scratch;
}

struct scram_st {
    char cfb[600];                  /* client-first-message-bare */
    char nonce[64];
    uint8_t ssig[32];               /* the ServerSignature we expect */
};

static int scram_first(struct scram_st *s, const char *user, char *out, size_t cap)
{
    uint8_t r[24];
    size_t nl = sizeof s->nonce, o = 0;
    char name[400];
    if (sc_random(r, sizeof r) < 0 || sc_b64_encode(r, sizeof r, s->nonce, &nl) < 0) return -1;
    /* saslname: ',' and '=' escaped (RFC 5802 5.1) */
    for (const char *p = user; *p && o + 4 < sizeof name; p++) {
        if (*p == ',') { memcpy(name + o, "=2C", 3); o += 3; }
        else if (*p == '=') { memcpy(name + o, "=3D", 3); o += 3; }
        else name[o++] = *p;
    }
    name[o] = 0;
    snprintf(s->cfb, sizeof s->cfb, "n=%s,r=%s", name, s->nonce);
    int n = snprintf(out, cap, "n,,%s", s->cfb);
    return n > 0 && (size_t)n < cap ? n : -1;
}

static int scram_final(struct scram_st *s, const char *sf, size_t sfl, char *out, size_t cap)
{
    char sfirst[1024], *r = NULL, *salt = NULL, *it = NULL, *save = NULL;
    uint8_t sbytes[128], csig[32], proof[32];
    size_t sbl = sizeof sbytes, pl;
    char am[2200], cfwp[400], pb64[64];
    if (sfl >= sizeof sfirst) return -1;
    memcpy(sfirst, sf, sfl);
    sfirst[sfl] = 0;
    char tmp[1024];
    memcpy(tmp, sfirst, sfl + 1);
    for (char *f = strtok_r(tmp, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        if (!strncmp(f, "r=", 2)) r = f + 2;
        else if (!strncmp(f, "s=", 2)) salt = f + 2;
        else if (!strncmp(f, "i=", 2)) it = f + 2;
    }
    if (!r || !salt || !it || strncmp(r, s->nonce, strlen(s->nonce)) != 0) return -1;
    unsigned long iter = strtoul(it, NULL, 10);
    if (iter < SCRAM_ITER_MIN || iter > SCRAM_ITER_MAX) return -1;
    if (sc_b64_decode(salt, strlen(salt), sbytes, &sbl) < 0) return -1;
    const struct keyent *k = scram_keys(sbytes, sbl, iter);
    if (!k) return -1;
    snprintf(cfwp, sizeof cfwp, "c=biws,r=%s", r);
    int al = snprintf(am, sizeof am, "%s,%s,%s", s->cfb, sfirst, cfwp);
    if (al < 0 || (size_t)al >= sizeof am) return -1;
    if (sc_hmac_sha256(k->stk, 32, am, (size_t)al, csig) < 0 ||
        sc_hmac_sha256(k->svk, 32, am, (size_t)al, s->ssig) < 0)
        return -1;
    for (int i = 0; i < 32; i++) proof[i] = k->ck[i] ^ csig[i];
    pl = sizeof pb64;
    if (sc_b64_encode(proof, sizeof proof, pb64, &pl) < 0) return -1;
    int n = snprintf(out, cap, "%s,p=%s", cfwp, pb64);
    return n > 0 && (size_t)n < cap ? n : -1;
}

static int scram_check(struct scram_st *s, const char *v, size_t vl)
{
    char want[64];
    size_t wl = sizeof want - 2;
    memcpy(want, "v=", 2);
    if (sc_b64_encode(s->ssig, 32, want + 2, &wl) < 0) return -1;
    return vl == wl + 2 && memcmp(v, want, vl) == 0 ? 0 : -1;
}

/* ---- connections --------------------------------------------------------------- */

struct conn {
    int fd, slot, acct, state, wr;
    tls_conn *tls;                  /* -T: the stream's TLS, once started */
    struct scan sc, in;             /* the stream; the stanzas inside SIMPP frames */
    sbuf out;
    char sid[128];
    struct scram_st *scram;
    scram_client *lscram;
    struct simpp_login lg;
    struct simpp_chan ch;
    int chan;
    int partner;
    uint64_t rx, tx;
    int64_t t0;                     /* when this login began */
    char jid[256];
    char pre[320];                  /* "<message type='chat' to='PARTNER'><body>" */
    size_t prel;
};

static void fail_conn(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* -R: in flood and rate the odd clients are the partner domain's */
static int on_partner(const struct conn *c)
{
    return O.domain2 && (O.mode == M_FLOOD || O.mode == M_RATE) && (c->slot & 1);
}

static const char *conn_domain(const struct conn *c)
{
    return on_partner(c) ? O.domain2 : O.domain;
}

static void account_name(int acct, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%d", O.prefix, acct);
}

static void account_jid(int acct, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%d@%s", O.prefix, acct, O.domain);
}

static void watch(struct conn *c, int write)
{
    struct epoll_event ev = { .events = EPOLLIN | (write ? EPOLLOUT : 0u), .data.ptr = c };
    if (c->wr == write) return;
    c->wr = write;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush(struct conn *c)
{
    /* during a TLS handshake the handshake says what to wait for */
    if (c->fd < 0 || c->state == ST_HANDSHAKE) return;
    while (c->out.n) {
        ssize_t w;
        if (c->tls) {
            w = tls_write(c->tls, c->out.p, c->out.n);
            if (w == TLS_WANT_WRITE) break;
            if (w == TLS_WANT_READ) {       /* the next read event flushes again */
                watch(c, 0);
                return;
            }
            if (w < 0) {
                fail_conn(c, "TLS write: %s", tls_error(c->tls));
                return;
            }
        } else {
            w = write(c->fd, c->out.p, c->out.n);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (w <= 0) {
                fail_conn(c, "write: %s", w < 0 ? strerror(errno) : "closed");
                return;
            }
        }
        sb_consume(&c->out, (size_t)w);
    }
    if (c->fd >= 0) watch(c, c->out.n > 0);
}

/* a stanza out: in clear, or sealed in a SIMPP frame */
static void put_stanza(struct conn *c, const char *xml, size_t len)
{
    if (!c->chan) {
        sb_put(&c->out, xml, len);
        return;
    }
    uint8_t ct[4096 + SC_MAX_OVERHEAD];
    char b64[4 * (sizeof ct / 3 + 1) + 1], head[64];
    size_t cl = sizeof ct, bl = sizeof b64;
    uint64_t seq;
    if (len > 4096 || simpp_chan_seal(&c->ch, xml, len, ct, &cl, &seq) != SIMPP_OK ||
        sc_b64_encode(ct, cl, b64, &bl) < 0) {
        fail_conn(c, "unable to seal a frame");
        return;
    }
    int hl = snprintf(head, sizeof head, "<c xmlns='" SIMPP_NS "' n='%" PRIu64 "'>", seq);
    sb_put(&c->out, head, (size_t)hl);
    sb_put(&c->out, b64, bl);
    sb_put(&c->out, "</c>", 4);
}

static void put_stanza_str(struct conn *c, const char *xml)
{
    put_stanza(c, xml, strlen(xml));
}

static void send_header(struct conn *c)
{
    char h[400];
    int n = snprintf(h, sizeof h,
                     "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                     "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>", conn_domain(c));
    sb_put(&c->out, h, (size_t)n);
}

/* the socket and its TLS; close_notify first when the stream ends well */
static void drop_fd(struct conn *c, int notify)
{
    if (c->tls) {
        if (notify) tls_close(c->tls);
        tls_free(c->tls);
        c->tls = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);               /* leaves the epoll set with it */
        c->fd = -1;
    }
}

static void conn_close(struct conn *c)
{
    drop_fd(c, 1);
    scan_reset(&c->sc, 0);
    scan_reset(&c->in, 1);
    sb_reset(&c->out);
    free(c->scram);
    c->scram = NULL;
    scram_client_free(c->lscram);
    c->lscram = NULL;
    simpp_login_wipe(&c->lg);
    simpp_chan_wipe(&c->ch);
    c->chan = 0;
    c->wr = 0;
}

static void fail_conn(struct conn *c, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->state == ST_DEAD) return;
    if (c->state != ST_READY || g_dead < 5) {
        char jid[300];
        account_jid(c->acct, jid, sizeof jid);
        warnx("%s (state %d): %s", jid, c->state, msg);
    }
    if (c->state < ST_READY) g_login_fail++;
    else if (c->state == ST_READY) g_dead++;
    c->state = ST_DEAD;
    /* closed at once: a level-triggered loop would otherwise keep
     * reporting its end of file */
    drop_fd(c, 0);
}

static int conn_start(struct conn *c, int acct)
{
    int one = 1;
    c->acct = acct;
    c->rx = c->tx = 0;
    c->t0 = now_ns();
    c->jid[0] = 0;
    c->sid[0] = 0;
    scan_reset(&c->sc, 0);
    scan_reset(&c->in, 1);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        c->state = ST_DEAD;
        warnx("socket: %s", strerror(errno));
        g_login_fail++;
        return -1;
    }
    /* stanzas are whole writes: send each at once (latency mode counts on it) */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = ST_CONNECT;
    c->wr = 1;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        fail_conn(c, "epoll: %s", strerror(errno));
        return -1;
    }
    if (connect(c->fd, (struct sockaddr *)(on_partner(c) ? &O.sa2 : &O.sa), sizeof O.sa) < 0 && errno != EINPROGRESS) {
        fail_conn(c, "connect: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- the protocol, one element at a time ---------------------------------------- */

static void start_auth(struct conn *c, const char *feat, size_t fl)
{
    char name[300], jid[300], buf[1200], b64[1700];
    size_t bl = sizeof b64;
    account_name(c->acct, name, sizeof name);
    if (O.simpp) {
        struct simpp_ctx ctx = { c->sid, g_suites, g_nsuites };
        uint8_t m[SIMPP_MSG_MAX];
        size_t ml = sizeof m;
        account_jid(c->acct, jid, sizeof jid);
        memset(&c->lg, 0, sizeof c->lg);
        if (!find(feat, fl, "<mechanism>SIMPP</mechanism>")) { fail_conn(c, "no SIMPP mechanism offered"); return; }
        if (simpp_s1_make(&c->lg, &ctx, jid, g_ka[c->acct], g_suite, SIMPP_MODE_KEYFILE, m, &ml) != SIMPP_OK ||
            sc_b64_encode(m, ml, b64, &bl) < 0) {
            fail_conn(c, "S1 failed");
            return;
        }
        sb_puts(&c->out, "<auth xmlns='" NS_SASL "' mechanism='SIMPP'>");
    } else if (O.plain) {
        size_t nl = strlen(name);
        if (!find(feat, fl, "<mechanism>PLAIN</mechanism>")) { fail_conn(c, "no PLAIN offered"); return; }
        buf[0] = 0;
        memcpy(buf + 1, name, nl);
        buf[1 + nl] = 0;
        memcpy(buf + 2 + nl, O.pw, O.pwl);
        if (sc_b64_encode(buf, 2 + nl + O.pwl, b64, &bl) < 0) { fail_conn(c, "PLAIN encoding"); return; }
        sc_zero(buf, sizeof buf);
        sb_puts(&c->out, "<auth xmlns='" NS_SASL "' mechanism='PLAIN'>");
    } else {
        size_t ml = sizeof buf;
        int n;
        if (!find(feat, fl, "<mechanism>SCRAM-SHA-256</mechanism>")) { fail_conn(c, "no SCRAM-SHA-256 offered"); return; }
        if (O.libscram) {
            if (!(c->lscram = scram_client_new(name, O.pw, O.pwl)) ||
                scram_client_first(c->lscram, buf, &ml) != SASL_OK) {
                fail_conn(c, "scram_client_first failed");
                return;
            }
            n = (int)ml;
        } else {
            if (!(c->scram = calloc(1, sizeof *c->scram)) || (n = scram_first(c->scram, name, buf, sizeof buf)) < 0) {
                fail_conn(c, "SCRAM client-first failed");
                return;
            }
        }
        if (sc_b64_encode(buf, (size_t)n, b64, &bl) < 0) { fail_conn(c, "SCRAM encoding"); return; }
        sb_puts(&c->out, "<auth xmlns='" NS_SASL "' mechanism='SCRAM-SHA-256'>");
    }
    sb_put(&c->out, b64, bl);
    sb_puts(&c->out, "</auth>");
    c->state = ST_SASL;
}

static void on_challenge(struct conn *c, const char *e, size_t len)
{
    const char *t;
    size_t tl;
    uint8_t in[4096];
    size_t il = sizeof in;
    char out[2048], b64[3000];
    size_t ol = sizeof out, bl = sizeof b64;
    text_of(e, len, &t, &tl);
    if (sc_b64_decode(t, tl, in, &il) < 0) { fail_conn(c, "challenge is not base64"); return; }
    if (O.simpp) {
        if (simpp_s2_answer(&c->lg, in, il, (uint8_t *)out, &ol) != SIMPP_OK) { fail_conn(c, "S2 does not check"); return; }
    } else if (c->lscram) {
        if (scram_client_final(c->lscram, (const char *)in, il, out, &ol) != SASL_OK) { fail_conn(c, "SCRAM final failed"); return; }
    } else {
        int n = c->scram ? scram_final(c->scram, (const char *)in, il, out, sizeof out) : -1;
        if (n < 0) { fail_conn(c, "SCRAM server-first does not parse"); return; }
        ol = (size_t)n;
    }
    if (sc_b64_encode(out, ol, b64, &bl) < 0) { fail_conn(c, "encoding"); return; }
    sb_puts(&c->out, "<response xmlns='" NS_SASL "'>");
    sb_put(&c->out, b64, bl);
    sb_puts(&c->out, "</response>");
}

static void on_success(struct conn *c, const char *e, size_t len)
{
    const char *t;
    size_t tl;
    uint8_t in[512];
    size_t il = sizeof in;
    text_of(e, len, &t, &tl);
    if (tl && (tl != 1 || *t != '=') && sc_b64_decode(t, tl, in, &il) < 0) { fail_conn(c, "success data is not base64"); return; }
    if (!tl || (tl == 1 && *t == '=')) il = 0;
    if (!O.simpp && !O.plain) {
        /* the server must prove it knows ServerKey (RFC 5802 3) */
        int ok = c->lscram ? scram_client_verify(c->lscram, (const char *)in, il) == SASL_OK
                           : c->scram && scram_check(c->scram, (const char *)in, il) == 0;
        if (!ok) { fail_conn(c, "server signature does not check"); return; }
    }
    if (O.simpp) {
        /* the channel starts with the new stream; what the relay sends after
         * its header comes sealed */
        simpp_chan_init(&c->ch, &c->lg, 0);
        simpp_login_wipe(&c->lg);
        scan_reset(&c->in, 1);
    }
    /* RFC 6120 6.4.6: restart the stream */
    send_header(c);
    c->chan = O.simpp;
    c->state = ST_FEAT2;
}

static void build_pre(struct conn *c)
{
    struct conn *p = &conns[c->partner];
    int n = snprintf(c->pre, sizeof c->pre, "<message type='chat' to='%s'><body>", p->jid);
    c->prel = n > 0 && (size_t)n < sizeof c->pre ? (size_t)n : 0;
}

/* TLS over the connected socket: after <proceed/>, or at once with -T direct */
static void tls_start(struct conn *c)
{
    if (!(c->tls = tls_connect(g_tls, c->fd, c->fd, conn_domain(c)))) {
        fail_conn(c, "TLS: out of memory");
        return;
    }
    c->state = ST_HANDSHAKE;
}

/* the handshake, as far as the socket allows; once done, a new stream */
static void tls_step(struct conn *c)
{
    int rc = tls_handshake(c->tls);
    if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
        watch(c, rc == TLS_WANT_WRITE);
        return;
    }
    if (rc != TLS_OK) {
        fail_conn(c, "TLS handshake: %s", tls_error(c->tls));
        return;
    }
    if (!g_tlsinfo[0])
        snprintf(g_tlsinfo, sizeof g_tlsinfo, "%s %s", tls_version(c->tls), tls_cipher(c->tls));
    scan_reset(&c->sc, 0);
    send_header(c);
    c->state = ST_FEAT1;
}

/* one message to the partner; the body carries a send time for rate mode */
static void send_msg(struct conn *c, int64_t stamp)
{
    char body[96];
    int bl = snprintf(body, sizeof body, "t=%" PRId64 " " BODY_PAD, stamp);
    if (!c->prel) build_pre(c);
    if (!c->chan) {
        sb_put(&c->out, c->pre, c->prel);
        sb_put(&c->out, body, (size_t)bl);
        sb_put(&c->out, "</body></message>", 17);
    } else {
        char m[512];
        int ml = snprintf(m, sizeof m, "%s%s</body></message>", c->pre, body);
        put_stanza(c, m, (size_t)ml);
    }
    c->tx++;
}

static void on_message(struct conn *c, const char *e, size_t len)
{
    char type[32];
    if (attr_of(e, len, "type", type, sizeof type) == 0 && strcmp(type, "error") == 0) {
        g_err++;
        return;
    }
    c->rx++;
    int64_t now = 0;
    if (g_win0 && (now = now_ns()) >= g_win0 && now < g_win1) g_rx++;
    if (O.mode == M_RATE) {
        const char *t;
        size_t tl;
        if (child_text(e, len, "body", &t, &tl) == 0 && tl > 2 && t[0] == 't' && t[1] == '=') {
            int64_t sent = strtoll(t + 2, NULL, 10);
            if (!now) now = now_ns();
            if (g_win0 && sent >= g_win0 && sent < g_win1 && nlat < caplat) lat[nlat++] = now - sent;
        }
    } else if (O.mode == M_FLOOD && g_sending && O.oneway) {
        struct conn *p = &conns[c->partner];   /* one way: its sender keeps the window */
        if (p->state == ST_READY) {
            send_msg(p, 0);
            flush(p);
        }
    } else if (O.mode == M_FLOOD && g_sending)
        send_msg(c, 0);             /* keep the window full */
}

static void on_element(struct conn *c, const char *e, size_t len)
{
    if (name_is(e, len, "stream:error")) {
        const char *p = e + start_tag_len(e, len);
        char cond[80] = "";
        if (p < e + len && *p == '<') {
            size_t i = 1;
            while (p + i < e + len && p[i] != ' ' && p[i] != '/' && p[i] != '>' && i < sizeof cond) i++;
            snprintf(cond, sizeof cond, "%.*s", (int)(i - 1), p + 1);
        }
        fail_conn(c, "stream error: %s", cond);
        return;
    }
    switch (c->state) {
    case ST_FEAT1:
        if (!name_is(e, len, "stream:features")) break;
        if (O.tls == TLS_STARTTLS && !c->tls) {
            if (!find(e, len, "<starttls")) { fail_conn(c, "no STARTTLS offered"); return; }
            sb_puts(&c->out, "<starttls xmlns='" NS_TLS "'/>");
            c->state = ST_STARTTLS;
        } else
            start_auth(c, e, len);
        break;
    case ST_STARTTLS:
        if (name_is(e, len, "proceed")) tls_start(c);
        else fail_conn(c, "STARTTLS refused");
        break;
    case ST_SASL:
        if (name_is(e, len, "challenge")) on_challenge(c, e, len);
        else if (name_is(e, len, "success")) on_success(c, e, len);
        else if (name_is(e, len, "failure")) {
            const char *p = e + start_tag_len(e, len);
            fail_conn(c, "authentication failed: %.40s", p);
        }
        break;
    case ST_FEAT2:
        if (name_is(e, len, "stream:features")) {
            char iq[200];
            if (!find(e, len, "<bind")) { fail_conn(c, "no resource binding offered"); return; }
            /* a resource of our own per login: never a conflict with a
             * session of the same account still closing */
            snprintf(iq, sizeof iq, "<iq type='set' id='b1'><bind xmlns='" NS_BIND "'><resource>%c%d-%" PRIu64
                     "</resource></bind></iq>", g_res, c->slot, g_logins + g_login_fail);
            put_stanza_str(c, iq);
            c->state = ST_BIND;
        }
        break;
    case ST_BIND:
        if (name_is(e, len, "iq")) {
            const char *t;
            size_t tl;
            char type[16];
            if (attr_of(e, len, "type", type, sizeof type) < 0 || strcmp(type, "result") != 0 ||
                child_text(e, len, "jid", &t, &tl) < 0 || tl == 0 || tl >= sizeof c->jid) {
                fail_conn(c, "resource binding refused");
                return;
            }
            memcpy(c->jid, t, tl);
            c->jid[tl] = 0;
            if (O.mode == M_LOGIN) {
                g_logins++;
                if (nlat < caplat) lat[nlat++] = now_ns() - c->t0;
                /* the close is never sealed: it ends the outer stream */
                sb_puts(&c->out, XS_STREAM_CLOSE);
                c->state = ST_DONE;
                return;
            }
            /* available, then a ping: its answer says the server has
             * handled everything before it */
            put_stanza_str(c, "<presence/>");
            put_stanza_str(c, "<iq type='get' id='p1'><ping xmlns='" NS_PING "'/></iq>");
            c->state = ST_PING;
        }
        break;
    case ST_PING:
        if (name_is(e, len, "iq")) {
            char id[16];
            if (attr_of(e, len, "id", id, sizeof id) == 0 && strcmp(id, "p1") == 0) {
                c->state = ST_READY;
                g_ready++;
            }
        } else if (name_is(e, len, "message"))
            on_message(c, e, len);
        break;
    case ST_READY:
        if (name_is(e, len, "message")) on_message(c, e, len);
        break;
    default:
        break;
    }
}

/* a SIMPP frame: open it, then the stanzas inside */
static void on_frame(struct conn *c, const char *e, size_t len)
{
    char ns[32];
    const char *t;
    size_t tl, cl, pl;
    uint8_t ct[8192], pt[8192];
    if (attr_of(e, len, "n", ns, sizeof ns) < 0) { fail_conn(c, "frame without n"); return; }
    text_of(e, len, &t, &tl);
    cl = sizeof ct;
    if (tl / 4 * 3 > sizeof ct || sc_b64_decode(t, tl, ct, &cl) < 0) { fail_conn(c, "frame is not base64"); return; }
    pl = sizeof pt;
    if (simpp_chan_open(&c->ch, strtoull(ns, NULL, 10), ct, cl, pt, &pl) != SIMPP_OK) {
        fail_conn(c, "frame does not open");
        return;
    }
    if (scan_feed(&c->in, (const char *)pt, pl) < 0) { fail_conn(c, "inner stream too big"); return; }
    const char *ie;
    size_t iel;
    int k;
    while (c->state != ST_DEAD && c->state != ST_DONE && (k = scan_next(&c->in, &ie, &iel)) != SC_MORE)
        if (k == SC_ELEM) on_element(c, ie, iel);
}

/* what the server sent: the count, 0 when nothing more is there now, -1
 * when the connection failed (then closed) */
static ssize_t conn_read(struct conn *c, char *buf, size_t cap)
{
    ssize_t n;
    if (c->tls) {
        n = tls_read(c->tls, buf, cap);
        if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) return 0;
        if (n == TLS_CLOSED) fail_conn(c, "the server closed the connection");
        else if (n < 0) fail_conn(c, "TLS read: %s", tls_error(c->tls));
        return n > 0 ? n : -1;
    }
    n = read(c->fd, buf, cap);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) fail_conn(c, "%s", n < 0 ? strerror(errno) : "the server closed the connection");
    return n > 0 ? n : -1;
}

static int conn_busy(const struct conn *c)
{
    return c->state != ST_DEAD && c->state != ST_DONE && c->state != ST_HANDSHAKE;
}

static void on_readable(struct conn *c)
{
    static char buf[READ_MAX];
    /* one read a wake-up in clear (the loop is level-triggered); under TLS
     * until the socket is dry, since libssl may hold bytes epoll cannot see */
    do {
        ssize_t n = conn_read(c, buf, sizeof buf);
        if (n <= 0) return;
        if (scan_feed(&c->sc, buf, (size_t)n) < 0) { fail_conn(c, "element too big"); return; }
        const char *e;
        size_t el;
        int k;
        while (conn_busy(c) && (k = scan_next(&c->sc, &e, &el)) != SC_MORE) {
            if (k == SC_HEADER) {
                if (attr_of(e, el, "id", c->sid, sizeof c->sid) < 0) c->sid[0] = 0;
            } else if (k == SC_CLOSE) {
                fail_conn(c, "the server closed the stream");
            } else if (k == SC_ELEM) {
                if (c->chan && name_is(e, el, "c")) on_frame(c, e, el);
                else on_element(c, e, el);
            }
        }
    } while (c->tls && conn_busy(c));
}

static void on_event(struct conn *c, uint32_t ev)
{
    if (c->state == ST_CONNECT) {
        int err = 0;
        socklen_t el = sizeof err;
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) { fail_conn(c, "connect: %s", strerror(err)); return; }
        if (O.tls == TLS_DIRECT) {
            tls_start(c);
        } else {
            send_header(c);
            c->state = ST_FEAT1;
        }
    }
    /* <proceed/> arrives in clear: the handshake starts after it */
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR) && c->state != ST_HANDSHAKE) on_readable(c);
    if (c->state == ST_HANDSHAKE) {
        tls_step(c);
        /* done: read on, what the server sent next may wait inside libssl */
        if (c->state == ST_FEAT1) on_readable(c);
    }
    if (c->state != ST_DEAD) flush(c);
}

/* ---- the loop -------------------------------------------------------------------- */

static void (*g_after)(struct conn *c);  /* login mode: a slot whose login ended */
static int g_tfd = -1;                    /* rate mode: the send clock */
static void on_tick(void);
static int64_t g_login_end;               /* login mode: no login starts after this */
static int g_stopfd = -1;                 /* -L process: readable (EOF) when told to stop */
static char g_stop_tag;

/* the measurement is over: logins under way are dropped, not waited for
 * (hundreds of PLAIN logins queued at a server would take many seconds) */
static void on_stop(void)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, g_stopfd, NULL);
    g_login_end = 0;
    for (int i = 0; i < nconns; i++)
        if (conns[i].state != ST_FREE) {
            conn_close(&conns[i]);
            conns[i].state = ST_FREE;
        }
}

static void run_for(double secs)
{
    int64_t end = now_ns() + (int64_t)(secs * 1e9);
    struct epoll_event evs[512];
    for (;;) {
        int64_t left = end - now_ns();
        if (left <= 0) return;
        int ms = (int)(left / 1000000) + 1;
        int n = epoll_wait(ep, evs, 512, ms > 50 ? 50 : ms);
        if (n < 0 && errno != EINTR) die_sys(EX_OSERR, "epoll_wait");
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) { on_tick(); continue; }
            if (evs[i].data.ptr == &g_stop_tag) { on_stop(); continue; }
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            on_event(c, evs[i].events);
        }
        /* slots are reused only after the whole batch, so an event still
         * queued for a closed socket never reaches its successor */
        if (g_after)
            for (int i = 0; i < nconns; i++)
                if (conns[i].state == ST_DONE || conns[i].state == ST_DEAD) g_after(&conns[i]);
    }
}

/* run until cond() holds or secs pass; 0 if it held */
static int run_until(int (*cond)(void), double secs)
{
    int64_t end = now_ns() + (int64_t)(secs * 1e9);
    while (!cond()) {
        if (now_ns() >= end) return -1;
        run_for(0.01);
    }
    return 0;
}

static long g_target;
static int all_ready(void)
{
    return (long)(g_ready + g_dead + g_login_fail) >= g_target;
}

static void open_conns(int from, int to, int acct0)
{
    /* at most O.conc logins under way at once, like clients arriving */
    int next = from;
    g_target = to;
    while (next < to || !all_ready()) {
        long busy = next - (long)(g_ready + g_dead + g_login_fail);
        while (next < to && busy < O.conc) {
            struct conn *c = &conns[next];
            c->slot = next;
            c->partner = -1;
            conn_start(c, acct0 + next);
            next++;
            busy++;
        }
        run_for(0.005);
        if (secs_since(t_start) > 300) die(EX_SOFTWARE, "logins are not completing");
    }
    if (g_login_fail) die(EX_PROTOCOL, "%" PRIu64 " of %d logins failed", g_login_fail, to - from);
}

/* ---- the modes --------------------------------------------------------------------- */

static void out_kv(const char *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_kv(const char *k, const char *fmt, ...)
{
    va_list ap;
    printf("%s%s ", g_kprefix, k);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void setup_pairs(int nclients)
{
    for (int i = 0; i < nclients; i++) {
        conns[i].partner = i ^ 1;
        conns[i].prel = 0;
    }
}

static void mode_flood(void)
{
    int nc = 2 * O.pairs;
    open_conns(0, nc, 1);
    setup_pairs(nc);
    double cpu0 = -1, cpu1 = -1;
    g_sending = 1;
    for (int i = 0; i < nc; i += O.oneway ? 2 : 1) {
        for (int w = 0; w < O.window; w++) send_msg(&conns[i], 0);
        flush(&conns[i]);
    }
    run_for(O.warm);
    uint64_t err0 = g_err;
    if (O.server) cpu0 = proc_cpu_s(O.server);
    g_win0 = now_ns();
    g_win1 = g_win0 + (int64_t)(O.secs * 1e9);
    run_for(O.secs);
    double el = (double)(now_ns() - g_win0) / 1e9;
    if (O.server) cpu1 = proc_cpu_s(O.server);
    g_sending = 0;
    out_kv("clients", "%d", nc);
    out_kv("window", "%d", O.window);
    out_kv("seconds", "%.2f", el);
    out_kv("routed", "%" PRIu64, g_rx);
    out_kv("msgs_per_s", "%.0f", (double)g_rx / el);
    out_kv("errors", "%" PRIu64, g_err - err0);
    out_kv("dead", "%" PRIu64, g_dead);
    if (cpu0 >= 0 && cpu1 >= 0) {
        out_kv("server_cpu_pct", "%.1f", 100 * (cpu1 - cpu0) / el);
        if (cpu1 > cpu0) out_kv("msgs_per_cpu_s", "%.0f", (double)g_rx / (cpu1 - cpu0));
    }
    if (!g_rx) die(EX_PROTOCOL, "no message was routed");
}

static void on_tick(void)
{
    uint64_t k;
    static int rr;
    int nc = 2 * O.pairs;
    if (read(g_tfd, &k, sizeof k) != sizeof k) return;
    for (uint64_t i = 0; i < k && g_sending; i++) {
        struct conn *c = &conns[rr];
        rr = (rr + (O.oneway ? 2 : 1)) % nc;
        if (c->state != ST_READY) continue;
        int64_t t = now_ns();
        if (t >= g_win0 && t < g_win1) g_sent_win++;
        send_msg(c, t);
        flush(c);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(double p)
{
    if (!nlat) return -1;
    size_t i = (size_t)(p * (double)(nlat - 1) + 0.5);
    return (double)lat[i] / 1e6;
}

/* ---- -L: logins meanwhile, in a process of their own ----------------------------- */

static int g_gofd = -1;             /* the parent's end of the pipe to the -L process */
static pid_t g_bgpid;

/* Fork the -L process before anything is connected.  It waits for a byte
 * on the pipe (the rate clients are ready), then logs in over and over in
 * login mode with its own epoll loop, until the pipe ends. */
static void bg_fork(void)
{
    int go[2];
    char b;
    if (pipe2(go, O_CLOEXEC) < 0) die_sys(EX_OSERR, "pipe");
    fflush(stdout);
    if ((g_bgpid = fork()) < 0) die_sys(EX_OSERR, "fork");
    if (g_bgpid > 0) {
        close(go[0]);
        g_gofd = go[1];
        return;
    }
    close(go[1]);
    if (read(go[0], &b, 1) != 1) _exit(0);     /* the parent gave up */
    O.mode = M_LOGIN;
    O.conc = O.bg;
    O.acct0 = 2 * O.pairs;
    O.logins = 1000000;
    O.secs = 3600;
    O.server = 0;                   /* the server's CPU time is the parent's figure */
    g_stopfd = go[0];
    snprintf(g_kprefix, sizeof g_kprefix, "bg_");
    g_res = 'l';                    /* never a resource the rate clients hold */
}

static void bg_go(void)
{
    if (g_gofd >= 0 && write(g_gofd, "g", 1) != 1) die_sys(EX_OSERR, "unable to start the -L logins");
}

/* stop the -L logins and wait for their figures */
static void bg_stop(void)
{
    int st;
    if (g_gofd < 0) return;
    close(g_gofd);
    g_gofd = -1;
    if (waitpid(g_bgpid, &st, 0) == g_bgpid && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        warnx("the -L logins failed (status %d)", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static int rate_drained(void)
{
    return nlat >= g_sent_win;
}

static void mode_rate(void)
{
    int nc = 2 * O.pairs;
    open_conns(0, nc, 1);
    setup_pairs(nc);
    bg_go();
    caplat = (size_t)(O.rate * O.secs * 1.2) + 1024;
    if (!(lat = malloc(caplat * sizeof *lat))) die(EX_OSERR, "out of memory");
    /* an open-loop sender: a periodic timer, not a reply, paces the sends */
    if ((g_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) die_sys(EX_OSERR, "timerfd");
    long period = (long)(1e9 / O.rate);
    struct itimerspec its = { { period / 1000000000, period % 1000000000 }, { period / 1000000000, period % 1000000000 } };
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, g_tfd, &ev) < 0) die_sys(EX_OSERR, "epoll");
    g_sending = 1;
    g_win0 = now_ns() + (int64_t)(O.warm * 1e9);
    g_win1 = g_win0 + (int64_t)(O.secs * 1e9);
    if (timerfd_settime(g_tfd, 0, &its, NULL) < 0) die_sys(EX_OSERR, "timerfd_settime");
    run_for(O.warm + O.secs);
    g_sending = 0;
    /* the last messages arrive: a late one counts, with its lateness (5 s at most) */
    run_until(rate_drained, 5);
    bg_stop();
    qsort(lat, nlat, sizeof *lat, cmp_i64);
    out_kv("clients", "%d", nc);
    out_kv("rate", "%.0f", O.rate);
    out_kv("sent", "%" PRIu64, g_sent_win);
    out_kv("received", "%zu", nlat);
    out_kv("lost", "%" PRIu64, g_sent_win > nlat ? g_sent_win - nlat : 0);
    out_kv("achieved_per_s", "%.0f", (double)nlat / O.secs);
    out_kv("lat_p50_ms", "%.3f", pct_ms(0.50));
    out_kv("lat_p90_ms", "%.3f", pct_ms(0.90));
    out_kv("lat_p99_ms", "%.3f", pct_ms(0.99));
    out_kv("lat_max_ms", "%.3f", nlat ? (double)lat[nlat - 1] / 1e6 : -1);
    out_kv("errors", "%" PRIu64, g_err);
    out_kv("dead", "%" PRIu64, g_dead);
    if (!nlat) die(EX_PROTOCOL, "no message arrived");
}

static void mode_idle(void)
{
    long rss0 = O.server ? proc_rss_kb(O.server) : -1;
    int from = 0;
    out_kv("rss0_kb", "%ld", rss0);
    for (int k = 0; k < O.nck; k++) {
        int64_t t0 = now_ns();
        open_conns(from, (int)O.n[k], 1);
        double el = secs_since(t0);
        from = (int)O.n[k];
        /* let the server finish whatever the logins left (presence, logs) */
        run_for(1.0);
        long rss = O.server ? proc_rss_kb(O.server) : -1;
        printf("idle %ld rss_kb %ld per_session_kb %.2f login_s %.2f\n", O.n[k], rss,
               rss0 >= 0 && rss >= 0 ? (double)(rss - rss0) / (double)O.n[k] : -1.0, el);
        fflush(stdout);
        if (g_dead) die(EX_PROTOCOL, "%" PRIu64 " idle sessions were closed", g_dead);
    }
    /* -t: keep the sessions a while longer, to look at the server */
    if (O.secs_given) run_for(O.secs);
}

static long g_started;
/* the account of the next login: cycling over acct0+1 .. n */
static int next_acct(void)
{
    return O.acct0 + 1 + (int)(g_started++ % (O.n[0] - O.acct0));
}

static void login_after(struct conn *c)
{
    conn_close(c);
    c->state = ST_FREE;
    if (g_started >= O.logins || now_ns() >= g_login_end) return;
    conn_start(c, next_acct());
}

static int logins_done(void)
{
    for (int i = 0; i < nconns; i++)
        if (conns[i].state != ST_FREE) return 0;
    return 1;
}

static void mode_login(void)
{
    double cpu0 = O.server ? proc_cpu_s(O.server) : -1;
    caplat = (size_t)O.logins;
    if (!(lat = malloc(caplat * sizeof *lat))) die(EX_OSERR, "out of memory");
    int64_t t0 = now_ns();
    g_login_end = t0 + (int64_t)(O.secs * 1e9);
    g_after = login_after;
    for (int i = 0; i < nconns; i++) {
        conns[i].slot = i;
        conns[i].state = ST_FREE;
        if (g_started < O.logins) conn_start(&conns[i], next_acct());
    }
    if (g_stopfd >= 0) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &g_stop_tag };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, g_stopfd, &ev) < 0) die_sys(EX_OSERR, "epoll");
    }
    run_until(logins_done, O.secs + 30);
    double el = secs_since(t0);
    run_for(0.3);                   /* the server handles the last closes */
    double cpu1 = O.server ? proc_cpu_s(O.server) : -1;
    out_kv("logins", "%" PRIu64, g_logins);
    out_kv("failed", "%" PRIu64, g_login_fail);
    out_kv("seconds", "%.2f", el);
    out_kv("logins_per_s", "%.0f", (double)g_logins / el);
    /* connect to bound, each login on its own */
    qsort(lat, nlat, sizeof *lat, cmp_i64);
    out_kv("login_p50_ms", "%.3f", pct_ms(0.50));
    out_kv("login_p99_ms", "%.3f", pct_ms(0.99));
    if (cpu0 >= 0 && cpu1 >= 0 && g_logins)
        out_kv("server_cpu_ms_per_login", "%.4f", 1000 * (cpu1 - cpu0) / (double)g_logins);
    if (!g_logins) die(EX_PROTOCOL, "no login succeeded");
}

/* ---- SIMPP: keys, registration, blocking logins ----------------------------------- */

/* an account's key, the same on every run: the scalar is a hash of its JID */
static sc_key *user_key(int acct, int curve)
{
    char jid[300];
    uint8_t d[SC_SHA256_LEN];
    sc_sha256_ctx h;
    sc_key *k = NULL;
    account_jid(acct, jid, sizeof jid);
    for (uint8_t ctr = 0; !k && ctr < 8; ctr++) {
        sc_sha256_init(&h);
        sc_sha256_update(&h, "relay-load user key", 19);
        sc_sha256_update(&h, jid, strlen(jid));
        sc_sha256_update(&h, &ctr, 1);
        sc_sha256_final(&h, d);
        k = sc_key_from_scalar(curve, d, sc_curve_bytes(curve) <= sizeof d ? sc_curve_bytes(curve) : sizeof d);
    }
    sc_zero(d, sizeof d);
    if (!k) die(EX_SOFTWARE, "no key for %s", jid);
    return k;
}

static int blocking_open(struct client *cl, int *fd)
{
    if ((*fd = net_connect(O.host, O.port, 10000)) < 0) {
        warnx("connect: %s", net_strerror());
        return -1;
    }
    client_init(cl, *fd, *fd, O.domain);
    /* in clear unless -T says otherwise, as the other SIMPP rows: the relay
     * offers STARTTLS, and lib/client.c would take it by default */
    cl->tls_mode = O.tls == TLS_DIRECT ? CLIENT_TLS_DIRECT : O.tls == TLS_STARTTLS ? CLIENT_TLS_REQUIRE
                                                                                   : CLIENT_TLS_OFF;
    cl->tls_ca = O.cafile;
    if (client_open(cl) < 0) {
        warnx("%s", cl->err);
        client_free(cl);
        close(*fd);
        return -1;
    }
    return 0;
}

/* the relay's key and suites from its stream features, through lib/client.c */
static void simpp_setup(int naccts, int ka)
{
    struct client cl;
    int fd;
    if (blocking_open(&cl, &fd) < 0) die(EX_UNAVAILABLE, "unable to read the relay's features");
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    if (sc_key_public(cl.server_key, pub, &pl) < 0 || !(ku_s = sc_key_from_public(sc_key_curve(cl.server_key), pub, pl)))
        die(EX_SOFTWARE, "the relay's key");
    memcpy(g_suites, cl.suites, cl.nsuites);
    g_nsuites = cl.nsuites;
    g_suite = client_pick_suite(&cl, 0);
    client_close(&cl);
    client_free(&cl);
    close(fd);
    if (!g_suite) die(EX_PROTOCOL, "the relay offers no suite we know");
    if (!ka) return;
    /* K_A for every account, before anything is timed */
    if (!(g_ka = calloc((size_t)naccts + 1, sizeof *g_ka))) die(EX_OSERR, "out of memory");
    for (int a = 1; a <= naccts; a++) {
        char jid[300];
        uint8_t up[SC_MAX_PUB];
        size_t ul = sizeof up;
        sc_key *kr = user_key(a, sc_key_curve(ku_s)), *ku_a;
        account_jid(a, jid, sizeof jid);
        if (sc_key_public(kr, up, &ul) < 0 || !(ku_a = sc_key_from_public(sc_key_curve(kr), up, ul)) ||
            simpp_master_key(kr, ku_s, jid, ku_a, ku_s, g_ka[a]) != SIMPP_OK)
            die(EX_SOFTWARE, "K_A for %s", jid);
        sc_key_free(ku_a);
        sc_key_free(kr);
    }
}

static void mode_register(void)
{
    int64_t t0 = now_ns();
    long ok = 0;
    for (int a = 1; a <= O.n[0]; a++) {
        struct client cl;
        int fd;
        char jid[300];
        account_jid(a, jid, sizeof jid);
        if (blocking_open(&cl, &fd) < 0) die(EX_UNAVAILABLE, "unable to open a stream");
        sc_key *kr = user_key(a, sc_key_curve(cl.server_key));
        int suite = client_pick_suite(&cl, 0);
        if (client_register(&cl, jid, kr, suite, SIMPP_MODE_KEYFILE) < 0)
            die(EX_PROTOCOL, "%s: %s", jid, cl.err);
        ok++;
        sc_key_free(kr);
        client_close(&cl);
        client_free(&cl);
        close(fd);
    }
    double el = secs_since(t0);
    out_kv("registered", "%ld", ok);
    out_kv("seconds", "%.2f", el);
    out_kv("registrations_per_s", "%.1f", (double)ok / el);
}

/* one login after the other through lib/client.c: what a simpp-login costs
 * end to end, the client's ECDH for K_A included */
static void mode_login_blocking(void)
{
    double cpu0 = O.server ? proc_cpu_s(O.server) : -1;
    int64_t t0 = now_ns(), end = t0 + (int64_t)(O.secs * 1e9);
    long ok = 0;
    int curve = 0;
    for (long i = 0; i < O.logins && now_ns() < end; i++) {
        struct client cl;
        int fd, a = 1 + (int)(i % O.n[0]);
        char jid[300], res[32];
        if (blocking_open(&cl, &fd) < 0) die(EX_UNAVAILABLE, "unable to open a stream");
        if (!curve) curve = sc_key_curve(cl.server_key);
        sc_key *kr = user_key(a, curve);
        account_jid(a, jid, sizeof jid);
        snprintf(res, sizeof res, "b%ld", i);
        if (client_login(&cl, jid, kr, client_pick_suite(&cl, 0), SIMPP_MODE_KEYFILE, res) < 0)
            die(EX_PROTOCOL, "%s: %s", jid, cl.err);
        ok++;
        sc_key_free(kr);
        client_close(&cl);
        client_free(&cl);
        close(fd);
    }
    double el = secs_since(t0);
    double cpu1 = O.server ? proc_cpu_s(O.server) : -1;
    out_kv("logins", "%ld", ok);
    out_kv("seconds", "%.2f", el);
    out_kv("logins_per_s", "%.0f", (double)ok / el);
    if (cpu0 >= 0 && cpu1 >= 0 && ok)
        out_kv("server_cpu_ms_per_login", "%.4f", 1000 * (cpu1 - cpu0) / (double)ok);
}

/* ---- helpers for the script -------------------------------------------------------- */

static void mode_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        die_sys(EX_OSERR, "unable to find a free port");
    printf("%u\n", ntohs(sa.sin_port));
    close(fd);
}

static void mode_probe(void)
{
    int64_t end = now_ns() + (int64_t)(O.secs * 1e9);
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&O.sa, sizeof O.sa) == 0) {
            close(fd);
            return;
        }
        if (fd >= 0) close(fd);
        if (now_ns() >= end) die(EX_UNAVAILABLE, "%s:%s does not accept connections", O.host, O.port);
        usleep(50000);
    }
}

/* ---- main -------------------------------------------------------------------------- */

static double num(const char *s, double min, double max, int opt)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < min || v > max) die(EX_USAGE, "-%c %s: expected a number in [%g, %g]", opt, s, min, max);
    return v;
}

int main(int argc, char **argv)
{
    int opt, pwfd = -1;
    const char *addr = NULL, *mode = NULL, *addr2 = NULL;
    util_setprog(argv[0]);
    O.domain = "localhost";
    O.prefix = "user";
    O.window = 16;
    O.conc = 100;
    O.rate = 2000;
    O.secs = 5;
    O.warm = 1;
    O.logins = 5000;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) { fputs(USAGE, stdout); return 0; }
    while ((opt = getopt(argc, argv, "hc:m:n:p:w:r:t:W:k:j:u:D:a:XSBs:P:T:C:L:R:1")) != -1) {
        switch (opt) {
        case 'c': addr = optarg; break;
        case 'm': mode = optarg; break;
        case 'n': {
            char *dup = strdup(optarg), *save = NULL;
            O.nck = 0;
            for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (O.nck >= MAX_CKPT) die(EX_USAGE, "-n: at most %d counts", MAX_CKPT);
                O.n[O.nck] = (long)num(t, 1, MAX_CONNS, 'n');
                if (O.nck && O.n[O.nck] <= O.n[O.nck - 1]) die(EX_USAGE, "-n: counts must grow");
                O.nck++;
            }
            free(dup);
            break;
        }
        case 'p': O.pairs = (int)num(optarg, 1, MAX_CONNS / 2, 'p'); break;
        case 'w': O.window = (int)num(optarg, 1, 10000, 'w'); break;
        case 'r': O.rate = num(optarg, 1, 1e6, 'r'); break;
        case 't': O.secs = num(optarg, 0.1, 3600, 't'); O.secs_given = 1; break;
        case 'W': O.warm = num(optarg, 0, 600, 'W'); break;
        case 'k': O.logins = (long)num(optarg, 1, 1e8, 'k'); break;
        case 'j': O.conc = (int)num(optarg, 1, MAX_CONNS, 'j'); break;
        case 'u': O.prefix = optarg; break;
        case 'D': O.domain = optarg; break;
        case 'a':
            if (!strcmp(optarg, "plain")) O.plain = 1;
            else if (strcmp(optarg, "scram") != 0) die(EX_USAGE, "-a: scram or plain");
            break;
        case 'T':
            if (!strcmp(optarg, "starttls")) O.tls = TLS_STARTTLS;
            else if (!strcmp(optarg, "direct")) O.tls = TLS_DIRECT;
            else die(EX_USAGE, "-T: starttls or direct");
            break;
        case 'C': O.cafile = optarg; break;
        case 'R': addr2 = optarg; break;
        case '1': O.oneway = 1; break;
        case 'L': O.bg = (int)num(optarg, 1, MAX_CONNS, 'L'); break;
        case 'X': O.libscram = 1; break;
        case 'S': O.simpp = 1; break;
        case 'B': O.blocking = 1; break;
        case 's': O.server = (pid_t)num(optarg, 1, 1e9, 's'); break;
        case 'P': pwfd = (int)num(optarg, 0, 1023, 'P'); break;
        default: fputs(USAGE, stderr); return EX_USAGE;
        }
    }
    if (optind != argc || !mode) { fputs(USAGE, stderr); return EX_USAGE; }
    static const char *const modes[] = { "flood", "rate", "idle", "login", "register", "port", "probe" };
    O.mode = -1;
    for (int i = 0; i < (int)(sizeof modes / sizeof modes[0]); i++)
        if (!strcmp(mode, modes[i])) O.mode = i;
    if (O.mode < 0) die(EX_USAGE, "-m %s: unknown mode", mode);
    if (O.mode == M_PORT) { mode_port(); return 0; }
    if (!addr) die(EX_USAGE, "-c host:port is required");
    if (net_parse_hostport(addr, O.host, sizeof O.host, O.port, sizeof O.port, NULL) < 0)
        die(EX_USAGE, "-c %s: expected host:port", addr);
    /* loopback only: this program makes a lot of traffic */
    O.sa.sin_family = AF_INET;
    O.sa.sin_port = htons((uint16_t)num(O.port, 1, 65535, 'c'));
    if (inet_pton(AF_INET, O.host, &O.sa.sin_addr) != 1 || (ntohl(O.sa.sin_addr.s_addr) >> 24) != 127)
        die(EX_USAGE, "-c %s: only IPv4 loopback addresses (127.x.x.x)", O.host);
    if (addr2) {
        char h2[256], p2[16], hp[300];
        const char *slash = strchr(addr2, '/');
        snprintf(hp, sizeof hp, "%.*s", slash ? (int)(slash - addr2) : 0, addr2);
        if (!slash || !slash[1] || net_parse_hostport(hp, h2, sizeof h2, p2, sizeof p2, NULL) < 0)
            die(EX_USAGE, "-R %s: expected host:port/domain", addr2);
        O.domain2 = slash + 1;
        O.sa2.sin_family = AF_INET;
        O.sa2.sin_port = htons((uint16_t)num(p2, 1, 65535, 'R'));
        if (inet_pton(AF_INET, h2, &O.sa2.sin_addr) != 1 || (ntohl(O.sa2.sin_addr.s_addr) >> 24) != 127)
            die(EX_USAGE, "-R %s: only IPv4 loopback addresses (127.x.x.x)", h2);
        if (O.simpp || (O.mode != M_FLOOD && O.mode != M_RATE)) die(EX_USAGE, "-R goes with -m flood or rate, without -S");
    }
    if (O.oneway && !addr2) die(EX_USAGE, "-1 goes with -R");
    if (O.mode == M_PROBE) { mode_probe(); return 0; }
    if (!O.nck) { O.n[0] = O.mode == M_IDLE ? 1000 : 1000; O.nck = 1; }
    if (!O.pairs) O.pairs = (int)(O.n[0] / 2 > 0 ? O.n[0] / 2 : 1);
    if (O.simpp && (O.plain || O.libscram)) die(EX_USAGE, "-S logs in with SIMPP: no -a or -X");
    if (O.blocking && !(O.simpp && O.mode == M_LOGIN)) die(EX_USAGE, "-B goes with -S -m login");
    if (O.tls && (!O.cafile || (O.simpp && !O.blocking && O.mode != M_REGISTER)))
        die(EX_USAGE, "-T needs -C cafile, and goes with -S only for -B or -m register");
    if (O.bg && (O.mode != M_RATE || O.n[0] <= 2L * O.pairs))
        die(EX_USAGE, "-L goes with -m rate, and -n must count more accounts than the 2*pairs rate clients");
    if (!O.simpp) {
        if (pwfd < 0) die(EX_USAGE, "give the accounts' password with -P fd");
        if (read_secret(pwfd, NULL, O.pw, sizeof O.pw, &O.pwl) < 0 || !O.pwl) die_sys(EX_IOERR, "unable to read the password");
    }
    if (O.simpp && O.prefix && !strcmp(O.prefix, "user")) O.prefix = "s";
    signal(SIGPIPE, SIG_IGN);
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto: unable to initialise");

    /* thousands of sockets: as many descriptors as we are allowed */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long need = O.mode == M_IDLE ? O.n[O.nck - 1] : O.mode == M_LOGIN ? O.conc : 2L * O.pairs;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)need + 32 > rl.rlim_cur)
        die(EX_OSERR, "%ld connections need more descriptors than RLIMIT_NOFILE (%llu)", need,
            (unsigned long long)rl.rlim_cur);

    if (O.simpp) simpp_setup((int)(O.mode == M_FLOOD || O.mode == M_RATE ? 2L * O.pairs : O.n[O.nck - 1]),
                             O.mode != M_REGISTER && !O.blocking);
    if (O.mode == M_REGISTER) {
        if (!O.simpp) die(EX_USAGE, "register is SIMPP registration: -S");
        mode_register();
        return 0;
    }
    if (O.blocking) { mode_login_blocking(); return 0; }
    if (O.bg) {
        if ((rlim_t)need + O.bg + 32 > rl.rlim_cur && rl.rlim_cur != RLIM_INFINITY)
            die(EX_OSERR, "-L %d: more descriptors than RLIMIT_NOFILE (%llu)", O.bg, (unsigned long long)rl.rlim_cur);
        bg_fork();                  /* returns in both processes; O.mode tells which */
        if (O.mode == M_LOGIN) need = O.conc;
    }
    if (O.tls) {
        char err[300];
        if (!(g_tls = tls_client_new(O.cafile, 0, err, sizeof err))) die(EX_CONFIG, "TLS: %s", err);
    }

    nconns = (int)need;
    if (!(conns = calloc((size_t)nconns, sizeof *conns))) die(EX_OSERR, "out of memory");
    for (int i = 0; i < nconns; i++) conns[i].fd = -1;
    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) die_sys(EX_OSERR, "epoll_create1");
    t_start = now_ns();
    switch (O.mode) {
    case M_FLOOD: mode_flood(); break;
    case M_RATE: mode_rate(); break;
    case M_IDLE: mode_idle(); break;
    case M_LOGIN: mode_login(); break;
    }
    if (g_tlsinfo[0]) out_kv("tls", "%s", g_tlsinfo);
    /* leave politely: the servers see a closed stream, not a reset */
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (c->fd < 0) continue;
        if (c->state == ST_READY) {
            sb_puts(&c->out, XS_STREAM_CLOSE);
            flush(c);               /* one try: going anyway */
        }
        conn_close(c);
        scan_free(&c->sc);
        scan_free(&c->in);
        sb_free(&c->out);
    }
    free(conns);
    free(lat);
    free(g_ka);
    sc_key_free(ku_s);
    tls_ctx_free(g_tls);
    sc_zero(O.pw, sizeof O.pw);
    return 0;
}
