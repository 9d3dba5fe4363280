/*
 * session-bench - speed of the client-client layer, for bench/session.
 *
 *   session-bench e2e  [-S suite] [-t seconds] [-n runs]
 *   session-bench chat -B bindir -c host:port (-s relay.pub | -X cafile) -a alice.key -b bob.key
 *                      -d dir [-D domain] [-S suite] [-n runs] [-m lines] [-l bytes]
 *                      [-w window] [-T stall-seconds] [-A name] [-P pinfile]
 *
 * e2e: lib/e2e.h in this process, one suite (default chacha20-poly1305),
 * P-256 keys made before anything is timed.  Process CPU time, not wall
 * time, so other load on a shared machine costs precision, not bias:
 *   - the handshake C3 -> C4 -> FIN (A makes C3; B checks it and answers
 *     C4; A checks C4 and seals FIN; B opens FIN and compares h(C3||C4)),
 *     -n runs (default 100; fewer if 3 x -t seconds run out, never fewer
 *     than 20): p50, p99, max;
 *   - frames through one session, seal by A then open by B (the hash
 *     ratchet, AEAD, transcripts), 100-byte and 1 KiB messages, -t seconds
 *     each (default 1, fractions allowed): frames/s and MB/s of message
 *     bytes (10^6 B/s);
 *   - pager mode: seal (ephemeral key, ECDH, ECDSA) and open (ECDH, ECDSA
 *     verify) of a 100-byte message; the safety number.
 *
 * chat: two real simpp-session processes under simpp-login through a
 * running relay (bench/session starts it on loopback), wall time:
 *   - bob waits (simpp-session -j); alice is started -n times (default 20):
 *     time from fork to alice's "session" event (login S1-S3, C1/C2 key
 *     fetch, C3/C4), p50/p99/max; each run ends with BYE;
 *   - one alice sends -m lines (default 2000) of -l bytes (default 100) as
 *     fast as it takes them, -w at most unacknowledged at a time (0: no
 *     limit, the whole burst at once): messages/s from the first line
 *     written to the last "ack" event.  A burst that makes no progress for
 *     -T seconds (default 4) is reported as stalled, with how far it got,
 *     and both processes are killed.
 *
 * -C host:port: bob connects there (another node of a cluster).
 * -X cafile: an ordinary XMPP server instead of simpp-relayd (simpp-login
 * -x, its certificate checked against cafile); each user's server password
 * is in the key file's name with ".pw" for ".key", handed over on fd 3.
 *
 * -A name: alice's local name (default alice).  -P pinfile: alice's key is
 * on a PKCS#11 token (-a its URI); each of her simpp-login reads the PIN
 * afresh from pinfile on fd 4 (-E 4).
 *
 * Output: "key value" lines on stdout for the script; diagnostics on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "e2e.h"

static const char *prog = "session-bench";

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now_clock(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) fail("clock_gettime: %s", strerror(errno));
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static double cpu_now(void) { return now_clock(CLOCK_PROCESS_CPUTIME_ID); }
static double wall_now(void) { return now_clock(CLOCK_MONOTONIC); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile of a sorted array */
static double pct(const double *v, size_t n, double p)
{
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

static unsigned long num_arg(const char *opt, const char *s, unsigned long min, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        fail("-%s %s: expected a number from %lu to %lu", opt, s, min, max);
    return v;
}

/* ======================================================================== */
/* e2e: the layer in this process                                           */
/* ======================================================================== */

#define ME   "alice@example.org"
#define PEER "bob@example.org"

static sc_key *ka, *kb;

/* one full handshake; on return a (initiator) and b (responder) hold the
 * confirmed session */
static void handshake(int suite, struct e2e_sess *a, struct e2e_sess *b)
{
    struct e2e_hs hs;
    uint8_t c3[E2E_MSG_MAX], c4[E2E_MSG_MAX], fin[128], pt[128];
    size_t l3 = sizeof c3, l4 = sizeof c4, fl = sizeof fin, pl = sizeof pt, dl;
    uint8_t s = (uint8_t)suite;
    uint64_t seq, id, skipped;
    const uint8_t *data;
    int type, e;
    if ((e = e2e_c3_make(&hs, ME, PEER, ka, &s, 1, c3, &l3)) != E2E_OK)
        fail("C3: %s", e2e_strerror(e));
    if ((e = e2e_c3_accept(PEER, ME, kb, ka, 1u << suite, c3, l3, c4, &l4, b)) != E2E_OK)
        fail("C3 accept: %s", e2e_strerror(e));
    if ((e = e2e_c4_accept(&hs, kb, c4, l4, a)) != E2E_OK) fail("C4 accept: %s", e2e_strerror(e));
    if ((e = e2e_seal(a, E2E_FIN, 0, a->th, sizeof a->th, fin, &fl, &seq)) != E2E_OK)
        fail("FIN: %s", e2e_strerror(e));
    if ((e = e2e_open(b, seq, fin, fl, pt, &pl, &type, &id, &data, &dl, &skipped)) != E2E_OK)
        fail("FIN open: %s", e2e_strerror(e));
    if (type != E2E_FIN || dl != sizeof b->th || !sc_ct_eq(data, b->th, dl) || a->suite != suite)
        fail("FIN does not confirm the session");
    b->confirmed = 1;
}

/* seal by A and open by B of len-byte messages for secs of CPU time */
static void frames(int suite, size_t len, double secs, const char *tag)
{
    struct e2e_sess a, b;
    uint8_t *msg = malloc(len), *ct = malloc(len + 9 + SC_MAX_OVERHEAD), *pt = malloc(len + 9 + SC_MAX_OVERHEAD);
    uint64_t seq, id, skipped, n = 0;
    const uint8_t *data;
    size_t dl;
    int type;
    if (!msg || !ct || !pt) fail("out of memory");
    memset(msg, 'm', len);
    handshake(suite, &a, &b);
    double t0 = cpu_now(), t = t0;
    while (t - t0 < secs) {
        for (int i = 0; i < 64; i++) {
            size_t cl = len + 9 + SC_MAX_OVERHEAD, pl = cl;
            int e = e2e_seal(&a, E2E_TEXT, n + 1, msg, len, ct, &cl, &seq);
            if (e != E2E_OK) fail("seal: %s", e2e_strerror(e));
            e = e2e_open(&b, seq, ct, cl, pt, &pl, &type, &id, &data, &dl, &skipped);
            if (e != E2E_OK || dl != len || skipped) fail("open: %s", e2e_strerror(e));
            n++;
        }
        t = cpu_now();
    }
    double dt = t - t0;
    printf("frames_%s_per_s %.0f\n", tag, (double)n / dt);
    printf("frames_%s_mb_s %.2f\n", tag, (double)n * (double)len / dt / 1e6);
    e2e_sess_wipe(&a);
    e2e_sess_wipe(&b);
    free(msg);
    free(ct);
    free(pt);
}

static int run_e2e(int argc, char **argv)
{
    int opt, suite = SC_SUITE_CHACHA20_POLY1305;
    unsigned long runs = 100;
    double secs = 1;
    while ((opt = getopt(argc, argv, "S:t:n:")) != -1) {
        switch (opt) {
        case 'S':
            if (!(suite = sc_suite_from_name(optarg))) fail("unknown suite %s", optarg);
            break;
        case 't':
            secs = strtod(optarg, NULL);
            if (!(secs >= 0.1 && secs <= 60)) fail("-t %s: seconds, 0.1 to 60", optarg);
            break;
        case 'n': runs = num_arg("n", optarg, 1, 100000); break;
        default: fail("usage: session-bench e2e [-S suite] [-t seconds] [-n runs]");
        }
    }
    if (!(ka = sc_key_generate(SC_P256)) || !(kb = sc_key_generate(SC_P256))) fail("keygen");

    /* the handshake, run after run; at least 20, and at most 3*secs of CPU
     * in all */
    double *lat = calloc(runs, sizeof *lat), start = cpu_now();
    size_t done = 0;
    if (!lat) fail("out of memory");
    struct e2e_sess wa, wb;
    handshake(suite, &wa, &wb);                                     /* warm-up */
    e2e_sess_wipe(&wa);
    e2e_sess_wipe(&wb);
    while (done < runs && (done < 20 || cpu_now() - start < 3 * secs)) {
        struct e2e_sess a, b;
        double t0 = cpu_now();
        handshake(suite, &a, &b);
        lat[done++] = (cpu_now() - t0) * 1e3;
        e2e_sess_wipe(&a);
        e2e_sess_wipe(&b);
    }
    qsort(lat, done, sizeof *lat, cmp_double);
    printf("hs_runs %zu\n", done);
    printf("hs_p50_ms %.3f\n", pct(lat, done, 50));
    printf("hs_p99_ms %.3f\n", pct(lat, done, 99));
    printf("hs_max_ms %.3f\n", lat[done - 1]);
    free(lat);

    frames(suite, 100, secs, "100");
    frames(suite, 1024, secs, "1k");

    /* pager mode: its suite is fixed (chacha20-poly1305), whatever -S says */
    uint8_t id[16] = { 1 }, text[100], box[2048], out[2048];
    memset(text, 'p', sizeof text);
    double ts_seal = 0, ts_open = 0;
    unsigned long n = 0;
    double t0 = cpu_now();
    while (n < 10 || cpu_now() - t0 < secs) {
        size_t bl = sizeof box, ol = sizeof out;
        int64_t ts;
        double a = cpu_now();
        int e = e2e_pager_seal(ka, ME, kb, PEER, id, 1700000000, text, sizeof text, box, &bl);
        double b = cpu_now();
        if (e == E2E_OK) e = e2e_pager_open(kb, PEER, ka, ME, box, bl, id, &ts, out, &ol);
        double c = cpu_now();
        if (e != E2E_OK || ol != sizeof text) fail("pager: %s", e2e_strerror(e));
        ts_seal += b - a;
        ts_open += c - b;
        n++;
    }
    printf("pager_seal_ms %.3f\n", ts_seal / (double)n * 1e3);
    printf("pager_open_ms %.3f\n", ts_open / (double)n * 1e3);
    printf("pager_pairs_per_s %.1f\n", (double)n / (ts_seal + ts_open));

    char sn[80];
    n = 0;
    t0 = cpu_now();
    double t = t0;
    while (n < 5 || t - t0 < secs / 4) {
        if (e2e_safety_number(ka, kb, sn) < 0) fail("safety number");
        n++;
        t = cpu_now();
    }
    printf("safety_ms %.3f\n", (t - t0) / (double)n * 1e3);
    sc_key_free(ka);
    sc_key_free(kb);
    return 0;
}

/* ======================================================================== */
/* chat: simpp-login + simpp-session pairs through a relay                  */
/* ======================================================================== */

struct proc {
    const char *name;
    pid_t pid;                  /* also the process group: the chain is its own group */
    int in, out;                /* our ends: its stdin (write), its stdout (read) */
    char buf[1 << 16];
    size_t n;
    int eof;
    /* what its -j events said */
    long sessions, acks, msgs, byes, offline, errors;
    double t_session, t_ack;
    char lasterr[256];
};

static struct {
    const char *bindir, *addr, *addr_b, *relaypub, *akey, *bkey, *dir, *domain, *suite, *cafile;
    const char *apin, *aname;   /* -P: the PIN of alice's key on a token (fd 4); -A: her name */
    char alice[256], bob[256];
    double stall;
} C;

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) fail("fcntl: %s", strerror(errno));
}

