/* sbuf.h - a growable byte buffer for building XML and output queues. */
#ifndef SIMPP_SBUF_H
#define SIMPP_SBUF_H

#include <stddef.h>

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;                /* an allocation failed: contents are incomplete */
} sbuf;

void sb_put(sbuf *b, const void *d, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* XML-escaped text or attribute value (& < > " ' and TAB LF CR) */
void sb_esc(sbuf *b, const char *s);
/* drop the first n bytes */
void sb_consume(sbuf *b, size_t n);
/* NUL-terminated view (adds a NUL after n, not counted) */
const char *sb_str(sbuf *b);
void sb_reset(sbuf *b);             /* empty, keep memory */
void sb_free(sbuf *b);              /* wipe and free */

#endif
