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

/* n threads (at least 1); at most max_queued jobs waiting.  NULL: failed. */
struct workers *workers_new(ev_loop *l, int n, int max_queued);
/* 0, or -1 when the queue is full (the caller refuses the work) */
int workers_submit(struct workers *w, struct job *j);
/* stop the threads; jobs not yet done get done() without run() */
void workers_free(struct workers *w);

#endif
