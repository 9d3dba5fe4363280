/*
 * simpp.c - SIMPP registration (R1-R3) and login (S1-S3) as byte-level state
 * machines, and the client-server channel.  Byte layouts: doc/PROTOCOL.md.
 *
 * Notation as in paper 001: A client, S server, KR/KU private/public key,
 * K_A master key A-S, K_AS session key A-S, R_S server random, h = SHA-256.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "simpp.h"

#define HDR_R1 (1 + 1 + 1 + 1 + 2 + SIMPP_NONCE)     /* before idlen */
#define HDR_R2 (1 + 1 + SIMPP_NONCE)
#define HDR_S2 (1 + 1 + SIMPP_NONCE)

static const uint8_t zero_nonce[SC_NONCE_LEN];

int simpp_mode_level(int mode)
{
    switch (mode) {
    case SIMPP_MODE_KEYFILE:
    case SIMPP_MODE_PASSWORD: return SIMPP_LEVEL_PASSWORD;
    case SIMPP_MODE_JAVACARD:
    case SIMPP_MODE_MIFARE:
    case SIMPP_MODE_PKCS11:   return SIMPP_LEVEL_CARD;
    }
    return -1;
}

const char *simpp_mode_name(int mode)
{
    static const char *n[] = { "keyfile", "password", "javacard", "mifare", "pkcs11" };
    return mode >= 0 && mode <= SIMPP_MODE_PKCS11 ? n[mode] : "unknown";
}

int simpp_mode_from_name(const char *name)
{
    for (int m = 0; name && m <= SIMPP_MODE_PKCS11; m++)
        if (!strcmp(name, simpp_mode_name(m))) return m;
    return -1;
}

const char *simpp_level_name(int level)
{
    static const char *n[] = { "xmpp", "password", "card" };
    return level >= 0 && level <= 2 ? n[level] : "unknown";
}

int simpp_level_from_name(const char *name)
{
    for (int i = 0; i <= 2; i++)
        if (strcmp(name, simpp_level_name(i)) == 0) return i;
    return -1;
}

const char *simpp_strerror(int err)
{
    switch (err) {
    case SIMPP_OK:        return "ok";
    case SIMPP_EFORMAT:   return "malformed message";
    case SIMPP_EVERSION:  return "unsupported protocol version";
    case SIMPP_ESUITE:    return "cipher suite not offered or not allowed";
    case SIMPP_EAUTH:     return "authentication failed";
    case SIMPP_EKEY:      return "invalid public key";
    case SIMPP_ESTATE:    return "message out of order";
    }
    return "internal error";
}

/* c0 = h(label || u16 len || stream id || u8 n || suites): the session binding */
static int ctx_hash(const struct simpp_ctx *c, const char *label, uint8_t out[SC_SHA256_LEN])
{
    size_t sl;
    uint8_t l2[2], n1;
    if (!c || !c->stream_id || (sl = strlen(c->stream_id)) == 0 || sl > 0xffff ||
        c->nsuites > 255 || (c->nsuites && !c->suites))
        return SIMPP_EINTERNAL;
    l2[0] = (uint8_t)(sl >> 8);
    l2[1] = (uint8_t)sl;
    n1 = (uint8_t)c->nsuites;
    sc_sha256_parts(out, label, strlen(label), l2, (size_t)2, c->stream_id, sl, &n1, (size_t)1,
               c->suites ? (const void *)c->suites : (const void *)"", c->nsuites, (void *)NULL);
    return SIMPP_OK;
}

static int suite_in(int suite, const uint8_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == suite) return 1;
    return 0;
}

static int kdf(const uint8_t salt[SC_SHA256_LEN], const uint8_t *ikm, size_t ikmlen,
               const char *label, uint8_t *out, size_t outlen)
{
    return sc_hkdf_sha256(salt, SC_SHA256_LEN, ikm, ikmlen, label, strlen(label), out, outlen) == 0
               ? SIMPP_OK : SIMPP_EINTERNAL;
}

/* The key of a handshake message that carries a fresh value in its clear
 * header (S1: N_C; R2 and S2: N_S): HKDF with salt h(prev || header), prev
 * being c0 or the transcript so far.  A message made again from the same
 * state (a replayed S1 answered twice) gets a key of its own, so no
 * (key, nonce) pair repeats under the one-message nonce 0^12. */
