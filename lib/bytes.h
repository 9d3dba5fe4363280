/* bytes.h - writing and reading the binary handshake messages: big-endian
 * integers and length-prefixed fields into/out of a bounded buffer.  A
 * write or read past the end sets bad and does nothing more. */
#ifndef SIMPP_BYTES_H
#define SIMPP_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wr { uint8_t *p; size_t cap, n; int bad; };
struct rd { const uint8_t *p; size_t n; int bad; };

static inline void put(struct wr *w, const void *b, size_t n)
{
    if (w->bad || w->cap - w->n < n) { w->bad = 1; return; }
    if (n) memcpy(w->p + w->n, b, n);
    w->n += n;
}
static inline void put8(struct wr *w, unsigned v) { uint8_t b = (uint8_t)v; put(w, &b, 1); }
static inline void put16(struct wr *w, unsigned v) { put8(w, v >> 8); put8(w, v); }
static inline void put64(struct wr *w, uint64_t v)
{
    for (int i = 7; i >= 0; i--) put8(w, (unsigned)(v >> (8 * i)) & 0xff);
}

static inline const uint8_t *take(struct rd *r, size_t n)
{
    const uint8_t *p = r->p;
    if (r->bad || r->n < n) { r->bad = 1; return NULL; }
    r->p += n;
    r->n -= n;
    return p;
}
static inline unsigned take8(struct rd *r) { const uint8_t *p = take(r, 1); return p ? p[0] : 0; }
static inline unsigned take16(struct rd *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (unsigned)(p[0] << 8 | p[1]) : 0;
}
static inline uint64_t take64(struct rd *r)
{
    const uint8_t *p = take(r, 8);
    uint64_t v = 0;
    for (int i = 0; p && i < 8; i++) v = v << 8 | p[i];
    return v;
}

#endif
