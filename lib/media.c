/* media.c - the timing of a call: lateness, playout delay, packet choice,
 * congestion control (media.h). */
#include <string.h>

#include "media.h"

void med_late_init(struct med_late *l)
{
    memset(l, 0, sizeof *l);
}

static void shift_to(struct med_late *l, int64_t now)
{
    if (!l->any) return;
    int64_t n = (now - l->bucket_t) / MED_BUCKET_US;
    if (n <= 0) return;
    if (n >= MED_BUCKETS) memset(l->max, 0, sizeof l->max);
    else {
        memmove(l->max + n, l->max, (size_t)(MED_BUCKETS - n) * sizeof l->max[0]);
        memset(l->max, 0, (size_t)n * sizeof l->max[0]);
    }
    l->bucket_t += n * MED_BUCKET_US;
}

int64_t med_late_add(struct med_late *l, int64_t arrival, int64_t sent)
{
    int64_t transit = arrival - sent, late;
    if (!l->any) {
        l->any = 1;
        l->base = transit;
        l->bucket_t = arrival;
        l->last_transit = transit;
    }
    shift_to(l, arrival);
    if (transit < l->base) {
        /* a faster packet than any before: everything kept was measured
         * against too high a base */
        int64_t d = l->base - transit;
        for (int i = 0; i < MED_BUCKETS; i++) l->max[i] += d;
        l->base = transit;
    }
    late = transit - l->base;
    if (late > l->max[0]) l->max[0] = late;
    int64_t d = transit - l->last_transit;
    if (d < 0) d = -d;
    l->jitter += (d - l->jitter) / 16;
    l->last_transit = transit;
    return late;
}

int64_t med_late_max(const struct med_late *l, int64_t now)
{
    int64_t m = 0, skip = l->any ? (now - l->bucket_t) / MED_BUCKET_US : MED_BUCKETS;
    if (skip < 0) skip = 0;
    for (int64_t i = 0; i + skip < MED_BUCKETS; i++)
        if (l->max[i] > m) m = l->max[i];
    return m;
}

int64_t med_target(int64_t late_audio, int64_t late_video, int64_t margin, int64_t lo, int64_t hi)
{
    int64_t t = (late_audio > late_video ? late_audio : late_video) + margin;
    return t < lo ? lo : t > hi ? hi : t;
}

int64_t med_follow(int64_t delay, int64_t target, int64_t step)
{
    if (target >= delay) return target;
    return delay - target > step ? delay - step : target;
}

int64_t med_pick(int64_t last, int64_t due, int64_t base, int64_t delay, int64_t frame_us)
{
    int64_t x = due - base - delay, n;
    /* nearest index: floor((x + frame/2) / frame), for negative x too */
    x += frame_us / 2;
    n = x >= 0 ? x / frame_us : -((-x + frame_us - 1) / frame_us);
    if (last < 0) return n;
    if (n < last) return last;
    if (n > last + 2) return last + 2;
    return n;
}

void med_cc_init(struct med_cc *c, int64_t now)
{
    c->level = 0;
    c->changed = now - 1000000;
    c->calm_since = now;
}

int med_cc_report(struct med_cc *c, int64_t now, unsigned loss_pm, int64_t queue_us)
{
    if (queue_us > MED_Q_HIGH || loss_pm > MED_LOSS_HIGH) {
        c->calm_since = -1;
        if (c->level < MED_LEVELS - 1 && now - c->changed >= 1000000) {
            c->level++;
            c->changed = now;
        }
    } else if (queue_us < MED_Q_LOW && loss_pm < MED_LOSS_LOW) {
        if (c->calm_since < 0) c->calm_since = now;
        if (c->level > 0 && now - c->calm_since >= MED_CALM_US) {
            c->level--;
            c->changed = now;
            c->calm_since = now;
        }
    } else
        c->calm_since = -1;
    return c->level;
}

int med_cc_quality(int level, int base, int worst)
{
    int q = base + level * MED_QSTEP;
    return q > worst ? worst : q;
}

int med_cc_divisor(int level)
{
    return level < 2 ? 1 : level;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void med_report_encode(const struct med_report *r, uint8_t out[MED_REPORT_LEN])
{
    put_u32(out, r->loss_pm);
    put_u32(out + 4, r->queue_us);
    put_u32(out + 8, r->jitter_us);
    put_u32(out + 12, r->delay_us);
}

int med_report_decode(const uint8_t *in, unsigned n, struct med_report *r)
{
    if (n != MED_REPORT_LEN) return -1;
    r->loss_pm = get_u32(in);
    r->queue_us = get_u32(in + 4);
    r->jitter_us = get_u32(in + 8);
    r->delay_us = get_u32(in + 12);
    return r->loss_pm <= 1000 ? 0 : -1;
}