static int hdr_kdf(const uint8_t prev[SC_SHA256_LEN], const uint8_t *hdr, size_t hlen,
                   const uint8_t *ikm, const char *label, uint8_t *out, size_t outlen)
{
    uint8_t salt[SC_SHA256_LEN];
    int e;
    sc_sha256_parts(salt, prev, (size_t)SC_SHA256_LEN, hdr, hlen, (void *)NULL);
    e = kdf(salt, ikm, SIMPP_KEY, label, out, outlen);
    sc_zero(salt, sizeof salt);
    return e;
}

/* h(ID || X) with the ID length-prefixed, so no two (ID, X) pairs collide */
static void id_hash(const char *id, const uint8_t *x, size_t xlen, uint8_t out[SC_SHA256_LEN])
{
    size_t il = strlen(id);
    uint8_t l2[2] = { (uint8_t)(il >> 8), (uint8_t)il };
    sc_sha256_parts(out, l2, (size_t)2, id, il, x, xlen, (void *)NULL);
}

static int valid_id(const uint8_t *p, size_t n)
{
    if (n == 0 || n > SIMPP_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] == 0x7f) return 0;   /* no controls, no spaces, no NUL */
    return 1;
}

int simpp_master_key(const sc_key *priv, const sc_key *peer, const char *id,
                     const sc_key *ku_a, const sc_key *ku_s, uint8_t ka[SIMPP_KEY])
{
    uint8_t a[SC_MAX_PUB], s[SC_MAX_PUB], info[SIMPP_ID_MAX + 2 * SC_MAX_PUB + 8];
    size_t al = sizeof a, sl = sizeof s;
    struct wr w = { info, sizeof info, 0, 0 };
    int r = SIMPP_EINTERNAL;
    if (!id || sc_key_public(ku_a, a, &al) < 0 || sc_key_public(ku_s, s, &sl) < 0)
        return SIMPP_EKEY;
    put16(&w, (unsigned)strlen(id));
    put(&w, id, strlen(id));
    put(&w, a, al);
    put(&w, s, sl);
    /* trap 5: never the raw x-coordinate; HKDF over it with both keys and the ID */
    if (!w.bad && sc_ecdh_hkdf(priv, peer, "simpp/1 K_A", 11, info, w.n, ka, SIMPP_KEY) == 0)
        r = SIMPP_OK;
    return r;
}

/* ---- registration, paper Fig. 5 ---------------------------------------- */

int simpp_r1_make(struct simpp_reg *r, const struct simpp_ctx *c, const char *id,
                  const sc_key *kr_a, const sc_key *ku_s, int suite, int mode,
                  uint8_t *out, size_t *outlen)
{
    uint8_t nc[SIMPP_NONCE], c0[SC_SHA256_LEN];
    struct wr w = { out, *outlen, 0, 0 };
    int e;
    memset(r, 0, sizeof *r);
    if (!id || !valid_id((const uint8_t *)id, strlen(id))) return SIMPP_EFORMAT;
    if (!sc_suite_keylen(suite) || !suite_in(suite, c->suites, c->nsuites)) return SIMPP_ESUITE;
    if (simpp_mode_level(mode) < 0 || sc_key_curve(kr_a) != sc_key_curve(ku_s)) return SIMPP_EFORMAT;
    r->publen = sizeof r->pub;
    if (sc_key_public(kr_a, r->pub, &r->publen) < 0 || sc_random(nc, sizeof nc) < 0)
        return SIMPP_EINTERNAL;
    snprintf(r->id, sizeof r->id, "%s", id);
    r->suite = suite;
    r->mode = mode;
    r->curve = sc_key_curve(kr_a);
    /* R1: ID_A, KU_A */
    put8(&w, SIMPP_V);
    put8(&w, SIMPP_R1);
    put8(&w, (unsigned)suite);
    put8(&w, (unsigned)mode);
    put16(&w, (unsigned)r->curve);
    put(&w, nc, sizeof nc);
    put16(&w, (unsigned)strlen(id));
    put(&w, id, strlen(id));
    put8(&w, (unsigned)r->publen);
    put(&w, r->pub, r->publen);
    if (w.bad) return SIMPP_EINTERNAL;
    /* K_A = KR_A . KU_S */
    if ((e = simpp_master_key(kr_a, ku_s, id, kr_a, ku_s, r->ka)) < 0) return e;
    if ((e = ctx_hash(c, "simpp/1 reg", c0)) < 0) return e;
    sc_sha256_parts(r->t, c0, sizeof c0, out, w.n, (void *)NULL);
    *outlen = w.n;
    r->state = SIMPP_R1;
    return SIMPP_OK;
}

