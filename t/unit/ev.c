/* t/unit/ev.c - the event loop (lib/ev.c) and socket helpers (lib/net.c).
 * Network tests use loopback only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"
#include "net.h"
#include "tap.h"

/* a loop that never ends must fail the test run, not hang it */
#define GUARD_MS 5000

static long long guard_cb(ev_loop *l, long long id, void *arg)
{
    (void)id;
    *(int *)arg = 1;
    ev_stop(l);
    return EV_NOMORE;
}

static long long stop_cb(ev_loop *l, long long id, void *arg)
{
    (void)id;
    (void)arg;
    ev_stop(l);
    return EV_NOMORE;
}

/* --- fd readiness --- */

struct rd { int calls, mask; char got; };

static void read_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct rd *r = arg;
    r->calls++;
    r->mask = mask;
    if (read(fd, &r->got, 1) != 1) r->got = 0;
    ev_del(l, fd, EV_READ);
    ev_stop(l);
}

static void write_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct rd *r = arg;
    r->calls++;
    r->mask = mask;
    if (write(fd, "w", 1) != 1) r->got = 0;
    ev_del(l, fd, EV_WRITE);
    ev_stop(l);
}

static void test_fds(void)
{
    ev_loop *l = ev_new(1024);
    struct rd r = { 0 }, w = { 0 };
    int sv[2], timedout = 0;
    long long g;
    char c = 0;

    ok(l != NULL, "ev_new");
    errno = 0;
    ok(ev_new(0) == NULL && errno == EINVAL, "ev_new(0) refused (EINVAL)");
    ok(ev_add(l, 4096, EV_READ, read_cb, &r) < 0 && errno == ERANGE, "fd past maxfds refused (ERANGE)");
    ok(ev_add(l, 0, 0, read_cb, &r) < 0 && errno == EINVAL, "empty mask refused (EINVAL)");
    ok(ev_add(l, 0, EV_READ, NULL, &r) < 0 && errno == EINVAL, "no callback refused (EINVAL)");

    ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    ok(ev_add(l, sv[0], EV_READ, read_cb, &r) == 0, "ev_add EV_READ");
    ok(write(sv[1], "x", 1) == 1, "write a byte");
    g = ev_timer_add(l, GUARD_MS, guard_cb, &timedout);
    ev_run(l);
    ok(r.calls == 1 && r.mask == EV_READ && r.got == 'x', "read readiness: one call, EV_READ, byte read");

    ok(ev_add(l, sv[1], EV_WRITE, write_cb, &w) == 0, "ev_add EV_WRITE");
    ev_run(l);
    ok(w.calls == 1 && w.mask == EV_WRITE, "write readiness: one call, EV_WRITE");
    ok(read(sv[0], &c, 1) == 1 && c == 'w', "the callback's write arrived");
    ok(!timedout, "no guard timeout");
    ev_timer_del(l, g);

    /* masks: adding one keeps the other; deleting one keeps the other */
    ok(ev_add(l, sv[0], EV_READ, read_cb, &r) == 0 && ev_add(l, sv[0], EV_WRITE, read_cb, &r) == 0
       && ev_mask(l, sv[0]) == (EV_READ | EV_WRITE), "EV_READ then EV_WRITE: both watched");
    ev_del(l, sv[0], EV_WRITE);
    ok(ev_mask(l, sv[0]) == EV_READ, "ev_del EV_WRITE leaves EV_READ");
    ev_del(l, sv[0], EV_READ);
    ok(ev_mask(l, sv[0]) == EV_NONE, "ev_del EV_READ leaves nothing");
    ev_del(l, sv[0], EV_READ);          /* twice is harmless */
    ev_del(l, -1, EV_READ);
    ok(ev_mask(l, -1) == EV_NONE && ev_mask(l, 99999) == EV_NONE, "ev_mask out of range");

    /* registered, closed without ev_del, number reused: ev_add still works */
    {
        int p[2], fd = sv[0];
        ok(ev_add(l, fd, EV_READ, read_cb, &r) == 0, "watch, then close without ev_del");
        close(fd);
        ok(pipe2(p, O_CLOEXEC) == 0 && p[0] == fd, "the fd number is reused");
        ok(ev_add(l, p[0], EV_WRITE, read_cb, &r) == 0, "ev_add on the reused number succeeds");
        ev_del(l, p[0], EV_READ | EV_WRITE);
        close(p[0]);
        close(p[1]);
    }
    close(sv[1]);
    ev_free(l);
}

