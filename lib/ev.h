/*
 * ev.h - a small event loop on epoll, in the shape of Redis' ae: file events
 * (read/write readiness per fd), timers, a before-sleep hook and signals
 * delivered as file events through signalfd.  One thread; nothing here is
 * thread-safe, and callbacks run on the thread that called ev_run.
 *
 * File events are level-triggered: a callback that leaves data unread is
 * called again on the next iteration, so a callback may do a bounded amount
 * of work per call (fairness between 10,000 connections) without losing
 * readiness.
 *
 * Timers live in a binary heap keyed by deadline, so adding, deleting and
 * firing are O(log n) and one idle-timeout timer per connection is cheap.
 * For an idle timeout that is reset on every byte, do not delete and re-add
 * on each read: keep the time of last activity in the connection and let the
 * timer callback return the time still left (or EV_NOMORE after closing).
 *
 * All times are CLOCK_MONOTONIC milliseconds, so setting the wall clock never
 * fires or postpones a timeout.
 */
#ifndef SIMPP_EV_H
#define SIMPP_EV_H

#include <stdint.h>

#define EV_NONE  0
#define EV_READ  1
#define EV_WRITE 2

/* a timer callback returns this (or any negative value) to end the timer */
#define EV_NOMORE (-1)

typedef struct ev_loop ev_loop;

/* mask: the subset of the fd's registered EV_READ|EV_WRITE that is ready.
 * Hang-up and error conditions are reported as whichever of the two is
 * registered, so the next read() or write() tells the callback what failed. */
typedef void ev_fd_cb(ev_loop *l, int fd, int mask, void *arg);
/* returns the next delay in ms (the timer keeps its id), or EV_NOMORE */
typedef long long ev_timer_cb(ev_loop *l, long long id, void *arg);
typedef void ev_hook_cb(ev_loop *l, void *arg);

/* A loop for fds 0 .. maxfds-1 (size it from RLIMIT_NOFILE).  NULL with
 * errno set on failure. */
ev_loop *ev_new(int maxfds);
/* Free the loop.  Registered fds are not closed: they belong to the caller.
 * Not from inside a callback. */
void ev_free(ev_loop *l);

/*
 * Watch fd for mask (EV_READ, EV_WRITE or both), added to what is already
 * watched.  One callback per fd: cb and arg replace any earlier ones and
 * serve both directions.  0, or -1 with errno (ERANGE: fd outside the loop's
 * size; EINVAL: bad mask or no callback; epoll_ctl's errors).
 */
int ev_add(ev_loop *l, int fd, int mask, ev_fd_cb *cb, void *arg);
/*
 * Stop watching fd for mask; when nothing is left the fd leaves the loop.
 * Safe from any callback: an event that already fired in this iteration for
 * a direction no longer watched is not dispatched, even if the fd number has
 * meanwhile been closed and registered again.  Call it before close(fd).
 */
void ev_del(ev_loop *l, int fd, int mask);
/* what fd is watched for (EV_NONE if nothing or out of range) */
int ev_mask(const ev_loop *l, int fd);

/*
 * Call cb after ms milliseconds (negative counts as 0).  Returns the timer's
 * id, always > 0, or -1 with errno (ENOMEM, EINVAL).  Timers with the same
 * deadline fire in the order they were added.
 */
long long ev_timer_add(ev_loop *l, long long ms, ev_timer_cb *cb, void *arg);
/* Cancel a timer, also from inside its own callback (then whatever the
 * callback returns, it does not fire again).  0, or -1/ENOENT if the id is
 * not an armed timer. */
int ev_timer_del(ev_loop *l, long long id);

/*
 * Block SIGNALS (n of them) for this thread and watch a signalfd for them:
 * cb is called with EV_READ when one is pending; it reads them with
 * ev_signal_next.  Returns the signalfd (the caller closes it after ev_del),
 * or -1 with errno.  The signals stay blocked, and a blocked mask survives
 * fork and exec: unblock them in a child before exec'ing anything.
 */
int ev_signal_fd(ev_loop *l, const int *signals, int n, ev_fd_cb *cb, void *arg);
/* The next pending signal's number from a signalfd, 0 when none is left,
 * -1 with errno on error. */
int ev_signal_next(int sfd);

/* called before each wait for events (flush output buffers, etc.) */
void ev_set_beforesleep(ev_loop *l, ev_hook_cb *fn, void *arg);

/*
 * Dispatch events until ev_stop is called, nothing (no fd, no timer) is left
 * to wait for, or epoll_wait fails (errno set).  Each iteration: before-sleep
 * hook, wait until an fd is ready or the nearest timer is due, fd
 * callbacks, then due timers.
 */
void ev_run(ev_loop *l);
/* make ev_run return as soon as the running callback returns */
void ev_stop(ev_loop *l);

/* CLOCK_MONOTONIC in milliseconds */
int64_t ev_now_ms(void);

#endif
