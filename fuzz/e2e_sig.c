/*
 * fuzz/e2e_sig.c - the signature paths of lib/e2e.c: C3 and C4 checked
 * under the peer's key, the code behind those checks (suite choice, h(C3),
 * the ephemeral points, C5), and pager messages (ECDH, AEAD, the inner
 * signature).  Every input that gets past a format check costs P-256 work
 * (about a millisecond each), so this target runs a few hundred inputs a
 * second; the parsers and the frame state machine, which need none, are
 * fuzz/e2e.c's, at full speed.  Bob is the receiver throughout; alice is
 * the peer whose messages the input stands for.
 *
 * Input: op (FZ_E2ES_*), one option byte, then the message.
 *   c3_accept    option: curve (alice's and bob's keys on it), allowed suites
 *   c4_accept    a C4 for alice's C3 made in set-up (state copied per run)
 *   c4_signed    the message is a C4 body that the target signs with bob's
 *                key, so the code after the signature check meets arbitrary
 *                suites, points and hashes (a peer with a valid key);
 *                option bit 7: put the right h(C3) in
 *   pager_open   option: curve, text buffer size
 *   pager_inner  option: suite, text buffer size; the message is the inner
 *                plaintext (u32 len || text || sig), encrypted to bob by
 *                the target, so the parser behind the AEAD is reached
 * A choice of curve or suite is the option byte's two low bits (fz_pick3).
 */
#include "fuzz.h"
#include "e2e.h"

#define V 1                             /* protocol version of every message */

static sc_key *alice[3], *bob[3];       /* long-term keys per curve */
static struct e2e_hs hs_c3;             /* alice after C3 to bob (P-256) */
static uint8_t eph_scalar[SC_MAX_SCALAR];   /* its x, to rebuild hs_c3.eph */
static uint8_t pager_hdr[3][512];       /* header H per suite, from alice to bob */
static size_t pager_hl[3];
static uint8_t pager_key[3][SC_MAX_KEY];
static const uint8_t zero_nonce[SC_NONCE_LEN];

/* the pager header (fuzz.h) and the key that encrypts to bob under it */
static void make_pager(int si)
{
    sc_key *eph = fz_key(SC_P256, FZ_PAGER_EPH);
    uint8_t e[SC_MAX_PUB], hh[SC_SHA256_LEN];
    size_t el = sizeof e;
    FZ_SETUP(sc_key_public(eph, e, &el) == 0);
    pager_hl[si] = fz_pager_header(fz_suites[si], e, el, pager_hdr[si]);
    sc_sha256(pager_hdr[si], pager_hl[si], hh);
    FZ_SETUP(sc_ecdh_hkdf(eph, bob[1], hh, sizeof hh, "simpp/1 pager", 13, pager_key[si],
                          sc_suite_keylen(fz_suites[si])) == 0);
    sc_key_free(eph);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_SETUP(sc_init() == 0);
    for (int i = 0; i < 3; i++) {
        alice[i] = fz_alice_key(i);
        bob[i] = fz_bob_key(i);
    }
    uint8_t c3[E2E_MSG_MAX];
    size_t l3 = sizeof c3, sl = sizeof eph_scalar;
    FZ_SETUP(e2e_c3_make(&hs_c3, FZ_ID_A, FZ_ID_B, alice[1], fz_suites, 3, c3, &l3) == E2E_OK);
    FZ_SETUP(sc_key_scalar(hs_c3.eph, eph_scalar, &sl) == 0);
    for (int i = 0; i < 3; i++) make_pager(i);
    return 0;
}

/* e2e_c4_accept on a copy of hs_c3.  The copy shares x (hs_c3.eph); when
 * the call gets as far as wiping the copy, x is freed with it, and the
 * shared one is rebuilt from its scalar for the next run. */
static int c4_accept(const uint8_t *c4, size_t len, struct e2e_sess *s)
{
    struct e2e_hs hs = hs_c3;
    int e = e2e_c4_accept(&hs, bob[1], c4, len, s);
    if (hs.state != E2E_C3) {
        FZ_CHECK(hs.eph == NULL);
        hs_c3.eph = sc_key_from_scalar(SC_P256, eph_scalar, sc_curve_bytes(SC_P256));
        FZ_SETUP(hs_c3.eph != NULL);
    }
    return e;
}

