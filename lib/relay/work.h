/*
 * work.h - a small pool of threads for what must not run in simpp-relayd's
 * event loop: key derivations (a PLAIN login's PBKDF2, ~13 ms).  A job's
 * run() executes on a worker and touches only the job; done() runs back in
 * the loop, in submission order per worker, and owns the job.
 */
#ifndef SIMPP_RELAY_WORK_H
#define SIMPP_RELAY_WORK_H

#include "ev.h"

struct job {
    void (*run)(struct job *j);     /* on a worker thread */
    void (*done)(struct job *j);    /* in the loop; frees the job */
    struct job *next;
};

struct workers;

/* n threads (0: workers_default()); at most max_queued jobs waiting.
 * NULL: failed.  Workers run at the lowest priority (SCHED_IDLE), so their
 * work never takes a CPU the loop wants. */
struct workers *workers_new(ev_loop *l, int n, int max_queued);
/* one thread fewer than the CPUs this process may use, at least 1 */
int workers_default(void);
/* the threads running */
int workers_count(const struct workers *w);
/* 0, or -1 when the queue is full (the caller refuses the work) */
int workers_submit(struct workers *w, struct job *j);
/* stop the threads; jobs not yet done get done() without run() */
void workers_free(struct workers *w);

#endif
