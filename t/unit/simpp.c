/* simpp.c - registration R1-R3, login S1-S3 and the channel, both sides,
 * with a must-fail twin for every must-pass step. */
#include <stdio.h>
#include <string.h>

#include "simpp.h"
#include "tap.h"

static const uint8_t all_suites[] = { SC_SUITE_CHACHA20_POLY1305, SC_SUITE_AES128_GCM,
                                      SC_SUITE_AES128_CBC_HMAC };
static const unsigned allow_all = 1u << 1 | 1u << 2 | 1u << 3;

struct reg_run { uint8_t r1[SIMPP_MSG_MAX], r2[SIMPP_MSG_MAX], r3[SIMPP_MSG_MAX]; size_t l1, l2, l3; };

/* full registration; returns the first failing step's code or 0 */
static int do_register(const struct simpp_ctx *cc, const struct simpp_ctx *sc, sc_key *a, sc_key *s,
                       int suite, struct simpp_reg *cr, struct simpp_reg *sr, struct reg_run *m)
{
    int e;
    m->l1 = m->l2 = m->l3 = SIMPP_MSG_MAX;
    if ((e = simpp_r1_make(cr, cc, "alice@localhost", a, s, suite, SIMPP_MODE_KEYFILE, m->r1, &m->l1))) return e;
    if ((e = simpp_r1_accept(sr, sc, s, m->r1, m->l1, m->r2, &m->l2))) return e;
    if ((e = simpp_r2_answer(cr, a, m->r2, m->l2, m->r3, &m->l3))) return e;
    return simpp_r3_verify(sr, m->r3, m->l3);
}

struct login_run { uint8_t s1[SIMPP_MSG_MAX], s2[SIMPP_MSG_MAX], s3[SIMPP_MSG_MAX]; size_t l1, l2, l3; };

static int do_login(const struct simpp_ctx *cc, const struct simpp_ctx *sc, const uint8_t *cka,
                    const uint8_t *ska, int suite, unsigned allowed, struct simpp_login *cl,
                    struct simpp_login *sl, struct login_run *m)
{
    int e;
    char id[64];
    m->l1 = m->l2 = m->l3 = SIMPP_MSG_MAX;
    if ((e = simpp_s1_make(cl, cc, "alice@localhost", cka, suite, SIMPP_MODE_PASSWORD, m->s1, &m->l1))) return e;
    if ((e = simpp_s1_id(m->s1, m->l1, id, sizeof id))) return e;
    if (strcmp(id, "alice@localhost") != 0) return -100;
    if ((e = simpp_s1_accept(sl, sc, ska, allowed, m->s1, m->l1, m->s2, &m->l2))) return e;
    if ((e = simpp_s2_answer(cl, m->s2, m->l2, m->s3, &m->l3))) return e;
    return simpp_s3_verify(sl, m->s3, m->l3);
}

/* ---- the worked example of doc/PROTOCOL.md section 17 ------------------------
 * The keys' scalars (relay, alice), the bytes on the wire and the values
 * the page lists: this code must make and accept exactly those, so the page
 * and the code cannot drift apart (appendix A checks the page with an
 * independent implementation). */
#define EX_REG_SID   "cda9b130269c0b11d8c72df5a02a8cff"
#define EX_LOGIN_SID "ae3a08c2bfa234fc445671eb98464b97"
#define EX_ID        "alice@example.org"
static const char ex_ds[] =
    "378a2cfde57447675bb8b079d0eeab2421c887f511dfd8f69c43526058c384b3";
static const char ex_da[] =
    "081ee472ea42e5d2e8cdf10797d41dae0816e1f3687c1e6dd86104e9a520714f";
static const char ex_ka[] =
    "d39dec486135846e72c17b8c64c2bea7586fe743973dcb33b73d726353216b99";
static const char ex_r1[] =
    "010101000100fd6971b4243da512b7500832432d404f0d1cca5781dd4054251b"
    "41349c2b0e520011616c696365406578616d706c652e6f726741047c1d2db19b"
    "847252891dc0ed23c9f9e6b47f46be2319438dc4e79ebad967d882a564af3f24"
    "b3e20f7562aac9e4516d0f886c24f2ee4cb0552003c32f8d2e2c06";
