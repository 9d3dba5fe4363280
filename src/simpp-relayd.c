/*
 * simpp-relayd - the SIMPP relay: XMPP streams on TCP with SIMPP
 * registration and login, presence, routing and offline storage.  Options
 * and the config file here; the server is lib/relay/ (stream, auth, route, conn).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "keyfile.h"
#include "net.h"
#include "relay/relay.h"
#include "sasl.h"
#include "simpp.h"
#include "provision.h"
#include "store.h"
#include "util.h"

#define USAGE \
"usage: simpp-relayd [-v] [-c config] [-d datadir] [-k keyfile] [-E fd] [-l host[:port]]\n" \
"                    [-D domain] [-r fd] [-o key=value]...\n" \
"       simpp-relayd [-c config] [-d datadir] [-D domain] passwd jid [-P fd]\n" \
"       simpp-relayd [-c config] [-d datadir] [-D domain] list\n" \
"       simpp-relayd [-c config] [-d datadir] [-D domain] delete jid\n" \
"       simpp-relayd [-c config] [-d datadir] [-D domain] provision jid [card|password]\n" \
"\n" \
"  -c config    read settings (key = value lines) from config\n" \
"  -d datadir   the store (simpp.db) lives here; default ./simpp-data\n" \
"  -k keyfile   the relay's private key (simpp-keygen -t server); default datadir/relay.key\n" \
"  -E fd        read the key file's passphrase from fd\n" \
"  -l addr      listen on host[:port]; default 127.0.0.1:5222 (port 0: any free port)\n" \
"  -D domain    the XMPP domain served; default: the one the store in datadir was\n" \
"               first used with (it keeps it), else localhost\n" \
"  -r fd        once listening, write the port and a newline to fd (readiness)\n" \
"  -o key=val   any config setting (see simpp-relayd(8)); TLS: -o tls_cert=FILE\n" \
"               -o tls_key=FILE (STARTTLS), -o tls_port=5223 (direct TLS as well)\n" \
"  -v           log every stanza's kind and addresses (never its content)\n" \
"  -h, --help   this text; -V, --version: the version\n" \
"  passwd jid   set the SASL password of an ordinary XMPP account (made if new);\n" \
"               the password is read from the terminal or -P fd\n" \
"  list         the accounts, one a line: JID, kind (simpp, password), level, creation\n" \
"  delete jid   remove an account with its roster and offline messages\n" \
"  provision jid [level]  print a one-time token that registers jid at level (card):\n" \
"               for the card-writing job (simpp-cardwrite -b); a new one replaces the last\n" \
"  -o card_ca=FILE -o card_crl=FILE  card issuers' CAs and CRLs: a card certificate\n" \
"               checked against them registers at level card\n" \
"The accounts are those of the store's domain: a JID of another domain is refused.\n"

static void usage(int code)
{
    fputs(USAGE, code ? stderr : stdout);
    exit(code);
}

static int yes(const char *v)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on")) return 1;
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off")) return 0;
    return -1;
}

struct opts {
    struct relay_config cfg;
    char host[256], port[16];
    char *datadir, *keyfile, *domain;
    char *tls_cert, *tls_key, *tls_chain, tls_port[8], s2s_port[8], *s2s_ca, *db_secret, *card_ca, *card_crl;
    int passfd;
};

static int num(const char *v, unsigned long min, unsigned long max, unsigned long *out)
{
    return parse_ulong(v, min, max, out);
}

/* one setting; returns 0, or -1 with a reason */
static int set(struct opts *o, const char *k, const char *v, const char **why)
{
    struct relay_config *c = &o->cfg;
    unsigned long n;
    int b;
    *why = "bad value";
    if (!strcmp(k, "domain")) { free(o->domain); o->domain = strdup(v); return 0; }
    if (!strcmp(k, "datadir")) { free(o->datadir); o->datadir = strdup(v); return 0; }
    if (!strcmp(k, "key")) { free(o->keyfile); o->keyfile = strdup(v); return 0; }
    if (!strcmp(k, "listen"))
        return net_parse_hostport(v, o->host, sizeof o->host, o->port, sizeof o->port, "5222");
    if (!strcmp(k, "tls_cert") || !strcmp(k, "tls_key") || !strcmp(k, "tls_chain")) {
        char **f = k[4] == 'c' && k[5] == 'e' ? &o->tls_cert : k[4] == 'k' ? &o->tls_key : &o->tls_chain;
        free(*f);
        *f = strdup(v);
        return 0;
    }
    if (!strcmp(k, "s2s_port")) {
        if (num(v, 0, 65535, &n) < 0) { *why = "a port number"; return -1; }
        snprintf(o->s2s_port, sizeof o->s2s_port, "%lu", n);
        c->s2s = 1;
        return 0;
    }
    if (!strcmp(k, "s2s_ca")) { free(o->s2s_ca); o->s2s_ca = strdup(v); return 0; }
    if (!strcmp(k, "s2s_dialback_secret")) { free(o->db_secret); o->db_secret = strdup(v); return 0; }
    if (!strcmp(k, "card_ca") || !strcmp(k, "card_crl")) {
        char **f = k[6] == 'a' ? &o->card_ca : &o->card_crl;
        free(*f);
        *f = strdup(v);
        return 0;
    }
    if (!strcmp(k, "s2s_route") || !strcmp(k, "s2s_level")) {
        /* domain=host:port, or domain=level */
        const char *eq = strchr(v, '=');
        struct jid j;
        char d[300];
        snprintf(d, sizeof d, "%.*s", eq ? (int)(eq - v) : 0, v);
        if (!eq || jid_parse(d, &j) < 0 || j.local[0] || j.resource[0]) { *why = "domain=..."; return -1; }
        if (k[4] == 'r') {
            struct relay_route *rt = &c->routes[c->nroutes];
            if (c->nroutes >= sizeof c->routes / sizeof c->routes[0]) { *why = "at most 16 routes"; return -1; }
            snprintf(rt->domain, sizeof rt->domain, "%s", j.domain);
            if (net_parse_hostport(eq + 1, rt->host, sizeof rt->host, rt->port, sizeof rt->port, "5269") < 0) {
                *why = "domain=host[:port]";
                return -1;
            }
            c->nroutes++;
        } else {
            struct relay_dlevel *dl = &c->dlevels[c->ndlevels];
            int lv = simpp_level_from_name(eq + 1);
            if (c->ndlevels >= sizeof c->dlevels / sizeof c->dlevels[0]) { *why = "at most 16 levels"; return -1; }
            if (lv < 0) { *why = "domain=xmpp|password|card"; return -1; }
            snprintf(dl->domain, sizeof dl->domain, "%s", j.domain);
            dl->level = lv;
            c->ndlevels++;
        }
        return 0;
    }
    if (!strcmp(k, "tls_port")) {
        if (num(v, 0, 65535, &n) < 0) { *why = "a port number"; return -1; }
        snprintf(o->tls_port, sizeof o->tls_port, "%lu", n);
        return 0;
    }
    if (!strcmp(k, "register") || !strcmp(k, "scram") || !strcmp(k, "plain") || !strcmp(k, "tls_required") ||
        !strcmp(k, "s2s") || !strcmp(k, "s2s_dialback")) {
        if ((b = yes(v)) < 0) { *why = "yes or no"; return -1; }
        if (!strcmp(k, "register")) c->allow_register = b;
        else if (!strcmp(k, "s2s")) c->s2s = b;
        else if (!strcmp(k, "s2s_dialback")) c->s2s_dialback = b;
        else if (!strcmp(k, "scram")) c->allow_scram = b;
        else if (!strcmp(k, "plain")) c->allow_plain = b;
        else c->tls_required = b;
        return 0;
    }
    if (!strcmp(k, "suites")) {
        char *dup = strdup(v), *save = NULL;
        c->nsuites = 0;
        for (char *t = strtok_r(dup, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            int s = sc_suite_from_name(t);
            if (!s || c->nsuites >= sizeof c->suites) { free(dup); *why = "chacha20-poly1305, aes128-gcm, aes128-cbc-hmac-sha256"; return -1; }
            c->suites[c->nsuites++] = (uint8_t)s;
        }
        free(dup);
        if (!c->nsuites) { *why = "no suite"; return -1; }
        return 0;
    }
    if (!strcmp(k, "policy")) {
        if (!strcmp(v, "open")) c->policy = RELAY_POLICY_OPEN;
        else if (!strcmp(v, "no-write-down")) c->policy = RELAY_POLICY_NO_WRITE_DOWN;
        else if (!strcmp(v, "same-level")) c->policy = RELAY_POLICY_SAME_LEVEL;
        else { *why = "open, no-write-down or same-level"; return -1; }
        return 0;
    }
    struct { const char *k; unsigned long min, max; } nums[] = {
        { "max_stanza", 1024, 16u << 20 }, { "max_conns", 1, 1000000 }, { "max_per_addr", 1, 1000000 },
        { "reg_per_min", 0, 1000000 }, { "auth_timeout", 1, 86400 }, { "idle_timeout", 1, 86400 * 30 },
        { "max_outbuf", 4096, 1u << 30 }, { "offline_quota", 0, 10000000 }, { "workers", 1, 64 }, { "auth_per_min", 0, 1000000 },
        { "s2s_queue", 1, 1000000 }, { "s2s_streams", 1, 1000 }, { "s2s_idle", 1, 86400 },
        { "s2s_rate", 1, 10000000 }, { "resume_timeout", 1, 86400 },
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (strcmp(k, nums[i].k)) continue;
        if (num(v, nums[i].min, nums[i].max, &n) < 0) return -1;
        switch (i) {
        case 0: c->max_stanza = n; break;
        case 1: c->max_conns = (int)n; break;
        case 2: c->max_per_addr = (int)n; break;
        case 3: c->reg_per_min = (int)n; break;
        case 4: c->auth_timeout = (int)n; break;
        case 5: c->idle_timeout = (int)n; break;
        case 6: c->max_outbuf = n; break;
        case 7: c->offline_quota = (int)n; break;
        case 8: c->workers = (int)n; break;
        case 9: c->auth_per_min = (int)n; break;
        case 10: c->s2s_queue = (int)n; break;
        case 11: c->s2s_streams = (int)n; break;
        case 12: c->s2s_idle = (int)n; break;
        case 13: c->s2s_rate = (int)n; break;
        case 14: c->resume_timeout = (int)n; break;
        }
        return 0;
    }
    *why = "unknown setting";
    return -1;
}

static void set_kv(struct opts *o, const char *kv, const char *where, int line)
{
    char *dup = strdup(kv), *eq, *k, *v, *e;
    const char *why;
    if (!dup) die(EX_OSERR, "out of memory");
    if (!(eq = strchr(dup, '='))) {
        if (line) die(EX_CONFIG, "%s:%d: expected key = value", where, line);
        die(EX_USAGE, "-o %s: expected key=value", kv);
    }
    *eq = 0;
    k = dup;
    v = eq + 1;
    while (*k == ' ' || *k == '\t') k++;
    for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--) e[-1] = 0;
    while (*v == ' ' || *v == '\t') v++;
    for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'); e--) e[-1] = 0;
    if (set(o, k, v, &why) < 0) {
        if (line) die(EX_CONFIG, "%s:%d: %s: %s", where, line, k, why);
        die(EX_USAGE, "-o %s: %s", k, why);
    }
    free(dup);
}