/* open path on descriptor fd, left open across exec (in the child) */
static int file_on_fd(const char *path, int fd)
{
    int f = open(path, O_RDONLY);
    if (f < 0) return -1;
    if (f == fd) return 0;
    int r = dup2(f, fd);
    close(f);
    return r < 0 ? -1 : 0;
}

/* simpp-login ... me simpp-session -j ... peer, with SIMPP_HOME=dir/NAME.home */
static void spawn(struct proc *p, const char *name, const char *key, const char *me, const char *peer,
                  const char *resource)
{
    int in[2], out[2];
    char login[1024], session[1024], home[1024], errlog[1024];
    snprintf(login, sizeof login, "%s/simpp-login", C.bindir);
    snprintf(session, sizeof session, "%s/simpp-session", C.bindir);
    snprintf(home, sizeof home, "%s/%s.home", C.dir, name);
    snprintf(errlog, sizeof errlog, "%s/%s.err", C.dir, name);
    const char *argv[32];
    int k = 0;
    argv[k++] = login;
    argv[k++] = "-c"; argv[k++] = C.addr_b && !strcmp(name, "bob") ? C.addr_b : C.addr;
    char pw[1024];
    if (C.cafile) {
        size_t kl = strlen(key);
        snprintf(pw, sizeof pw, "%.*s.pw", (int)(kl > 4 && !strcmp(key + kl - 4, ".key") ? kl - 4 : kl), key);
        argv[k++] = "-x"; argv[k++] = "-T"; argv[k++] = C.cafile; argv[k++] = "-W"; argv[k++] = "3";
    } else {
        argv[k++] = "-s"; argv[k++] = C.relaypub;
    }
    argv[k++] = "-k"; argv[k++] = key;
    argv[k++] = "-C"; argv[k++] = C.suite;
    int pin = key == C.akey && C.apin;
    if (pin) { argv[k++] = "-E"; argv[k++] = "4"; }
    if (resource) { argv[k++] = "-r"; argv[k++] = resource; }
    argv[k++] = me;
    argv[k++] = session;
    argv[k++] = "-j";
    argv[k++] = "-w"; argv[k++] = "5";
    argv[k++] = "-C"; argv[k++] = C.suite;
    argv[k++] = peer;
    argv[k] = NULL;
    memset(p, 0, sizeof *p);
    p->name = name;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
    fflush(NULL);
    p->pid = fork();
    if (p->pid < 0) fail("fork: %s", strerror(errno));
    if (p->pid == 0) {
        int e = open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        setpgid(0, 0);
        if (e < 0 || dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(e, 2) < 0) _exit(127);
        if (C.cafile && file_on_fd(pw, 3) < 0) _exit(127);     /* the server password */
        if (pin && file_on_fd(C.apin, 4) < 0) _exit(127);       /* the token's PIN */
        setenv("SIMPP_HOME", home, 1);
        signal(SIGPIPE, SIG_DFL);
        execv(login, (char *const *)argv);
        _exit(127);
    }
    setpgid(p->pid, p->pid);                /* either of us may get there first */
    close(in[0]);
    close(out[1]);
    p->in = in[1];
    p->out = out[0];
    set_nonblock(p->in);
    set_nonblock(p->out);
}

