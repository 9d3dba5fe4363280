/* util.c - error grammar, secrets, atomic files.  See util.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "util.h"

const char *progname = "simpp";

void util_setprog(const char *argv0)
{
    const char *s;
    if (!argv0 || !*argv0) return;
    s = strrchr(argv0, '/');
    progname = s ? s + 1 : argv0;
}

static void vmsg(const char *kind, const char *fmt, va_list ap, int err)
{
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (err)
        fprintf(stderr, "%s: %s%s: %s\n", progname, kind, buf, strerror(err));
    else
        fprintf(stderr, "%s: %s%s\n", progname, kind, buf);
}

void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap, 0);
    va_end(ap);
    exit(code);
}

void die_sys(int code, const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap, e);
    va_end(ap);
    exit(code);
}

void warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap, 0);
    va_end(ap);
}

void print_version(void)
{
    printf("%s %s\n", progname, SIMPP_VERSION);
    exit(0);
}

static int read_line(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0 || c == '\n') break;
        if (n + 1 >= cap) {
            explicit_bzero(buf, cap);
            errno = EMSGSIZE;
            return -1;
        }
        buf[n++] = c;
    }
    if (n && buf[n - 1] == '\r') n--;
    buf[n] = 0;
    *len = n;
    return 0;
}

int read_secret(int fd, const char *prompt, char *buf, size_t cap, size_t *len)
{
    struct termios old, quiet;
    int tty, r, e;
    if (!buf || cap < 2 || !len) { errno = EINVAL; return -1; }
    buf[0] = 0;
    if (fd >= 0) return read_line(fd, buf, cap, len);
    tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0) { errno = ENOTTY; return -1; }
    if (tcgetattr(tty, &old) < 0) { close(tty); errno = ENOTTY; return -1; }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    /* echo off before the prompt: what is typed once the prompt shows is
     * kept (TCSAFLUSH drops only what came before it) and never echoed */
    tcsetattr(tty, TCSAFLUSH, &quiet);
    if (prompt && write(tty, prompt, strlen(prompt)) < 0) { /* prompt is best effort */ }
    r = read_line(tty, buf, cap, len);
    e = errno;
    tcsetattr(tty, TCSAFLUSH, &old);
    if (write(tty, "\n", 1) < 0) { /* cosmetic */ }
    close(tty);
    errno = e;
    return r;
}

int argv_has_secret(int argc, char **argv)
{
    static const char *bad[] = { "--pass", "--password", "--passphrase", "--pin", "--secret",
                                 "--key=", "-password", "-pass" };
    for (int i = 1; i < argc && argv[i]; i++)
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++)
            if (strncmp(argv[i], bad[j], strlen(bad[j])) == 0) return 1;
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, int force)
{
    char *tmp, *dcopy;
    int fd, e;
    struct stat st;
    if (!path || !*path) { errno = EINVAL; return -1; }
    if (!force && lstat(path, &st) == 0) { errno = EEXIST; return -1; }
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) return -1;
    fd = mkstemp(tmp);
    if (fd < 0) { e = errno; free(tmp); errno = e; return -1; }
    const char *p = data;
    size_t left = len;
    if (fchmod(fd, mode) < 0) goto fail;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) { fd = -1; goto fail; }
    fd = -1;
    /* without force, never replace a file that appeared meanwhile */
    if ((force ? rename(tmp, path) : renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE)) < 0)
        goto fail;
    /* make the rename durable too */
    if ((dcopy = strdup(path))) {
        int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { fsync(dfd); close(dfd); }
        free(dcopy);
    }
    free(tmp);
    return 0;
fail:
    e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(tmp);
    errno = e;
    return -1;
}

int read_file(const char *path, size_t max, char **out, size_t *len)
{
    struct stat st;
    int fd, e;
    size_t n = 0;
    char *buf;
    if (strcmp(path, "-") == 0)
        fd = dup(0);
    else
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    if (fstat(fd, &st) < 0) goto fail;
    if (!S_ISREG(st.st_mode) && strcmp(path, "-") != 0) { errno = EINVAL; goto fail; }
    if (!(buf = malloc(max + 1))) goto fail;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { e = errno; free(buf); errno = e; goto fail; }
        if (r == 0) break;
        n += (size_t)r;
        if (n > max) { free(buf); errno = EFBIG; goto fail; }
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int fd_arg(const char *s)
{
    unsigned long v;
    if (parse_ulong(s, 0, 1023, &v) < 0) die(EX_USAGE, "bad file descriptor: %s", s);
    return (int)v;
}

size_t utf8_char(const uint8_t *p, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t v, min;
    if (p[0] < 0x80) { *cp = p[0]; return 1; }
    if (p[0] >= 0xC2 && p[0] <= 0xDF) { len = 2; v = p[0] & 0x1F; min = 0x80; }
    else if (p[0] >= 0xE0 && p[0] <= 0xEF) { len = 3; v = p[0] & 0x0F; min = 0x800; }
    else if (p[0] >= 0xF0 && p[0] <= 0xF4) { len = 4; v = p[0] & 0x07; min = 0x10000; }
    else return 0;                          /* a continuation byte, C0/C1, F5-FF */
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}
