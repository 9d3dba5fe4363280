/* der.c - strict DER (X.690 10.1: definite, minimal lengths).  See der.h. */
#include <string.h>

#include "der.h"

int der_take(der_t *in, uint8_t tag, der_t *val)
{
    size_t len, i = 2;
    if (!in || in->n < 2 || in->p[0] != tag) return -1;
    len = in->p[1];
    if (len & 0x80) {
        size_t nl = len & 0x7f;
        /* 0x80 is BER's indefinite form; more than 4 length bytes is absurd
         * for keys */
        if (nl == 0 || nl > 4 || in->n < 2 + nl || in->p[2] == 0) return -1;
        len = 0;
        for (size_t k = 0; k < nl; k++) len = len << 8 | in->p[2 + k];
        if (len < 0x80) return -1;                 /* should have been short form */
        i += nl;
    }
    if (len > in->n - i) return -1;
    val->p = in->p + i;
    val->n = len;
    in->p += i + len;
    in->n -= i + len;
    return 0;
}

int der_peek(const der_t *in)
{
    return in && in->n ? in->p[0] : -1;
}

int der_end(const der_t *in)
{
    return in && in->n == 0 ? 0 : -1;
}

int der_eq(const der_t *v, const uint8_t *bytes, size_t n)
{
    return v->n == n && memcmp(v->p, bytes, n) == 0;
}

int der_take_uint(der_t *in, uint8_t *out, size_t width)
{
    der_t v;
    if (der_take(in, DER_INTEGER, &v) < 0 || v.n == 0) return -1;
    if (v.p[0] & 0x80) return -1;                            /* negative */
    if (v.n > 1 && v.p[0] == 0 && !(v.p[1] & 0x80)) return -1; /* not minimal */
    if (v.p[0] == 0 && v.n > 1) { v.p++; v.n--; }
    if (v.n > width) return -1;
    memset(out, 0, width - v.n);
    memcpy(out + width - v.n, v.p, v.n);
    return 0;
}

int der_take_ulong(der_t *in, unsigned long *v)
{
    uint8_t b[sizeof(unsigned long)];
    if (der_take_uint(in, b, sizeof b) < 0) return -1;
    *v = 0;
    for (size_t i = 0; i < sizeof b; i++) *v = *v << 8 | b[i];
    return 0;
}

int der_take_bits(der_t *in, der_t *bits)
{
    der_t v;
    if (der_take(in, DER_BITSTRING, &v) < 0 || v.n < 1 || v.p[0] != 0) return -1;
    bits->p = v.p + 1;
    bits->n = v.n - 1;
    return 0;
}

int der_put(uint8_t *out, size_t cap, size_t *pos, uint8_t tag, const void *val, size_t n)
{
    uint8_t hdr[6];
    size_t h = 0;
    hdr[h++] = tag;
    if (n < 0x80)
        hdr[h++] = (uint8_t)n;
    else if (n < 0x100) {
        hdr[h++] = 0x81;
        hdr[h++] = (uint8_t)n;
    } else if (n < 0x10000) {
        hdr[h++] = 0x82;
        hdr[h++] = (uint8_t)(n >> 8);
        hdr[h++] = (uint8_t)n;
    } else
        return -1;
    if (*pos > cap || cap - *pos < h + n) return -1;
    memcpy(out + *pos, hdr, h);
    if (n) memmove(out + *pos + h, val, n);
    *pos += h + n;
    return 0;
}

int der_put_uint(uint8_t *out, size_t cap, size_t *pos, const uint8_t *num, size_t n)
{
    uint8_t tmp[80];
    size_t t = 0;
    while (n > 1 && num[0] == 0) { num++; n--; }
    if (n + 1 > sizeof tmp) return -1;
    if (n == 0 || num[0] & 0x80) tmp[t++] = 0;
    if (n) memcpy(tmp + t, num, n);
    return der_put(out, cap, pos, DER_INTEGER, tmp, t + n);
}

int der_put_ulong(uint8_t *out, size_t cap, size_t *pos, unsigned long v)
{
    uint8_t b[sizeof v];
    for (size_t i = 0; i < sizeof b; i++) b[i] = (uint8_t)(v >> (8 * (sizeof b - 1 - i)));
    return der_put_uint(out, cap, pos, b, sizeof b);
}

int der_put_bits(uint8_t *out, size_t cap, size_t *pos, const void *val, size_t n)
{
    uint8_t tmp[200];
    if (n + 1 > sizeof tmp) return -1;
    tmp[0] = 0;
    memcpy(tmp + 1, val, n);
    return der_put(out, cap, pos, DER_BITSTRING, tmp, n + 1);
}
