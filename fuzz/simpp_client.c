/*
 * fuzz/simpp_client.c - what a client parses from the relay during
 * registration and login (lib/simpp.c): simpp_r2_answer and
 * simpp_s2_answer, after a genuine R1 / S1 made in set-up, one per suite
 * (the state is copied per run).
 *
 * Input: op (FZ_CLI_*), one option byte (its two low bits: the suite,
 * fz_pick3), then the message.
 *   r2, s2          the message as it came from the network
 *   r2/s2 sealed    the message body is the plaintext: the target seals it
 *                   under the key a relay that knows K_A would use, so the
 *                   code after the tag check meets arbitrary plaintext (a
 *                   malicious or broken relay).  Option bit 7: replace the
 *                   h(ID, key) part with the right value, so the answer
 *                   (R3 / S3) gets made too.
 */
#include "fuzz.h"
#include "simpp.h"

#define HDR2 (2 + SIMPP_NONCE)          /* version, type, nonce: R2 and S2 alike */

static sc_key *kr_a, *ku_s;
static uint8_t ka[SIMPP_KEY];
static struct simpp_ctx ctx = { FZ_STREAM_ID, fz_suites, 3 };
static struct simpp_reg reg_r1[3];      /* alice after R1, per suite */
static struct simpp_login login_s1[3];  /* alice after S1, per suite */

static const uint8_t zero_nonce[SC_NONCE_LEN];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_SETUP(sc_init() == 0);
    kr_a = fz_alice_key(1);
    ku_s = fz_server_key(1);
    fz_bytes("K_A", ka, sizeof ka);
    for (int i = 0; i < 3; i++) {
        uint8_t m[SIMPP_MSG_MAX];
        size_t ml = sizeof m;
        FZ_SETUP(simpp_r1_make(&reg_r1[i], &ctx, FZ_ID_A, kr_a, ku_s, fz_suites[i],
                               SIMPP_MODE_KEYFILE, m, &ml) == SIMPP_OK);
        ml = sizeof m;
        FZ_SETUP(simpp_s1_make(&login_s1[i], &ctx, FZ_ID_A, ka, fz_suites[i],
                               SIMPP_MODE_PASSWORD, m, &ml) == SIMPP_OK);
    }
    return 0;
}

/* h(u16 len || ID || X): what R2 and S2 prove the relay saw (simpp.c id_hash;
 * doc/PROTOCOL.md) */
static void id_hash(const char *id, const uint8_t *x, size_t xlen, uint8_t out[SC_SHA256_LEN])
{
    size_t il = strlen(id);
    uint8_t l2[2] = { (uint8_t)(il >> 8), (uint8_t)il };
    sc_sha256_parts(out, l2, (size_t)2, id, il, x, xlen, (void *)NULL);
}

/* R2 or S2 = hdr || Seal(K, 0, aad = hdr, pt) with the message as pt, K as a
 * relay that knows K_A derives it: HKDF(salt = h(transcript after R1/S1 ||
 * hdr), K_A, label) (doc/PROTOCOL.md 8.3, 9.3) */
static size_t seal2(int type, int suite, const uint8_t t[SC_SHA256_LEN], const uint8_t *k_a,
                    const char *label, const uint8_t *pt, size_t pl, uint8_t *out, size_t cap)
{
    uint8_t salt[SC_SHA256_LEN], key[SC_MAX_KEY];
    size_t cl = cap - HDR2;
    out[0] = SIMPP_V;
    out[1] = (uint8_t)type;
    memset(out + 2, 0xa5, SIMPP_NONCE);
    sc_sha256_parts(salt, t, (size_t)SC_SHA256_LEN, out, (size_t)HDR2, (void *)NULL);
    FZ_CHECK(sc_hkdf_sha256(salt, sizeof salt, k_a, SIMPP_KEY, label, strlen(label), key,
                            sc_suite_keylen(suite)) == 0);
    FZ_CHECK(sc_seal(suite, key, zero_nonce, out, HDR2, pt, pl, out + HDR2, &cl) == 0);
    return HDR2 + cl;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) % FZ_CLI_NOPS, opt = fz_u8(&in);
    int si = fz_pick3(opt), honest = (opt & 0x80) != 0;
    uint8_t *m = fz_dup(in.p, in.n);
    size_t n = in.n;
    uint8_t out[SIMPP_MSG_MAX + 256], *msg = m;
    size_t ol = sizeof out, ml = n;
    uint8_t sealed[SIMPP_MSG_MAX + 256];

    switch (op) {
    case FZ_CLI_R2:
    case FZ_CLI_R2_SEALED: {
        struct simpp_reg r = reg_r1[si];
        if (op == FZ_CLI_R2_SEALED) {
            if (n > SIMPP_MSG_MAX - HDR2 - SC_MAX_OVERHEAD) break;
            if (honest && n >= SIMPP_NONCE + SC_SHA256_LEN)
                id_hash(r.id, r.pub, r.publen, m + SIMPP_NONCE);
            ml = seal2(SIMPP_R2, r.suite, r.t, r.ka, "simpp/1 R2", m, n, sealed, sizeof sealed);
            msg = sealed;
        }
        int e = simpp_r2_answer(&r, kr_a, msg, ml, out, &ol);
        if (e == SIMPP_OK) {
            /* only a relay that holds K_A and saw alice's R1 gets here */
            FZ_CHECK(op == FZ_CLI_R2_SEALED && honest && n == SIMPP_NONCE + SC_SHA256_LEN);
            FZ_CHECK(r.state == SIMPP_R3 && ol == 3 + 2 * sc_curve_bytes(SC_P256));
        } else {
            FZ_CHECK(r.state == SIMPP_R1);
        }
        simpp_reg_wipe(&r);
        break;
    }
    case FZ_CLI_S2:
    case FZ_CLI_S2_SEALED: {
        struct simpp_login l = login_s1[si];
        if (op == FZ_CLI_S2_SEALED) {
            if (n > SIMPP_MSG_MAX - HDR2 - SC_MAX_OVERHEAD) break;
            if (honest && n >= SIMPP_NONCE + SC_SHA256_LEN)
                id_hash(l.id, l.kas, sizeof l.kas, m + SIMPP_NONCE);
            ml = seal2(SIMPP_S2, l.suite, l.t, l.ka, "simpp/1 S2", m, n, sealed, sizeof sealed);
            msg = sealed;
        }
        int e = simpp_s2_answer(&l, msg, ml, out, &ol);
        if (e == SIMPP_OK) {
            FZ_CHECK(op == FZ_CLI_S2_SEALED && honest && n == SIMPP_NONCE + SC_SHA256_LEN);
            FZ_CHECK(l.state == SIMPP_S3 && ol == 2 + SC_SHA256_LEN +
                     sc_suite_overhead(l.suite, SC_SHA256_LEN));
        } else {
            FZ_CHECK(l.state == SIMPP_S1);
        }
        simpp_login_wipe(&l);
        break;
    }
    }
    free(m);
    return 0;
}
