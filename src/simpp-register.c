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
#include <time.h>
#include <unistd.h>

#include "clientopt.h"
#include "keyfile.h"
#include "util.h"

#define USAGE \
"usage: simpp-register [-v] [-c host[:port]] [-s relay.pub [-F] | -x [-W fd] [-M mech] [-a access]]\n" \
"                      [-t tls] [-T cafile] [-C suite] [-m mode] [-X certs.pem] [-G fd]\n" \
"                      (-k keyfile|pkcs11:URI [-E fd] | -p [-P fd] [-K rounds]) jid\n" \
"\n" \
"  jid          the account, user@domain\n" \
"  -c addr      connect to the server (else fds 6/7 under tcpclient, else a socket on\n" \
"               stdin, else the domain's DNS SRV records, else domain:5222)\n" \
"  -s file      the relay's public key: checked if the file exists, else saved (first use)\n" \
"  -F           then log in and give the relay the key signed, for the users of other\n" \
"               servers (federation), who check the signature as on any server\n" \
"  -x           an ordinary XMPP server (automatic without -s on a server without SIMPP):\n" \
"               log in with the account's server password and publish the SIMPP key,\n" \
"               signed, in the account's PEP\n" \
"  -W fd        the server's password from fd (else the terminal)\n" \
"  -M mech      only this SASL mechanism: SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS), PLAIN\n" \
"  -a access    who may read the key in PEP: presence (contacts, the default) or open\n" \
"  -k keyfile   the account's private key (simpp-keygen)\n" \
"  -k pkcs11:.. the key on a PKCS#11 token (RFC 7512 URI, simpp-keygen makes it there)\n" \
"  -E fd        the key file's passphrase, or the token's PIN, from fd (else the terminal)\n" \
"  -p           derive the key from the account's password (as simpp-keygen -p -i jid)\n" \
"  -P fd        the password from fd (else the terminal)\n" \
"  -K rounds    PBKDF2 rounds for -p (default 600000; must match simpp-keygen's)\n" \
"  -t tls       auto (STARTTLS when offered, the default; required for -x), require,\n" \
"               direct (TLS from the first byte, XEP-0368), or off\n" \
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


/* An ordinary server: log in with the server's password and publish the
 * key, signed, in the account's PEP; read it back to be sure */
static int publish_key(struct client *c, struct client_opts *o, const char *jid, sc_key *kr, const char *access)
{
    char fa[KF_FPR_LEN], fb[KF_FPR_LEN];
    int64_t when;
    client_start_xmpp(c, o, jid, NULL);
    kf_fingerprint(kr, fa);
    int r = client_pep_publish(c, jid, kr, access, (int64_t)time(NULL));
    sc_key_free(kr);
    if (r < 0) die(strstr(c->err, "no PEP") ? EX_UNAVAILABLE : EX_PROTOCOL, "%s", c->err);
    sc_key *back = client_pep_fetch(c, jid, 1, &when);
    if (!back) die(EX_PROTOCOL, "the key was published but does not read back: %s", c->err);
    kf_fingerprint(back, fb);
    sc_key_free(back);
    if (strcmp(fa, fb)) die(EX_PROTOCOL, "the server gives back another key (%s) than the one published (%s)", fb, fa);
    printf("published %s key %s access %s\n", jid, fa, access);
    client_close(c);
    client_free(c);
    return 0;
}

int main(int argc, char **argv)
{
    int opt, access_given = 0, federate = 0;
    const char *access = "presence";
    struct client_opts o;
    struct client c;
    util_setprog(argv[0]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) usage(0);
        if (!strcmp(argv[i], "--version")) print_version();
    }
    if (argv_has_secret(argc, argv)) die(EX_USAGE, "secrets are never taken on the command line: use the terminal or -P/-E fd");
    client_opts_init(&o);
    while ((opt = getopt(argc, argv, "hVFa:X:G:" CLIENT_OPTS)) != -1) {
        if (client_opt(&o, opt, optarg)) continue;
        if (opt == 'a') {
            if (strcmp(optarg, "presence") && strcmp(optarg, "open")) die(EX_USAGE, "-a %s: presence or open", optarg);
            access = optarg;
            access_given = 1;
            continue;
        }
        if (opt == 'F') {
            federate = 1;
            continue;
        }
        if (opt == 'h') usage(0);
        if (opt == 'V') print_version();
        usage(EX_USAGE);
    }
    if (argc - optind != 1) usage(EX_USAGE);
    const char *jid = argv[optind];
    sc_key *kr = client_start(&c, &o, jid, 1, 1);
    if (o.xmpp) {
        if (federate) die(EX_USAGE, "-F is for a SIMPP relay (an ordinary server gets the signed key anyway)");
        return publish_key(&c, &o, jid, kr, access);
    }
    if (access_given) die(EX_USAGE, "-a is for an ordinary XMPP server (the relay keeps its own key directory)");
    sbuf proof = { 0 };
    client_proof(&c, &o, jid, kr, &proof);
    if (client_register(&c, jid, kr, o.suite, o.mode) < 0) {
        int code = strstr(c.err, "conflict") ? EX_CANTCREAT
                   : strstr(c.err, "does not check") || strstr(c.err, "not-authorized") ? EX_NOPERM : EX_PROTOCOL;
        sc_key_free(kr);
        die(code, "%s", c.err);
    }
    char fpr[KF_FPR_LEN];
    kf_fingerprint(kr, fpr);
    printf("registered %s key %s mode %s level %s\n", jid, fpr, simpp_mode_name(o.mode),
           c.reg_level[0] ? c.reg_level : "?");
    fflush(stdout);
    if (c.reg_note[0]) fprintf(stderr, "%s: the relay says: %s\n", progname, c.reg_note);
    /* the same stream: log in, and hand the relay the signed key item */
    if (federate) {
        if (client_login(&c, jid, kr, o.suite, o.mode, NULL) < 0 ||
            client_pep_publish(&c, jid, kr, "open", (int64_t)time(NULL)) < 0) {
            sc_key_free(kr);
            die(EX_PROTOCOL, "%s", c.err);
        }
        printf("published %s key %s signed, for other servers\n", jid, fpr);
        fflush(stdout);
    }
    sb_free(&proof);
    client_close(&c);
    client_free(&c);
    sc_key_free(kr);
    return 0;
}
