/*
 * util.h - what every simpp program shares: the error grammar, exit codes
 * (sysexits.h, the same meaning everywhere), secrets from a tty or an fd,
 * and files written atomically.
 *
 * Error grammar (stderr, one line):   simpp-x: what: why
 */
#ifndef SIMPP_UTIL_H
#define SIMPP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sysexits.h>

extern const char *progname;

void util_setprog(const char *argv0);
_Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* as die(), with ": strerror(errno)" appended */
_Noreturn void die_sys(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* print "progname VERSION" and exit 0 */
_Noreturn void print_version(void);

/*
 * Read one secret line.  fd >= 0: read it from that inherited descriptor (up
 * to a newline or EOF).  fd < 0: prompt on /dev/tty with echo off.  The
 * trailing newline is dropped.  Returns 0, or -1 with errno set (ENOTTY when
 * there is no terminal, EMSGSIZE when the line does not fit).  buf is always
 * NUL-terminated; the caller wipes it with sc_zero.
 */
int read_secret(int fd, const char *prompt, char *buf, size_t cap, size_t *len);

/*
 * Refuse an option that would put a secret on the command line: returns 1
 * if any argv word looks like --password..., --pass=..., --pin... etc.
 */
int argv_has_secret(int argc, char **argv);

/*
 * Write a file atomically: a temporary file in the same directory, fsync,
 * then rename.  Without force an existing file is never replaced (EEXIST).
 * Returns 0 or -1 with errno set.
 */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, int force);

/* Read a whole regular file (O_NOFOLLOW), at most max bytes (EFBIG past it).
 * *out is malloc'd and NUL-terminated. */
int read_file(const char *path, size_t max, char **out, size_t *len);

/* a file descriptor number from the command line (0..1023); dies with
 * EX_USAGE on anything else */
int fd_arg(const char *s);

/* parse an unsigned decimal in [min, max]; 0 ok, -1 bad */
int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* The well-formed UTF-8 character at p (n >= 1 bytes left): its length, 1
 * to 4, and its code point in *cp; 0 if there is none (RFC 3629 4: no
 * overlong form, no surrogate, nothing past U+10FFFF, none cut short) */
size_t utf8_char(const uint8_t *p, size_t n, uint32_t *cp);

#endif