static void read_config(struct opts *o, const char *path)
{
    char *text, *save = NULL;
    size_t len;
    int line = 0;
    if (read_file(path, 1 << 20, &text, &len) < 0) die_sys(EX_NOINPUT, "unable to read %s", path);
    for (char *l = text, *nl; l && *l; l = nl) {
        nl = strchr(l, '\n');
        if (nl) *nl++ = 0;
        line++;
        char *p = l;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p || *p == '#') continue;
        set_kv(o, p, path, line);
    }
    (void)save;
    free(text);
}

static sc_key *load_key(const char *path, int passfd)
{
    char *text, pass[1024];
    size_t len, pl = 0;
    sc_key *k;
    if (read_file(path, 64 * 1024, &text, &len) < 0) {
        if (errno == ENOENT)
            die(EX_NOINPUT, "%s: no relay key (make one: simpp-keygen -t server %s)", path, path);
        die_sys(EX_NOINPUT, "unable to read %s", path);
    }
    if (kf_is_encrypted(text)) {
        if (passfd < 0) die(EX_USAGE, "%s: encrypted: give the passphrase with -E fd", path);
        if (read_secret(passfd, NULL, pass, sizeof pass, &pl) < 0) die_sys(EX_IOERR, "unable to read the passphrase");
    }
    k = kf_parse(text, len, pl ? pass : NULL, pl, 1);
    sc_zero(pass, sizeof pass);
    sc_zero(text, len);
    free(text);
    if (!k) die(kf_errno == KF_EPASS ? EX_NOPERM : EX_DATAERR, "%s: %s", path, kf_strerror(kf_errno));
    return k;
}