static const char ex_r2[] =
    "01024f57968432b6f444a47e38a35e4180644c546eafe3534afe0a32ecdea04d"
    "21c07f05caf478e3e45195b983fbeb2e3823de8c9ba0e21bc38b6d4ae809f25f"
    "a4ecdbc68fcf2fc3e78ef29b5c2cfdf95ad2454d6f2ea074cbcdea72ca1fc791"
    "770337673664ae4b43e4dd433711242585c9";
static const char ex_r3[] =
    "01034021558b0f0b7cfc89fde4ed0715c49f6a6793f493838c78450fe9ab2f4f"
    "b5b7ed7c4cfb57dc6b8f3ad15639a79fb480b61ec7d81394916f68edcce842ea"
    "9de5f6";
static const char ex_reg_t1[] =
    "f5058ea06a8ea3e4cd306038d87e391cc7ea11f7de03c69311694de932aabd40";
static const char ex_reg_t2[] =
    "c785a99050250412a8d8d8ba931fd2da16e03a7bad9d0d9d5e656079c7fe63c7";
static const char ex_reg_rs[] =
    "1c92159bd66f888c5c6eb58a83f9a7992044d24bca751edd1005cfc43f785907";
static const char ex_s1[] =
    "0111010050037ca7114e2c3ea5520a3eae4c9751593349d6f7f69166e51790b7"
    "134d2b3e0011616c696365406578616d706c652e6f7267e59a7c62e5b9926e8d"
    "b1eed5025dc7bb7ec0a8a3fa29043707ed33514107a631395dea906ac68ab559"
    "5d55cdaa65b6ae";
static const char ex_s2[] =
    "0112e13bc5804e470dadc3cca0ccb83b697c05c47f7b134689ff5fbf24e6c7c0"
    "fdaee4b970d815c6bc72fb05c7fb80ff2c2f6d8112b5ce6ac6848b085fc32d71"
    "eab0ce9caaec3406a5ca130ae8beee58967fe089c50d4e1b3100b584c1503821"
    "04fede82a5ae01cf4a3e0a0d256b5ea30fc9";
static const char ex_s3[] =
    "0113b44da71a287d1f9b77783f89eea9d1496dd41697d6808f8a8dc82f6ffea2"
    "c2f0dff53e8a45d4c5baacaad4b85c08c58a";
static const char ex_kas[] =
    "72e50750efe4482fe1cdaa3e017641542217ad8ac4d41fd90c46901c1f52b7c4";
static const char ex_t1[] =
    "2a019ae05f7a1295ae9bb9610c17257e3cd1cbfb7108ebcda11e7e80ed7ba52a";
static const char ex_t2[] =
    "fd5d2a68148a7cf1d82c1e90df5d67243f71c0e4007553ceceeece3266520a0e";
static const char ex_rs[] =
    "c2eaf70102a7a2371bb667d549b5313195dad5e3e68ebde3f506cc79371f87fb";
static const char ex_c2s[] =
    "a94a57a21f6f011cafca85dda8e90ce346380c31ff1e899f96b6246f7ca58b98";
static const char ex_s2c[] =
    "a14899a396e374ef4c7b538fce32681af5e46746c7d79aff6062c2ee65134857";

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* b[0..n) holds the bytes the hex string h spells */
static int eq_hex(const uint8_t *b, size_t n, const char *h)
{
    uint8_t x[SIMPP_MSG_MAX];
    return unhex(h, x) == n && memcmp(x, b, n) == 0;
}

