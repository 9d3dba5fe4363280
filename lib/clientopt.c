/* clientopt.c - see clientopt.h */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clientopt.h"
#include "keyfile.h"
#include "p11.h"
#include "provision.h"
#include "util.h"
#include "x509.h"

void client_opts_init(struct client_opts *o)
{
    memset(o, 0, sizeof *o);
    o->pwfd = o->passfd = o->mode = o->srvpwfd = o->provfd = -1;
    o->rounds = 600000;
}

int client_opt(struct client_opts *o, int opt, const char *arg)
{
    switch (opt) {
    case 'v': o->verbose = 1; return 1;
    case 'c': o->addr = arg; return 1;
    case 's': o->pin = arg; return 1;
    case 'k': o->keyfile = arg; return 1;
    case 'E': o->passfd = fd_arg(arg); return 1;
    case 'p': o->frompw = 1; return 1;
    case 'P': o->pwfd = fd_arg(arg); return 1;
    case 'K':
        if (parse_ulong(arg, 1000, 10000000, &o->rounds) < 0) die(EX_USAGE, "-K %s: 1000 to 10000000", arg);
        return 1;
    case 'C':
        if (!(o->suite = sc_suite_from_name(arg))) die(EX_USAGE, "unknown suite: %s", arg);
        return 1;
    case 't':
        if (!strcmp(arg, "auto")) o->tls = CLIENT_TLS_AUTO;
        else if (!strcmp(arg, "require")) o->tls = CLIENT_TLS_REQUIRE;
        else if (!strcmp(arg, "off")) o->tls = CLIENT_TLS_OFF;
        else if (!strcmp(arg, "direct")) o->tls = CLIENT_TLS_DIRECT;
        else die(EX_USAGE, "-t %s: auto, require, direct or off", arg);
        return 1;
    case 'T': o->cafile = arg; return 1;
    case 'x': o->xmpp = 1; return 1;
    case 'W': o->srvpwfd = fd_arg(arg); return 1;
    case 'M':
        if (strcmp(arg, "SCRAM-SHA-256-PLUS") && strcmp(arg, "SCRAM-SHA-1-PLUS") && strcmp(arg, "SCRAM-SHA-256") &&
            strcmp(arg, "SCRAM-SHA-1") && strcmp(arg, "PLAIN"))
            die(EX_USAGE, "-M %s: SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS) or PLAIN", arg);
        o->mech = arg;
        return 1;
    case 'X': o->certfile = arg; return 1;
    case 'G': o->provfd = fd_arg(arg); return 1;
    case 'm':
        if ((o->mode = simpp_mode_from_name(arg)) < 0)
            die(EX_USAGE, "unknown mode: %s (keyfile, password, javacard, mifare, pkcs11)", arg);
        return 1;
    }
    return 0;
}

static void read_server_password(struct client_opts *o)
{
    if (o->srvpwlen) return;
    if (read_secret(o->srvpwfd, "server password: ", o->srvpw, sizeof o->srvpw, &o->srvpwlen) < 0)
        die(errno == ENOTTY ? EX_USAGE : EX_IOERR, "server password: %s",
            errno == ENOTTY ? "no terminal to ask on; give it on an fd (-W)" : strerror(errno));
    if (o->srvpwlen == 0) die(EX_DATAERR, "server password: empty");
    if (o->srvpwfd > 2) close(o->srvpwfd);
}

void client_start_xmpp(struct client *c, struct client_opts *o, const char *jid, const char *resource)
{
    read_server_password(o);
    int r = client_xmpp_login(c, jid, o->srvpw, o->srvpwlen, o->mech, resource);
    if (!o->keep_pw || r < 0) {
        sc_zero(o->srvpw, sizeof o->srvpw);
        o->srvpwlen = 0;
    }
    if (r < 0) die(strstr(c->err, "refused") || strstr(c->err, "did not prove") ? EX_NOPERM : EX_PROTOCOL, "%s", c->err);
}

/* the user's key: on a PKCS#11 token (its PIN from -E fd or the terminal;
 * token failures end here with their own codes), else client_key's */
static sc_key *user_key(struct client_opts *o, const char *jid, char *err, size_t errlen, int *code)
{
    if (o->keyfile && p11_is_uri(o->keyfile)) {
        struct p11_status st;
        sc_key *k = p11_key_open(o->keyfile, o->passfd, &st);
        if (!k) die(st.code, "%s", st.msg);
        return k;
    }
    return client_key(o->keyfile, o->passfd, o->frompw, o->pwfd, jid, o->rounds, SC_P256, err, errlen, code);
}

/* the user's key, held where a leak checker sees it when a later step of
 * client_start dies (exit leaves it to the kernel, as every die() does) */
static sc_key *volatile start_key;