int simpp_r1_accept(struct simpp_reg *r, const struct simpp_ctx *c, const sc_key *kr_s,
                    const uint8_t *r1, size_t r1len, uint8_t *out, size_t *outlen)
{
    struct rd in = { r1, r1len, 0 };
    uint8_t c0[SC_SHA256_LEN], pt[SIMPP_NONCE + SC_SHA256_LEN], ns[SIMPP_NONCE], kr[SC_MAX_KEY];
    const uint8_t *id, *pub;
    size_t idl, pl, sl;
    sc_key *ku_a = NULL, *ku_s = NULL;
    uint8_t spub[SC_MAX_PUB];
    size_t spl = sizeof spub;
    int e = SIMPP_EFORMAT;
    memset(r, 0, sizeof *r);
    if (r1len < HDR_R1 + 2 || r1len > SIMPP_MSG_MAX) return SIMPP_EFORMAT;
    if (take8(&in) != SIMPP_V) return SIMPP_EVERSION;
    if (take8(&in) != SIMPP_R1) return SIMPP_EFORMAT;
    r->suite = (int)take8(&in);
    r->mode = (int)take8(&in);
    r->curve = (int)take16(&in);
    take(&in, SIMPP_NONCE);
    idl = take16(&in);
    id = take(&in, idl);
    pl = take8(&in);
    pub = take(&in, pl);
    if (in.bad || in.n || !valid_id(id, idl) || simpp_mode_level(r->mode) < 0) return SIMPP_EFORMAT;
    if (!sc_suite_keylen(r->suite) || !suite_in(r->suite, c->suites, c->nsuites)) return SIMPP_ESUITE;
    if (r->curve != sc_key_curve(kr_s)) return SIMPP_EKEY;
    memcpy(r->id, id, idl);
    r->id[idl] = 0;
    /* every point from the network is validated (trap 3) */
    if (!(ku_a = sc_key_from_public(r->curve, pub, pl))) return SIMPP_EKEY;
    memcpy(r->pub, pub, pl);
    r->publen = pl;
    if (sc_key_public(kr_s, spub, &spl) < 0 || !(ku_s = sc_key_from_public(r->curve, spub, spl))) {
        e = SIMPP_EINTERNAL;
        goto out;
    }
    /* K_A = KR_S . KU_A */
    if ((e = simpp_master_key(kr_s, ku_a, r->id, ku_a, ku_s, r->ka)) < 0) goto out;
    if ((e = ctx_hash(c, "simpp/1 reg", c0)) < 0) goto out;
    sc_sha256_parts(r->t, c0, sizeof c0, r1, r1len, (void *)NULL);
    /* R2 = {R_S, h(ID_A, KU_A)}K_A, under K_R bound to T1 and this R2's N_S */
    e = SIMPP_EINTERNAL;
    if (sc_random(r->rs, sizeof r->rs) < 0 || sc_random(ns, sizeof ns) < 0) goto out;
    memcpy(pt, r->rs, SIMPP_NONCE);
    id_hash(r->id, r->pub, r->publen, pt + SIMPP_NONCE);
    if (*outlen < HDR_R2) goto out;
    out[0] = SIMPP_V;
    out[1] = SIMPP_R2;
    memcpy(out + 2, ns, SIMPP_NONCE);
    sl = *outlen - HDR_R2;
    if (hdr_kdf(r->t, out, HDR_R2, r->ka, "simpp/1 R2", kr, sc_suite_keylen(r->suite)) < 0 ||
        sc_seal(r->suite, kr, zero_nonce, out, HDR_R2, pt, sizeof pt, out + HDR_R2, &sl) < 0)
        goto out;
    *outlen = HDR_R2 + sl;
    sc_sha256_parts(r->t, r->t, sizeof r->t, out, *outlen, (void *)NULL);
    r->state = SIMPP_R2;
    e = SIMPP_OK;
out:
    sc_zero(pt, sizeof pt);
    sc_zero(kr, sizeof kr);
    sc_key_free(ku_a);
    sc_key_free(ku_s);
    return e;
}

static void r3_digest(const struct simpp_reg *r, uint8_t d[SC_SHA256_LEN])
{
    sc_sha256_parts(d, "simpp/1 R3", (size_t)10, r->t, sizeof r->t, r->rs, sizeof r->rs, (void *)NULL);
}

