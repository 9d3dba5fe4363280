/*
 * simpp-cardwrite - provision a card for SIMPP login (paper 000 3.2): the
 * user sets the card's PIN, SIMPP generates a password and records account
 * and password on the card; then the rest of the command line runs with
 * that password on fd 9, typically simpp-register:
 *
 *   simpp-cardwrite -t javacard alice@relay \
 *       simpp-register -c relay:5222 -s relay.pub -p -P 9 -m javacard alice@relay
 *
 * With -b LIST it provisions the card in the reader with the next account
 * of LIST that has none yet, for cron; "no card" is then EX_TEMPFAIL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "card/card.h"
#include "crypto.h"
#include "util.h"

#define USAGE \
"usage: simpp-cardwrite [-fnquv] [-t javacard|mifare] [-r reader] [-P fd] [-K rounds]\n" \
"                       [-w secs] [-F fd] (account | -b list) [prog [arg...]]\n" \
"       simpp-cardwrite -C [-uv] [-t javacard|mifare] [-r reader] [-P fd] [-K rounds]\n" \
"\n" \
"  account      the SIMPP account (user@domain) the card is for; a password is\n" \
"               generated for it and written with it to the card\n" \
"  prog         run prog with the password on fd 9 (a pipe, one line) and\n" \
"               SIMPP_CARD_ACCOUNT in its environment (e.g. simpp-register -p -P 9)\n" \
"  -t type      javacard (PIN-protected contact card over PC/SC, the default) or\n" \
"               mifare (MIFARE Classic 1K over libnfc; keys derived from the PIN)\n" \
"  -r reader    javacard: the PC/SC reader (a name or its start); mifare: the\n" \
"               libnfc connection string (default: LIBNFC_DEVICE, libnfc.conf)\n" \
"  -P fd        read the PINs from fd, one a line: the current PIN (the PUK with -u;\n" \
"               for mifare only with -f or -C), then the new PIN (not with -n)\n" \
"  -n           javacard: keep the card's PIN\n" \
"  -u           javacard: unblock with the PUK, setting a new PIN\n" \
"  -C           change the PIN only; the record stays\n" \
"  -f           overwrite a card that already holds a SIMPP record\n" \
"  -b list      batch: the next account of list (one a line) not yet in list.done;\n" \
"               a provisioning token after the account (simpp-relayd provision) goes\n" \
"               to prog on fd 10 ($SIMPP_CARD_PROVISION_FD): the account registers at level card\n" \
"  -q           nothing to do is said by the exit status alone: no card in the\n" \
"               reader, another run at work (75); for cron, which mails all output\n" \
"  -K rounds    mifare: PBKDF2 rounds of the key derivation (default 100000)\n" \
"  -w secs      how long a card pulled out mid-write may take to come back (5)\n" \
"  -F fd        pass the password on fd instead of 9\n" \
"  -v           trace the card commands on stderr (PINs and the record hidden)\n" \
"Secrets are never taken on the command line.\n"

#define LIST_MAX (1u << 20)

static void usage(int code)
{
    fputs(USAGE, code ? stderr : stdout);
    exit(code);
}

/* Batch: lock LIST.done, pick the first account of LIST it does not name. */
/* -q: no card, or another run holding the list, is "try again later" (75)
 * and nothing else */
static int quiet;

static int next_account(const char *list, char *account, size_t cap, char *token, size_t tcap, char **donepath)
{
    char *text, *done;
    size_t len, dlen;
    if (asprintf(donepath, "%s.done", list) < 0) die_sys(EX_OSERR, "asprintf");
    int fd = open(*donepath, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) die_sys(EX_CANTCREAT, "unable to open %s", *donepath);
    /* two cron runs must not hand one account to two cards */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            if (quiet) exit(EX_TEMPFAIL);
            die(EX_TEMPFAIL, "another simpp-cardwrite is provisioning from %s", list);
        }
        die_sys(EX_IOERR, "unable to lock %s", *donepath);
    }
    if (read_file(list, LIST_MAX, &text, &len) < 0) die_sys(EX_NOINPUT, "unable to read %s", list);
    if (read_file(*donepath, LIST_MAX, &done, &dlen) < 0) die_sys(EX_IOERR, "unable to read %s", *donepath);
    int lineno = 0, found = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        line += strspn(line, " \t");
        /* "account [token]": the operator's provisioning token (simpp-relayd
         * provision) may follow the account */
        char *tok = line + strcspn(line, " \t\r#");
        int more = *tok == ' ' || *tok == '\t';
        *tok = 0;
        if (more) {
            tok++;
            tok += strspn(tok, " \t");
            tok[strcspn(tok, " \t\r#")] = 0;
        } else
            tok = NULL;
        if (!*line) continue;
        if (cardrec_check_account(line) < 0) die(EX_DATAERR, "%s:%d: not an account: %s", list, lineno, line);
        /* LIST.done lines: date account type card */
        found = 1;
        for (const char *p = done; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
            const char *a = strchr(p, ' ');
            size_t n = strlen(line);
            if (a && !strncmp(a + 1, line, n) && a[1 + n] == ' ') { found = 0; break; }
        }
        if (found) {
            snprintf(account, cap, "%s", line);
            snprintf(token, tcap, "%s", tok ? tok : "");
        }
    }
    free(text);
    free(done);
    if (!found) die(EX_CONFIG, "every account in %s has a card (see %s)", list, *donepath);
    return fd;
}

