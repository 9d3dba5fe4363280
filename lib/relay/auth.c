/*
 * auth.c - simpp-relayd before a stream is authenticated: SASL (RFC 6120 6)
 * with the SIMPP login S1-S3 (paper 001 Fig. 6) as mechanism "SIMPP", plus
 * SCRAM-SHA-256 and PLAIN for ordinary clients, and SIMPP registration
 * R1-R3 (Fig. 5) as an iq before authentication.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay/auth.h"
#include "relay/card.h"
#include "relay/work.h"
#include "util.h"

/* ---- SASL ---------------------------------------------------------------------- */

static void sasl_reply(struct conn *c, const char *elem, const uint8_t *data, size_t len)
{
    sbuf b = { 0 };
    sb_printf(&b, "<%s xmlns='" NS_SASL "'", elem);
    if (data) {
        size_t bl = 4 * ((len + 2) / 3) + 1;
        char *e = malloc(bl);
        if (e && sc_b64_encode(data, len, e, &bl) == 0) {
            sb_puts(&b, ">");
            /* RFC 6120 6.4.2: empty data is "=" */
            sb_puts(&b, bl ? e : "=");
            sb_printf(&b, "</%s>", elem);
        } else
            sb_puts(&b, "/>");
        free(e);
    } else
        sb_puts(&b, "/>");
    conn_send_sb(c, &b);
}

/* RFC 6120 6.4.5: the server may close after a number of retries */
static void cb_free(struct conn *c);

static void auth_failed(struct conn *c)
{
    if (++c->auth_failures >= 3) conn_stream_error(c, "policy-violation", "too many failed attempts");
}

