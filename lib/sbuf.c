/* sbuf.c - see sbuf.h */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

static int grow(sbuf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 256;
    char *p;
    if (b->oom) return -1;
    if (need + 1 <= b->cap) return 0;
    while (cap < need + 1) {
        if (cap > ((size_t)-1) / 2) { b->oom = 1; return -1; }
        cap *= 2;
    }
    if (!(p = realloc(b->p, cap))) { b->oom = 1; return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sb_put(sbuf *b, const void *d, size_t n)
{
    if (n == 0 || grow(b, b->n + n) < 0) return;
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

void sb_puts(sbuf *b, const char *s)
{
    if (s) sb_put(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, b->n + (size_t)n) < 0) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void sb_esc(sbuf *b, const char *s)
{
    const char *run = s;
    if (!s) return;
    for (; *s; s++) {
        const char *r = NULL;
        switch (*s) {
        case '&': r = "&amp;"; break;
        case '<': r = "&lt;"; break;
        case '>': r = "&gt;"; break;
        case '"': r = "&quot;"; break;
        case '\'': r = "&apos;"; break;
        case '\t': r = "&#9;"; break;
        case '\n': r = "&#10;"; break;
        case '\r': r = "&#13;"; break;
        }
        if (r) {
            sb_put(b, run, (size_t)(s - run));
            sb_puts(b, r);
            run = s + 1;
        }
    }
    sb_put(b, run, (size_t)(s - run));
}

void sb_consume(sbuf *b, size_t n)
{
    if (n >= b->n) { b->n = 0; return; }
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
}

const char *sb_str(sbuf *b)
{
    if (grow(b, b->n) < 0) return "";
    b->p[b->n] = 0;
    return b->p;
}

void sb_reset(sbuf *b)
{
    b->n = 0;
}

void sb_free(sbuf *b)
{
    if (b->p) {
        explicit_bzero(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof *b);
}