/* the list's provisioning token for the program, on fd 10 through a pipe
 * ($SIMPP_CARD_PROVISION_FD): simpp-register proves it to the relay, which
 * then records level card (doc/CARDS.md) */
static void pass_token(const char *token)
{
    int p[2];
    size_t n = strlen(token);
    if (pipe(p) < 0) die_sys(EX_OSERR, "pipe");
    if (write(p[1], token, n) != (ssize_t)n || write(p[1], "\n", 1) != 1) die_sys(EX_OSERR, "unable to pass the token");
    close(p[1]);
    if (p[0] != 10 && (dup2(p[0], 10) < 0 || close(p[0]) < 0)) die_sys(EX_OSERR, "dup2");
    if (setenv("SIMPP_CARD_PROVISION_FD", "10", 1) < 0) die_sys(EX_OSERR, "setenv");
}

static void log_done(int fd, const char *path, const char *account, const char *type, const char *card)
{
    char line[512], date[32];
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    int n = snprintf(line, sizeof line, "%s %s %s %s\n", date, account, type, card);
    if (n < 0 || (size_t)n >= sizeof line || write(fd, line, (size_t)n) != n || fsync(fd) < 0)
        die_sys(EX_IOERR, "the card is written, but recording it in %s failed", path);
}

int main(int argc, char **argv)
{
    int opt, force = 0, keep = 0, unblock = 0, pin_only = 0, st;
    struct card_opts o;
    const char *list = NULL, *card;
    char cur[MFC_PIN_MAX + 2], npin[MFC_PIN_MAX + 2], account[CARDREC_ACCOUNT_MAX + 1], token[128] = "";
    size_t curlen = 0, npinlen = 0;
    struct cardrec rec;
    util_setprog(argv[0]);
    card_opts_init(&o);
    for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--help")) usage(0);
        if (!strcmp(argv[i], "--version")) print_version();
    }
    while ((opt = getopt(argc, argv, "+hV" CARD_OPTS "fnquCb:")) != -1) {
        if (card_opt(&o, opt, optarg)) continue;
        switch (opt) {
        case 'h': usage(0); break;
        case 'V': print_version(); break;
        case 'f': force = 1; break;
        case 'n': keep = 1; break;
        case 'q': quiet = 1; break;
        case 'u': unblock = 1; break;
        case 'C': pin_only = 1; break;
        case 'b': list = optarg; break;
        default: usage(EX_USAGE);
        }
    }
    if (argv_has_secret(optind < argc ? optind + 1 : argc, argv))
        die(EX_USAGE, "secrets are never taken on the command line: use the terminal or -P fd");
    if (o.mifare && (keep || unblock)) die(EX_USAGE, "-n and -u are for a Java Card: a MIFARE card has no PIN of its own");
    if (keep && (unblock || pin_only)) die(EX_USAGE, "-n keeps the PIN: not with -u or -C");
    if (pin_only && (list || force)) die(EX_USAGE, "-C changes the PIN only: not with -b or -f");
    if (!list && !pin_only) {
        if (optind >= argc) usage(EX_USAGE);
        if (cardrec_check_account(argv[optind]) < 0)
            die(EX_USAGE, "%s: expected a bare JID user@domain of at most %d characters", argv[optind],
                CARDREC_ACCOUNT_MAX);
        snprintf(account, sizeof account, "%s", argv[optind++]);
    }
    char **prog = optind < argc ? argv + optind : NULL;
    if (pin_only && prog) usage(EX_USAGE);
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto: unable to initialise");

    /* the card first: no reader, no card, a card that is not ours, or one
     * already provisioned are told before any PIN is asked for */
    struct jc *j = NULL;
    struct mfc *m = NULL;
    int provisioned = 0;
    if (o.mifare) {
        if ((st = mfc_open(&m, o.reader)) != CARD_OK || (st = mfc_provisioned(m, &provisioned)) != CARD_OK) {
            if (st == CARD_ENOCARD && quiet) exit(st);
            die(st, "%s", card_errmsg);
        }
        card = mfc_uid(m);
    } else {
        int tries;
        if ((st = jc_open(&j, o.reader)) != CARD_OK) {
            if (st == CARD_ENOCARD && quiet) exit(st);
            die(st, "%s", card_errmsg);
        }
        card = jc_reader(j);
        provisioned = jc_provisioned(j);
        st = jc_tries(j, &tries);
        if (st != CARD_OK && !(st == CARD_EBLOCKED && unblock)) die(st, "%s", card_errmsg);
    }
    /* for messages: "the Java Card in READER" / "the MIFARE card UID" */
    char where[300];
    snprintf(where, sizeof where, "the %s %s", o.mifare ? "MIFARE card" : "Java Card in", card);
    if (provisioned && !force && !pin_only)
        die(EX_CANTCREAT, "%s already holds a SIMPP record: not overwriting it without -f", where);
    if (pin_only && o.mifare && !provisioned)
        die(CARD_ENOTSIMPP, "%s holds no SIMPP record: its keys come from no PIN yet", where);
    int donefd = -1;
    char *donepath = NULL;
    if (list) donefd = next_account(list, account, sizeof account, token, sizeof token, &donepath);

    /* the PINs: the one in force (or the PUK), then the new one */
    size_t min = o.mifare ? MFC_PIN_MIN : JC_PIN_MIN, max = o.mifare ? MFC_PIN_MAX : JC_PIN_MAX;
    if (!o.mifare || force || pin_only) {
        st = unblock ? card_read_pin(o.pinfd, "PUK", 0, JC_PUK_LEN, JC_PUK_LEN, cur, sizeof cur, &curlen)
                     : card_read_pin(o.pinfd, "current card PIN", 0, min, max, cur, sizeof cur, &curlen);
        if (st != CARD_OK) die(st, "%s", card_errmsg);
    }
    if (!keep && (st = card_read_pin(o.pinfd, "new card PIN", 1, min, max, npin, sizeof npin, &npinlen)) != CARD_OK)
        die(st, "%s", card_errmsg);
    if (o.pinfd > 2) close(o.pinfd);

    memset(&rec, 0, sizeof rec);
    if (!pin_only) {
        snprintf(rec.account, sizeof rec.account, "%s", account);
        /* paper 000 3.2.2: "SIMPP will create password and record into
         * Java Card"; the same for MIFARE, where the paper lets the user
         * pick one: a generated password is never a weak one */
        if (cardrec_new_password(rec.password) < 0) die(EX_SOFTWARE, "unable to generate a password");
    }
    st = CARD_OK;
    if (o.mifare) {
        if (pin_only) st = mfc_read(m, cur, curlen, o.rounds, &rec);
        if (st == CARD_OK)
            st = mfc_write(m, curlen ? cur : NULL, curlen, npin, npinlen, o.rounds, &rec);
    } else {
        struct jc_write w = { cur, curlen, keep ? NULL : npin, npinlen, unblock };
        st = jc_write(j, &w, pin_only ? NULL : &rec);
    }
    sc_zero(cur, sizeof cur);
    sc_zero(npin, sizeof npin);
    char id[256];
    snprintf(id, sizeof id, "%s", card);
    card = id;
    jc_close(j);
    mfc_close(m);
    if (st != CARD_OK) {
        cardrec_wipe(&rec);
        if (st == CARD_EIO && !o.mifare && !pin_only)
            die(st, "%s; write the card again (its PIN may already be the new one: then -n with it)", card_errmsg);
        if (st == CARD_EIO && o.mifare)
            die(st, "%s; the card may hold a torn record, which is refused: write it again with -f", card_errmsg);
        die(st, "%s", card_errmsg);
    }
    const char *type = o.mifare ? "mifare" : "javacard";
    if (pin_only) {
        cardrec_wipe(&rec);
        fprintf(stderr, "%s: changed the PIN of %s\n", progname, where);
        return 0;
    }
    if (list) {
        log_done(donefd, donepath, rec.account, type, id);
        close(donefd);
        free(donepath);
    }
    fprintf(stderr, "%s: wrote %s to %s\n", progname, rec.account, where);
    if (prog && token[0]) pass_token(token);
    sc_zero(token, sizeof token);
    if (prog) card_chain(prog, o.pwfd, &rec, type, id);
    cardrec_wipe(&rec);
    return 0;
}
