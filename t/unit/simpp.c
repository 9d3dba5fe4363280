/* simpp.c - registration R1-R3, login S1-S3 and the channel, both sides,
 * with a must-fail twin for every must-pass step. */
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

    sc_key_free(a);
    sc_key_free(s);
    sc_key_free(mallory);
    return tap_done();
}
