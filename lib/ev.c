/* ev.c - the event loop: epoll for fds, a binary heap for timers.  See ev.h. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"

/* epoll_wait returns at most this many events a call; the rest stay ready
 * (level-triggered) and come back on the next call, and the kernel rotates
 * its ready list, so no fd starves and the buffer need not be maxfds long. */
#define MAXEVENTS 1024

typedef struct {
    int mask;            /* EV_READ|EV_WRITE watched; 0: not in epoll */
    uint32_t gen;        /* bumped each time the fd leaves epoll */
    ev_fd_cb *cb;
    void *arg;
} fdent;

enum { T_FREE, T_ARMED, T_RUNNING, T_KILLED };

typedef struct {
    int64_t when;        /* deadline, ev_now_ms() scale */
    uint64_t seq;        /* order of arming: breaks ties between equal deadlines */
    ev_timer_cb *cb;
    void *arg;
    uint32_t gen;        /* with the slot index, makes the id; stale ids miss */
    uint32_t pos;        /* index in heap while T_ARMED; next free slot while T_FREE */
    int state;
} timer;

struct ev_loop {
    int epfd, maxfds, nfds;
    int stop;
    fdent *fds;
    struct epoll_event *evs;
    int nevs;
    timer *t;            /* slots, indexed by the low 32 bits of an id */
    uint32_t *heap;      /* slot indices, min-heap on (when, seq) */
    uint32_t ncap, nheap, nslots, freelist;
    uint64_t seq;
    ev_hook_cb *before;
    void *before_arg;
};

#define NOSLOT UINT32_MAX
/* ids are positive: a 31-bit generation above a 32-bit slot index */
#define GENMASK 0x7fffffffu

int64_t ev_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ev_loop *ev_new(int maxfds)
{
    ev_loop *l;
    if (maxfds <= 0) {
        errno = EINVAL;
        return NULL;
    }
    if (!(l = calloc(1, sizeof *l))) return NULL;
    l->maxfds = maxfds;
    l->nevs = maxfds < MAXEVENTS ? maxfds : MAXEVENTS;
    l->freelist = NOSLOT;
    l->fds = calloc((size_t)maxfds, sizeof *l->fds);
    l->evs = calloc((size_t)l->nevs, sizeof *l->evs);
    if (!l->fds || !l->evs || (l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        int e = errno;
        free(l->fds);
        free(l->evs);
        free(l);
        errno = e;
        return NULL;
    }
    return l;
}

void ev_free(ev_loop *l)
{
    if (!l) return;
    close(l->epfd);
    free(l->fds);
    free(l->evs);
    free(l->t);
    free(l->heap);
    free(l);
}

/* --- file events --- */

static int epctl(ev_loop *l, int op, int fd, int mask)
{
    struct epoll_event ee = { 0 };
    if (mask & EV_READ) ee.events |= EPOLLIN;
    if (mask & EV_WRITE) ee.events |= EPOLLOUT;
    /* the generation travels with the event, so an event fetched before the
     * fd was deleted and re-added can be told from one for the new owner */
    ee.data.u64 = (uint64_t)l->fds[fd].gen << 32 | (uint32_t)fd;
    return epoll_ctl(l->epfd, op, fd, &ee);
}

int ev_add(ev_loop *l, int fd, int mask, ev_fd_cb *cb, void *arg)
{
    fdent *f;
    int r;
    if (fd < 0 || fd >= l->maxfds) {
        errno = ERANGE;
        return -1;
    }
    if (!cb || !mask || (mask & ~(EV_READ | EV_WRITE))) {
        errno = EINVAL;
        return -1;
    }
    f = &l->fds[fd];
    if (f->mask) {
        r = epctl(l, EPOLL_CTL_MOD, fd, f->mask | mask);
        /* closed without ev_del (close drops it from epoll) and the number
         * reused: it is a new registration as far as the kernel knows */
        if (r < 0 && errno == ENOENT) r = epctl(l, EPOLL_CTL_ADD, fd, f->mask | mask);
    } else {
        r = epctl(l, EPOLL_CTL_ADD, fd, mask);
        if (r == 0) l->nfds++;
    }
    if (r < 0) return -1;
    f->mask |= mask;
    f->cb = cb;
    f->arg = arg;
    return 0;
}

void ev_del(ev_loop *l, int fd, int mask)
{
    fdent *f;
    if (fd < 0 || fd >= l->maxfds) return;
    f = &l->fds[fd];
    if (!(f->mask & mask)) return;
    f->mask &= ~mask;
    if (f->mask) {
        epctl(l, EPOLL_CTL_MOD, fd, f->mask);
        return;
    }
    /* failure means the fd was closed already, which removed it from epoll */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    f->gen++;
    f->cb = NULL;
    f->arg = NULL;
    l->nfds--;
}

int ev_mask(const ev_loop *l, int fd)
{
    if (fd < 0 || fd >= l->maxfds) return EV_NONE;
    return l->fds[fd].mask;
}

/* --- timers: a binary min-heap of slot indices --- */

static int t_less(const ev_loop *l, uint32_t a, uint32_t b)
{
    const timer *x = &l->t[a], *y = &l->t[b];
    return x->when < y->when || (x->when == y->when && x->seq < y->seq);
}

static void h_set(ev_loop *l, uint32_t i, uint32_t s)
{
    l->heap[i] = s;
    l->t[s].pos = i;
}

static void h_up(ev_loop *l, uint32_t i)
{
    uint32_t s = l->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!t_less(l, s, l->heap[p])) break;
        h_set(l, i, l->heap[p]);
        i = p;
    }
    h_set(l, i, s);
}