/* --- deleting an fd from another fd's callback --- */

struct pair {
    int fd[2];          /* two readable fds */
    int calls, stale;
    ev_loop *l;
    int reused[2];
};

static void stale_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct pair *p = arg;
    (void)l;
    (void)fd;
    (void)mask;
    p->stale++;
}

static void del_other_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct pair *p = arg;
    int other = fd == p->fd[0] ? p->fd[1] : p->fd[0];
    (void)mask;
    p->calls++;
    /* the other fd is ready too, and fired in this same epoll batch */
    ev_del(l, other, EV_READ);
    ev_del(l, fd, EV_READ);
    /* close it and hand its number to a fresh, idle pipe with another
     * callback: the stale event must not reach the new owner either */
    close(other);
    if (pipe2(p->reused, O_CLOEXEC) == 0 && p->reused[0] == other)
        ev_add(l, p->reused[0], EV_READ, stale_cb, p);
    ev_timer_add(l, 30, stop_cb, NULL);
}

static void test_del_in_callback(void)
{
    ev_loop *l = ev_new(1024);
    struct pair p = { .calls = 0 };
    int a[2], b[2], timedout = 0;
    ok(pipe2(a, O_CLOEXEC) == 0 && pipe2(b, O_CLOEXEC) == 0, "two pipes");
    p.fd[0] = a[0];
    p.fd[1] = b[0];
    ok(write(a[1], "a", 1) == 1 && write(b[1], "b", 1) == 1, "both readable");
    ev_add(l, a[0], EV_READ, del_other_cb, &p);
    ev_add(l, b[0], EV_READ, del_other_cb, &p);
    ev_timer_add(l, GUARD_MS, guard_cb, &timedout);
    ev_run(l);
    ok(p.calls == 1, "an fd deleted by an earlier callback of the batch is not dispatched (calls=%d)", p.calls);
    ok(ev_mask(l, p.reused[0]) == EV_READ, "its number was re-registered in the same iteration");
    ok(p.stale == 0, "the stale event did not reach the new registration");
    ok(!timedout, "no guard timeout");
    ev_del(l, p.reused[0], EV_READ);
    close(p.reused[0]);
    close(p.reused[1]);
    /* one of a[0]/b[0] was closed by the callback and its number reused */
    if (a[0] != p.reused[0] && a[0] != p.reused[1]) close(a[0]);
    if (b[0] != p.reused[0] && b[0] != p.reused[1]) close(b[0]);
    close(a[1]);
    close(b[1]);
    ev_free(l);
}

/* a direction dropped by an earlier callback of the batch is not reported */
struct half { int fd[2], mask[2], calls; };

static void drop_write_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct half *h = arg;
    int other = fd == h->fd[0] ? h->fd[1] : h->fd[0];
    if (h->calls < 2) h->mask[h->calls] = mask;
    if (++h->calls == 1) {
        ev_del(l, other, EV_WRITE);
    } else {
        ev_del(l, h->fd[0], EV_READ | EV_WRITE);
        ev_del(l, h->fd[1], EV_READ | EV_WRITE);
    }
}

static void test_partial_del(void)
{
    ev_loop *l = ev_new(1024);
    struct half h = { .calls = 0 };
    int a[2], b[2];
    ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0
       && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0, "two socketpairs");
    ok(write(a[1], "a", 1) == 1 && write(b[1], "b", 1) == 1, "both readable and writable");
    h.fd[0] = a[0];
    h.fd[1] = b[0];
    ev_add(l, a[0], EV_READ | EV_WRITE, drop_write_cb, &h);
    ev_add(l, b[0], EV_READ | EV_WRITE, drop_write_cb, &h);
    ev_run(l);
    ok(h.calls == 2 && h.mask[0] == (EV_READ | EV_WRITE) && h.mask[1] == EV_READ,
       "EV_WRITE dropped by the first callback is not reported to the second (masks %d, %d)",
       h.mask[0], h.mask[1]);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    ev_free(l);
}

