/* tap.h - minimal TAP producer for the C unit tests (header-only).
 * Each test binary prints "ok N - name" / "not ok N - name" and a plan at the
 * end; exit status is non-zero if anything failed. */
#ifndef SIMPP_TAP_H
#define SIMPP_TAP_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
static void __attribute__((format(printf, 4, 5)))
tap_ok(int c, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    printf("%sok %d - ", c ? "" : "not ", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!c) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
}
static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    if (tap_failed) printf("# %d of %d failed\n", tap_failed, tap_n);
    return tap_failed ? 1 : 0;
}
/* directory of test data (t/data); SIMPP_DATA overrides */
static inline const char *tap_datadir(void)
{
    const char *d = getenv("SIMPP_DATA");
    return d && *d ? d : "t/data";
}
#endif
