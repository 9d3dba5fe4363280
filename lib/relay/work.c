/*
 * work.c - simpp-relayd's worker threads (see work.h).  Jobs go to the
 * workers through one locked queue; finished jobs come back through a
 * second one, and an eventfd wakes the loop to run their done().
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "relay/work.h"

struct workers {
    ev_loop *loop;
    pthread_t *th;
    int n, efd, stop, queued, max_queued;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *in, *in_tail;       /* waiting for a worker */
    struct job *out, *out_tail;     /* done, waiting for the loop */
};

static void push(struct job **head, struct job **tail, struct job *j)
{
    j->next = NULL;
    if (*tail) (*tail)->next = j; else *head = j;
    *tail = j;
}

/*
 * A worker gives way to the loop: the kernel weighs a process's threads
 * together (one group per session), so workers deriving flat out at the
 * loop's priority would take the CPU the loop needs to route the next
 * stanza.  SCHED_IDLE (the lowest weight there is, and never preempting);
 * where that is refused, SCHED_OTHER at the highest nice value.  A relay
 * started at a real-time priority (chrt -f) has its workers inherit it:
 * they must leave it, or deriving keys they would starve the loop.
 */
static void give_way(void)
{
    struct sched_param sp = { .sched_priority = 0 };
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0) return;
    (void)pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
}

static void *worker(void *arg)
{
    struct workers *w = arg;
    give_way();
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->in && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) break;
        struct job *j = w->in;
        if (!(w->in = j->next)) w->in_tail = NULL;
        pthread_mutex_unlock(&w->mu);
        j->run(j);
        pthread_mutex_lock(&w->mu);
        push(&w->out, &w->out_tail, j);
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof one) < 0) { /* the counter is full: already woken */ }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* in the loop: every finished job's done() */
static void wake_cb(ev_loop *l, int fd, int mask, void *arg)
{
    struct workers *w = arg;
    uint64_t v;
    struct job *j;
    (void)l; (void)mask;
    if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN) return;
    pthread_mutex_lock(&w->mu);
    j = w->out;
    w->out = w->out_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (j) {
        struct job *next = j->next;
        w->queued--;
        j->done(j);
        j = next;
    }
}

int workers_default(void)
{
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    /* one CPU left for the loop */
    return n - 1 > 64 ? 64 : n - 1 < 1 ? 1 : (int)(n - 1);
}

struct workers *workers_new(ev_loop *l, int n, int max_queued)
{
    struct workers *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    if (n < 1) n = workers_default();
    w->loop = l;
    w->max_queued = max_queued;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 || ev_add(l, w->efd, EV_READ, wake_cb, w) < 0 ||
        !(w->th = calloc((size_t)(n < 1 ? 1 : n), sizeof *w->th))) {
        if (w->efd >= 0) close(w->efd);
        free(w);
        return NULL;
    }
    for (w->n = 0; w->n < (n < 1 ? 1 : n); w->n++)
        if (pthread_create(&w->th[w->n], NULL, worker, w) != 0) break;
        else pthread_setname_np(w->th[w->n], "simpp-work");
    if (w->n == 0) {
        workers_free(w);
        return NULL;
    }
    return w;
}

int workers_count(const struct workers *w)
{
    return w ? w->n : 0;
}

int workers_submit(struct workers *w, struct job *j)
{
    if (!w || w->queued >= w->max_queued) return -1;
    w->queued++;
    pthread_mutex_lock(&w->mu);
    push(&w->in, &w->in_tail, j);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void workers_free(struct workers *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->n; i++) pthread_join(w->th[i], NULL);
    /* what finished, then what never ran: done() either way */
    for (struct job *lists[2] = { w->out, w->in }, **p = lists; p < lists + 2; p++)
        for (struct job *j = *p, *next; j; j = next) {
            next = j->next;
            j->done(j);
        }
    ev_del(w->loop, w->efd, EV_READ);
    close(w->efd);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->th);
    free(w);
}