/* ---- the store and its domain ------------------------------------------- */

/* the one domain of the accounts in a store that never recorded its domain
 * (made before it could): "" if none, or if they disagree */
struct dominfer { char dom[STORE_META_MAX]; int n, mixed; };
static int infer_cb(const struct store_user *u, void *ctx)
{
    struct dominfer *d = ctx;
    const char *at = strrchr(u->jid, '@');
    const char *dom = at ? at + 1 : u->jid;
    if (!d->n++) snprintf(d->dom, sizeof d->dom, "%s", dom);
    else if (strcmp(d->dom, dom)) d->mixed = 1;
    return d->mixed;
}

/*
 * The domain is the store's: recorded when a store is first used (by the
 * relay or a command), and from then on -D or the configuration must agree
 * with it, or nothing is done: accounts made under another domain could
 * never log in.  Without -D, the store's own domain is served.
 */
static void store_domain(struct opts *o, store *st)
{
    char have[STORE_META_MAX];
    int e = store_meta_get(st, "domain", have, sizeof have);
    if (e == STORE_NOTFOUND) {
        struct dominfer d = { .n = 0 };
        if (store_user_list(st, infer_cb, &d) < 0) die(EX_UNAVAILABLE, "store: %s", store_errmsg(st));
        const char *use = o->domain ? o->domain : d.n && !d.mixed ? d.dom : o->cfg.domain;
        snprintf(have, sizeof have, "%s", use);
        if (store_meta_set(st, "domain", have) != STORE_OK) die(EX_CANTCREAT, "store: %s", store_errmsg(st));
    } else if (e != STORE_OK)
        die(EX_UNAVAILABLE, "store: %s", store_errmsg(st));
    if (o->domain && strcmp(o->domain, have))
        die(EX_CONFIG, "%s: the store holds the accounts of %s, not %s (give -D %s, or another -d)",
            o->datadir, have, o->domain, have);
    if (!o->domain && !(o->domain = strdup(have))) die(EX_OSERR, "out of memory");
    o->cfg.domain = o->domain;
}