static void on_event(struct proc *p, const char *l, double t)
{
    if (!strncmp(l, "session ", 8)) { if (!p->sessions++) p->t_session = t; }
    else if (!strncmp(l, "ack ", 4)) { p->acks++; p->t_ack = t; }
    else if (!strncmp(l, "msg ", 4)) p->msgs++;
    else if (!strncmp(l, "bye ", 4)) p->byes++;
    else if (!strncmp(l, "offline ", 8)) p->offline++;
    else if (!strncmp(l, "error ", 6)) {
        p->errors++;
        snprintf(p->lasterr, sizeof p->lasterr, "%s", l + 6);
    }
}

/* read what is there; events are stamped with the time they were read */
static void drain(struct proc *p)
{
    for (;;) {
        if (p->eof || p->out < 0) return;
        ssize_t r = read(p->out, p->buf + p->n, sizeof p->buf - 1 - p->n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return;
        if (r <= 0) { p->eof = 1; return; }
        p->n += (size_t)r;
        double t = wall_now();
        char *s = p->buf, *nl;
        while ((nl = memchr(s, '\n', p->n - (size_t)(s - p->buf)))) {
            *nl = 0;
            on_event(p, s, t);
            s = nl + 1;
        }
        p->n -= (size_t)(s - p->buf);
        memmove(p->buf, s, p->n);
        if (p->n == sizeof p->buf - 1) p->n = 0;    /* an absurd line: drop it */
    }
}

/* wait for input on any of the processes (and, with w, room in w's stdin) */
static void pump(struct proc **ps, int np, struct proc *w, int ms)
{
    struct pollfd pf[8];
    int k = 0;
    for (int i = 0; i < np; i++)
        if (ps[i] && !ps[i]->eof) pf[k++] = (struct pollfd){ ps[i]->out, POLLIN, 0 };
    if (w && w->in >= 0) pf[k++] = (struct pollfd){ w->in, POLLOUT, 0 };
    if (poll(pf, (nfds_t)k, ms) < 0 && errno != EINTR) fail("poll: %s", strerror(errno));
    for (int i = 0; i < np; i++)
        if (ps[i]) drain(ps[i]);
}

static void close_in(struct proc *p)
{
    if (p->in >= 0) close(p->in);
    p->in = -1;
}

/* end of input; it says BYE and exits.  Killed (the whole group) if it has
 * not exited within secs.  Returns its exit status, or -signal. */
static int finish(struct proc *p, struct proc *other, double secs)
{
    int st = 0;
    close_in(p);
    double t0 = wall_now();
    struct proc *ps[2] = { p, other };
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) break;
        if (r < 0 && errno != EINTR) fail("waitpid: %s", strerror(errno));
        if (wall_now() - t0 > secs) {
            kill(-p->pid, SIGKILL);
            while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {}
            break;
        }
        pump(ps, 2, NULL, 20);
    }
    drain(p);
    close(p->out);
    p->out = -1;
    p->eof = 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

