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

#include "clientopt.h"
#include "keyfile.h"
#include "util.h"

#define USAGE \
"usage: simpp-register [-v] [-c host[:port]] -s relay.pub [-t tls] [-T cafile] [-C suite] [-m mode]\n" \
"                      [-X certs.pem] [-G fd]\n" \
"                      (-k keyfile|pkcs11:URI [-E fd] | -p [-P fd] [-K rounds]) jid\n" \
"\n" \
"  jid          the account, user@domain\n" \
"  -c addr      connect to the relay (else fds 6/7 under tcpclient, else stdin/stdout)\n" \
"  -s file      the relay's public key: checked if the file exists, else saved (first use)\n" \
"  -k keyfile   the account's private key (simpp-keygen)\n" \
"  -k pkcs11:.. the key on a PKCS#11 token (RFC 7512 URI, simpp-keygen makes it there)\n" \
"  -E fd        the key file's passphrase, or the token's PIN, from fd (else the terminal)\n" \
"  -p           derive the key from the account's password (as simpp-keygen -p -i jid)\n" \
"  -P fd        the password from fd (else the terminal)\n" \
"  -K rounds    PBKDF2 rounds for -p (default 600000; must match simpp-keygen's)\n" \
"  -t tls       auto (STARTTLS when offered, the default), require, or off\n" \
"  -T cafile    trust the CA certificates in cafile (PEM) for the relay's TLS certificate\n" \
"  -C suite     chacha20-poly1305, aes128-gcm or aes128-cbc-hmac-sha256 (default: the relay's first)\n" \
"  -m mode      how the key is held: keyfile, password, javacard, mifare, pkcs11 (default:\n" \
"               from -k/-p); a card mode counts as one only with a proof the relay trusts:\n" \
"  -X file      the key's X.509 certificate chain (PEM, the card's certificate first)\n" \
"  -G fd        a provisioning token from the operator (simpp-relayd provision) on fd\n" \
"  -v           show the XMPP stanzas on stderr\n"

static void usage(int code)
{
    fputs(USAGE, code ? stderr : stdout);
    exit(code);
}


int main(int argc, char **argv)
{
    int opt;
    struct client_opts o;
    struct client c;
    util_setprog(argv[0]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) usage(0);
        if (!strcmp(argv[i], "--version")) print_version();
    }
    if (argv_has_secret(argc, argv)) die(EX_USAGE, "secrets are never taken on the command line: use the terminal or -P/-E fd");
    client_opts_init(&o);
    while ((opt = getopt(argc, argv, "hVX:G:" CLIENT_OPTS)) != -1) {
        if (client_opt(&o, opt, optarg)) continue;
        if (opt == 'h') usage(0);
        if (opt == 'V') print_version();
        usage(EX_USAGE);
    }
    if (argc - optind != 1) usage(EX_USAGE);
    const char *jid = argv[optind];
    sc_key *kr = client_start(&c, &o, jid, 1, 1);
    sbuf proof = { 0 };
    client_proof(&c, &o, jid, kr, &proof);
    if (client_register(&c, jid, kr, o.suite, o.mode) < 0) {
        int code = strstr(c.err, "conflict") ? EX_CANTCREAT
                   : strstr(c.err, "does not check") || strstr(c.err, "not-authorized") ? EX_NOPERM : EX_PROTOCOL;
        die(code, "%s", c.err);
    }
    char fpr[KF_FPR_LEN];
    kf_fingerprint(kr, fpr);
    printf("registered %s key %s mode %s level %s\n", jid, fpr, simpp_mode_name(o.mode),
           c.reg_level[0] ? c.reg_level : "?");
    if (c.reg_note[0]) fprintf(stderr, "%s: the relay says: %s\n", progname, c.reg_note);
    sb_free(&proof);
    client_close(&c);
    client_free(&c);
    sc_key_free(kr);
    return 0;
}