int simpp_r2_answer(struct simpp_reg *r, const sc_key *kr_a, const uint8_t *r2, size_t r2len,
                    uint8_t *out, size_t *outlen)
{
    uint8_t pt[SIMPP_NONCE + SC_SHA256_LEN + SC_MAX_OVERHEAD], want[SC_SHA256_LEN], d[SC_SHA256_LEN];
    uint8_t sig[SC_MAX_SIG], kr[SC_MAX_KEY];
    size_t pl = sizeof pt, sl = sizeof sig;
    int e = SIMPP_EAUTH;
    if (r->state != SIMPP_R1) return SIMPP_ESTATE;
    if (r2len < HDR_R2 || r2len > SIMPP_MSG_MAX) return SIMPP_EFORMAT;
    if (r2[0] != SIMPP_V) return SIMPP_EVERSION;
    if (r2[1] != SIMPP_R2) return SIMPP_EFORMAT;
    if (hdr_kdf(r->t, r2, HDR_R2, r->ka, "simpp/1 R2", kr, sc_suite_keylen(r->suite)) < 0 ||
        sc_open(r->suite, kr, zero_nonce, r2, HDR_R2, r2 + HDR_R2, r2len - HDR_R2, pt, &pl) < 0 ||
        pl != SIMPP_NONCE + SC_SHA256_LEN)
        goto out;
    /* A compares h(ID_A, KU_A) with what it sent: R1 arrived unchanged */
    id_hash(r->id, r->pub, r->publen, want);
    if (!sc_ct_eq(want, pt + SIMPP_NONCE, SC_SHA256_LEN)) goto out;
    memcpy(r->rs, pt, SIMPP_NONCE);
    sc_sha256_parts(r->t, r->t, sizeof r->t, r2, r2len, (void *)NULL);
    /* R3 = [R_S]KR_A, over the transcript too */
    r3_digest(r, d);
    e = SIMPP_EINTERNAL;
    if (sc_sign(kr_a, d, sizeof d, sig, &sl) < 0 || *outlen < 3 + sl) goto out;
    out[0] = SIMPP_V;
    out[1] = SIMPP_R3;
    out[2] = (uint8_t)sl;
    memcpy(out + 3, sig, sl);
    *outlen = 3 + sl;
    r->state = SIMPP_R3;
    e = SIMPP_OK;
out:
    sc_zero(pt, sizeof pt);
    sc_zero(kr, sizeof kr);
    return e;
}

int simpp_r3_verify(struct simpp_reg *r, const uint8_t *r3, size_t r3len)
{
    uint8_t d[SC_SHA256_LEN];
    sc_key *ku_a;
    int ok;
    if (r->state != SIMPP_R2) return SIMPP_ESTATE;
    if (r3len < 3 || r3len > SIMPP_MSG_MAX) return SIMPP_EFORMAT;
    if (r3[0] != SIMPP_V) return SIMPP_EVERSION;
    if (r3[1] != SIMPP_R3 || r3[2] != r3len - 3) return SIMPP_EFORMAT;
    if (!(ku_a = sc_key_from_public(r->curve, r->pub, r->publen))) return SIMPP_EKEY;
    r3_digest(r, d);
    ok = sc_verify(ku_a, d, sizeof d, r3 + 3, r3len - 3);
    sc_key_free(ku_a);
    if (!ok) return SIMPP_EAUTH;
    r->state = SIMPP_R3;
    return SIMPP_OK;
}

void simpp_reg_wipe(struct simpp_reg *r)
{
    sc_zero(r, sizeof *r);
}

/* ---- login, paper Fig. 6 ------------------------------------------------- */