/* --- timers --- */

struct order { int seen[16]; int n; };
struct tag { struct order *o; int v; };

static long long order_cb(ev_loop *l, long long id, void *arg)
{
    struct tag *t = arg;
    (void)l;
    (void)id;
    if (t->o->n < 16) t->o->seen[t->o->n++] = t->v;
    return EV_NOMORE;
}

struct rearm { int n; int64_t t[8]; };

static long long rearm_cb(ev_loop *l, long long id, void *arg)
{
    struct rearm *r = arg;
    (void)l;
    (void)id;
    r->t[r->n++] = ev_now_ms();
    return r->n < 4 ? 5 : EV_NOMORE;
}

static long long selfdel_cb(ev_loop *l, long long id, void *arg)
{
    int *n = arg;
    (*n)++;
    ok(ev_timer_del(l, id) == 0, "ev_timer_del of the running timer");
    ok(ev_timer_del(l, id) < 0 && errno == ENOENT, "a second ev_timer_del finds nothing (ENOENT)");
    return 1;   /* ignored: it was deleted */
}

static long long zero_cb(ev_loop *l, long long id, void *arg)
{
    int *n = arg;
    (void)l;
    (void)id;
    return ++*n < 1000 ? 0 : EV_NOMORE;
}

static int hook_calls;
static void hook(ev_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    hook_calls++;
}

static void test_timers(void)
{
    ev_loop *l = ev_new(64);
    struct order o = { .n = 0 };
    struct tag t[6];
    struct rearm r = { .n = 0 };
    int i, inorder = 1, selfdel = 0, zeros = 0;
    int64_t t0;
    long long id;

    for (i = 0; i < 6; i++) t[i] = (struct tag){ &o, i };
    /* deadlines 30, 10, 20 ms and three at 0 ms, added out of order */
    ev_timer_add(l, 30, order_cb, &t[5]);
    ev_timer_add(l, 10, order_cb, &t[3]);
    ev_timer_add(l, 20, order_cb, &t[4]);
    ev_timer_add(l, 0, order_cb, &t[0]);
    ev_timer_add(l, 0, order_cb, &t[1]);
    ev_timer_add(l, 0, order_cb, &t[2]);
    t0 = ev_now_ms();
    ev_run(l);
    for (i = 0; i < 6; i++) inorder &= o.n == 6 && o.seen[i] == i;
    ok(inorder, "timers fire by deadline; equal deadlines in the order added");
    ok(ev_now_ms() - t0 >= 30, "ev_run waited for the 30 ms timer, then returned with nothing left");

    t0 = ev_now_ms();
    id = ev_timer_add(l, 5, rearm_cb, &r);
    ok(id > 0, "ev_timer_add returns a positive id");
    ev_run(l);
    ok(r.n == 4, "a callback returning 5 re-arms; EV_NOMORE ends it (%d calls)", r.n);
    ok(r.t[0] - t0 >= 5 && r.t[1] - r.t[0] >= 5 && r.t[3] - r.t[2] >= 5, "each re-arm waited its 5 ms");
    ok(ev_timer_del(l, id) < 0 && errno == ENOENT, "ev_timer_del of a finished timer: ENOENT");
    ok(ev_timer_del(l, 0) < 0 && ev_timer_del(l, -1) < 0 && ev_timer_del(l, 1LL << 40) < 0,
       "ev_timer_del of ids never issued fails");
    ok(ev_timer_add(l, 1, NULL, NULL) < 0 && errno == EINVAL, "a timer without callback refused (EINVAL)");

    ev_timer_add(l, 0, selfdel_cb, &selfdel);
    ev_run(l);
    ok(selfdel == 1, "a timer deleting itself is not re-armed");

    /* a timer that keeps returning 0 is served once per iteration */
    hook_calls = 0;
    ev_set_beforesleep(l, hook, NULL);
    ev_timer_add(l, 0, zero_cb, &zeros);
    ev_run(l);
    ok(zeros == 1000 && hook_calls >= 1000, "0 ms re-arms wait for the next iteration (hook ran %d times)", hook_calls);
    ev_set_beforesleep(l, NULL, NULL);
    ev_free(l);
}