/* is there a store in datadir (0: none yet, errno says why) */
static int has_store(const struct opts *o)
{
    char *db;
    struct stat sb;
    if (asprintf(&db, "%s/simpp.db", o->datadir) < 0) die(EX_OSERR, "out of memory");
    int r = stat(db, &sb) == 0;
    free(db);
    return r;
}

/* the store for a command; an existing one only unless create */
static store *admin_store(struct opts *o, int create)
{
    char err[512];
    if (!create && !has_store(o)) die_sys(EX_NOINPUT, "no store in %s", o->datadir);
    store *st = store_open(o->datadir, err, sizeof err);
    if (!st) die(EX_UNAVAILABLE, "store: %s", err);
    store_domain(o, st);
    return st;
}

/* a bare JID of the domain, lower-cased as the relay compares them; into
 * bare (STORE_JID_MAX) */
static void account_jid(const struct opts *o, const char *arg, char *bare)
{
    struct jid j;
    if (jid_parse(arg, &j) < 0 || !j.local[0] || j.resource[0] || jid_bare(&j, bare, STORE_JID_MAX) < 0)
        die(EX_USAGE, "%s: not a bare JID (user@domain)", arg);
    if (strcmp(j.domain, o->cfg.domain) != 0)
        die(EX_USAGE, "%s: not an account of %s, the domain of %s", arg, o->cfg.domain, o->datadir);
}

