/*
 * simpp-keygen - make a SIMPP key pair (client or server), from randomness
 * or from a password (paper 001 3.1: KR_A = h(pw_A), here salted with the
 * account and slowed with PBKDF2), write the private key as PKCS#8 PEM
 * (0600) and the public key as SPKI PEM, print the public key and its
 * fingerprint on stdout.  With -y, read a key file back and print the same.
 * Given a PKCS#11 URI instead of a file, the key pair is made on the token
 * (the private key sensitive, never extractable) and only the public key
 * leaves it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "keyfile.h"
#include "p11.h"
#include "util.h"

#define USAGE \
"usage: simpp-keygen [-fq] [-t client|server] [-C curve] [-e] [-E fd] [-K rounds]\n" \
"                    [-p -i account] [-P fd] [-w pubfile] keyfile\n" \
"       simpp-keygen -y [-q] [-E fd] keyfile\n" \
"       simpp-keygen [-q] [-C curve] [-E fd] [-w pubfile] pkcs11:token=...;object=NAME\n" \
"\n" \
"  keyfile     private key to write (PKCS#8 PEM, mode 0600); the public key\n" \
"              goes to keyfile.pub (SPKI PEM) unless -w says otherwise\n" \
"  -t type     client (default) or server; a server key is always random\n" \
"  -C curve    P-256 (default), P-384, or P-224 (the paper's size)\n" \
"  -p          derive the key from a password (KR = PBKDF2(pw, account)):\n" \
"              the same password and account give the same key again\n" \
"  -i account  the account the password belongs to (the salt), with -p\n" \
"  -P fd       read the password from file descriptor fd (else the terminal)\n" \
"  -e          encrypt the private key file with a passphrase (PBES2)\n" \
"  -E fd       read the passphrase from file descriptor fd (else the terminal)\n" \
"  -K rounds   PBKDF2-HMAC-SHA256 rounds for -p and -e (default 600000)\n" \
"  -w pubfile  where to write the public key ('-' for nowhere)\n" \
"  -f          replace existing files\n" \
"  -y          read keyfile (private or public) and print its public key\n" \
"  -q          print only the fingerprint\n" \
"  pkcs11:...  a PKCS#11 URI (RFC 7512) instead of keyfile: make the key pair on\n" \
"              the token (or with -y show its public key); the module is\n" \
"              p11-kit's, or module-path=/path/to/module.so in the URI; the\n" \
"              PIN from the terminal or -E fd; the public key goes to -w only\n" \
"  -h, --help  this text;  -V, --version  the version\n" \
"Secrets are never taken from the command line.\n"

#define SECRET_MAX 1024

static void usage(int code)
{
    fputs(USAGE, code ? stderr : stdout);
    exit(code);
}

/* A secret from an fd, or twice from the terminal when making something new */
static size_t get_secret(int fd, const char *what, int confirm, char *buf)
{
    char prompt[64], again[SECRET_MAX];
    size_t len, len2;
    snprintf(prompt, sizeof prompt, "%s: ", what);
    if (read_secret(fd, prompt, buf, SECRET_MAX, &len) < 0) {
        if (errno == ENOTTY)
            die(EX_USAGE, "%s: no terminal to ask on; give it on an fd", what);
        die_sys(EX_IOERR, "unable to read %s", what);
    }
    if (len == 0) die(EX_DATAERR, "%s: empty", what);
    if (confirm && fd < 0) {
        snprintf(prompt, sizeof prompt, "%s again: ", what);
        if (read_secret(-1, prompt, again, sizeof again, &len2) < 0)
            die_sys(EX_IOERR, "unable to read %s", what);
        int same = len == len2 && sc_ct_eq(buf, again, len);
        sc_zero(again, sizeof again);
        if (!same) die(EX_DATAERR, "%s: the two entries differ", what);
    }
    return len;
}


static void show(const sc_key *k, int quiet)
{
    char fpr[KF_FPR_LEN], *pem;
    if (kf_fingerprint(k, fpr) < 0) die(EX_SOFTWARE, "fingerprint: internal error");
    if (!quiet) {
        if (!(pem = kf_public_pem(k))) die(EX_SOFTWARE, "public key: internal error");
        fputs(pem, stdout);
        free(pem);
    }
    printf("%s\n", fpr);
    if (fflush(stdout) == EOF || ferror(stdout)) die_sys(EX_IOERR, "unable to write stdout");
}

static int show_existing(const char *path, int passfd, int quiet)
{
    char *text, pass[SECRET_MAX];
    size_t len, pl = 0;
    sc_key *k;
    if (read_file(path, 64 * 1024, &text, &len) < 0) {
        if (errno == ENOENT) die_sys(EX_NOINPUT, "%s", path);
        die_sys(EX_NOINPUT, "unable to read %s", path);
    }
    if (kf_is_encrypted(text)) pl = get_secret(passfd, "passphrase", 0, pass);
    k = kf_parse(text, len, pl ? pass : NULL, pl, 0);
    sc_zero(pass, sizeof pass);
    sc_zero(text, len);
    free(text);
    if (!k) die(kf_errno == KF_EPASS ? EX_NOPERM : EX_DATAERR, "%s: %s", path, kf_strerror(kf_errno));
    show(k, quiet);
    sc_key_free(k);
    return 0;
}

