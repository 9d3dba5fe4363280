/*
 * fuzz/simpp_server.c - what the relay parses from a client before and
 * after login (lib/simpp.c): simpp_s1_id, simpp_s1_accept, simpp_r1_accept,
 * simpp_r3_verify, simpp_chan_open.
 *
 * Input: op (FZ_SRV_*), one option byte, then the message.
 *   s1_id       option: the caller's buffer size (1..256, or the full one)
 *   s1_accept   option: the suites the policy allows (bits 1-3)
 *   r1_accept   option: which server key (P-224, P-256, P-384)
 *   r3_verify   option: which curve's registration, made in set-up up to R2
 *   chan_open   option: suite and sequence number; an arbitrary frame
 *   chan_sealed option: suite; the message is sealed by the client's end
 *               of the channel and must open to the same bytes
 *
 * A choice of curve or suite is the option byte's two low bits (fz_pick3).
 * K_A and the stream context are fixed (fuzz.h), so the S1 and R1 seeds
 * from mkseeds are genuine and reach what follows the tag and key checks.
 */
#include "fuzz.h"
#include "simpp.h"

static sc_key *kr_s[3];                 /* the relay's key on each curve */
static uint8_t ka[SIMPP_KEY];           /* alice's K_A */
static struct simpp_ctx ctx = { FZ_STREAM_ID, fz_suites, 3 };
static struct simpp_reg reg_r2[3];      /* server side after R1, per curve */
static struct simpp_chan chan_srv[3], chan_cli[3];   /* per suite, after S3 */

/* a registration up to the point where the relay waits for R3 */
static void make_reg(int ci)
{
    struct simpp_reg cli;
    uint8_t r1[SIMPP_MSG_MAX], r2[SIMPP_MSG_MAX];
    size_t l1 = sizeof r1, l2 = sizeof r2;
    sc_key *a = fz_alice_key(ci);
    FZ_SETUP(simpp_r1_make(&cli, &ctx, FZ_ID_A, a, kr_s[ci], SC_SUITE_CHACHA20_POLY1305,
                           SIMPP_MODE_KEYFILE, r1, &l1) == SIMPP_OK);
    FZ_SETUP(simpp_r1_accept(&reg_r2[ci], &ctx, kr_s[ci], r1, l1, r2, &l2) == SIMPP_OK);
    simpp_reg_wipe(&cli);
    sc_key_free(a);
}