static void h_down(ev_loop *l, uint32_t i)
{
    uint32_t s = l->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= l->nheap) break;
        if (c + 1 < l->nheap && t_less(l, l->heap[c + 1], l->heap[c])) c++;
        if (!t_less(l, l->heap[c], s)) break;
        h_set(l, i, l->heap[c]);
        i = c;
    }
    h_set(l, i, s);
}

static void h_push(ev_loop *l, uint32_t s)
{
    /* heap and slots grow together, so there is always room */
    l->heap[l->nheap] = s;
    h_up(l, l->nheap++);
}

static void h_remove(ev_loop *l, uint32_t i)
{
    uint32_t last = l->heap[--l->nheap];
    if (i == l->nheap) return;
    /* the element moved into the hole may belong above or below it */
    h_set(l, i, last);
    h_up(l, i);
    h_down(l, l->t[last].pos);
}

static long long t_id(const ev_loop *l, uint32_t s)
{
    return (long long)l->t[s].gen << 32 | s;
}

static void t_arm(ev_loop *l, uint32_t s, long long ms)
{
    timer *t = &l->t[s];
    if (ms < 0) ms = 0;
    if (ms > INT64_MAX / 4) ms = INT64_MAX / 4;   /* now + ms cannot overflow */
    t->when = ev_now_ms() + ms;
    t->seq = l->seq++;
    t->state = T_ARMED;
    h_push(l, s);
}

static void t_release(ev_loop *l, uint32_t s)
{
    timer *t = &l->t[s];
    t->state = T_FREE;
    t->cb = NULL;
    t->arg = NULL;
    t->gen = (t->gen + 1) & GENMASK;
    if (!t->gen) t->gen = 1;
    t->pos = l->freelist;
    l->freelist = s;
}

long long ev_timer_add(ev_loop *l, long long ms, ev_timer_cb *cb, void *arg)
{
    uint32_t s;
    if (!cb) {
        errno = EINVAL;
        return -1;
    }
    if (l->freelist == NOSLOT && l->nslots == l->ncap) {
        uint32_t ncap = l->ncap ? l->ncap * 2 : 64;
        timer *t;
        uint32_t *h;
        if (l->ncap >= NOSLOT / 2) {
            errno = ENOMEM;
            return -1;
        }
        if (!(t = realloc(l->t, ncap * sizeof *t))) return -1;
        l->t = t;
        if (!(h = realloc(l->heap, ncap * sizeof *h))) return -1;
        l->heap = h;
        l->ncap = ncap;
    }
    if (l->freelist != NOSLOT) {
        s = l->freelist;
        l->freelist = l->t[s].pos;
    } else {
        s = l->nslots++;
        l->t[s].gen = 1;
    }
    l->t[s].cb = cb;
    l->t[s].arg = arg;
    t_arm(l, s, ms);
    return t_id(l, s);
}