static void kill_proc(struct proc *p)
{
    int st;
    if (p->pid <= 0) return;
    kill(-p->pid, SIGKILL);
    while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {}
    close_in(p);
    if (p->out >= 0) close(p->out);
    p->out = -1;
    p->pid = 0;
}

/* until *ctr reaches target (p's event counter), p ends, or secs pass:
 * 0 reached, -1 not */
static int wait_count(struct proc **ps, int np, struct proc *p, const long *ctr, long target, double secs)
{
    double t0 = wall_now();
    while (*ctr < target) {
        if (p->eof || wall_now() - t0 > secs) return -1;
        pump(ps, np, NULL, 50);
    }
    return 0;
}

static struct proc bob, alice;

static void start_bob(void)
{
    struct proc *ps[1] = { &bob };
    spawn(&bob, "bob", C.bkey, C.bob, C.alice, "bench");
    /* bob tries C3 with the absent alice: the relay bounces it (no-store).
     * A server that stores it anyway (Prosody 0.12 keeps no-store
     * messages offline) says nothing: then bob is given 8 s to log in. */
    if (wait_count(ps, 1, &bob, &bob.offline, 1, C.cafile ? 8 : 15) < 0 && !C.cafile)
        fail("bob did not come up (see %s/bob.err)", C.dir);
}

