/*
 * simpp-register - register an account with a SIMPP relay: R1-R3 of paper
 * 001 Fig. 5.  The relay's key is pinned in a file (trust on first use when
 * the file does not exist yet); what the client keeps is that file and its
 * own key (or the password the key comes from).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client.h"
#include "keyfile.h"
#include "util.h"

#define USAGE \
"usage: simpp-register [-v] [-c host[:port]] -s relay.pub [-C suite] [-m mode]\n" \
"                      (-k keyfile [-E fd] | -p [-P fd] [-K rounds]) jid\n" \
"\n" \
"  jid          the account, user@domain\n" \
"  -c addr      connect to the relay (else fds 6/7 under tcpclient, else stdin/stdout)\n" \
"  -s file      the relay's public key: checked if the file exists, else saved (first use)\n" \
"  -k keyfile   the account's private key (simpp-keygen)\n" \
"  -E fd        the key file's passphrase from fd (else the terminal)\n" \
"  -p           derive the key from the account's password (as simpp-keygen -p -i jid)\n" \
"  -P fd        the password from fd (else the terminal)\n" \
"  -K rounds    PBKDF2 rounds for -p (default 600000; must match simpp-keygen's)\n" \
"  -C suite     chacha20-poly1305, aes128-gcm or aes128-cbc-hmac-sha256 (default: the relay's first)\n" \
"  -m mode      how the key is held: keyfile, password, javacard, mifare (default: from -k/-p)\n" \
"  -v           show the XMPP stanzas on stderr\n"

static void usage(int code)
{
    fputs(USAGE, code ? stderr : stdout);
    exit(code);
}


int main(int argc, char **argv)
{
    int opt, verbose = 0, frompw = 0, pwfd = -1, passfd = -1, suite = 0, mode = -1, rfd, wfd, wrote;
    unsigned long rounds = 600000;
    const char *addr = NULL, *pin = NULL, *keyfile = NULL;
    char err[512];
    struct client c;
    util_setprog(argv[0]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) usage(0);
        if (!strcmp(argv[i], "--version")) print_version();
    }
    if (argv_has_secret(argc, argv)) die(EX_USAGE, "secrets are never taken on the command line: use the terminal or -P/-E fd");
    while ((opt = getopt(argc, argv, "hVvc:s:k:E:pP:K:C:m:")) != -1) {
        switch (opt) {
        case 'h': usage(0); break;
        case 'V': print_version(); break;
        case 'v': verbose = 1; break;
        case 'c': addr = optarg; break;
        case 's': pin = optarg; break;
        case 'k': keyfile = optarg; break;
        case 'E': passfd = fd_arg(optarg); break;
        case 'p': frompw = 1; break;
        case 'P': pwfd = fd_arg(optarg); break;
        case 'K':
            if (parse_ulong(optarg, 1000, 10000000, &rounds) < 0) die(EX_USAGE, "-K %s: 1000 to 10000000", optarg);
            break;
        case 'C':
            if (!(suite = sc_suite_from_name(optarg))) die(EX_USAGE, "unknown suite: %s", optarg);
            break;
        case 'm':
            if ((mode = simpp_mode_from_name(optarg)) < 0)
                die(EX_USAGE, "unknown mode: %s (keyfile, password, javacard, mifare)", optarg);
            break;
        default: usage(EX_USAGE);
        }
    }
    if (argc - optind != 1) usage(EX_USAGE);
    if (!pin) die(EX_USAGE, "-s relay.pub is required: the relay's key must be pinned");
    if (!frompw == !keyfile) die(EX_USAGE, "give one of -k keyfile or -p");
    const char *jid = argv[optind];
    if (!strchr(jid, '@') || strchr(jid, '/')) die(EX_USAGE, "%s: expected a bare JID user@domain", jid);
    /* chained after simpp-cardread/-cardwrite: the card says whose it is and
     * what it is (public facts in the environment, checked here) */
    const char *card_acct = getenv("SIMPP_CARD_ACCOUNT"), *card_type = getenv("SIMPP_CARD_TYPE");
    if (frompw && card_acct && *card_acct && strcasecmp(card_acct, jid) != 0)
        die(EX_USAGE, "the card holds %s, not %s", card_acct, jid);
    if (mode < 0 && frompw && card_type && simpp_mode_from_name(card_type) >= SIMPP_MODE_JAVACARD)
        mode = simpp_mode_from_name(card_type);
    if (mode < 0) mode = frompw ? SIMPP_MODE_PASSWORD : SIMPP_MODE_KEYFILE;
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto: unable to initialise");

    sc_key *kr = client_key(keyfile, passfd, frompw, pwfd, jid, rounds, SC_P256, err, sizeof err);
    if (!kr) die(strstr(err, "wrong passphrase") ? EX_NOPERM : strstr(err, "no terminal") ? EX_USAGE : EX_DATAERR,
                 "%s", err);
    /* the secrets are read: their descriptors go no further (not to a
     * chained program) */
    if (pwfd > 2) close(pwfd);
    if (passfd > 2) close(passfd);
    if (client_connect(addr, 1, &rfd, &wfd, err, sizeof err) < 0) die(EX_UNAVAILABLE, "%s", err);
    const char *domain = strchr(jid, '@') + 1;
    client_init(&c, rfd, wfd, domain);
    c.verbose = verbose;
    if (client_open(&c) < 0) die(EX_PROTOCOL, "%s", c.err);
    if (client_pin(&c, pin, 1, &wrote) < 0) die(EX_NOPERM, "%s", c.err);
    if (wrote) {
        char fpr[KF_FPR_LEN];
        kf_fingerprint(c.server_key, fpr);
        fprintf(stderr, "%s: first use: pinned the relay's key %s in %s\n", progname, fpr, pin);
    }
    int s = client_pick_suite(&c, suite);
    if (!s) die(EX_PROTOCOL, "the relay offers no suite we accept");
    if (client_register(&c, jid, kr, s, mode) < 0) {
        int code = strstr(c.err, "conflict") ? EX_CANTCREAT : strstr(c.err, "does not check") ? EX_NOPERM : EX_PROTOCOL;
        die(code, "%s", c.err);
    }
    char fpr[KF_FPR_LEN];
    kf_fingerprint(kr, fpr);
    printf("registered %s key %s mode %s\n", jid, fpr, simpp_mode_name(mode));
    client_close(&c);
    client_free(&c);
    sc_key_free(kr);
    return 0;
}