/* a key pair on a PKCS#11 token, or (-y) its public key */
static int on_token(const char *uri, int read_back, int file_opts, int pinfd, int curve, const char *pubpath,
                    int force, int quiet)
{
    struct p11_status st;
    sc_key *k;
    if (file_opts) die(EX_USAGE, "-t server, -p, -i and -e are for key files, not tokens");
    k = read_back ? p11_key_public(uri, pinfd, &st) : p11_key_generate(uri, pinfd, curve, &st);
    if (!k) die(st.code, "%s", st.msg);
    if (pubpath && strcmp(pubpath, "-") != 0 && kf_write_public(pubpath, k, force) < 0) {
        if (errno == EEXIST) die(EX_CANTCREAT, "%s: file exists (use -f to replace it)", pubpath);
        die_sys(EX_CANTCREAT, "unable to write %s", pubpath);
    }
    show(k, quiet);
    sc_key_free(k);
    return 0;
}

int main(int argc, char **argv)
{
    int opt, force = 0, quiet = 0, server = 0, frompw = 0, encrypt = 0, read_back = 0;
    int pwfd = -1, passfd = -1, curve = SC_P256, encrypt_file = 0;
    unsigned long rounds = KF_DEFAULT_ITER;
    const char *account = NULL, *pubpath = NULL, *path;
    char pw[SECRET_MAX], pass[SECRET_MAX], *defpub = NULL;
    size_t pwl = 0, passl = 0;
    sc_key *k;

    util_setprog(argv[0]);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) usage(0);
        if (strcmp(argv[i], "--version") == 0) print_version();
        if (strcmp(argv[i], "--") == 0) break;
    }
    if (argv_has_secret(argc, argv))
        die(EX_USAGE, "secrets are never taken on the command line: use the terminal or -P/-E fd");
    while ((opt = getopt(argc, argv, "hVfqt:C:pi:P:eE:K:w:y")) != -1) {
        switch (opt) {
        case 'h': usage(0); break;
        case 'V': print_version(); break;
        case 'f': force = 1; break;
        case 'q': quiet = 1; break;
        case 't':
            if (strcmp(optarg, "server") == 0) server = 1;
            else if (strcmp(optarg, "client") != 0) die(EX_USAGE, "-t %s: client or server", optarg);
            break;
        case 'C':
            if (!(curve = sc_curve_from_name(optarg)))
                die(EX_USAGE, "unknown curve: %s (P-256, P-384, P-224)", optarg);
            break;
        case 'p': frompw = 1; break;
        case 'i': account = optarg; break;
        case 'P': pwfd = fd_arg(optarg); break;
        case 'e': encrypt = encrypt_file = 1; break;
        case 'E': passfd = fd_arg(optarg); encrypt = 1; break;
        case 'K':
            if (parse_ulong(optarg, 1000, 10000000, &rounds) < 0)
                die(EX_USAGE, "-K %s: rounds between 1000 and 10000000", optarg);
            break;
        case 'w': pubpath = optarg; break;
        case 'y': read_back = 1; break;
        default: usage(EX_USAGE);
        }
    }
    if (argc - optind != 1) usage(EX_USAGE);
    path = argv[optind];
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto: unable to initialise");
    if (p11_is_uri(path)) return on_token(path, read_back, server || frompw || account || encrypt_file,
                                          passfd, curve, pubpath, force, quiet);
    if (read_back) return show_existing(path, passfd, quiet);

    if (server && frompw) die(EX_USAGE, "a server key is made from randomness, not a password");
    if (frompw && (!account || !*account)) die(EX_USAGE, "-p needs -i account (the salt)");
    if (!frompw && account) die(EX_USAGE, "-i is for -p");
    if (encrypt && pwfd >= 0 && pwfd == passfd)
        die(EX_USAGE, "-P and -E need different file descriptors");

    /* refuse early, before asking for any secret */
    if (!force && access(path, F_OK) == 0)
        die(EX_CANTCREAT, "%s: file exists (use -f to replace it)", path);
    if (!pubpath) {
        if (asprintf(&defpub, "%s.pub", path) < 0) die_sys(EX_OSERR, "out of memory");
        pubpath = defpub;
    }
    int writepub = strcmp(pubpath, "-") != 0;
    if (writepub && !force && access(pubpath, F_OK) == 0)
        die(EX_CANTCREAT, "%s: file exists (use -f to replace it)", pubpath);

    if (frompw) {
        pwl = get_secret(pwfd, "password", 1, pw);
        k = sc_key_from_password(curve, pw, pwl, account, strlen(account), rounds);
        sc_zero(pw, sizeof pw);
    } else
        k = sc_key_generate(curve);
    if (!k) die(EX_SOFTWARE, "unable to make a %s key", sc_curve_name(curve));
    if (encrypt) passl = get_secret(passfd, "passphrase", 1, pass);

    if (kf_write_private(path, k, encrypt ? pass : NULL, passl, rounds, force) < 0) {
        sc_zero(pass, sizeof pass);
        if (errno == EEXIST) die(EX_CANTCREAT, "%s: file exists (use -f to replace it)", path);
        die_sys(EX_CANTCREAT, "unable to write %s", path);
    }
    sc_zero(pass, sizeof pass);
    if (writepub && kf_write_public(pubpath, k, force) < 0) {
        if (errno == EEXIST) die(EX_CANTCREAT, "%s: file exists (use -f to replace it)", pubpath);
        die_sys(EX_CANTCREAT, "unable to write %s", pubpath);
    }
    show(k, quiet);
    sc_key_free(k);
    free(defpub);
    return 0;
}
