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
static void auth_failed(struct conn *c)
{
    if (++c->auth_failures >= 3) conn_stream_error(c, "policy-violation", "too many failed attempts");
}

static void sasl_fail(struct conn *c, const char *cond, const char *why)
{
    sbuf b = { 0 };
    relay_log(c->r, "auth-fail addr=%s user=%s mechanism=%s reason=%s", c->addr,
              c->authuser ? c->authuser : "-", c->mech == MECH_SIMPP ? "SIMPP" : "SCRAM/PLAIN", why);
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
    c->level = lv < u.level ? lv : u.level;
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
    relay_log(r, "login addr=%s jid=%s mechanism=SIMPP mode=%s level=%s suite=%s", c->addr,
              c->authuser, simpp_mode_name(c->login->mode), simpp_level_name(c->level),
              sc_suite_name(c->login->suite));
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

static int user_scram(struct relay *r, const char *user, struct scram_cred *cred, char *bare, size_t cap)
{
    struct store_user u;
    char jid[SASL_MAX_NAME + 300];
    snprintf(jid, sizeof jid, "%s@%s", user, r->cfg->domain);
    if (!split_domain_ok(r, jid, bare, cap)) return -1;
    if (store_user_get(r->st, bare, &u) != STORE_OK || !u.has_scram || u.saltlen != SCRAM_SALT_LEN)
        return -1;
    memcpy(cred->salt, u.scram_salt, SCRAM_SALT_LEN);
    cred->iter = u.scram_iter;
    memcpy(cred->stored_key, u.scram_stored, 32);
    memcpy(cred->server_key, u.scram_server, 32);
    sc_zero(&u, sizeof u);
    return 0;
}

static void sasl_scram_first(struct conn *c, const uint8_t *m, size_t len)
{
    char user[SASL_MAX_NAME + 1], bare[512], out[SCRAM_OUT_MAX];
    size_t ol = sizeof out;
    struct scram_cred cred;
    int e;
    if (!(c->scram = scram_server_new())) { sasl_fail(c, "temporary-auth-failure", "memory"); return; }
    e = scram_server_first(c->scram, (const char *)m, len, NULL, 0, user, sizeof user);
    if (e != SASL_OK) { sasl_fail(c, sasl_condition(e), sasl_strerror(e)); return; }
    c->authuser = strdup(user);
    int known = user_scram(c->r, user, &cred, bare, sizeof bare) == 0;
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
    relay_log(c->r, "login addr=%s jid=%s mechanism=SCRAM-SHA-256 level=xmpp", c->addr, c->authuser);
    scram_server_free(c->scram);
    c->scram = NULL;
    char bare[512];
    snprintf(bare, sizeof bare, "%s", c->authuser);
    auth_succeeded(c, bare, SIMPP_LEVEL_XMPP, (const uint8_t *)out, ol);
}

static void sasl_plain(struct conn *c, const uint8_t *m, size_t len)
{
    char authz[SASL_MAX_AUTHZID + 1], user[SASL_MAX_NAME + 1], pw[SASL_MAX_PW + 1], bare[512];
    size_t pwl;
    struct scram_cred cred, got;
    int e = sasl_plain_parse(m, len, authz, sizeof authz, user, sizeof user, pw, sizeof pw, &pwl);
    if (e != SASL_OK) { sasl_fail(c, sasl_condition(e), sasl_strerror(e)); return; }
    c->authuser = strdup(user);
    int known = user_scram(c->r, user, &cred, bare, sizeof bare) == 0;
    if (!known) {
        /* derive anyway, so an unknown user costs the same time as a known one */
        memset(&cred, 0, sizeof cred);
        cred.iter = SCRAM_ITER_DEFAULT;
    }
    int ok = scram_make_cred_salt(pw, pwl, cred.salt, cred.iter, &got) == SASL_OK && known &&
             (!authz[0] || strcmp(authz, bare) == 0) && sc_ct_eq(got.stored_key, cred.stored_key, 32);
    sc_zero(pw, sizeof pw);
    sc_zero(&cred, sizeof cred);
    sc_zero(&got, sizeof got);
    if (!ok) { sasl_fail(c, "not-authorized", "bad password or unknown user"); return; }
    relay_log(c->r, "login addr=%s jid=%s mechanism=PLAIN level=xmpp", c->addr, bare);
    auth_succeeded(c, bare, SIMPP_LEVEL_XMPP, NULL, 0);
}

static void handle_sasl(struct conn *c, xs_node *st)
{
    const struct relay_config *cfg = c->r->cfg;
    uint8_t *m;
    size_t len;
    if (strcmp(st->name, "abort") == 0) {
        c->auth_failures--;              /* an abort is not a guess */
        sasl_fail(c, "aborted", "client aborted");
        return;
    }
    if (!(m = sasl_payload(st, &len))) { sasl_fail(c, "incorrect-encoding", "bad base64"); return; }
    if (strcmp(st->name, "auth") == 0 && c->state == CS_PREAUTH) {
        const char *mech = xs_getattr(st, "mechanism", NULL);
        if (mech && strcmp(mech, "SIMPP") == 0) {
            c->mech = MECH_SIMPP;
            sasl_simpp_s1(c, m, len);
        } else if (mech && strcmp(mech, "SCRAM-SHA-256") == 0 && cfg->allow_scram) {
            c->mech = MECH_SCRAM;
            sasl_scram_first(c, m, len);
        } else if (mech && strcmp(mech, "PLAIN") == 0 && cfg->allow_plain) {
            c->mech = MECH_SCRAM;
            sasl_plain(c, m, len);
        } else
            sasl_fail(c, "invalid-mechanism", mech ? mech : "none");
    } else if (strcmp(st->name, "response") == 0 && c->state == CS_SASL) {
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
    struct store_user u;
    memset(&u, 0, sizeof u);
    memcpy(u.jid, c->reg->id, strnlen(c->reg->id, sizeof u.jid - 1));   /* length checked at R1 */
    u.level = simpp_mode_level(c->reg->mode);
    u.curve = c->reg->curve;
    memcpy(u.pub, c->reg->pub, c->reg->publen);
    u.publen = c->reg->publen;
    u.wkalen = sizeof u.wka;
    u.created = (int64_t)time(NULL);
    if (relay_wrap(r->wrapkey, u.jid, c->reg->ka, u.wka, &u.wkalen) < 0) {
        conn_stanza_error(c, iq, "wait", "internal-server-error");
        simpp_reg_wipe(c->reg);
        return;
    }
    e = store_user_add(r->st, &u);
    simpp_reg_wipe(c->reg);
    sc_zero(&u.wka, sizeof u.wka);
    if (e == STORE_EXISTS) {
        relay_log(r, "register-refused addr=%s jid=%s reason=exists", c->addr, u.jid);
        conn_stanza_error(c, iq, "cancel", "conflict");
    } else if (e != STORE_OK) {
        relay_log(r, "register-failed addr=%s jid=%s reason=%s", c->addr, u.jid, store_errmsg(r->st));
        conn_stanza_error(c, iq, "wait", e == STORE_FULL ? "resource-constraint" : "internal-server-error");
    } else {
        relay_log(r, "register addr=%s jid=%s level=%s", c->addr, u.jid, simpp_level_name(u.level));
        iq_reply_elem(c, iq, NULL, NULL, 0);
    }
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