static void sasl_fail(struct conn *c, const char *cond, const char *why)
{
    sbuf b = { 0 };
    relay_log(c->r, "auth-fail addr=%s user=%s mechanism=%s reason=%s", c->addr,
              c->authuser ? c->authuser : "-", c->mname ? c->mname : "-", why);
    sb_printf(&b, "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
    conn_send_sb(c, &b);
    if (c->login) { simpp_login_wipe(c->login); free(c->login); c->login = NULL; }
    scram_server_free(c->scram);
    c->scram = NULL;
    free(c->authuser);
    c->authuser = NULL;
    c->mech = MECH_NONE;
    c->state = CS_PREAUTH;
    auth_failed(c);
}

/* decode the base64 payload of <auth/> or <response/>; "=" is empty */
static uint8_t *sasl_payload(const xs_node *n, size_t *len)
{
    const char *t = xs_text(n);
    size_t tl = strlen(t), cap = tl / 4 * 3 + 4;
    uint8_t *p = malloc(cap);
    if (!p) return NULL;
    *len = cap;
    if (strcmp(t, "=") == 0) { *len = 0; return p; }
    if (sc_b64_decode(t, tl, p, len) < 0) { free(p); return NULL; }
    return p;
}

static void auth_succeeded(struct conn *c, const char *bare, int level, const uint8_t *data,
                           size_t dlen)
{
    sasl_reply(c, "success", data, dlen);
    free(c->bare);
    c->bare = strdup(bare);
    c->level = level;
    c->state = CS_RESTART;
    c->mech = MECH_NONE;
    cb_free(c);
    /* RFC 6120 6.4.6: both sides restart the stream; bytes after <success/>
     * are a new stream */
    xs_reset(c->xs);
}

static int split_domain_ok(struct relay *r, const char *s, char *bare, size_t cap)
{
    struct jid j;
    if (jid_parse(s, &j) < 0 || !j.local[0] || j.resource[0]) return 0;
    if (strcmp(j.domain, r->cfg->domain) != 0) return 0;
    return jid_bare(&j, bare, cap) == 0;
}

static void sasl_simpp_s1(struct conn *c, const uint8_t *s1, size_t len)
{
    struct relay *r = c->r;
    char id[SIMPP_ID_MAX + 1], bare[512];
    struct store_user u;
    uint8_t ka[SIMPP_KEY], s2[SIMPP_MSG_MAX];
    size_t s2l = sizeof s2;
    struct simpp_ctx ctx = { c->stream_id, r->cfg->suites, r->cfg->nsuites };
    int e;
    if (simpp_s1_id(s1, len, id, sizeof id) < 0) { sasl_fail(c, "malformed-request", "bad S1"); return; }
    c->authuser = strdup(id);
    if (c->s2_sent) { sasl_fail(c, "not-authorized", "S1 repeated on this stream"); return; }
    if (!split_domain_ok(r, id, bare, sizeof bare)) { sasl_fail(c, "not-authorized", "foreign or bad JID"); return; }
    e = store_user_get(r->st, bare, &u);
    if (e == STORE_NOTFOUND || (e == STORE_OK && u.wkalen == 0)) {
        sasl_fail(c, "not-authorized", "unknown user");
        return;
    }
    if (e != STORE_OK) { sasl_fail(c, "temporary-auth-failure", store_errmsg(r->st)); return; }
    if (relay_unwrap(r->wrapkey, bare, u.wka, u.wkalen, ka) < 0) {
        sc_zero(&u, sizeof u);
        sasl_fail(c, "temporary-auth-failure", "stored master key does not unwrap");
        return;
    }
    c->login = calloc(1, sizeof *c->login);
    /* S1 -> S2: only HKDF and AEAD here, no public-key operation (the paper's point) */
    e = c->login ? simpp_s1_accept(c->login, &ctx, ka, relay_allowed_mask(r), s1, len, s2, &s2l)
                 : SIMPP_EINTERNAL;
    sc_zero(ka, sizeof ka);
    if (e != SIMPP_OK) {
        sasl_fail(c, e == SIMPP_ESUITE ? "mechanism-too-weak" : e == SIMPP_EFORMAT ? "malformed-request"
                                                                  : "not-authorized", simpp_strerror(e));
        return;
    }
    /* the level: how the key is held now, never above how it was registered */
    int lv = simpp_mode_level(c->login->mode);
    c->level = card_level_at_login(r, &u, lv < u.level ? lv : u.level);
    sc_zero(&u, sizeof u);
    c->state = CS_SASL;
    c->s2_sent = 1;
    sasl_reply(c, "challenge", s2, s2l);
}

static void sasl_simpp_s3(struct conn *c, const uint8_t *s3, size_t len)
{
    struct relay *r = c->r;
    int e = simpp_s3_verify(c->login, s3, len);
    if (e != SIMPP_OK) { sasl_fail(c, "not-authorized", simpp_strerror(e)); return; }
    if (!(c->chan = calloc(1, sizeof *c->chan))) { sasl_fail(c, "temporary-auth-failure", "memory"); return; }
    simpp_chan_init(c->chan, c->login, 1);
    relay_log(r, "login addr=%s jid=%s mechanism=SIMPP mode=%s level=%s suite=%s%s%s", c->addr,
              c->authuser, simpp_mode_name(c->login->mode), simpp_level_name(c->level),
              sc_suite_name(c->login->suite), c->tls ? " tls=" : "", c->tls ? tls_version(c->tls) : "");
    simpp_login_wipe(c->login);
    free(c->login);
    c->login = NULL;
    char bare[512];
    split_domain_ok(r, c->authuser, bare, sizeof bare);
    /* <success/> itself goes out in clear: the channel starts with the new
     * stream (doc/PROTOCOL.md) */
    struct simpp_chan *ch = c->chan;
    c->chan = NULL;
    auth_succeeded(c, bare, c->level, NULL, 0);
    c->chan = ch;
}

/* ---- the mechanisms ------------------------------------------------------ */

enum { M_SIMPP = 1, M_S256P = 2, M_S256 = 4, M_S1P = 8, M_S1 = 16, M_PLAIN = 32 };

static const struct mech {
    const char *name;
    unsigned bit;
    int kind;                   /* MECH_* */
    int hash, plus;
} mechs[] = {
    /* in the order offered: SIMPP, then the strongest password mechanism */
    { "SIMPP", M_SIMPP, MECH_SIMPP, 0, 0 },
    { "SCRAM-SHA-256-PLUS", M_S256P, MECH_SCRAM, SC_HASH_SHA256, 1 },
    { "SCRAM-SHA-256", M_S256, MECH_SCRAM, SC_HASH_SHA256, 0 },
    { "SCRAM-SHA-1-PLUS", M_S1P, MECH_SCRAM, SC_HASH_SHA1, 1 },
    { "SCRAM-SHA-1", M_S1, MECH_SCRAM, SC_HASH_SHA1, 0 },
    { "PLAIN", M_PLAIN, MECH_PLAIN, 0, 0 },
};

/* the channel bindings of this TLS connection: tls-exporter first (RFC 9266
 * makes it the default under TLS 1.3), tls-unique (TLS 1.2 only), then
 * tls-server-end-point.  They never change on a connection: worked out once,
 * when the features list first needs them, and kept until authentication
 * ends (auth_cancel, auth_succeeded), so an idle session keeps none. */
struct cb_cache {
    size_t n;
    int unique;                 /* tls-unique is among them */
    struct scram_cb cb[SCRAM_CB_NMAX];
    uint8_t d[SCRAM_CB_NMAX][TLS_CB_MAX];
};

static const struct cb_cache *channel_bindings(struct conn *c)
{
    struct cb_cache *k;
    int l;
    if (!c->tls || !tls_done(c->tls)) return NULL;
    if (c->cbc) return c->cbc;
    if (!(k = calloc(1, sizeof *k))) return NULL;
    if ((l = tls_cb_exporter(c->tls, k->d[k->n])) > 0)
        k->cb[k->n] = (struct scram_cb){ "tls-exporter", k->d[k->n], (size_t)l }, k->n++;
    if ((l = tls_cb_unique(c->tls, k->d[k->n])) > 0)
        k->cb[k->n] = (struct scram_cb){ "tls-unique", k->d[k->n], (size_t)l }, k->n++, k->unique = 1;
    if ((l = tls_cb_endpoint(c->tls, k->d[k->n])) > 0)
        k->cb[k->n] = (struct scram_cb){ "tls-server-end-point", k->d[k->n], (size_t)l }, k->n++;
    return c->cbc = k;
}

static void cb_free(struct conn *c)
{
    if (!c->cbc) return;
    sc_zero(c->cbc, sizeof *c->cbc);
    free(c->cbc);
    c->cbc = NULL;
}

unsigned auth_mechs(struct conn *c)
{
    const struct relay_config *cfg = c->r->cfg;
    int tls = c->tls && tls_done(c->tls);
    unsigned m = M_SIMPP;
    const struct cb_cache *k;
    /* a password crosses the wire (PLAIN) or can be guessed offline from a
     * recorded exchange (SCRAM): inside TLS only, unless told otherwise */
    if (cfg->allow_scram && (tls || !cfg->tls_required)) m |= M_S256 | M_S1;
    if (cfg->allow_scram && (k = channel_bindings(c)) && k->n) m |= M_S256P | M_S1P;
    if (cfg->allow_plain && tls) m |= M_PLAIN;
    return m;
}

void auth_features(struct conn *c, sbuf *b)
{
    unsigned m = auth_mechs(c);
    const struct cb_cache *k;
    sb_puts(b, "<mechanisms xmlns='" NS_SASL "'>");
    for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++)
        if (m & mechs[i].bit) sb_printf(b, "<mechanism>%s</mechanism>", mechs[i].name);
    sb_puts(b, "</mechanisms>");
    if ((m & (M_S256P | M_S1P)) && (k = channel_bindings(c))) {
        sb_puts(b, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
        for (size_t i = 0; i < k->n; i++) sb_printf(b, "<channel-binding type='%s'/>", k->cb[i].name);
        sb_puts(b, "</sasl-channel-binding>");
    }
}

/* ---- SCRAM and PLAIN ------------------------------------------------------ */

static int user_scram(struct relay *r, const char *user, int hash, struct scram_cred *cred,
                      char *bare, size_t cap)
{
    struct store_user u;
    char jid[SASL_MAX_NAME + 300];
    int ok;
    snprintf(jid, sizeof jid, "%s@%s", user, r->cfg->domain);
    if (!split_domain_ok(r, jid, bare, cap)) return -1;
    if (store_user_get(r->st, bare, &u) != STORE_OK) return -1;
    ok = u.has_scram && u.saltlen == SCRAM_SALT_LEN && (hash == SC_HASH_SHA256 || u.has_scram1);
    if (ok) {
        memset(cred, 0, sizeof *cred);
        memcpy(cred->salt, u.scram_salt, SCRAM_SALT_LEN);
        cred->iter = u.scram_iter;
        cred->hash = hash;
        if (hash == SC_HASH_SHA1) {
            memcpy(cred->stored_key, u.scram1_stored, STORE_SCRAM1_KEY);
            memcpy(cred->server_key, u.scram1_server, STORE_SCRAM1_KEY);
        } else {
            memcpy(cred->stored_key, u.scram_stored, STORE_SCRAM_KEY);
            memcpy(cred->server_key, u.scram_server, STORE_SCRAM_KEY);
        }
    }
    sc_zero(&u, sizeof u);
    return ok ? 0 : -1;
}

static void sasl_scram_first(struct conn *c, const struct mech *mc, const uint8_t *m, size_t len)
{
    char user[SASL_MAX_NAME + 1], bare[512], out[SCRAM_OUT_MAX];
    size_t ol = sizeof out;
    struct scram_cred cred;
    const struct cb_cache *k;
    int e;
    if (!(c->scram = scram_server_new_hash(mc->hash))) { sasl_fail(c, "temporary-auth-failure", "memory"); return; }
    /* inside TLS: bind to it (-PLUS), and a client's "y" is a downgrade
     * whenever -PLUS was offered (RFC 5802 6) */
    /* A client's "y" says it could bind but saw no -PLUS: a stripped feature
     * list.  Under TLS 1.2 every binding client knows tls-unique, which is
     * offered; under 1.3 a client knowing only tls-unique (slixmpp 1.8)
     * honestly cannot bind, so "y" is not taken as a downgrade there. */
    if ((k = channel_bindings(c)) && k->n &&
        scram_server_channel(c->scram, mc->plus, k->unique && (auth_mechs(c) & (M_S256P | M_S1P)), k->cb, k->n) !=
            SASL_OK) {
        sasl_fail(c, "temporary-auth-failure", "channel binding");
        return;
    }
    e = scram_server_first(c->scram, (const char *)m, len, NULL, 0, user, sizeof user);
    if (e == SASL_E_CB_UNSUPPORTED) c->auth_failures--;    /* a binding we lack is no guess */
    if (e != SASL_OK) { sasl_fail(c, sasl_condition(e), sasl_strerror(e)); return; }
    c->authuser = strdup(user);
    int known = user_scram(c->r, user, mc->hash, &cred, bare, sizeof bare) == 0;
    /* an unknown user gets a challenge that looks like any other */
    e = scram_server_challenge(c->scram, known ? &cred : NULL, out, &ol);
    sc_zero(&cred, sizeof cred);
    if (e != SASL_OK) { sasl_fail(c, sasl_condition(e), sasl_strerror(e)); return; }
    if (known) { free(c->authuser); c->authuser = strdup(bare); }
    c->state = CS_SASL;
    sasl_reply(c, "challenge", (const uint8_t *)out, ol);
}

static void sasl_scram_final(struct conn *c, const uint8_t *m, size_t len)
{
    char out[SCRAM_OUT_MAX];
    size_t ol = sizeof out;
    int e = scram_server_final(c->scram, (const char *)m, len, out, &ol);
    if (e != SASL_OK || !strchr(c->authuser, '@')) {
        sasl_fail(c, e != SASL_OK ? sasl_condition(e) : "not-authorized",
                  e != SASL_OK ? sasl_strerror(e) : "unknown user");
        return;
    }
    relay_log(c->r, "login addr=%s jid=%s mechanism=%s level=xmpp%s%s", c->addr, c->authuser,
              c->mname, c->tls ? " tls=" : "", c->tls ? tls_version(c->tls) : "");
    scram_server_free(c->scram);
    c->scram = NULL;
    char bare[512];
    snprintf(bare, sizeof bare, "%s", c->authuser);
    auth_succeeded(c, bare, SIMPP_LEVEL_XMPP, (const uint8_t *)out, ol);
}

/* PLAIN: the password's derivation (PBKDF2, 10,000 rounds) runs on a worker
 * thread; the loop goes on routing and takes the answer when it comes */
struct plain_job {
    struct job job;
    struct conn *c;             /* NULL once the connection went */
    char pw[SASL_MAX_PW + 1];
    size_t pwl;
    struct scram_cred cred;     /* stored: in; then what the password gives */
    int known, ok;
};

static void plain_run(struct job *j)
{
    struct plain_job *p = (struct plain_job *)j;
    struct scram_cred got;
    p->ok = scram_make_cred_salt(p->pw, p->pwl, p->cred.salt, p->cred.iter, &got) == SASL_OK && p->known &&
            sc_ct_eq(got.stored_key, p->cred.stored_key, 32);
    sc_zero(p->pw, sizeof p->pw);
    sc_zero(&got, sizeof got);
}

static void plain_done(struct job *j)
{
    struct plain_job *p = (struct plain_job *)j;
    struct conn *c = p->c;
    int ok = p->ok;
    sc_zero(p, sizeof *p);
    free(p);
    if (!c) return;                         /* gone meanwhile */
    c->job = NULL;
    if (c->state == CS_CLOSING) return;
    if (!ok) {
        sasl_fail(c, "not-authorized", "bad password or unknown user");
    } else {
        char bare[512];
        snprintf(bare, sizeof bare, "%s", c->authuser);
        relay_log(c->r, "login addr=%s jid=%s mechanism=PLAIN level=xmpp tls=%s", c->addr, bare,
                  c->tls ? tls_version(c->tls) : "none");
        auth_succeeded(c, bare, SIMPP_LEVEL_XMPP, NULL, 0);
    }
    c->r->settle(c);
}

void auth_cancel(struct conn *c)
{
    cb_free(c);
    if (c->job) {
        ((struct plain_job *)c->job)->c = NULL;
        c->job = NULL;
    }
}

static void sasl_plain(struct conn *c, const uint8_t *m, size_t len)
{
    char authz[SASL_MAX_AUTHZID + 1], user[SASL_MAX_NAME + 1], bare[512];
    struct plain_job *p = calloc(1, sizeof *p);
    int e;
    if (!p) { sasl_fail(c, "temporary-auth-failure", "memory"); return; }
    e = sasl_plain_parse(m, len, authz, sizeof authz, user, sizeof user, p->pw, sizeof p->pw, &p->pwl);
    if (e != SASL_OK) {
        sc_zero(p, sizeof *p);
        free(p);
        sasl_fail(c, sasl_condition(e), sasl_strerror(e));
        return;
    }
    c->authuser = strdup(user);
    p->known = user_scram(c->r, user, SC_HASH_SHA256, &p->cred, bare, sizeof bare) == 0;
    if (!p->known) {
        /* derive anyway, so an unknown user costs the same time as a known one */
        memset(&p->cred, 0, sizeof p->cred);
        p->cred.iter = SCRAM_ITER_DEFAULT;
    }
    /* an authzid other than the user's own bare JID is refused (RFC 6120 6.3.8) */
    if (authz[0] && (!p->known || strcmp(authz, bare) != 0)) p->known = 0;
    if (p->known) { free(c->authuser); c->authuser = strdup(bare); }
    p->c = c;
    p->job.run = plain_run;
    p->job.done = plain_done;
    if (workers_submit(c->r->workers, &p->job) < 0) {
        sc_zero(p, sizeof *p);
        free(p);
        sasl_fail(c, "temporary-auth-failure", "too many logins under way");
        return;
    }
    c->job = &p->job;
    c->state = CS_SASL;                     /* nothing more until the answer */
}

/* at most auth_per_min SASL attempts a minute from one address, counted
 * before any work is done for them (a token bucket of auth_per_min / 6) */
static int attempt_allowed(struct conn *c)
{
    struct addr_count *a = c->acct;
    int per_min = c->r->cfg->auth_per_min;
    if (per_min <= 0 || !a) return 1;
    double cap = per_min / 6.0 < 3 ? 3 : per_min / 6.0;
    int64_t now = ev_now_ms();
    if (a->tokens_at == 0) a->tokens = cap;
    else a->tokens += (double)(now - a->tokens_at) * per_min / 60000.0;
    if (a->tokens > cap) a->tokens = cap;
    a->tokens_at = now;
    if (a->tokens < 1) return 0;
    a->tokens -= 1;
    return 1;
}

static void handle_sasl(struct conn *c, xs_node *st)
{
    uint8_t *m;
    size_t len;
    if (c->job) {                           /* a PLAIN check is under way */
        sasl_fail(c, "malformed-request", "out of order");
        return;
    }
    if (strcmp(st->name, "abort") == 0) {
        c->auth_failures--;              /* an abort is not a guess */
        sasl_fail(c, "aborted", "client aborted");
        return;
    }
    if (!(m = sasl_payload(st, &len))) { sasl_fail(c, "incorrect-encoding", "bad base64"); return; }
    if (strcmp(st->name, "auth") == 0 && c->state == CS_PREAUTH) {
        const char *name = xs_getattr(st, "mechanism", NULL);
        const struct mech *mc = NULL;
        for (size_t i = 0; name && i < sizeof mechs / sizeof mechs[0]; i++)
            if (strcmp(name, mechs[i].name) == 0) mc = &mechs[i];
        if (!mc || !(auth_mechs(c) & mc->bit)) {
            /* a password mechanism that TLS would allow: say so */
            int later = mc && mc->kind != MECH_SIMPP && c->r->tls && !c->tls;
            sasl_fail(c, later ? "encryption-required" : "invalid-mechanism", name ? name : "none");
        } else if (mc->kind == MECH_PLAIN && !attempt_allowed(c)) {
            c->mname = mc->name;
            relay_log(c->r, "auth-throttled addr=%s", c->addr);
            sasl_fail(c, "temporary-auth-failure", "too many attempts from this address");
        } else {
            c->mech = mc->kind;
            c->mname = mc->name;
            if (mc->kind == MECH_SIMPP) sasl_simpp_s1(c, m, len);
            else if (mc->kind == MECH_SCRAM) sasl_scram_first(c, mc, m, len);
            else sasl_plain(c, m, len);
        }
    } else if (strcmp(st->name, "response") == 0 && c->state == CS_SASL && c->mech != MECH_PLAIN) {
        if (c->mech == MECH_SIMPP) sasl_simpp_s3(c, m, len);
        else sasl_scram_final(c, m, len);
    } else
        sasl_fail(c, "malformed-request", "out of order");
    sc_zero(m, len);
    free(m);
}

/* ---- SIMPP registration (an iq before authentication) ----------------------- */

static void iq_reply_elem(struct conn *c, const xs_node *iq, const char *elem, const uint8_t *d, size_t dl)
{
    const char *id = xs_getattr(iq, "id", NULL);
    sbuf b = { 0 };
    size_t bl = 4 * ((dl + 2) / 3) + 1;
    char *e = malloc(bl);
    sb_puts(&b, "<iq type='result'");
    if (id) { sb_puts(&b, " id='"); sb_esc(&b, id); sb_puts(&b, "'"); }
    sb_puts(&b, ">");
    if (elem && e && sc_b64_encode(d, dl, e, &bl) == 0)
        sb_printf(&b, "<register xmlns='" SIMPP_NS "'><%s>%s</%s></register>", elem, e, elem);
    sb_puts(&b, "</iq>");
    free(e);
    conn_send_sb(c, &b);
}

/* R3 done: the level recorded, and why (the client shows both) */
static void register_done(struct conn *c, const xs_node *iq, int level, const char *note)
{
    const char *id = xs_getattr(iq, "id", NULL);
    sbuf b = { 0 };
    sb_puts(&b, "<iq type='result'");
    if (id) { sb_puts(&b, " id='"); sb_esc(&b, id); sb_puts(&b, "'"); }
    sb_printf(&b, "><register xmlns='" SIMPP_NS "' level='%s'", simpp_level_name(level));
    if (note && *note) { sb_puts(&b, " note='"); sb_esc(&b, note); sb_puts(&b, "'"); }
    sb_puts(&b, "/></iq>");
    conn_send_sb(c, &b);
}

static int reg_throttled(struct relay *r)
{
    int64_t now = ev_now_ms();
    if (now - r->reg_window >= 60000) {
        r->reg_window = now;
        r->reg_count = 0;
    }
    return ++r->reg_count > r->cfg->reg_per_min;
}

static void handle_register(struct conn *c, xs_node *iq, const xs_node *reg)
{
    struct relay *r = c->r;
    const xs_node *r1 = xs_child(reg, "r1", SIMPP_NS), *r3 = xs_child(reg, "r3", SIMPP_NS);
    const char *type = xs_getattr(iq, "type", NULL);
    uint8_t in[SIMPP_MSG_MAX], out[SIMPP_MSG_MAX];
    size_t il = sizeof in, ol = sizeof out;
    const char *t;
    if (!type || strcmp(type, "set") != 0 || (!r1 == !r3)) {
        conn_stanza_error(c, iq, "modify", "bad-request");
        return;
    }
    if (!r->cfg->allow_register) {
        relay_log(r, "register-refused addr=%s reason=closed", c->addr);
        conn_stanza_error(c, iq, "cancel", "not-allowed");
        return;
    }
    t = xs_text(r1 ? r1 : r3);
    if (sc_b64_decode(t, strlen(t), in, &il) < 0) { conn_stanza_error(c, iq, "modify", "bad-request"); return; }
    if (r1) {
        struct simpp_ctx ctx = { c->stream_id, r->cfg->suites, r->cfg->nsuites };
        char bare[512];
        struct store_user u;
        if (c->r2_sent) {
            relay_log(r, "register-refused addr=%s reason=repeated-r1", c->addr);
            conn_stanza_error(c, iq, "cancel", "unexpected-request");
            auth_failed(c);
            return;
        }
        if (reg_throttled(r)) {
            relay_log(r, "register-refused addr=%s reason=rate", c->addr);
            conn_stanza_error(c, iq, "wait", "resource-constraint");
            return;
        }
        if (!c->reg && !(c->reg = calloc(1, sizeof *c->reg))) { conn_stanza_error(c, iq, "wait", "internal-server-error"); return; }
        int e = simpp_r1_accept(c->reg, &ctx, r->key, in, il, out, &ol);
        if (e != SIMPP_OK) {
            relay_log(r, "register-refused addr=%s reason=%s", c->addr, simpp_strerror(e));
            conn_stanza_error(c, iq, "modify", e == SIMPP_ESUITE ? "policy-violation" : "bad-request");
            return;
        }
        if (!split_domain_ok(r, c->reg->id, bare, sizeof bare) || strcmp(bare, c->reg->id) != 0 ||
            strlen(bare) >= STORE_JID_MAX) {
            relay_log(r, "register-refused addr=%s id=%s reason=bad-jid", c->addr, c->reg->id);
            conn_stanza_error(c, iq, "modify", "jid-malformed");
            simpp_reg_wipe(c->reg);
            return;
        }
        if (store_user_get(r->st, bare, &u) == STORE_OK) {
            sc_zero(&u, sizeof u);
            relay_log(r, "register-refused addr=%s jid=%s reason=exists", c->addr, bare);
            conn_stanza_error(c, iq, "cancel", "conflict");
            simpp_reg_wipe(c->reg);
            return;
        }
        c->r2_sent = 1;
        iq_reply_elem(c, iq, "r2", out, ol);
        return;
    }
    /* R3 */
    if (!c->reg || c->reg->state != SIMPP_R2) { conn_stanza_error(c, iq, "modify", "unexpected-request"); return; }
    int e = simpp_r3_verify(c->reg, in, il);
    if (e != SIMPP_OK) {
        relay_log(r, "register-refused addr=%s jid=%s reason=%s", c->addr, c->reg->id, simpp_strerror(e));
        conn_stanza_error(c, iq, "auth", "not-authorized");
        simpp_reg_wipe(c->reg);
        return;
    }
    /* the level is what the proofs beside R3 earn, not what the mode claims */
    struct card_grant *g = calloc(1, sizeof *g);
    char why[300];
    if (!g || card_grant(r, c->reg, c->stream_id, reg, g, why, sizeof why) < 0) {
        relay_log(r, "register-refused addr=%s jid=%s reason=%s", c->addr, c->reg->id, g ? why : "memory");
        conn_stanza_error_text(c, iq, "auth", "not-authorized", g ? why : NULL);
        simpp_reg_wipe(c->reg);
        free(g);
        return;
    }
    struct store_user u;
    memset(&u, 0, sizeof u);
    memcpy(u.jid, c->reg->id, strnlen(c->reg->id, sizeof u.jid - 1));   /* length checked at R1 */
    u.level = g->level;
    u.curve = c->reg->curve;
    memcpy(u.pub, c->reg->pub, c->reg->publen);
    u.publen = c->reg->publen;
    u.wkalen = sizeof u.wka;
    u.created = (int64_t)time(NULL);
    if (relay_wrap(r->wrapkey, u.jid, c->reg->ka, u.wka, &u.wkalen) < 0) {
        conn_stanza_error(c, iq, "wait", "internal-server-error");
        simpp_reg_wipe(c->reg);
        free(g);
        return;
    }
    e = store_user_add(r->st, &u);
    if (e == STORE_OK && card_commit(r, g, u.jid) < 0) {
        store_user_del(r->st, u.jid);
        snprintf(why, sizeof why, "the proof was spent meanwhile");
        e = STORE_EXISTS;
    }
    simpp_reg_wipe(c->reg);
    sc_zero(&u.wka, sizeof u.wka);
    if (e == STORE_EXISTS) {
        relay_log(r, "register-refused addr=%s jid=%s reason=exists", c->addr, u.jid);
        conn_stanza_error(c, iq, "cancel", "conflict");
    } else if (e != STORE_OK) {
        relay_log(r, "register-failed addr=%s jid=%s reason=%s", c->addr, u.jid, store_errmsg(r->st));
        conn_stanza_error(c, iq, "wait", e == STORE_FULL ? "resource-constraint" : "internal-server-error");
    } else {
        relay_log(r, "register addr=%s jid=%s level=%s%s%s", c->addr, u.jid, simpp_level_name(u.level),
                  g->note[0] ? " note=" : "", g->note);
        register_done(c, iq, u.level, g->note);
    }
    free(g);
}

void auth_stanza(struct conn *c, xs_node *st)
{
    if (st->ns && strcmp(st->ns, NS_SASL) == 0) {
        handle_sasl(c, st);
        return;
    }
    if (strcmp(st->name, "iq") == 0) {
        const xs_node *reg = xs_child(st, "register", SIMPP_NS);
        if (reg) {
            handle_register(c, st, reg);
            return;
        }
    }
    /* RFC 6120 6.4.1 ... 4.9.3.20: stanzas before authentication */
    conn_stream_error(c, "not-authorized", NULL);
}