static void test_worked_example(void)
{
    struct simpp_ctx reg = { EX_REG_SID, all_suites, 3 }, login = { EX_LOGIN_SID, all_suites, 3 };
    uint8_t d[32], ka[SIMPP_KEY], m1[SIMPP_MSG_MAX], m2[SIMPP_MSG_MAX], out[SIMPP_MSG_MAX];
    size_t l1, l2, ol;
    struct simpp_reg sr, cr;
    struct simpp_login sl, cl;
    sc_key *s = sc_key_from_scalar(SC_P256, d, unhex(ex_ds, d));
    sc_key *a = sc_key_from_scalar(SC_P256, d, unhex(ex_da, d));

    /* 17.1: the relay takes R1 and derives K_A; alice opens R2 and makes
     * R3; the relay takes the page's R3 */
    l1 = unhex(ex_r1, m1);
    ol = sizeof out;
    ok(simpp_r1_accept(&sr, &reg, s, m1, l1, out, &ol) == 0 && eq_hex(sr.ka, SIMPP_KEY, ex_ka),
       "example: the relay takes R1 and derives the page's K_A");
    memcpy(ka, sr.ka, SIMPP_KEY);
    memset(&cr, 0, sizeof cr);
    cr.suite = 1, cr.mode = SIMPP_MODE_KEYFILE, cr.state = SIMPP_R1, cr.curve = SC_P256;
    strcpy(cr.id, EX_ID);
    cr.publen = 65;
    memcpy(cr.pub, m1 + 58, 65);
    memcpy(cr.ka, ka, SIMPP_KEY);
    unhex(ex_reg_t1, cr.t);
    l2 = unhex(ex_r2, m2);
    ol = sizeof out;
    ok(simpp_r2_answer(&cr, a, m2, l2, out, &ol) == 0 && eq_hex(cr.rs, sizeof cr.rs, ex_reg_rs) &&
       eq_hex(cr.t, sizeof cr.t, ex_reg_t2), "example: alice opens the page's R2 (R_S, T2 as listed)");
    memset(&sr, 0, sizeof sr);
    sr.state = SIMPP_R2, sr.curve = SC_P256, sr.publen = 65;
    memcpy(sr.pub, m1 + 58, 65);
    unhex(ex_reg_t2, sr.t);
    unhex(ex_reg_rs, sr.rs);
    l1 = unhex(ex_r3, m1);
    ok(simpp_r3_verify(&sr, m1, l1) == 0, "example: the page's R3 verifies");

    /* 17.2: the relay opens S1; alice takes S2 and answers the page's S3
     * byte for byte; the relay takes S3; both get the page's channel keys */
    l1 = unhex(ex_s1, m1);
    ol = sizeof out;
    ok(simpp_s1_accept(&sl, &login, ka, allow_all, m1, l1, out, &ol) == 0 &&
       eq_hex(sl.kas, SIMPP_KEY, ex_kas), "example: the relay opens S1 to the page's K_AS");
    memset(&cl, 0, sizeof cl);
    cl.suite = 1, cl.mode = SIMPP_MODE_KEYFILE, cl.state = SIMPP_S1;
    strcpy(cl.id, EX_ID);
    memcpy(cl.ka, ka, SIMPP_KEY);
    unhex(ex_kas, cl.kas);
    unhex(ex_t1, cl.t);
    l2 = unhex(ex_s2, m2);
    ol = sizeof out;
    ok(simpp_s2_answer(&cl, m2, l2, out, &ol) == 0 && eq_hex(out, ol, ex_s3) &&
       eq_hex(cl.c2s, 32, ex_c2s) && eq_hex(cl.s2c, 32, ex_s2c),
       "example: alice opens the page's S2, makes its S3 byte for byte, and its channel keys");
    memset(&sl, 0, sizeof sl);
    sl.suite = 1, sl.state = SIMPP_S2;
    unhex(ex_kas, sl.kas);
    unhex(ex_t2, sl.t);
    unhex(ex_rs, sl.rs);
    l1 = unhex(ex_s3, m1);
    ok(simpp_s3_verify(&sl, m1, l1) == 0 && eq_hex(sl.c2s, 32, ex_c2s) && eq_hex(sl.s2c, 32, ex_s2c),
       "example: the relay takes the page's S3 and gets the same channel keys");
    sc_key_free(s);
    sc_key_free(a);
}

/* What a party holding the key would send: R2 or S2 (hdr = version, type,
 * N_S; key HKDF(h(t || hdr), ikm, label)) or S3 (hdr = version, type; key
 * HKDF(t, ikm, label)), sealed under nonce 0 with pt.  Returns the length. */
