/*
 * media.h - the timing of a call in simpp-videnc, as pure functions on
 * numbers: how late the packets of a track arrive (the jitter buffer's
 * measure), which audio packet plays next as the playout delay moves, and
 * the sender's delay-based congestion controller.  No codec, no clock: the
 * caller passes the times (microseconds), so the unit tests can drive every
 * path.  doc/simpp-videnc.1 (CALLS) describes the behaviour.
 */
#ifndef SIMPP_MEDIA_H
#define SIMPP_MEDIA_H

#include <stdint.h>

/* Lateness of one track: each record's arrival minus its sender time,
 * against the smallest such difference seen (the fastest a packet ever
 * came: the path's base delay plus the clock offset).  The buffer needs
 * the largest lateness of the last seconds: kept as the maximum of each
 * of MED_BUCKETS buckets of MED_BUCKET_US. */
#define MED_BUCKETS     20
#define MED_BUCKET_US   100000
struct med_late {
    int any;
    int64_t base;                   /* min(arrival - sent) */
    int64_t bucket_t;               /* start of the newest bucket */
    int64_t max[MED_BUCKETS];       /* max lateness per bucket, newest at [0] */
    int64_t jitter;                 /* RFC 3550 interarrival jitter, us */
    int64_t last_transit;
};
void    med_late_init(struct med_late *l);
/* one arrival; returns its lateness (0 for the fastest so far) */
int64_t med_late_add(struct med_late *l, int64_t arrival, int64_t sent);
/* the largest lateness in the window */
int64_t med_late_max(const struct med_late *l, int64_t now);

/* The playout delay the buffer aims at: the larger lateness of the two
 * tracks plus a margin, within [lo, hi]. */
int64_t med_target(int64_t late_audio, int64_t late_video, int64_t margin, int64_t lo, int64_t hi);
/* The delay in use moves to the target: up at once, down by at most step
 * each call (a 20 ms audio frame at a time when it is that far above). */
int64_t med_follow(int64_t delay, int64_t target, int64_t step);

/* Which audio packet plays in the output block due at time due (local us),
 * given the packet index played last (-1: none yet): the index whose
 * play time, index * frame_us + base + delay, is nearest due, kept within
 * last .. last + 2 (last again means: insert a concealed frame, the buffer
 * grows; last + 2 skips one packet, the buffer shrinks). */
int64_t med_pick(int64_t last, int64_t due, int64_t base, int64_t delay, int64_t frame_us);

/* ---- the sender's controller --------------------------------------------
 * Reports arrive from the receiver about every 500 ms with the loss (per
 * mille) and the queueing delay (how much later than the fastest the
 * packets came).  Level 0 sends the best quality at the full frame rate;
 * each level up coarsens the picture (quality + MED_QSTEP) and, from level
 * 2, halves, thirds ... the frame rate.  Up at once when the queue passes
 * MED_Q_HIGH or the loss MED_LOSS_HIGH (at most one level a second); down
 * one level after MED_CALM_US of reports under MED_Q_LOW and MED_LOSS_LOW. */
#define MED_LEVELS      6
#define MED_QSTEP       4
#define MED_Q_HIGH      80000
#define MED_Q_LOW       30000
#define MED_LOSS_HIGH   80
#define MED_LOSS_LOW    20
#define MED_CALM_US     3000000
struct med_cc {
    int level;
    int64_t changed, calm_since;
};
void med_cc_init(struct med_cc *c, int64_t now);
/* one report; returns the new level */
int  med_cc_report(struct med_cc *c, int64_t now, unsigned loss_pm, int64_t queue_us);
/* the quality and frame divisor of a level, from the base quality and the
 * codec's worst (31 for MJPEG, 51 for H.264's CRF) */
int  med_cc_quality(int level, int base, int worst);
int  med_cc_divisor(int level);

/* ---- the receiver's report, 16 bytes: u32 loss per mille, u32 queueing
 * delay (us), u32 jitter (us), u32 playout delay (us) */
#define MED_REPORT_LEN 16
struct med_report { uint32_t loss_pm, queue_us, jitter_us, delay_us; };
void med_report_encode(const struct med_report *r, uint8_t out[MED_REPORT_LEN]);
int  med_report_decode(const uint8_t *in, unsigned n, struct med_report *r);

#endif