static double burst(long m, size_t len, long window, long *acked)
{
    struct proc *ps[2] = { &alice, &bob };
    char *lines = malloc((size_t)m * (len + 1));
    size_t total = (size_t)m * (len + 1), off = 0;
    if (!lines) fail("out of memory");
    for (long i = 0; i < m; i++) {
        char *l = lines + (size_t)i * (len + 1);
        memset(l, 'x', len);
        char head[32];
        int hl = snprintf(head, sizeof head, "burst %06ld ", i + 1);
        memcpy(l, head, (size_t)hl < len ? (size_t)hl : len);
        l[len] = '\n';
    }
    spawn(&alice, "alice", C.akey, C.alice, C.bob, NULL);
    if (wait_count(ps, 2, &alice, &alice.sessions, 1, 15) < 0)
        fail("alice did not get a session (see %s/alice.err)", C.dir);
    double t0 = wall_now(), progress = t0;
    long last = -1;
    size_t lastoff = 0;
    while (alice.acks < m) {
        /* lines that may go now: all, or up to window past the last ack */
        size_t limit = window ? (size_t)(alice.acks + window) * (len + 1) : total;
        if (limit > total) limit = total;
        while (off < limit && alice.in >= 0) {
            ssize_t w = write(alice.in, lines + off, limit - off);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && errno == EAGAIN) break;
            if (w < 0) fail("writing to alice: %s", strerror(errno));
            off += (size_t)w;
        }
        pump(ps, 2, off < limit ? &alice : NULL, 50);
        double t = wall_now();
        if (alice.acks != last || off != lastoff) { last = alice.acks; lastoff = off; progress = t; }
        if (alice.eof || t - progress > C.stall) break;
    }
    *acked = alice.acks;
    double dt = alice.acks == m ? alice.t_ack - t0 : -1;
    free(lines);
    return dt;
}