static size_t seal_as(int type, int suite, const uint8_t t[32], const uint8_t ikm[32],
                      const char *label, const uint8_t *pt, size_t ptlen, uint8_t *out)
{
    static const uint8_t zero[SC_NONCE_LEN];
    uint8_t salt[32], k[SC_MAX_KEY];
    size_t hl = type == SIMPP_S3 ? 2 : 2 + SIMPP_NONCE, cl = SIMPP_MSG_MAX - hl;
    out[0] = SIMPP_V;
    out[1] = (uint8_t)type;
    if (type == SIMPP_S3) memcpy(salt, t, 32);
    else {
        sc_random(out + 2, SIMPP_NONCE);
        sc_sha256_parts(salt, t, (size_t)32, out, hl, (void *)NULL);
    }
    sc_hkdf_sha256(salt, 32, ikm, 32, label, strlen(label), k, sc_suite_keylen(suite));
    if (sc_seal(suite, k, zero, out, hl, pt, ptlen, out + hl, &cl) < 0) return 0;
    return hl + cl;
}

/* R2, S2 and S3 that open (made with the right key) but do not carry the
 * proof they exist for: R2 not echoing h(ID_A, KU_A), S2 not echoing
 * h(ID_A, K_AS), S3 not carrying h(R_S).  Each refused; its twin with the
 * right proof taken (so the forgery is otherwise right). */
static void test_proofs(sc_key *a, sc_key *s, const uint8_t ka[SIMPP_KEY])
{
    struct simpp_ctx ctx = { "stream-p", all_suites, 3 };
    uint8_t m[SIMPP_MSG_MAX], out[SIMPP_MSG_MAX], pt[64], idh[32];
    size_t ml, ol;
    const char *id = "alice@localhost";
    for (int good = 0; good <= 1; good++) {
        struct simpp_reg cr;
        struct simpp_login cl, sl;
        /* R2 */
        ml = sizeof m;
        simpp_r1_make(&cr, &ctx, id, a, s, 1, SIMPP_MODE_KEYFILE, m, &ml);
        sc_random(pt, 32);
        uint8_t l2[2] = { 0, (uint8_t)strlen(id) };
        sc_sha256_parts(idh, l2, (size_t)2, id, strlen(id), cr.pub, good ? cr.publen : cr.publen - 1,
                        (void *)NULL);
        memcpy(pt + 32, idh, 32);
        ml = seal_as(SIMPP_R2, 1, cr.t, cr.ka, "simpp/1 R2", pt, 64, m);
        ol = sizeof out;
        ok(simpp_r2_answer(&cr, a, m, ml, out, &ol) == (good ? SIMPP_OK : SIMPP_EAUTH),
           good ? "(an R2 made with K_R and the right echo is taken)"
                : "an R2 that opens but echoes another h(ID_A, KU_A) is refused");
        /* S2 */
        ml = sizeof m;
        simpp_s1_make(&cl, &ctx, id, ka, 1, SIMPP_MODE_KEYFILE, m, &ml);
        ol = sizeof out;
        simpp_s1_accept(&sl, &ctx, ka, allow_all, m, ml, out, &ol);
        sc_random(pt, 32);
        sc_sha256_parts(idh, l2, (size_t)2, id, strlen(id), cl.kas, good ? sizeof cl.kas : sizeof cl.kas - 1,
                        (void *)NULL);
        memcpy(pt + 32, idh, 32);
        ml = seal_as(SIMPP_S2, 1, cl.t, cl.ka, "simpp/1 S2", pt, 64, m);
        ol = sizeof out;
        ok(simpp_s2_answer(&cl, m, ml, out, &ol) == (good ? SIMPP_OK : SIMPP_EAUTH),
           good ? "(an S2 made with K2 and the right echo is taken)"
                : "an S2 that opens but echoes another h(ID_A, K_AS) is refused");
        /* S3, to the relay that answered the S1 above */
        uint8_t rs[SIMPP_NONCE];
        memcpy(rs, sl.rs, sizeof rs);
        if (!good) rs[0] ^= 1;
        sc_sha256(rs, sizeof rs, pt);
        ml = seal_as(SIMPP_S3, 1, sl.t, sl.kas, "simpp/1 S3", pt, 32, m);
        ok(simpp_s3_verify(&sl, m, ml) == (good ? SIMPP_OK : SIMPP_EAUTH),
           good ? "(an S3 made with K3 and h(R_S) is taken)"
                : "an S3 that opens but carries another h(R_S) is refused");
    }
}