/* passwd: an ordinary XMPP account's SCRAM-SHA-256 and SCRAM-SHA-1 verifiers */
static int cmd_passwd(struct opts *o, int argc, char **argv)
{
    int pwfd = -1;
    char pw[SASL_MAX_PW + 1], bare[STORE_JID_MAX];
    size_t pl;
    struct scram_cred cred, cred1;
    struct store_user u;
    if (argc == 4 && !strcmp(argv[2], "-P"))
        pwfd = fd_arg(argv[3]);
    else if (argc != 2)
        usage(EX_USAGE);
    /* a JID of another domain is refused before the password is asked for
     * (and before a new store is made) */
    store *st = has_store(o) ? admin_store(o, 0) : NULL;
    account_jid(o, argv[1], bare);
    if (read_secret(pwfd, "password: ", pw, sizeof pw, &pl) < 0) {
        if (errno == ENOTTY) die(EX_USAGE, "password: no terminal to ask on; give it with -P fd");
        die_sys(EX_IOERR, "unable to read the password");
    }
    if (pl == 0) die(EX_DATAERR, "password: empty");
    if (sasl_password_check(pw, pl) != SASL_OK) die(EX_DATAERR, "password: control characters or bad UTF-8");
    if (scram_make_cred(pw, pl, SCRAM_ITER_DEFAULT, &cred) != SASL_OK ||
        scram_make_cred_hash(SC_HASH_SHA1, pw, pl, cred.salt, cred.iter, &cred1) != SASL_OK)
        die(EX_SOFTWARE, "SCRAM: internal error");
    sc_zero(pw, sizeof pw);
    if (!st) st = admin_store(o, 1);
    int e = store_user_get(st, bare, &u), code = 0;
    if (e == STORE_NOTFOUND) {
        memset(&u, 0, sizeof u);
        memcpy(u.jid, bare, strlen(bare) + 1);
        u.level = 0;
        u.created = (int64_t)time(NULL);
        if ((e = store_user_add(st, &u)) != STORE_OK) code = EX_CANTCREAT;
    } else if (e != STORE_OK)
        code = EX_UNAVAILABLE;
    sc_zero(&u, sizeof u);
    if (!code && store_user_set_scram(st, bare, cred.salt, sizeof cred.salt, cred.iter, cred.stored_key,
                                      cred.server_key) != STORE_OK)
        code = EX_CANTCREAT;
    if (!code && store_user_set_scram1(st, bare, cred1.stored_key, cred1.server_key) != STORE_OK)
        code = EX_CANTCREAT;
    sc_zero(&cred, sizeof cred);
    sc_zero(&cred1, sizeof cred1);
    if (code) die(code, "%s: %s", bare, store_errmsg(st));
    store_close(st);
    printf("%s: password set\n", bare);
    return 0;
}