/* a full login S1-S3 on suite si; both ends of the channel that follows */
static void make_chan(int si)
{
    struct simpp_login cli, srv;
    uint8_t m1[SIMPP_MSG_MAX], m2[SIMPP_MSG_MAX], m3[SIMPP_MSG_MAX];
    size_t l1 = sizeof m1, l2 = sizeof m2, l3 = sizeof m3;
    FZ_SETUP(simpp_s1_make(&cli, &ctx, FZ_ID_A, ka, fz_suites[si], SIMPP_MODE_KEYFILE, m1,
                           &l1) == SIMPP_OK);
    FZ_SETUP(simpp_s1_accept(&srv, &ctx, ka, ~0u, m1, l1, m2, &l2) == SIMPP_OK);
    FZ_SETUP(simpp_s2_answer(&cli, m2, l2, m3, &l3) == SIMPP_OK);
    FZ_SETUP(simpp_s3_verify(&srv, m3, l3) == SIMPP_OK);
    simpp_chan_init(&chan_srv[si], &srv, 1);
    simpp_chan_init(&chan_cli[si], &cli, 0);
    simpp_login_wipe(&cli);
    simpp_login_wipe(&srv);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_SETUP(sc_init() == 0);
    for (int i = 0; i < 3; i++) kr_s[i] = fz_server_key(i);
    fz_bytes("K_A", ka, sizeof ka);
    for (int i = 0; i < 3; i++) make_reg(i);
    for (int i = 0; i < 3; i++) make_chan(i);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) % FZ_SRV_NOPS, opt = fz_u8(&in);
    uint8_t *m = fz_dup(in.p, in.n);
    size_t n = in.n;
    uint8_t out[SIMPP_MSG_MAX + 256];
    size_t ol = sizeof out;

    switch (op) {
    case FZ_SRV_S1_ID: {
        char id[SIMPP_ID_MAX + 1];
        size_t cap = opt & 1 ? sizeof id : 1 + (opt >> 1);
        if (simpp_s1_id(m, n, id, cap) == SIMPP_OK) {
            size_t l = strnlen(id, cap);
            FZ_CHECK(l < cap && l > 0);
            /* what the relay logs and looks up: no controls, no spaces */
            for (size_t i = 0; i < l; i++) FZ_CHECK((uint8_t)id[i] > 0x20 && id[i] != 0x7f);
        }
        break;
    }
    case FZ_SRV_S1_ACCEPT: {
        struct simpp_login l;
        unsigned allowed = (opt & 0x0e) ? (opt & 0x0e) : ~0u;
        int e = simpp_s1_accept(&l, &ctx, ka, allowed, m, n, out, &ol);
        if (e == SIMPP_OK) {
            FZ_CHECK(l.state == SIMPP_S2 && ol <= sizeof out && ol > 2);
            FZ_CHECK(allowed & (1u << l.suite));
            /* the id the relay reads before it trusts anything is the same */
            char id[SIMPP_ID_MAX + 1];
            FZ_CHECK(simpp_s1_id(m, n, id, sizeof id) == SIMPP_OK && strcmp(id, l.id) == 0);
        }
        simpp_login_wipe(&l);
        break;
    }
    case FZ_SRV_R1_ACCEPT: {
        struct simpp_reg r;
        int ci = fz_pick3(opt);
        if (simpp_r1_accept(&r, &ctx, kr_s[ci], m, n, out, &ol) == SIMPP_OK) {
            FZ_CHECK(r.state == SIMPP_R2 && r.curve == fz_curves[ci]);
            FZ_CHECK(r.publen == 1 + 2 * sc_curve_bytes(r.curve) && r.pub[0] == 4);
        }
        simpp_reg_wipe(&r);
        break;
    }
    case FZ_SRV_R3_VERIFY: {
        /* a copy: the set-up registration serves every run */
        struct simpp_reg r = reg_r2[fz_pick3(opt)];
        int e = simpp_r3_verify(&r, m, n);
        /* nobody but alice's key signs R3, and the fuzzer does not have it */
        FZ_CHECK(e != SIMPP_OK);
        simpp_reg_wipe(&r);
        break;
    }
    case FZ_SRV_CHAN_OPEN: {
        struct simpp_chan ch = chan_srv[fz_pick3(opt)];
        uint64_t seq = (opt >> 2) & 1;      /* the next one (0) or a gap */
        uint8_t *pt = malloc(n ? n : 1);
        size_t pl = n;
        FZ_SETUP(pt != NULL);
        int e = simpp_chan_open(&ch, seq, m, n, pt, &pl);
        FZ_CHECK(e != SIMPP_OK);            /* no forged tag opens */
        free(pt);
        simpp_chan_wipe(&ch);
        break;
    }
    case FZ_SRV_CHAN_SEALED: {
        struct simpp_chan cli = chan_cli[fz_pick3(opt)], srv = chan_srv[fz_pick3(opt)];
        size_t cl = n + SC_MAX_OVERHEAD, pl = cl;
        uint8_t *c = malloc(cl), *pt = malloc(pl);
        uint64_t seq;
        FZ_SETUP(c != NULL && pt != NULL);
        FZ_CHECK(simpp_chan_seal(&cli, m, n, c, &cl, &seq) == SIMPP_OK && seq == 0);
        FZ_CHECK(cl == n + sc_suite_overhead(cli.suite, n));
        if (opt & 0x80) {
            /* one flipped bit anywhere must not open */
            size_t at = (opt & 0x7f) % cl;
            c[at] ^= 1;
            FZ_CHECK(simpp_chan_open(&srv, seq, c, cl, pt, &pl) != SIMPP_OK);
            FZ_CHECK(srv.rseq == 0);
        } else {
            FZ_CHECK(simpp_chan_open(&srv, seq, c, cl, pt, &pl) == SIMPP_OK);
            FZ_CHECK(pl == n && (n == 0 || memcmp(pt, m, n) == 0));
            /* and not twice */
            pl = cl;
            FZ_CHECK(simpp_chan_open(&srv, seq, c, cl, pt, &pl) == SIMPP_ESTATE);
        }
        free(c);
        free(pt);
        simpp_chan_wipe(&cli);
        simpp_chan_wipe(&srv);
        break;
    }
    }
    free(m);
    return 0;
}