/* 10,000 timers, half deleted at random: the heap must still pop in order */
#define NT 10000

struct big {
    int64_t lo[NT], hi[NT];     /* bounds on each deadline, measured around add */
    long long id[NT];
    char deleted[NT], fired[NT];
    int order[NT], n, early;
};
struct bigarg { struct big *b; int i; };

static long long big_cb(ev_loop *l, long long id, void *arg)
{
    struct bigarg *a = arg;
    (void)l;
    (void)id;
    a->b->fired[a->i]++;
    if (ev_now_ms() < a->b->lo[a->i]) a->b->early++;
    a->b->order[a->b->n++] = a->i;
    return EV_NOMORE;
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    /* xorshift32: a fixed sequence, so a failure repeats */
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

static void test_many_timers(void)
{
    ev_loop *l = ev_new(64);
    struct big *b = calloc(1, sizeof *b);
    struct bigarg *a = calloc(NT, sizeof *a);
    int i, ndel = 0, allids = 1, wrongfire = 0, sorted = 1, badlate = 0;

    for (i = 0; i < NT; i++) {
        long long ms = rnd() % 100;
        a[i] = (struct bigarg){ b, i };
        b->lo[i] = ev_now_ms() + ms;
        b->id[i] = ev_timer_add(l, ms, big_cb, &a[i]);
        b->hi[i] = ev_now_ms() + ms;
        allids &= b->id[i] > 0;
    }
    ok(allids, "10,000 timers added");
    for (i = 0; i < NT; i++)
        if (rnd() % 2) {
            b->deleted[i] = 1;
            ndel += ev_timer_del(l, b->id[i]) == 0;
        }
    ok(ndel > NT / 3, "%d of them deleted at random", ndel);
    ev_run(l);
    for (i = 0; i < NT; i++) wrongfire += b->fired[i] != !b->deleted[i];
    ok(b->n == NT - ndel && wrongfire == 0, "every live timer fired once, no deleted one fired (%d fired)", b->n);
    /* consecutive fires: the earlier one's deadline cannot be later */
    for (i = 1; i < b->n; i++) sorted &= b->lo[b->order[i - 1]] <= b->hi[b->order[i]];
    ok(sorted, "fired in deadline order");
    ok(b->early == 0, "none fired before its deadline");

    /* add 10,000, delete all: nothing left, ev_run returns at once */
    for (i = 0; i < NT; i++) b->id[i] = ev_timer_add(l, 1000 + rnd() % 1000, big_cb, &a[i]);
    for (i = 0; i < NT; i++) badlate += ev_timer_del(l, b->id[NT - 1 - i]) != 0;
    ok(badlate == 0, "10,000 timers deleted");
    b->n = 0;
    {
        int64_t t0 = ev_now_ms();
        ev_run(l);
        ok(b->n == 0 && ev_now_ms() - t0 < 500, "none fired; ev_run returned with nothing left");
    }
    /* the freed slots are reused, and stale ids do not reach the new timers */
    ev_timer_add(l, 0, big_cb, &a[0]);
    ok(ev_timer_del(l, b->id[0]) < 0 && errno == ENOENT, "a stale id does not cancel a new timer in its slot");
    ev_run(l);
    ok(b->n == 1, "the new timer fired");
    free(a);
    free(b);
    ev_free(l);
}

/* --- signals and ev_stop --- */

struct sig { int got, fd; };

static void sig_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct sig *s = arg;
    int n;
    (void)mask;
    while ((n = ev_signal_next(fd)) > 0) s->got = n;
    ev_stop(l);
}

static void idle_cb(ev_loop *l, int fd, int mask, void *arg)
{
    (void)l;
    (void)fd;
    (void)mask;
    ++*(int *)arg;
}

static long long count_stop_cb(ev_loop *l, long long id, void *arg)
{
    int *n = arg;
    (void)id;
    if (++*n % 3 == 0) ev_stop(l);
    return 1;
}