/* the slot an id names, if that timer is still alive */
static uint32_t t_lookup(const ev_loop *l, long long id)
{
    uint32_t s;
    if (id <= 0) return NOSLOT;
    s = (uint32_t)(id & 0xffffffff);
    if (s >= l->nslots || l->t[s].state == T_FREE || l->t[s].state == T_KILLED) return NOSLOT;
    if (l->t[s].gen != (uint32_t)(id >> 32)) return NOSLOT;
    return s;
}

int ev_timer_del(ev_loop *l, long long id)
{
    uint32_t s = t_lookup(l, id);
    if (s == NOSLOT) {
        errno = ENOENT;
        return -1;
    }
    if (l->t[s].state == T_RUNNING) {
        /* its callback is on the stack; the slot is released when it returns */
        l->t[s].state = T_KILLED;
        return 0;
    }
    h_remove(l, l->t[s].pos);
    t_release(l, s);
    return 0;
}

static void run_timers(ev_loop *l)
{
    /* Timers armed from here on (new ones, and re-armed ones returning 0)
     * wait for the next iteration: a callback that keeps asking for 0 ms
     * must not keep fd events from ever being served. */
    uint64_t limit = l->seq;
    int64_t now = ev_now_ms();
    while (l->nheap && !l->stop) {
        uint32_t s = l->heap[0];
        long long next;
        if (l->t[s].when > now || l->t[s].seq >= limit) break;
        h_remove(l, 0);
        l->t[s].state = T_RUNNING;
        next = l->t[s].cb(l, t_id(l, s), l->t[s].arg);
        /* l->t may have moved: the callback can add timers */
        if (next < 0 || l->t[s].state == T_KILLED) t_release(l, s);
        else t_arm(l, s, next);
    }
}

/* ms until the nearest timer, -1 with none */
static int next_timeout(const ev_loop *l)
{
    int64_t d;
    if (!l->nheap) return -1;
    d = l->t[l->heap[0]].when - ev_now_ms();
    if (d < 0) return 0;
    return d > INT_MAX ? INT_MAX : (int)d;
}

/* --- the loop --- */

static void dispatch(ev_loop *l, const struct epoll_event *e)
{
    int fd = (int)(uint32_t)e->data.u64, m = 0;
    fdent *f;
    if (fd < 0 || fd >= l->maxfds) return;
    f = &l->fds[fd];
    /* deleted (and maybe re-added) by an earlier callback in this batch */
    if (f->gen != (uint32_t)(e->data.u64 >> 32)) return;
    if (e->events & EPOLLIN) m |= EV_READ;
    if (e->events & EPOLLOUT) m |= EV_WRITE;
    if (e->events & (EPOLLERR | EPOLLHUP)) m |= EV_READ | EV_WRITE;
    m &= f->mask;
    if (m) f->cb(l, fd, m, f->arg);
}

void ev_run(ev_loop *l)
{
    l->stop = 0;
    while (!l->stop) {
        int n, i;
        if (l->before) l->before(l, l->before_arg);
        if (l->stop) break;
        if (!l->nfds && !l->nheap) break;
        n = epoll_wait(l->epfd, l->evs, l->nevs, next_timeout(l));
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (i = 0; i < n && !l->stop; i++) dispatch(l, &l->evs[i]);
        run_timers(l);
    }
}

void ev_stop(ev_loop *l)
{
    l->stop = 1;
}

void ev_set_beforesleep(ev_loop *l, ev_hook_cb *fn, void *arg)
{
    l->before = fn;
    l->before_arg = arg;
}

/* --- signals --- */

int ev_signal_fd(ev_loop *l, const int *signals, int n, ev_fd_cb *cb, void *arg)
{
    sigset_t set;
    int i, fd;
    if (n <= 0 || !signals) {
        errno = EINVAL;
        return -1;
    }
    sigemptyset(&set);
    for (i = 0; i < n; i++)
        if (sigaddset(&set, signals[i]) < 0) return -1;
    /* blocked first: a signal arriving between the two calls stays pending
     * and shows up on the signalfd instead of killing the process */
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -1;
    if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) return -1;
    if (ev_add(l, fd, EV_READ, cb, arg) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int ev_signal_next(int sfd)
{
    struct signalfd_siginfo si;
    ssize_t r;
    do r = read(sfd, &si, sizeof si);
    while (r < 0 && errno == EINTR);
    if (r < 0) return errno == EAGAIN ? 0 : -1;
    if (r != (ssize_t)sizeof si) {
        errno = EIO;
        return -1;
    }
    return (int)si.ssi_signo;
}