static int run_chat(int argc, char **argv)
{
    int opt;
    unsigned long runs = 20, m = 2000, len = 100, window = 64;
    C.domain = "localhost";
    C.aname = "alice";
    C.suite = "chacha20-poly1305";
    C.stall = 4;
    while ((opt = getopt(argc, argv, "B:c:C:s:X:a:b:d:D:S:n:m:l:w:T:A:P:")) != -1) {
        switch (opt) {
        case 'B': C.bindir = optarg; break;
        case 'c': C.addr = optarg; break;
        case 's': C.relaypub = optarg; break;
        case 'X': C.cafile = optarg; break;
        case 'C': C.addr_b = optarg; break;
        case 'a': C.akey = optarg; break;
        case 'b': C.bkey = optarg; break;
        case 'd': C.dir = optarg; break;
        case 'D': C.domain = optarg; break;
        case 'S': C.suite = optarg; break;
        case 'n': runs = num_arg("n", optarg, 1, 1000); break;
        case 'm': m = num_arg("m", optarg, 1, 1000000); break;
        case 'l': len = num_arg("l", optarg, 20, 60000); break;
        case 'w': window = num_arg("w", optarg, 0, 1000000); break;
        case 'T': C.stall = (double)num_arg("T", optarg, 1, 600); break;
        case 'A': C.aname = optarg; break;
        case 'P': C.apin = optarg; break;
        default: fail("usage: see the comment at the top of bench/session-bench.c");
        }
    }
    if (!C.bindir || !C.addr || !(C.relaypub || C.cafile) || !C.akey || !C.bkey || !C.dir)
        fail("chat needs -B -c -s (or -X) -a -b -d");
    if (!sc_suite_from_name(C.suite)) fail("unknown suite %s", C.suite);
    snprintf(C.alice, sizeof C.alice, "%s@%s", C.aname, C.domain);
    snprintf(C.bob, sizeof C.bob, "bob@%s", C.domain);
    signal(SIGPIPE, SIG_IGN);

    start_bob();
    struct proc *ps[2] = { &alice, &bob };

    /* start -> session, run after run */
    double *lat = calloc(runs, sizeof *lat);
    size_t done = 0;
    if (!lat) fail("out of memory");
    for (unsigned long i = 0; i < runs + 1; i++) {      /* the first run pins keys: not counted */
        long byes = bob.byes;
        double t0 = wall_now();
        spawn(&alice, "alice", C.akey, C.alice, C.bob, NULL);
        if (wait_count(ps, 2, &alice, &alice.sessions, 1, 15) < 0)
            fail("run %lu: alice got no session (see %s/alice.err, %s/bob.err)", i, C.dir, C.dir);
        if (i > 0) lat[done++] = (alice.t_session - t0) * 1e3;
        int st = finish(&alice, &bob, 15);
        if (st != 0) fail("run %lu: alice's chain exited with %d (see %s/alice.err)", i, st, C.dir);
        if (wait_count(ps + 1, 1, &bob, &bob.byes, byes + 1, 10) < 0)
            fail("run %lu: bob saw no BYE (see %s/bob.err)", i, C.dir);
    }
    qsort(lat, done, sizeof *lat, cmp_double);
    printf("start_runs %zu\n", done);
    printf("start_p50_ms %.1f\n", pct(lat, done, 50));
    printf("start_p99_ms %.1f\n", pct(lat, done, 99));
    printf("start_max_ms %.1f\n", lat[done - 1]);
    free(lat);

    /* the burst with a window, then the burst all at once */
    const unsigned long wins[2] = { window, 0 };
    for (int k = 0; k < 2; k++) {
        long acked;
        long errs0 = bob.errors;
        double dt = burst((long)m, len, (long)wins[k], &acked);
        const char *tag = wins[k] ? "window" : "all";
        printf("burst_%s_window %lu\n", tag, wins[k]);
        if (dt > 0) {
            printf("burst_%s_msgs_per_s %.0f\n", tag, (double)m / dt);
            printf("burst_%s_mb_s %.3f\n", tag, (double)m * (double)len / dt / 1e6);
            int st = finish(&alice, &bob, 15);
            if (st != 0) fprintf(stderr, "%s: burst: alice's chain exited with %d\n", prog, st);
        } else {
            printf("burst_%s_stalled %ld/%lu\n", tag, acked, m);
            fprintf(stderr, "%s: %s: burst of %lu (window %lu) stalled after %ld acks, %ld delivered%s%s\n",
                    prog, C.suite, m, wins[k], acked, bob.msgs,
                    alice.lasterr[0] ? "; alice: " : "", alice.lasterr);
            /* both chains may be stuck: start over */
            kill_proc(&alice);
            kill_proc(&bob);
            start_bob();
        }
        if (bob.errors > errs0) fprintf(stderr, "%s: bob reported: %s\n", prog, bob.lasterr);
        bob.msgs = 0;
    }
    close_in(&bob);
    finish(&bob, NULL, 15);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) fail("usage: session-bench e2e|chat [options]");
    if (sc_init() < 0) fail("crypto: unable to initialise");
    if (!strcmp(argv[1], "e2e")) return run_e2e(argc - 1, argv + 1);
    if (!strcmp(argv[1], "chat")) return run_chat(argc - 1, argv + 1);
    fail("unknown mode %s (e2e or chat)", argv[1]);
}