/* a C4 from bob for a body of the fuzzer's choosing: body || u8 siglen || sig */
static int c4_signed(uint8_t *body, size_t n, int fix_h3, struct e2e_sess *s)
{
    uint8_t c4[E2E_MSG_MAX], d[SC_SHA256_LEN], sig[SC_MAX_SIG];
    size_t sl = sizeof sig;
    if (n + 1 + sizeof sig > sizeof c4) return E2E_EFORMAT;
    /* layout: V, C4, suite, N_B (32), u8 yl, Y, h(C3) (32) */
    if (fix_h3 && n >= 36) {
        size_t at = 36 + body[35];
        if (at + SC_SHA256_LEN <= n) memcpy(body + at, hs_c3.h3, SC_SHA256_LEN);
    }
    memcpy(c4, body, n);
    sc_sha256_parts(d, "simpp/1 C4", (size_t)10, c4, n, (void *)NULL);
    FZ_CHECK(sc_sign(bob[1], d, sizeof d, sig, &sl) == 0);
    c4[n] = (uint8_t)sl;
    memcpy(c4 + n + 1, sig, sl);
    return c4_accept(c4, n + 1 + sl, s);
}

static void check_session(const struct e2e_sess *s)
{
    FZ_CHECK(s->sseq == 0 && s->rseq == 0);
    FZ_CHECK(sc_suite_keylen(s->suite) > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) % FZ_E2ES_NOPS, opt = fz_u8(&in);
    uint8_t *m = fz_dup(in.p, in.n);
    size_t n = in.n;

    switch (op) {
    case FZ_E2ES_C3_ACCEPT: {
        struct e2e_sess s;
        uint8_t c4[E2E_MSG_MAX];
        size_t l4 = sizeof c4;
        int ci = fz_pick3(opt);
        unsigned allowed = (opt >> 2) & 0x0e ? (opt >> 2) & 0x0e : ~0u;
        memset(&s, 0, sizeof s);
        int e = e2e_c3_accept(FZ_ID_B, FZ_ID_A, bob[ci], alice[ci], allowed, m, n, c4, &l4, &s);
        if (e == E2E_OK) {
            check_session(&s);
            FZ_CHECK(!s.initiator && !s.confirmed && (allowed & (1u << s.suite)));
            FZ_CHECK(l4 <= E2E_MSG_MAX && c4[0] == V && c4[1] == E2E_C4 && c4[2] == s.suite);
        }
        e2e_sess_wipe(&s);
        break;
    }
    case FZ_E2ES_C4_ACCEPT:
    case FZ_E2ES_C4_SIGNED: {
        struct e2e_sess s;
        memset(&s, 0, sizeof s);
        int e = op == FZ_E2ES_C4_ACCEPT ? c4_accept(m, n, &s)
                                       : c4_signed(m, n, (opt & 0x80) != 0, &s);
        if (e == E2E_OK) {
            FZ_CHECK(op == FZ_E2ES_C4_SIGNED);
            check_session(&s);
            FZ_CHECK(s.initiator && s.confirmed);
        }
        e2e_sess_wipe(&s);
        break;
    }
    case FZ_E2ES_PAGER_OPEN:
    case FZ_E2ES_PAGER_INNER: {
        uint8_t id[16], *text, *msg = m;
        int64_t ts;
        size_t tcap = opt & 0x80 ? n : (opt & 0x7f), tl = tcap, ml = n;
        int ci = fz_pick3(opt), si = fz_pick3(opt);
        if (op == FZ_E2ES_PAGER_INNER) {
            size_t hl = pager_hl[si], cl = n + SC_MAX_OVERHEAD;
            ci = 1;
            FZ_SETUP((msg = malloc(hl + cl)) != NULL);
            memcpy(msg, pager_hdr[si], hl);
            FZ_CHECK(sc_seal(fz_suites[si], pager_key[si], zero_nonce, msg, hl, m, n, msg + hl,
                             &cl) == 0);
            ml = hl + cl;
        }
        FZ_SETUP((text = malloc(tcap ? tcap : 1)) != NULL);
        int e = e2e_pager_open(bob[ci], FZ_ID_B, alice[ci], FZ_ID_A, msg, ml, id, &ts, text, &tl);
        if (e == E2E_OK) {
            FZ_CHECK(tl <= tcap);
            /* id and time are the header's, as sealed */
            if (op == FZ_E2ES_PAGER_INNER) FZ_CHECK(ts == 0x1111111111111111 && id[15] == 0x11);
        }
        free(text);
        if (msg != m) free(msg);
        break;
    }
    }
    free(m);
    return 0;
}