static void test_signals_stop(void)
{
    ev_loop *l = ev_new(1024);
    struct sig s = { 0, -1 };
    int sigs[] = { SIGUSR1, SIGTERM, SIGINT, SIGHUP };
    int timedout = 0, p[2], idle = 0, ticks = 0, bad = 99999;
    long long g;

    ok(ev_signal_fd(l, &bad, 1, sig_cb, &s) < 0 && errno == EINVAL, "an invalid signal number refused");
    s.fd = ev_signal_fd(l, sigs, 4, sig_cb, &s);
    ok(s.fd >= 0 && ev_mask(l, s.fd) == EV_READ, "ev_signal_fd for SIGUSR1, SIGTERM, SIGINT, SIGHUP");
    ok(ev_signal_next(s.fd) == 0, "nothing pending yet");
    ok(kill(getpid(), SIGUSR1) == 0, "SIGUSR1 sent to self");
    g = ev_timer_add(l, GUARD_MS, guard_cb, &timedout);
    ev_run(l);
    ok(s.got == SIGUSR1 && !timedout, "SIGUSR1 delivered through the loop");
    ev_del(l, s.fd, EV_READ);
    close(s.fd);
    ev_timer_del(l, g);

    /* ev_stop from a timer, with an idle fd still registered */
    ok(pipe2(p, O_CLOEXEC) == 0, "pipe");
    ev_add(l, p[0], EV_READ, idle_cb, &idle);
    ev_timer_add(l, 1, count_stop_cb, &ticks);
    g = ev_timer_add(l, GUARD_MS, guard_cb, &timedout);
    ev_run(l);
    ok(ticks == 3 && !timedout && idle == 0, "ev_stop returns from ev_run while an fd is still watched");
    ev_run(l);
    ok(ticks == 6, "ev_run can be entered again after ev_stop");
    ev_del(l, p[0], EV_READ);
    close(p[0]);
    close(p[1]);
    ev_free(l);
}

/* --- net --- */

static void test_parse(void)
{
    static const struct { const char *in, *host, *port; } good[] = {
        { "example.org", "example.org", "5222" },
        { "example.org:5223", "example.org", "5223" },
        { "127.0.0.1:80", "127.0.0.1", "80" },
        { "relay", "relay", "5222" },
        { "[::1]:5269", "::1", "5269" },
        { "[::1]", "::1", "5222" },
        { "::1", "::1", "5222" },
        { "2001:db8::1", "2001:db8::1", "5222" },
        { "fe80::1%eth0", "fe80::1%eth0", "5222" },
        { "[fe80::1%eth0]:1", "fe80::1%eth0", "1" },
        { "::ffff:192.0.2.1", "::ffff:192.0.2.1", "5222" },
        { "h:0", "h", "0" },
        { "h:65535", "h", "65535" },
    };
    static const char *bad[] = {
        "", ":5222", "host:", "host:abc", "host:65536", "host:123456", "host:-1", "host:+5",
        "[::1", "[::1]x", "[::1]:", "[]:5", "[example.org]:5", "a b:5", "a/b", "host:5:6",
        "::1::2", "1.2.3.4:5:6", "fe80::1%", "h:5 ", "[::1]:5x", "ex@mple",
    };
    char h[64], p[8];
    size_t i;
    int good_ok = 1, bad_ok = 1;
    for (i = 0; i < sizeof good / sizeof *good; i++) {
        int r = net_parse_hostport(good[i].in, h, sizeof h, p, sizeof p, "5222");
        if (r != 0 || strcmp(h, good[i].host) || strcmp(p, good[i].port)) {
            printf("# parse \"%s\" -> %d \"%s\" \"%s\"\n", good[i].in, r, r ? "" : h, r ? "" : p);
            good_ok = 0;
        }
    }
    ok(good_ok, "net_parse_hostport: %zu good forms", sizeof good / sizeof *good);
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        if (net_parse_hostport(bad[i], h, sizeof h, p, sizeof p, "5222") == 0 || errno != EINVAL) {
            printf("# parse \"%s\" accepted\n", bad[i]);
            bad_ok = 0;
        }
    }
    ok(bad_ok, "net_parse_hostport: %zu bad forms refused (EINVAL)", sizeof bad / sizeof *bad);
    ok(net_parse_hostport(NULL, h, sizeof h, p, sizeof p, "1") < 0, "NULL refused");
    ok(net_parse_hostport("example.org", h, sizeof h, p, sizeof p, NULL) < 0 && errno == EINVAL,
       "no port and no default refused");
    ok(net_parse_hostport("example.org:1", h, 11, p, sizeof p, NULL) < 0 && errno == ENAMETOOLONG,
       "host longer than its buffer: ENAMETOOLONG");
    ok(net_parse_hostport("example.org:1", h, 12, p, sizeof p, NULL) == 0 && !strcmp(h, "example.org"),
       "host exactly fits its buffer");
    ok(net_parse_hostport("h:12345", h, sizeof h, p, 5, NULL) < 0 && errno == ENAMETOOLONG,
       "port longer than its buffer: ENAMETOOLONG");
}

