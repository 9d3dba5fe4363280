/* card/common.c - what both card drivers and both card programs share:
 * the reason for the last failure, the -v trace, PIN entry and the hand-over
 * of the password to the next program.  See card.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "card/card.h"
#include "crypto.h"
#include "util.h"

char card_errmsg[256];
int  card_tries = -1;
int  card_verbose;
int  card_wait_s = 5;

void card_opts_init(struct card_opts *o)
{
    *o = (struct card_opts){ .pinfd = -1, .rounds = CARDREC_MFC_ROUNDS, .pwfd = 9 };
}

int card_opt(struct card_opts *o, int opt, const char *arg)
{
    unsigned long v;
    switch (opt) {
    case 'v': card_verbose = 1; return 1;
    case 't':
        if (!strcmp(arg, "mifare")) o->mifare = 1;
        else if (strcmp(arg, "javacard")) die(EX_USAGE, "-t %s: javacard or mifare", arg);
        return 1;
    case 'r': o->reader = arg; return 1;
    case 'P': o->pinfd = fd_arg(arg); return 1;
    case 'K':
        if (parse_ulong(arg, 1000, 10000000, &o->rounds) < 0) die(EX_USAGE, "-K %s: 1000 to 10000000", arg);
        return 1;
    case 'w':
        if (parse_ulong(arg, 0, 600, &v) < 0) die(EX_USAGE, "-w %s: 0 to 600 seconds", arg);
        card_wait_s = (int)v;
        return 1;
    case 'F':
        if ((o->pwfd = fd_arg(arg)) < 3) die(EX_USAGE, "-F %s: 0, 1 and 2 are taken; 3 or above", arg);
        return 1;
    }
    return 0;
}

int card_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(card_errmsg, sizeof card_errmsg, fmt, ap);
    va_end(ap);
    return status;
}

/* One line a command or answer.  Bytes from secret_from on are secret (a
 * PIN, a PUK, a sector key, the record): only their count is shown. */
void card_trace(const char *dir, const uint8_t *p, size_t n, size_t secret_from)
{
    if (!card_verbose) return;
    fprintf(stderr, "%s: %s", progname, dir);
    for (size_t i = 0; i < n && i < secret_from; i++) fprintf(stderr, " %02X", p[i]);
    if (n > secret_from) fprintf(stderr, " <%zu secret bytes>", n - secret_from);
    fputc('\n', stderr);
}

int card_read_pin(int fd, const char *what, int confirm, size_t min, size_t max, char *buf, size_t cap,
                  size_t *len)
{
    char prompt[96], again[128];
    size_t l2;
    snprintf(prompt, sizeof prompt, "%s: ", what);
    if (read_secret(fd, prompt, buf, cap, len) < 0) {
        if (errno == ENOTTY)
            return card_fail(EX_USAGE, "%s: no terminal to ask on; give it on an fd with -P", what);
        if (errno == EMSGSIZE) return card_fail(EX_DATAERR, "%s: longer than %zu characters", what, max);
        return card_fail(EX_IOERR, "unable to read the %s: %s", what, strerror(errno));
    }
    if (*len < min || *len > max) {
        sc_zero(buf, cap);
        if (fd >= 0 && *len == 0) return card_fail(EX_DATAERR, "%s: missing (end of input on fd %d)", what, fd);
        return card_fail(EX_DATAERR, "%s: %zu to %zu characters", what, min, max);
    }
    if (confirm && fd < 0) {
        snprintf(prompt, sizeof prompt, "%s again: ", what);
        int r = read_secret(-1, prompt, again, sizeof again, &l2);
        int same = r == 0 && l2 == *len && sc_ct_eq(again, buf, *len);
        sc_zero(again, sizeof again);
        if (!same) {
            sc_zero(buf, cap);
            return card_fail(EX_DATAERR, "%s: the two entries differ", what);
        }
    }
    return CARD_OK;
}

void card_chain(char **prog, int pwfd, struct cardrec *r, const char *type, const char *card)
{
    int p[2];
    size_t pl = strlen(r->password);
    /* The password travels on a pipe that only the program inherits: never
     * argv, never the environment, never a file (doc/CARDS.md, the fd
     * contract).  It fits the pipe's buffer, so writing cannot block. */
    if (pipe2(p, O_CLOEXEC) < 0) die_sys(EX_OSERR, "pipe");
    if (write(p[1], r->password, pl) != (ssize_t)pl || write(p[1], "\n", 1) != 1)
        die_sys(EX_OSERR, "unable to pass the password");
    close(p[1]);
    if (p[0] == pwfd) {
        if (fcntl(pwfd, F_SETFD, 0) < 0) die_sys(EX_OSERR, "fcntl");
    } else {
        if (dup2(p[0], pwfd) < 0) die_sys(EX_OSERR, "dup2");     /* dup2 clears close-on-exec */
        close(p[0]);
    }
    char fd[16];
    snprintf(fd, sizeof fd, "%d", pwfd);
    /* public facts only: which account, which kind of card, which fd */
    if (setenv("SIMPP_CARD_ACCOUNT", r->account, 1) < 0 || setenv("SIMPP_CARD_TYPE", type, 1) < 0 ||
        setenv("SIMPP_CARD_ID", card, 1) < 0 || setenv("SIMPP_CARD_PWFD", fd, 1) < 0)
        die_sys(EX_OSERR, "setenv");
    sc_zero(r->password, sizeof r->password);
    execvp(prog[0], prog);
    die_sys(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR, "unable to run %s", prog[0]);
}