int simpp_s1_make(struct simpp_login *l, const struct simpp_ctx *c, const char *id,
                  const uint8_t ka[SIMPP_KEY], int suite, int mode, uint8_t *out, size_t *outlen)
{
    uint8_t c0[SC_SHA256_LEN], k1[SC_MAX_KEY], nc[SIMPP_NONCE];
    struct wr w = { out, *outlen, 0, 0 };
    size_t sl;
    int e;
    memset(l, 0, sizeof *l);
    if (!id || !valid_id((const uint8_t *)id, strlen(id)) || simpp_mode_level(mode) < 0)
        return SIMPP_EFORMAT;
    /* the suite must be one the server advertised: a stripped list shows up
     * at S2, because c0 covers the list as this client saw it */
    if (!sc_suite_keylen(suite) || !suite_in(suite, c->suites, c->nsuites)) return SIMPP_ESUITE;
    if ((e = ctx_hash(c, "simpp/1 login", c0)) < 0) return e;
    if (sc_random(l->kas, sizeof l->kas) < 0 || sc_random(nc, sizeof nc) < 0)
        return SIMPP_EINTERNAL;
    snprintf(l->id, sizeof l->id, "%s", id);
    memcpy(l->ka, ka, SIMPP_KEY);
    l->suite = suite;
    l->mode = mode;
    put8(&w, SIMPP_V);
    put8(&w, SIMPP_S1);
    put8(&w, (unsigned)suite);
    put8(&w, (unsigned)mode);
    put(&w, nc, sizeof nc);
    put16(&w, (unsigned)strlen(id));
    put(&w, id, strlen(id));
    if (w.bad) return SIMPP_EINTERNAL;
    /* S1 = ID_A, {K_AS}K_A, the key bound to this stream and header */
    e = SIMPP_EINTERNAL;
    sl = *outlen - w.n;
    if (hdr_kdf(c0, out, w.n, ka, "simpp/1 S1", k1, sc_suite_keylen(suite)) == SIMPP_OK &&
        sc_seal(suite, k1, zero_nonce, out, w.n, l->kas, sizeof l->kas, out + w.n, &sl) == 0) {
        *outlen = w.n + sl;
        sc_sha256_parts(l->t, c0, sizeof c0, out, *outlen, (void *)NULL);
        l->state = SIMPP_S1;
        e = SIMPP_OK;
    }
    sc_zero(k1, sizeof k1);
    return e;
}

/* parse S1's clear header; returns its length */
static int s1_header(const uint8_t *s1, size_t len, int *suite, int *mode, const uint8_t **id,
                     size_t *idl)
{
    struct rd in = { s1, len, 0 };
    if (len < 4 + SIMPP_NONCE + 2 || len > SIMPP_MSG_MAX) return SIMPP_EFORMAT;
    if (take8(&in) != SIMPP_V) return SIMPP_EVERSION;
    if (take8(&in) != SIMPP_S1) return SIMPP_EFORMAT;
    *suite = (int)take8(&in);
    *mode = (int)take8(&in);
    take(&in, SIMPP_NONCE);
    *idl = take16(&in);
    *id = take(&in, *idl);
    if (in.bad || !valid_id(*id, *idl)) return SIMPP_EFORMAT;
    return (int)(len - in.n);
}

int simpp_s1_id(const uint8_t *s1, size_t len, char *id, size_t idcap)
{
    int suite, mode, h;
    const uint8_t *p;
    size_t n;
    if ((h = s1_header(s1, len, &suite, &mode, &p, &n)) < 0) return h;
    if (n + 1 > idcap) return SIMPP_EFORMAT;
    memcpy(id, p, n);
    id[n] = 0;
    return SIMPP_OK;
}

