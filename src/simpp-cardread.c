/*
 * simpp-cardread - read the account and password a card holds and hand the
 * password to the next program: paper 000 3.2, the Java Card login ("enter
 * Java Card's PIN code to get password") and the MIFARE login.  It
 * chain-loads, so a card login reads as one command line:
 *
 *   simpp-cardread -t javacard simpp-login -c relay:5222 -s relay.pub \
 *       -p -P 9 -m javacard alice@relay simpp-session bob@relay
 *
 * The password goes to the program on a pipe at fd 9, never argv, the
 * environment or a file; the PIN comes from the terminal or an fd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "card/card.h"
#include "crypto.h"
#include "util.h"

#define USAGE \
"usage: simpp-cardread [-v] [-t javacard|mifare] [-r reader] [-P fd] [-K rounds] [-w secs]\n" \
"                      [-F fd] [prog [arg...]]\n" \
"\n" \
"  prog         run prog with the card's password on fd 9 (a pipe, one line) and\n" \
"               SIMPP_CARD_ACCOUNT in its environment; without prog, print the\n" \
"               password on stdout (never to a terminal)\n" \
"  -t type      javacard (a PIN-protected contact card over PC/SC, the default)\n" \
"               or mifare (a MIFARE Classic 1K over libnfc)\n" \
"  -r reader    javacard: the PC/SC reader (a name or its start; default: the\n" \
"               first reader holding a card); mifare: the libnfc connection\n" \
"               string (default: LIBNFC_DEVICE, else /etc/nfc/libnfc.conf)\n" \
"  -P fd        read the PIN from fd (else the terminal)\n" \
"  -K rounds    mifare: PBKDF2 rounds of the key derivation (default 100000;\n" \
"               as given to simpp-cardwrite)\n" \
"  -w secs      how long a card pulled out mid-read may take to come back (5)\n" \
"  -F fd        pass the password on fd instead of 9\n" \
"  -v           trace the card commands on stderr (PINs and the record hidden)\n" \
"Secrets are never taken on the command line.\n"

static void usage(int code)
{
    fputs(USAGE, code ? stderr : stdout);
    exit(code);
}

int main(int argc, char **argv)
{
    int opt, st;
    struct card_opts o;
    const char *card = NULL;
    char pin[MFC_PIN_MAX + 2];
    size_t pinlen;
    struct cardrec rec;
    util_setprog(argv[0]);
    card_opts_init(&o);
    for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--help")) usage(0);
        if (!strcmp(argv[i], "--version")) print_version();
    }
    while ((opt = getopt(argc, argv, "+hV" CARD_OPTS)) != -1) {
        if (card_opt(&o, opt, optarg)) continue;
        switch (opt) {
        case 'h': usage(0); break;
        case 'V': print_version(); break;
        default: usage(EX_USAGE);
        }
    }
    /* our own words only: what follows belongs to the program */
    if (argv_has_secret(optind, argv))
        die(EX_USAGE, "secrets are never taken on the command line: use the terminal or -P fd");
    char **prog = optind < argc ? argv + optind : NULL;
    if (!prog && isatty(1))
        die(EX_USAGE, "refusing to print a password on a terminal: give a program to run, or a pipe");
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto: unable to initialise");

    struct jc *j = NULL;
    struct mfc *m = NULL;
    /* the card first: "no reader" or "no card" is said before a PIN is asked for */
    if (o.mifare) {
        if ((st = mfc_open(&m, o.reader)) != CARD_OK) die(st, "%s", card_errmsg);
        card = mfc_uid(m);
    } else {
        int tries;
        if ((st = jc_open(&j, o.reader)) != CARD_OK) die(st, "%s", card_errmsg);
        card = jc_reader(j);
        /* a blocked card is told at once, without asking for a PIN */
        if ((st = jc_tries(j, &tries)) != CARD_OK) die(st, "%s", card_errmsg);
    }
    st = card_read_pin(o.pinfd, "card PIN", 0, o.mifare ? MFC_PIN_MIN : JC_PIN_MIN, o.mifare ? MFC_PIN_MAX : JC_PIN_MAX,
                       pin, sizeof pin, &pinlen);
    if (st != CARD_OK) die(st, "%s", card_errmsg);
    /* the PIN is read: its descriptor goes no further */
    if (o.pinfd > 2) close(o.pinfd);
    st = o.mifare ? mfc_read(m, pin, pinlen, o.rounds, &rec) : jc_read(j, pin, pinlen, &rec);
    sc_zero(pin, sizeof pin);
    char id[256];
    snprintf(id, sizeof id, "%s", card);
    jc_close(j);
    mfc_close(m);
    if (st != CARD_OK) die(st, "%s", card_errmsg);
    if (card_verbose) fprintf(stderr, "%s: the card holds the account %s\n", progname, rec.account);

    if (prog) card_chain(prog, o.pwfd, &rec, o.mifare ? "mifare" : "javacard", id);
    /* with write(2), not stdio: no copy of the password left in a buffer */
    size_t pl = strlen(rec.password);
    rec.password[pl] = '\n';
    int bad = write(1, rec.password, pl + 1) != (ssize_t)(pl + 1);
    cardrec_wipe(&rec);
    if (bad) die_sys(EX_IOERR, "unable to write stdout");
    return 0;
}