sc_key *client_start(struct client *c, struct client_opts *o, const char *jid, int allow_stdio, int tofu)
{
    char err[512];
    int rfd, wfd, wrote;
    if (!o->frompw == !o->keyfile) die(EX_USAGE, "give one of -k keyfile or -p");
    if (o->xmpp && o->frompw && o->pwfd >= 0 && o->pwfd == o->srvpwfd)
        die(EX_USAGE, "-P and -W name the same fd: the SIMPP key must not come from the server's password");
    if (!strchr(jid, '@') || strchr(jid, '/')) die(EX_USAGE, "%s: expected a bare JID user@domain", jid);
    /* chained after simpp-cardread/-cardwrite: the card says whose it is and
     * what it is (public facts in the environment, checked here) */
    const char *card_acct = getenv("SIMPP_CARD_ACCOUNT"), *card_type = getenv("SIMPP_CARD_TYPE");
    if (o->frompw && card_acct && *card_acct && strcasecmp(card_acct, jid) != 0)
        die(EX_USAGE, "the card holds %s, not %s", card_acct, jid);
    if (o->mode < 0 && o->frompw && card_type && simpp_mode_from_name(card_type) >= SIMPP_MODE_JAVACARD)
        o->mode = simpp_mode_from_name(card_type);
    if (o->mode < 0) o->mode = o->frompw ? SIMPP_MODE_PASSWORD : p11_is_uri(o->keyfile) ? SIMPP_MODE_PKCS11
                                                                                   : SIMPP_MODE_KEYFILE;
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto: unable to initialise");

    int code;
    sc_key *kr = user_key(o, jid, err, sizeof err, &code);
    if (!kr) die(code, "%s", err);
    start_key = kr;
    /* the secrets are read: their descriptors go no further (not to a
     * chained program) */
    if (o->pwfd > 2) close(o->pwfd);
    if (o->passfd > 2) close(o->passfd);
    /* asked for an ordinary login: the server's password before the
     * connection, so that no server waits on a person typing */
    if (o->xmpp || o->srvpwfd >= 0) read_server_password(o);
    int direct = 0;
    if (client_connect_to(o->addr, strchr(jid, '@') + 1, allow_stdio, &rfd, &wfd, &direct, err, sizeof err) < 0)
        die(EX_UNAVAILABLE, "%s", err);
    client_init(c, rfd, wfd, strchr(jid, '@') + 1);
    c->verbose = o->verbose;
    c->tls_mode = direct && o->tls != CLIENT_TLS_OFF ? CLIENT_TLS_DIRECT : o->tls;
    c->tls_ca = o->cafile;
    if (client_open(c) < 0) die(c->tls_failed ? EX_NOPERM : EX_PROTOCOL, "%s", c->err);
    if (!c->simpp || o->xmpp) {
        /* an ordinary server: the password goes to it, so only inside TLS
         * unless the user said otherwise (-t off) */
        if (!c->simpp && o->pin && !o->xmpp)
            die(EX_PROTOCOL, "-s %s was given, but this server does not speak SIMPP (no <simpp/> feature); "
                             "-x logs in as an ordinary XMPP client", o->pin);
        if (!c->tls && o->tls != CLIENT_TLS_OFF)
            die(EX_PROTOCOL, "the server offers no TLS: refusing to send it the password (-t off to go on)");
        o->xmpp = 1;
        return kr;
    }
    if (!o->pin) die(EX_USAGE, "-s relay.pub is required for a SIMPP relay (its key must be pinned), "
                               "or -x to log in as an ordinary XMPP client");
    if ((code = client_pin(c, o->pin, tofu, &wrote))) die(code, "%s", c->err);
    if (wrote) {
        char fpr[KF_FPR_LEN];
        kf_fingerprint(c->server_key, fpr);
        fprintf(stderr, "%s: first use: pinned the relay's key %s in %s\n", progname, fpr, o->pin);
    }
    if (!(o->suite = client_pick_suite(c, o->suite))) die(EX_PROTOCOL, "the relay offers no suite we accept");
    return kr;
}

int client_proof(struct client *c, struct client_opts *o, const char *jid, const sc_key *kr, sbuf *out)
{
    char why[300], text[256];
    const char *env = getenv("SIMPP_CARD_PROVISION_FD");
    unsigned long efd;
    /* chained after simpp-cardwrite -b: the operator's token on an fd */
    if (o->provfd < 0 && env && *env && parse_ulong(env, 0, 1023, &efd) == 0) o->provfd = (int)efd;
    if (o->certfile) {
        uint8_t *der[X509_CHAIN_MAX];
        size_t len[X509_CHAIN_MAX];
        int n = x509_read_pem(o->certfile, der, len, X509_CHAIN_MAX, why, sizeof why);
        if (n < 0) die(EX_NOINPUT, "%s", why);
        for (int i = 0; i < n; i++) {
            size_t bl = 4 * ((len[i] + 2) / 3) + 1;
            char *b = malloc(bl);
            if (!b || sc_b64_encode(der[i], len[i], b, &bl) < 0) die(EX_OSERR, "out of memory");
            sb_printf(out, "<cert xmlns='" SIMPP_NS "'>%s</cert>", b);
            free(b);
            free(der[i]);
        }
    }
    if (o->provfd >= 0) {
        uint8_t secret[PROV_SECRET], proof[32], pub[SC_MAX_PUB];
        size_t tl, pl = sizeof pub, bl = sizeof text;
        char b[64];
        if (read_secret(o->provfd, "provisioning token: ", text, sizeof text, &tl) < 0)
            die_sys(EX_IOERR, "unable to read the provisioning token");
        if (o->provfd > 2) close(o->provfd);
        int bad = prov_decode(text, tl, secret) < 0;
        sc_zero(text, sizeof text);
        if (bad) die(EX_DATAERR, "the provisioning token is not one (43 characters, from simpp-relayd provision)");
        if (sc_key_public(kr, pub, &pl) < 0 || prov_proof(secret, c->stream_id, jid, pub, pl, proof) < 0 ||
            sc_b64_encode(proof, sizeof proof, b, &bl) < 0)
            die(EX_SOFTWARE, "provisioning proof: internal error");
        sc_zero(secret, sizeof secret);
        sb_printf(out, "<provision xmlns='" SIMPP_NS "'>%s</provision>", b);
    }
    if (out->oom) die(EX_OSERR, "out of memory");
    c->reg_extra = out->n ? sb_str(out) : NULL;
    return 0;
}