int main(void)
{
    struct simpp_ctx ctx = { "stream-1", all_suites, 3 }, other = { "stream-2", all_suites, 3 };
    struct simpp_reg cr, sr;
    struct simpp_login cl, sl;
    struct reg_run rm;
    struct login_run lm;
    sc_init();
    sc_key *a = sc_key_generate(SC_P256), *s = sc_key_generate(SC_P256), *mallory = sc_key_generate(SC_P256);

    /* ---- registration ---- */
    for (int suite = 1; suite <= 3; suite++) {
        ok(do_register(&ctx, &ctx, a, s, suite, &cr, &sr, &rm) == 0, "R1-R3 complete, suite %s", sc_suite_name(suite));
        ok(sc_ct_eq(cr.ka, sr.ka, SIMPP_KEY), "both sides derive the same K_A (suite %d)", suite);
        ok(strcmp(sr.id, "alice@localhost") == 0 && sr.publen == 65, "server learns ID_A and KU_A");
    }
    uint8_t ka[SIMPP_KEY];
    memcpy(ka, sr.ka, SIMPP_KEY);

    /* every single-byte change of R1 is caught, at R1 or at R2 */
    int caught = 0, total = 0;
    do_register(&ctx, &ctx, a, s, 1, &cr, &sr, &rm);
    for (size_t i = 0; i < rm.l1; i++) {
        uint8_t t[SIMPP_MSG_MAX], r2[SIMPP_MSG_MAX], r3[SIMPP_MSG_MAX];
        size_t l2 = sizeof r2, l3 = sizeof r3;
        struct simpp_reg c2 = cr, s2;
        memcpy(t, rm.r1, rm.l1);
        t[i] ^= 0x01;
        total++;
        if (simpp_r1_accept(&s2, &ctx, s, t, rm.l1, r2, &l2) != 0 ||
            simpp_r2_answer(&c2, a, r2, l2, r3, &l3) != 0)
            caught++;
    }
    ok(caught == total, "R1 tampered in flight: %d of %d byte flips detected", caught, total);

    /* R2 changed: refused by the client */
    do_register(&ctx, &ctx, a, s, 1, &cr, &sr, &rm);
    caught = total = 0;
    for (size_t i = 0; i < rm.l2; i++) {
        uint8_t t[SIMPP_MSG_MAX], r3[SIMPP_MSG_MAX];
        size_t l3 = sizeof r3;
        struct simpp_reg c2;
        uint8_t r1[SIMPP_MSG_MAX], r2[SIMPP_MSG_MAX];
        size_t l1 = sizeof r1, l2 = sizeof r2;
        struct simpp_reg s2;
        simpp_r1_make(&c2, &ctx, "alice@localhost", a, s, 1, 0, r1, &l1);
        simpp_r1_accept(&s2, &ctx, s, r1, l1, r2, &l2);
        memcpy(t, r2, l2);
        t[i] ^= 0x80;
        total++;
        if (simpp_r2_answer(&c2, a, t, l2, r3, &l3) != 0) caught++;
    }
    ok(caught == total, "R2 tampered: %d of %d byte flips refused", caught, total);

    /* R3 forged: signed by another key, or a flipped bit */
    {
        struct simpp_reg c2, s2;
        uint8_t r1[SIMPP_MSG_MAX], r2[SIMPP_MSG_MAX], r3[SIMPP_MSG_MAX];
        size_t l1 = sizeof r1, l2 = sizeof r2, l3 = sizeof r3;
        simpp_r1_make(&c2, &ctx, "alice@localhost", a, s, 1, 0, r1, &l1);
        simpp_r1_accept(&s2, &ctx, s, r1, l1, r2, &l2);
        ok(simpp_r2_answer(&c2, mallory, r2, l2, r3, &l3) == 0, "mallory can answer R2 ...");
        ok(simpp_r3_verify(&s2, r3, l3) == SIMPP_EAUTH, "... but an R3 signed by another key is refused");
        struct simpp_reg c3, s3;
        l1 = l2 = l3 = SIMPP_MSG_MAX;
        simpp_r1_make(&c3, &ctx, "alice@localhost", a, s, 1, 0, r1, &l1);
        simpp_r1_accept(&s3, &ctx, s, r1, l1, r2, &l2);
        simpp_r2_answer(&c3, a, r2, l2, r3, &l3);
        struct simpp_reg s4 = s3;
        r3[10] ^= 1;
        ok(simpp_r3_verify(&s3, r3, l3) == SIMPP_EAUTH, "R3 with a flipped bit refused");
        r3[10] ^= 1;
        ok(simpp_r3_verify(&s4, r3, l3) == 0, "the same R3 unflipped is accepted");
        ok(simpp_r3_verify(&s4, r3, l3) == SIMPP_ESTATE, "R3 replayed after success refused");
    }
    /* R1 carried into another stream: the server's R2 does not open */
    {
        struct simpp_reg c2, s2;
        uint8_t r1[SIMPP_MSG_MAX], r2[SIMPP_MSG_MAX], r3[SIMPP_MSG_MAX];
        size_t l1 = sizeof r1, l2 = sizeof r2, l3 = sizeof r3;
        simpp_r1_make(&c2, &ctx, "alice@localhost", a, s, 1, 0, r1, &l1);
        ok(simpp_r1_accept(&s2, &other, s, r1, l1, r2, &l2) == 0, "R1 replayed on another stream gets an R2 ...");
        ok(simpp_r2_answer(&c2, a, r2, l2, r3, &l3) == SIMPP_EAUTH, "... which the real client refuses");
    }
    /* an invalid point as KU_A */
    {
        struct simpp_reg c2, s2;
        uint8_t r1[SIMPP_MSG_MAX], r2[SIMPP_MSG_MAX];
        size_t l1 = sizeof r1, l2 = sizeof r2;
        simpp_r1_make(&c2, &ctx, "alice@localhost", a, s, 1, 0, r1, &l1);
        r1[l1 - 1] ^= 1;                         /* last byte of Y */
        ok(simpp_r1_accept(&s2, &ctx, s, r1, l1, r2, &l2) == SIMPP_EKEY, "off-curve KU_A refused");
        ok(simpp_r1_accept(&s2, &ctx, s, r1, 10, r2, &l2) == SIMPP_EFORMAT, "truncated R1 refused");
        r1[0] = 9;
        ok(simpp_r1_accept(&s2, &ctx, s, r1, l1, r2, &l2) == SIMPP_EVERSION, "unknown version refused");
    }

    /* ---- login ---- */
    for (int suite = 1; suite <= 3; suite++) {
        ok(do_login(&ctx, &ctx, ka, ka, suite, allow_all, &cl, &sl, &lm) == 0, "S1-S3 complete, suite %s", sc_suite_name(suite));
        ok(sc_ct_eq(cl.c2s, sl.c2s, sizeof cl.c2s) && sc_ct_eq(cl.s2c, sl.s2c, sizeof cl.s2c) &&
           !sc_ct_eq(cl.c2s, cl.s2c, sc_suite_keylen(suite)), "same channel keys both sides, one per direction");
    }
    uint8_t wrong[SIMPP_KEY];
    memcpy(wrong, ka, sizeof wrong);
    wrong[0] ^= 1;
    ok(do_login(&ctx, &ctx, wrong, ka, 1, allow_all, &cl, &sl, &lm) == SIMPP_EAUTH, "wrong K_A (wrong password): S1 refused");
    ok(do_login(&ctx, &ctx, ka, wrong, 1, allow_all, &cl, &sl, &lm) == SIMPP_EAUTH, "server with another K_A cannot pass S2");
    ok(do_login(&ctx, &ctx, ka, ka, 3, 1u << 1, &cl, &sl, &lm) == SIMPP_ESUITE, "suite not allowed by policy refused");
    {   /* a stripped suite list: the client saw only the paper suite */
        const uint8_t only3[] = { SC_SUITE_AES128_CBC_HMAC };
        struct simpp_ctx stripped = { "stream-1", only3, 1 };
        ok(do_login(&stripped, &ctx, ka, ka, 3, allow_all, &cl, &sl, &lm) == SIMPP_EAUTH,
           "suite list stripped in flight (downgrade) detected");
        /* the same length, other contents: the list itself is bound, not
         * only its count (c0 covers it: the server cannot open S1, so no
         * S2 comes that the client would take) */
        const uint8_t reordered[] = { SC_SUITE_AES128_CBC_HMAC, SC_SUITE_AES128_GCM,
                                      SC_SUITE_CHACHA20_POLY1305 };
        const uint8_t swapped[] = { SC_SUITE_CHACHA20_POLY1305, SC_SUITE_AES128_CBC_HMAC,
                                    SC_SUITE_AES128_CBC_HMAC };
        struct simpp_ctx reo = { "stream-1", reordered, 3 }, swp = { "stream-1", swapped, 3 };
        int e1 = do_login(&reo, &ctx, ka, ka, 1, allow_all, &cl, &sl, &lm);
        int e2 = do_login(&swp, &ctx, ka, ka, 1, allow_all, &cl, &sl, &lm);
        ok(e1 == SIMPP_EAUTH && e2 == SIMPP_EAUTH,
           "a suite list of the same length reordered, or with GCM replaced by CBC, in flight: "
           "the login fails by S2 (%d, %d)", e1, e2);
        ok(do_login(&ctx, &ctx, ka, ka, 1, allow_all, &cl, &sl, &lm) == 0,
           "(the list as sent: S1-S3 complete)");
    }
    /* S1 replayed into another stream */
    do_login(&ctx, &ctx, ka, ka, 1, allow_all, &cl, &sl, &lm);
    {
        struct simpp_login s2;
        uint8_t out[SIMPP_MSG_MAX];
        size_t ol = sizeof out;
        ok(simpp_s1_accept(&s2, &other, ka, allow_all, lm.s1, lm.l1, out, &ol) == SIMPP_EAUTH,
           "S1 replayed on another stream refused");
        ol = sizeof out;
        ok(simpp_s1_accept(&s2, &ctx, ka, allow_all, lm.s1, lm.l1, out, &ol) == 0,
           "(the same S1 on its own stream id opens: the stream id is the binding)");
        /* S3 from the earlier login replayed against this fresh S2 */
        ok(simpp_s3_verify(&s2, lm.s3, lm.l3) == SIMPP_EAUTH, "S3 replayed from another login refused");
    }
    /* The same S1 (R1) answered twice from one stream's state, as a relay
     * without its one-S2-a-stream rule would: the plaintexts share their
     * last 32 bytes (h(ID_A, K_AS), h(ID_A, KU_A)), so under one key and
     * nonce the stream-cipher suites would give the same 32 bytes of
     * ciphertext there.  Each answer is sealed under a key bound to its own
     * N_S: they do not. */
    for (int suite = 1; suite <= 2; suite++) {
        uint8_t a2[SIMPP_MSG_MAX], b2[SIMPP_MSG_MAX];
        size_t al = sizeof a2, bl = sizeof b2;
        struct simpp_login s2a, s2b;
        struct simpp_reg r2a, r2b;
        do_login(&ctx, &ctx, ka, ka, suite, allow_all, &cl, &sl, &lm);
        ok(simpp_s1_accept(&s2a, &ctx, ka, allow_all, lm.s1, lm.l1, a2, &al) == 0 &&
           simpp_s1_accept(&s2b, &ctx, ka, allow_all, lm.s1, lm.l1, b2, &bl) == 0 && al == bl &&
           memcmp(a2 + 34 + 32, b2 + 34 + 32, 32) != 0,
           "one S1 answered twice: the two S2 share no keystream (suite %d)", suite);
        do_register(&ctx, &ctx, a, s, suite, &cr, &sr, &rm);
        al = sizeof a2, bl = sizeof b2;
        ok(simpp_r1_accept(&r2a, &ctx, s, rm.r1, rm.l1, a2, &al) == 0 &&
           simpp_r1_accept(&r2b, &ctx, s, rm.r1, rm.l1, b2, &bl) == 0 && al == bl &&
           memcmp(a2 + 34 + 32, b2 + 34 + 32, 32) != 0,
           "one R1 answered twice: the two R2 share no keystream (suite %d)", suite);
    }
    /* every byte of S2 and S3 matters */
    caught = total = 0;
    for (int which = 2; which <= 3; which++) {
        do_login(&ctx, &ctx, ka, ka, 1, allow_all, &cl, &sl, &lm);
        size_t n = which == 2 ? lm.l2 : lm.l3;
        for (size_t i = 0; i < n; i++) {
            struct simpp_login c2, s2;
            uint8_t s1[SIMPP_MSG_MAX], b2[SIMPP_MSG_MAX], b3[SIMPP_MSG_MAX];
            size_t l1 = sizeof s1, l2 = sizeof b2, l3 = sizeof b3;
            simpp_s1_make(&c2, &ctx, "alice@localhost", ka, 1, 1, s1, &l1);
            simpp_s1_accept(&s2, &ctx, ka, allow_all, s1, l1, b2, &l2);
            total++;
            if (which == 2) {
                b2[i] ^= 4;
                if (simpp_s2_answer(&c2, b2, l2, b3, &l3) != 0) caught++;
            } else {
                simpp_s2_answer(&c2, b2, l2, b3, &l3);
                b3[i] ^= 4;
                if (simpp_s3_verify(&s2, b3, l3) != 0) caught++;
            }
        }
    }
    ok(caught == total, "S2/S3 tampered: %d of %d byte flips refused", caught, total);
    ok(simpp_s1_id((const uint8_t *)"\x01\x11", 2, (char[8]){0}, 8) == SIMPP_EFORMAT, "short S1 refused");

    test_worked_example();
    test_proofs(a, s, ka);

    /* ---- channel ---- */
    do_login(&ctx, &ctx, ka, ka, 1, allow_all, &cl, &sl, &lm);
    struct simpp_chan cc, sc;
    simpp_chan_init(&cc, &cl, 0);
    simpp_chan_init(&sc, &sl, 1);
    uint8_t f[3][256], pt[256];
    size_t fl[3], pl;
    uint64_t seq[3];
    const char *msgs[3] = { "<presence/>", "<message to='b'><body>hi</body></message>", "<iq type='get' id='1'/>" };
    for (int i = 0; i < 3; i++) {
        fl[i] = sizeof f[i];
        simpp_chan_seal(&cc, msgs[i], strlen(msgs[i]), f[i], &fl[i], &seq[i]);
    }
    ok(seq[0] == 0 && seq[2] == 2, "frames numbered 0, 1, 2");
    pl = sizeof pt;
    ok(simpp_chan_open(&sc, 1, f[1], fl[1], pt, &pl) == SIMPP_ESTATE, "frame 1 before frame 0 (reorder/deletion) refused");
    pl = sizeof pt;
    ok(simpp_chan_open(&sc, 0, f[0], fl[0], pt, &pl) == 0 && pl == strlen(msgs[0]) && !memcmp(pt, msgs[0], pl), "frame 0 opens");
    pl = sizeof pt;
    ok(simpp_chan_open(&sc, 0, f[0], fl[0], pt, &pl) == SIMPP_ESTATE, "frame 0 replayed refused");
    pl = sizeof pt;
    ok(simpp_chan_open(&sc, 1, f[2], fl[2], pt, &pl) == SIMPP_EAUTH, "frame 2 relabelled as 1 refused");
    f[1][3] ^= 1;
    pl = sizeof pt;
    ok(simpp_chan_open(&sc, 1, f[1], fl[1], pt, &pl) == SIMPP_EAUTH, "tampered frame refused");
    f[1][3] ^= 1;
    pl = sizeof pt;
    ok(simpp_chan_open(&sc, 1, f[1], fl[1], pt, &pl) == 0, "untampered frame 1 opens");
    {   /* a frame sent by the client cannot be reflected back to it */
        uint8_t g[256];
        size_t gl = sizeof g;
        uint64_t sq;
        simpp_chan_seal(&cc, "x", 1, g, &gl, &sq);
        struct simpp_chan c2 = cc;
        c2.rseq = sq;
        pl = sizeof pt;
        ok(simpp_chan_open(&c2, sq, g, gl, pt, &pl) == SIMPP_EAUTH, "reflected frame refused (keys per direction)");
    }
    {   /* the last usable number is 2^64 - 2: after it the sender stops
         * rather than wrap to 0 and use nonce 0 again under the same key */
        uint8_t g[256];
        size_t gl = sizeof g;
        uint64_t sq = 0;
        cc.sseq = UINT64_MAX - 1;
        ok(simpp_chan_seal(&cc, "x", 1, g, &gl, &sq) == 0 && sq == UINT64_MAX - 1,
           "frame 2^64 - 2 is sealed");
        gl = sizeof g;
        ok(simpp_chan_seal(&cc, "y", 1, g, &gl, &sq) == SIMPP_ESTATE && cc.sseq == UINT64_MAX,
           "no frame after 2^64 - 2: the sequence number never wraps to a used nonce");
    }

    sc_key_free(a);
    sc_key_free(s);
    sc_key_free(mallory);
    return tap_done();
}