static int list_cb(const struct store_user *u, void *ctx)
{
    char when[32];
    time_t t = (time_t)u->created;
    struct tm tm;
    (void)ctx;
    if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm)) snprintf(when, sizeof when, "?");
    printf("%s %s level=%s created=%s\n", u->jid,
           u->publen && u->has_scram ? "simpp+password" : u->publen ? "simpp" : u->has_scram ? "password" : "none",
           simpp_level_name(u->level), when);
    return ferror(stdout);
}

/* list: one account a line, in JID order */
static int cmd_list(struct opts *o, int argc)
{
    if (argc != 1) usage(EX_USAGE);
    store *st = admin_store(o, 0);
    if (store_user_list(st, list_cb, NULL) < 0) die(EX_UNAVAILABLE, "store: %s", store_errmsg(st));
    store_close(st);
    if (fflush(stdout) == EOF || ferror(stdout)) die_sys(EX_IOERR, "unable to write stdout");
    return 0;
}

/* delete: the account, its roster and its offline messages (the store's
 * foreign keys); a session it has open ends at its next login */
static int cmd_delete(struct opts *o, int argc, char **argv)
{
    char bare[STORE_JID_MAX];
    if (argc != 2) usage(EX_USAGE);
    store *st = admin_store(o, 0);
    account_jid(o, argv[1], bare);
    int e = store_user_del(st, bare);
    if (e == STORE_NOTFOUND) die(EX_NOUSER, "%s: no such account", bare);
    if (e != STORE_OK) die(EX_CANTCREAT, "%s: %s", bare, store_errmsg(st));
    store_close(st);
    printf("%s: deleted\n", bare);
    return 0;
}