int simpp_s1_accept(struct simpp_login *l, const struct simpp_ctx *c, const uint8_t ka[SIMPP_KEY],
                    unsigned allowed, const uint8_t *s1, size_t len, uint8_t *out, size_t *outlen)
{
    uint8_t c0[SC_SHA256_LEN], k[SC_MAX_KEY], ns[SIMPP_NONCE];
    uint8_t pt[SIMPP_NONCE + SC_SHA256_LEN + SC_MAX_OVERHEAD];
    const uint8_t *id;
    size_t idl, pl = sizeof pt, sl;
    int h, e = SIMPP_EAUTH;
    memset(l, 0, sizeof *l);
    if ((h = s1_header(s1, len, &l->suite, &l->mode, &id, &idl)) < 0) return h;
    if (simpp_mode_level(l->mode) < 0) return SIMPP_EFORMAT;
    if (!sc_suite_keylen(l->suite) || !suite_in(l->suite, c->suites, c->nsuites) ||
        l->suite >= 32 || !(allowed & (1u << l->suite)))
        return SIMPP_ESUITE;
    memcpy(l->id, id, idl);
    l->id[idl] = 0;
    memcpy(l->ka, ka, SIMPP_KEY);
    if ((e = ctx_hash(c, "simpp/1 login", c0)) < 0) return e;
    e = SIMPP_EAUTH;
    if (hdr_kdf(c0, s1, (size_t)h, ka, "simpp/1 S1", k, sc_suite_keylen(l->suite)) < 0 ||
        sc_open(l->suite, k, zero_nonce, s1, (size_t)h, s1 + h, len - (size_t)h, pt, &pl) < 0 ||
        pl != SIMPP_KEY)
        goto out;
    memcpy(l->kas, pt, SIMPP_KEY);
    sc_sha256_parts(l->t, c0, sizeof c0, s1, len, (void *)NULL);
    /* S2 = {R_S, h(ID_A, K_AS)}K_A, under K2 bound to T1 and this S2's N_S */
    e = SIMPP_EINTERNAL;
    if (sc_random(l->rs, sizeof l->rs) < 0 || sc_random(ns, sizeof ns) < 0 || *outlen < HDR_S2)
        goto out;
    memcpy(pt, l->rs, SIMPP_NONCE);
    id_hash(l->id, l->kas, SIMPP_KEY, pt + SIMPP_NONCE);
    out[0] = SIMPP_V;
    out[1] = SIMPP_S2;
    memcpy(out + 2, ns, SIMPP_NONCE);
    sl = *outlen - HDR_S2;
    if (hdr_kdf(l->t, out, HDR_S2, ka, "simpp/1 S2", k, sc_suite_keylen(l->suite)) < 0 ||
        sc_seal(l->suite, k, zero_nonce, out, HDR_S2, pt, SIMPP_NONCE + SC_SHA256_LEN,
                out + HDR_S2, &sl) < 0)
        goto out;
    *outlen = HDR_S2 + sl;
    sc_sha256_parts(l->t, l->t, sizeof l->t, out, *outlen, (void *)NULL);
    l->state = SIMPP_S2;
    e = SIMPP_OK;
out:
    sc_zero(k, sizeof k);
    sc_zero(pt, sizeof pt);
    return e;
}

static int channel_keys(struct simpp_login *l)
{
    size_t kl = sc_suite_keylen(l->suite);
    if (kdf(l->t, l->kas, SIMPP_KEY, "simpp/1 c2s", l->c2s, kl) < 0 ||
        kdf(l->t, l->kas, SIMPP_KEY, "simpp/1 s2c", l->s2c, kl) < 0)
        return SIMPP_EINTERNAL;
    return SIMPP_OK;
}

int simpp_s2_answer(struct simpp_login *l, const uint8_t *s2, size_t len, uint8_t *out,
                    size_t *outlen)
{
    uint8_t k[SC_MAX_KEY], pt[SIMPP_NONCE + SC_SHA256_LEN + SC_MAX_OVERHEAD], want[SC_SHA256_LEN];
    uint8_t hr[SC_SHA256_LEN];
    size_t pl = sizeof pt, sl;
    int e = SIMPP_EAUTH;
    if (l->state != SIMPP_S1) return SIMPP_ESTATE;
    if (len < HDR_S2 || len > SIMPP_MSG_MAX) return SIMPP_EFORMAT;
    if (s2[0] != SIMPP_V) return SIMPP_EVERSION;
    if (s2[1] != SIMPP_S2) return SIMPP_EFORMAT;
    if (hdr_kdf(l->t, s2, HDR_S2, l->ka, "simpp/1 S2", k, sc_suite_keylen(l->suite)) < 0 ||
        sc_open(l->suite, k, zero_nonce, s2, HDR_S2, s2 + HDR_S2, len - HDR_S2, pt, &pl) < 0 ||
        pl != SIMPP_NONCE + SC_SHA256_LEN)
        goto out;
    /* A checks h(ID_A, K_AS): S really opened S1 */
    id_hash(l->id, l->kas, SIMPP_KEY, want);
    if (!sc_ct_eq(want, pt + SIMPP_NONCE, SC_SHA256_LEN)) goto out;
    memcpy(l->rs, pt, SIMPP_NONCE);
    sc_sha256_parts(l->t, l->t, sizeof l->t, s2, len, (void *)NULL);
    /* S3 = {h(R_S)}K_AS */
    e = SIMPP_EINTERNAL;
    sc_sha256(l->rs, sizeof l->rs, hr);
    if (*outlen < 2 || kdf(l->t, l->kas, SIMPP_KEY, "simpp/1 S3", k, sc_suite_keylen(l->suite)) < 0)
        goto out;
    out[0] = SIMPP_V;
    out[1] = SIMPP_S3;
    sl = *outlen - 2;
    if (sc_seal(l->suite, k, zero_nonce, out, 2, hr, sizeof hr, out + 2, &sl) < 0) goto out;
    *outlen = 2 + sl;
    sc_sha256_parts(l->t, l->t, sizeof l->t, out, *outlen, (void *)NULL);
    if ((e = channel_keys(l)) < 0) goto out;
    l->state = SIMPP_S3;
    sc_zero(l->ka, sizeof l->ka);
out:
    sc_zero(k, sizeof k);
    sc_zero(pt, sizeof pt);
    return e;
}