static int bound_port(int fd, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    unsigned port;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, &ss, sizeof sin);
        port = ntohs(sin.sin_port);
    } else {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, &ss, sizeof sin6);
        port = ntohs(sin6.sin6_port);
    }
    snprintf(buf, cap, "%u", port);
    return (int)port;
}

struct acc { int lfd, fd; char addr[NET_ADDRMAX]; };

static void accept_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct acc *a = arg;
    (void)mask;
    a->fd = net_accept(fd, a->addr, sizeof a->addr);
    ev_stop(l);
}

static void test_net(void)
{
    char port[8], addr[NET_ADDRMAX], small[4], c = 0;
    int lfd, cfd, afd, timedout = 0;
    ev_loop *l;
    struct acc a = { -1, -1, "" };

    lfd = net_listen("127.0.0.1", "0", 16);
    ok(lfd >= 0, "net_listen 127.0.0.1 port 0 (%s)", lfd < 0 ? net_strerror() : "ok");
    ok(bound_port(lfd, port, sizeof port) > 0, "ephemeral port %s", port);
    ok((fcntl(lfd, F_GETFL) & O_NONBLOCK) && (fcntl(lfd, F_GETFD) & FD_CLOEXEC),
       "listening fd is non-blocking and close-on-exec");
    {
        int v = 0;
        socklen_t vl = sizeof v;
        ok(getsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &v, &vl) == 0 && v, "SO_REUSEADDR set");
    }
    errno = 0;
    ok(net_accept(lfd, addr, sizeof addr) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
       "net_accept with nothing pending: EAGAIN");

    cfd = net_connect("127.0.0.1", port, 2000);
    ok(cfd >= 0, "net_connect to it (%s)", cfd < 0 ? net_strerror() : "ok");
    ok(!(fcntl(cfd, F_GETFL) & O_NONBLOCK) && (fcntl(cfd, F_GETFD) & FD_CLOEXEC),
       "connected fd is blocking and close-on-exec");
    {   /* a login is small messages each way: a delayed ACK must not hold them */
        int nd = 0, pfd[2], sv[2];
        socklen_t nl = sizeof nd;
        ok(getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &nd, &nl) == 0 && nd,
           "connected fd has TCP_NODELAY");
        ok(pipe(pfd) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 &&
           net_nodelay(pfd[1]) == 0 && net_nodelay(sv[0]) == 0,
           "net_nodelay leaves a pipe and a local socket alone, without an error");
        close(pfd[0]); close(pfd[1]); close(sv[0]); close(sv[1]);
    }
    afd = net_accept(lfd, addr, sizeof addr);
    ok(afd >= 0 && !strcmp(addr, "127.0.0.1"), "net_accept: peer \"%s\"", addr);
    ok((fcntl(afd, F_GETFL) & O_NONBLOCK) && (fcntl(afd, F_GETFD) & FD_CLOEXEC),
       "accepted fd is non-blocking and close-on-exec");
    ok(net_peer_addr(afd, addr, sizeof addr) == 0 && !strcmp(addr, "127.0.0.1"), "net_peer_addr \"%s\"", addr);
    ok(net_peer_addr(cfd, addr, sizeof addr) == 0 && !strcmp(addr, "127.0.0.1"), "net_peer_addr of the client side");
    ok(net_peer_addr(afd, small, sizeof small) < 0 && errno == ENOSPC, "net_peer_addr: small buffer ENOSPC");
    ok(write(cfd, "z", 1) == 1 && read(afd, &c, 1) == 1 && c == 'z', "bytes flow");
    ok(net_nonblock(cfd) == 0 && (fcntl(cfd, F_GETFL) & O_NONBLOCK), "net_nonblock");
    ok(net_nonblock(-1) < 0 && errno == EBADF, "net_nonblock(-1): EBADF");
    {
        int sv[2];
        ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && net_peer_addr(sv[0], addr, sizeof addr) == 0
           && !strcmp(addr, "unix"), "net_peer_addr of a local socket: \"unix\"");
        close(sv[0]);
        close(sv[1]);
    }
    close(cfd);
    close(afd);

    /* accept from the loop */
    l = ev_new(1024);
    a.lfd = lfd;
    ev_add(l, lfd, EV_READ, accept_cb, &a);
    ev_timer_add(l, GUARD_MS, guard_cb, &timedout);
    cfd = net_connect("127.0.0.1", port, 2000);
    ev_run(l);
    ok(!timedout && a.fd >= 0 && !strcmp(a.addr, "127.0.0.1"), "listening fd in the loop: accepted \"%s\"", a.addr);
    ev_del(l, lfd, EV_READ);
    ev_free(l);
    close(a.fd);
    close(cfd);

    /* the port is closed now: connecting is refused */
    close(lfd);
    errno = 0;
    cfd = net_connect("127.0.0.1", port, 2000);
    ok(cfd < 0 && errno == ECONNREFUSED, "connect to a closed port: ECONNREFUSED (%s)", net_strerror());
    if (cfd >= 0) close(cfd);

    /* resolver failures have their own text; a numeric host never asks DNS */
    cfd = net_connect("127.0.0.1", "no-such-service-x", 1000);
    ok(cfd < 0 && errno == EINVAL && strcmp(net_strerror(), strerror(EINVAL)) != 0,
       "unknown service: EINVAL, resolver message \"%s\"", net_strerror());
    ok(net_listen("127.0.0.1", NULL, 0) < 0 && errno == EINVAL, "net_listen without port refused");
    ok(net_connect("", "1", 0) < 0 && errno == EINVAL, "net_connect without host refused");

    /* IPv6 loopback, where the host has it */
    lfd = net_listen("::1", "0", 0);
    if (lfd < 0) {
        ok(1, "# SKIP no IPv6 loopback (%s)", net_strerror());
        ok(1, "# SKIP no IPv6 loopback");
    } else {
        bound_port(lfd, port, sizeof port);
        cfd = net_connect("::1", port, 2000);
        afd = net_accept(lfd, addr, sizeof addr);
        ok(cfd >= 0 && afd >= 0, "IPv6 loopback: connect and accept");
        ok(afd >= 0 && !strcmp(addr, "::1"), "IPv6 peer \"%s\"", addr);
        close(cfd);
        close(afd);
        close(lfd);
    }

    /* the wildcard: a dual-stack or IPv4 socket, reachable on 127.0.0.1 */
    lfd = net_listen(NULL, "0", 0);
    ok(lfd >= 0, "net_listen on every address (%s)", lfd < 0 ? net_strerror() : "ok");
    if (lfd >= 0) {
        bound_port(lfd, port, sizeof port);
        cfd = net_connect("127.0.0.1", port, 2000);
        afd = net_accept(lfd, addr, sizeof addr);
        ok(afd >= 0 && !strcmp(addr, "127.0.0.1"), "IPv4 client of the wildcard listener is \"%s\"", addr);
        close(cfd);
        close(afd);
        close(lfd);
    } else {
        ok(0, "wildcard listener");
    }
}

int main(void)
{
    /* the last line of defence against a hang */
    alarm(60);
    test_fds();
    test_del_in_callback();
    test_partial_del();
    test_timers();
    test_many_timers();
    test_signals_stop();
    test_parse();
    test_net();
    return tap_done();
}