/* provision: a one-time token that registers jid at a level (card.h) */
static int cmd_provision(struct opts *o, int argc, char **argv)
{
    char bare[STORE_JID_MAX], text[PROV_TEXT];
    uint8_t secret[PROV_SECRET];
    int level = SIMPP_LEVEL_CARD;
    if (argc != 2 && argc != 3) usage(EX_USAGE);
    if (argc == 3 && (level = simpp_level_from_name(argv[2])) < SIMPP_LEVEL_PASSWORD)
        die(EX_USAGE, "%s: the level is password or card", argv[2]);
    store *st = admin_store(o, 1);
    account_jid(o, argv[1], bare);
    if (sc_random(secret, sizeof secret) < 0) die(EX_OSERR, "no randomness");
    int e = store_prov_put(st, bare, level, secret, (int64_t)time(NULL));
    if (e != STORE_OK) die(EX_CANTCREAT, "%s: %s", bare, store_errmsg(st));
    store_close(st);
    prov_encode(secret, text);
    sc_zero(secret, sizeof secret);
    printf("%s\n", text);
    sc_zero(text, sizeof text);
    if (fflush(stdout) == EOF) die_sys(EX_IOERR, "unable to write stdout");
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    int opt;
    char err[512];
    memset(&o, 0, sizeof o);
    relay_config_defaults(&o.cfg);
    snprintf(o.host, sizeof o.host, "127.0.0.1");
    snprintf(o.port, sizeof o.port, "5222");
    o.passfd = -1;
    util_setprog(argv[0]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) usage(0);
        if (!strcmp(argv[i], "--version")) print_version();
    }
    if (argv_has_secret(argc, argv)) die(EX_USAGE, "secrets are never taken on the command line: use -P/-E fd");
    while ((opt = getopt(argc, argv, "+hVvc:d:k:E:l:D:r:o:")) != -1) {
        switch (opt) {
        case 'h': usage(0); break;
        case 'V': print_version(); break;
        case 'v': o.cfg.verbose = 1; break;
        case 'c': read_config(&o, optarg); break;
        case 'd': free(o.datadir); o.datadir = strdup(optarg); break;
        case 'k': free(o.keyfile); o.keyfile = strdup(optarg); break;
        case 'E': o.passfd = fd_arg(optarg); break;
        case 'l':
            if (net_parse_hostport(optarg, o.host, sizeof o.host, o.port, sizeof o.port, "5222") < 0)
                die(EX_USAGE, "-l %s: expected host[:port]", optarg);
            break;
        case 'D': free(o.domain); o.domain = strdup(optarg); break;
        case 'r': o.cfg.ready_fd = fd_arg(optarg); break;
        case 'o': set_kv(&o, optarg, NULL, 0); break;
        default: usage(EX_USAGE);
        }
    }
    if (!o.datadir) o.datadir = strdup("simpp-data");
    if (!o.keyfile && asprintf(&o.keyfile, "%s/relay.key", o.datadir) < 0) die(EX_OSERR, "out of memory");
    if (o.domain) {
        struct jid j;
        if (jid_parse(o.domain, &j) < 0 || j.local[0] || j.resource[0]) die(EX_USAGE, "bad domain: %s", o.domain);
        /* compared with lower-cased JIDs everywhere (RFC 7622 3.2) */
        free(o.domain);
        o.domain = strdup(j.domain);
        o.cfg.domain = o.domain;
    }
    o.cfg.host = o.host;
    o.cfg.port = o.port;
    o.cfg.tls_cert = o.tls_cert;
    o.cfg.tls_key = o.tls_key;
    o.cfg.tls_chain = o.tls_chain;
    o.cfg.tls_port = o.tls_port[0] ? o.tls_port : NULL;
    if (!o.tls_cert != !o.tls_key) die(EX_CONFIG, "tls_cert and tls_key go together");
    if (o.tls_port[0] && !o.tls_cert) die(EX_CONFIG, "tls_port needs tls_cert and tls_key");
    o.cfg.s2s_port = o.s2s_port[0] ? o.s2s_port : NULL;
    o.cfg.s2s_ca = o.s2s_ca;
    o.cfg.s2s_dialback_secret = o.db_secret;
    o.cfg.card_ca = o.card_ca;
    o.cfg.card_crl = o.card_crl;
    if (o.card_crl && !o.card_ca) die(EX_CONFIG, "card_crl needs card_ca");
    if (o.cfg.s2s && !o.tls_cert) die(EX_CONFIG, "s2s needs tls_cert and tls_key: other servers check our domain");
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto: unable to initialise");

    if (optind < argc) {
        const char *verb = argv[optind];
        int rc, n = argc - optind;
        if (!strcmp(verb, "passwd")) rc = cmd_passwd(&o, n, argv + optind);
        else if (!strcmp(verb, "list")) rc = cmd_list(&o, n);
        else if (!strcmp(verb, "delete")) rc = cmd_delete(&o, n, argv + optind);
        else if (!strcmp(verb, "provision")) rc = cmd_provision(&o, n, argv + optind);
        else usage(EX_USAGE);
        free(o.datadir);
        free(o.keyfile);
        free(o.domain);
        return rc;
    }
    sc_key *key = load_key(o.keyfile, o.passfd);
    store *st = store_open(o.datadir, err, sizeof err);
    if (!st) {
        sc_key_free(key);
        die(EX_UNAVAILABLE, "store: %s", err);
    }
    store_domain(&o, st);
    /* 10,000 connections need more than the usual 1024 descriptors */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)o.cfg.max_conns + 64 > rl.rlim_cur)
        o.cfg.max_conns = rl.rlim_cur > 128 ? (int)rl.rlim_cur - 64 : 64;
    int rc = relay_run(&o.cfg, key, st);
    sc_key_free(key);
    store_close(st);
    free(o.datadir);
    free(o.keyfile);
    free(o.domain);
    free(o.tls_cert);
    free(o.tls_key);
    free(o.tls_chain);
    free(o.s2s_ca);
    free(o.db_secret);
    free(o.card_ca);
    free(o.card_crl);
    return rc == -2 ? EX_CONFIG : rc < 0 ? EX_UNAVAILABLE : 0;
}