int simpp_s3_verify(struct simpp_login *l, const uint8_t *s3, size_t len)
{
    uint8_t k[SC_MAX_KEY], pt[SC_SHA256_LEN + SC_MAX_OVERHEAD], want[SC_SHA256_LEN];
    size_t pl = sizeof pt;
    int e = SIMPP_EAUTH;
    if (l->state != SIMPP_S2) return SIMPP_ESTATE;
    if (len < 2 || len > SIMPP_MSG_MAX) return SIMPP_EFORMAT;
    if (s3[0] != SIMPP_V) return SIMPP_EVERSION;
    if (s3[1] != SIMPP_S3) return SIMPP_EFORMAT;
    sc_sha256(l->rs, sizeof l->rs, want);
    if (kdf(l->t, l->kas, SIMPP_KEY, "simpp/1 S3", k, sc_suite_keylen(l->suite)) == SIMPP_OK &&
        sc_open(l->suite, k, zero_nonce, s3, 2, s3 + 2, len - 2, pt, &pl) == 0 &&
        pl == SC_SHA256_LEN && sc_ct_eq(pt, want, SC_SHA256_LEN)) {
        sc_sha256_parts(l->t, l->t, sizeof l->t, s3, len, (void *)NULL);
        e = channel_keys(l);
        if (e == SIMPP_OK) l->state = SIMPP_S3;
        sc_zero(l->ka, sizeof l->ka);
    }
    sc_zero(k, sizeof k);
    return e;
}

void simpp_login_wipe(struct simpp_login *l)
{
    sc_zero(l, sizeof *l);
}

/* ---- channel --------------------------------------------------------------- */

void simpp_chan_init(struct simpp_chan *ch, const struct simpp_login *l, int server)
{
    memset(ch, 0, sizeof *ch);
    ch->suite = l->suite;
    memcpy(ch->ksend, server ? l->s2c : l->c2s, sizeof ch->ksend);
    memcpy(ch->krecv, server ? l->c2s : l->s2c, sizeof ch->krecv);
}

/* nonce = 0^4 || seq (big-endian): unique per key since keys are per direction */
static void seq_nonce(uint64_t seq, uint8_t n[SC_NONCE_LEN], uint8_t aad[8])
{
    memset(n, 0, SC_NONCE_LEN);
    for (int i = 0; i < 8; i++) aad[i] = n[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

int simpp_chan_seal(struct simpp_chan *ch, const void *pt, size_t len, uint8_t *out,
                    size_t *outlen, uint64_t *seq)
{
    uint8_t n[SC_NONCE_LEN], aad[8];
    if (ch->sseq == UINT64_MAX) return SIMPP_ESTATE;
    seq_nonce(ch->sseq, n, aad);
    if (sc_seal(ch->suite, ch->ksend, n, aad, sizeof aad, pt, len, out, outlen) < 0)
        return SIMPP_EINTERNAL;
    *seq = ch->sseq++;
    return SIMPP_OK;
}

int simpp_chan_open(struct simpp_chan *ch, uint64_t seq, const uint8_t *in, size_t len,
                    uint8_t *out, size_t *outlen)
{
    uint8_t n[SC_NONCE_LEN], aad[8];
    /* TCP keeps order, so anything but the next number is a replay, a
     * reordering or a deletion */
    if (seq != ch->rseq) return SIMPP_ESTATE;
    seq_nonce(seq, n, aad);
    if (sc_open(ch->suite, ch->krecv, n, aad, sizeof aad, in, len, out, outlen) < 0)
        return SIMPP_EAUTH;
    ch->rseq++;
    return SIMPP_OK;
}

void simpp_chan_wipe(struct simpp_chan *ch)
{
    sc_zero(ch, sizeof *ch);
}
