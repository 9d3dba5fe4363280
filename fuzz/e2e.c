/*
 * fuzz/e2e.c - what a client parses from its peer (lib/e2e.c) that needs no
 * public-key work per input, at full speed: the C3 and pager headers read
 * before any key is known, and the frames of a running session - the state
 * machine behind the C3/C4 signatures (ratchet, sequence numbers, replays,
 * gaps, transcripts).  The sessions are set up once, in set-up; the
 * signature paths (C3/C4 checked under a key, pager messages) are
 * fuzz/e2e_sig.c's.
 *
 * Input: op (FZ_E2E_*), one option byte, then the message.
 *   c3_parties   option: the caller's buffer sizes
 *   open         option: suite, sequence number; an arbitrary frame for
 *                bob's end of the session set up in set-up: refused, and
 *                the session does not move
 *   open_sealed  option: suite, frames skipped; the message is sealed by
 *                alice's end and must open to the same type, id and data
 *   pager_from   option: buffer size
 *   script       option: suite (bit 0: ChaCha20-Poly1305 or CBC+HMAC); the
 *                message is a list of steps on both ends of one session
 *                (below), checked against a model of what each end must
 *                accept
 * A choice of suite is the option byte's two low bits (fz_pick3).  The
 * scripts leave out AES-GCM: the steps are the same state machine under
 * every suite, and libtomcrypt 1.18 builds a 64 KiB table for each GCM key
 * (a new key every frame here), which would make them several times
 * slower; open and open_sealed run GCM frames.
 *
 * Script steps: one byte each, dir = bit 0 (0: alice to bob, 1: bob to
 * alice), act = bits 1-3, arg = bits 4-7; some read more bytes.
 *   0, 1  seal: type byte, length byte (% 48), that many data bytes; id = arg
 *   2     deliver frame k (byte % frames sealed so far)
 *   3     deliver frame k with one byte changed (two bytes: where, xor)
 *   4     deliver frame k under sequence number k + 1 + arg
 *   5     deliver frame k cut short (byte: length)
 *   6     deliver frame k back to its own sender
 *   7     deliver frame k as number rseq + 10001 + arg (past the skip limit)
 * The model: frame k opens iff k >= the receiver's next number, and then
 * skips the frames between; a replay is E2E_EREPLAY; anything changed is
 * refused without moving the receiving end (chain key, next number,
 * transcript); at the end, each direction's transcripts agree iff every
 * frame sealed was opened, in order, none skipped.
 */
#include "fuzz.h"
#include "e2e.h"

#define NFRAMES 16                      /* sealed per direction per input */
#define NSTEPS  32
#define DMAX    48

static struct e2e_sess sess_a[3], sess_b[3];    /* per suite, after C4 */

static void make_sessions(int si)
{
    struct e2e_hs hs;
    sc_key *alice = fz_alice_key(1), *bob = fz_bob_key(1);
    uint8_t c3[E2E_MSG_MAX], c4[E2E_MSG_MAX], suite = fz_suites[si];
    size_t l3 = sizeof c3, l4 = sizeof c4;
    FZ_SETUP(e2e_c3_make(&hs, FZ_ID_A, FZ_ID_B, alice, &suite, 1, c3, &l3) == E2E_OK);
    FZ_SETUP(e2e_c3_accept(FZ_ID_B, FZ_ID_A, bob, alice, 1u << suite, c3, l3, c4, &l4,
                           &sess_b[si]) == E2E_OK);
    FZ_SETUP(e2e_c4_accept(&hs, bob, c4, l4, &sess_a[si]) == E2E_OK);
    sc_key_free(alice);
    sc_key_free(bob);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_SETUP(sc_init() == 0);
    for (int i = 0; i < 3; i++) make_sessions(i);
    return 0;
}

/* ---- the script ------------------------------------------------------------ */

struct frame {
    uint8_t c[9 + DMAX + SC_MAX_OVERHEAD];
    size_t cl;
    int type;
    uint64_t id;
    uint8_t d[DMAX];
    size_t dl;
};

struct dir {
    struct frame f[NFRAMES];
    size_t n;                           /* sealed so far = the sender's sseq */
    int gap;                            /* the receiver skipped a frame */
};

/* what a refused frame must leave alone */
struct recv_state {
    uint64_t rseq;
    uint8_t ck[32], t[SC_SHA256_LEN];
};

static void snap(const struct e2e_sess *s, struct recv_state *r)
{
    r->rseq = s->rseq;
    memcpy(r->ck, s->ck_recv, sizeof r->ck);
    memcpy(r->t, s->t_recv, sizeof r->t);
}

static void unmoved(const struct e2e_sess *s, const struct recv_state *r)
{
    FZ_CHECK(s->rseq == r->rseq);
    FZ_CHECK(memcmp(s->ck_recv, r->ck, sizeof r->ck) == 0);
    FZ_CHECK(memcmp(s->t_recv, r->t, sizeof r->t) == 0);
}

/* open c under seq at s; a refusal must not move s */
static int try_open(struct e2e_sess *s, uint64_t seq, const uint8_t *c, size_t cl,
                    const struct frame *want, uint64_t *skipped)
{
    uint8_t out[9 + DMAX + SC_MAX_OVERHEAD];
    size_t ol = sizeof out, dl;
    int type;
    uint64_t id;
    const uint8_t *d;
    struct recv_state before;
    snap(s, &before);
    int e = e2e_open(s, seq, c, cl, out, &ol, &type, &id, &d, &dl, skipped);
    if (e != E2E_OK) {
        unmoved(s, &before);
        return e;
    }
    FZ_CHECK(want != NULL);
    FZ_CHECK(type == want->type && id == want->id && dl == want->dl);
    FZ_CHECK(dl == 0 || memcmp(d, want->d, dl) == 0);
    FZ_CHECK(s->rseq == seq + 1 && *skipped == seq - before.rseq);
    return e;
}

static void script(fz_in *in, int si)
{
    struct e2e_sess end[2] = { sess_a[si], sess_b[si] };   /* alice, bob */
    static struct dir dirs[2];
    memset(dirs, 0, sizeof dirs);
    for (int step = 0; step < NSTEPS && in->n; step++) {
        unsigned b = fz_u8(in), dir = b & 1, act = (b >> 1) & 7, arg = b >> 4;
        struct dir *D = &dirs[dir];
        struct e2e_sess *tx = &end[dir], *rx = &end[!dir];
        uint64_t skipped, seq;
        if (act <= 1) {
            if (D->n == NFRAMES) continue;
            struct frame *f = &D->f[D->n];
            size_t got;
            f->type = (int)fz_u8(in);
            f->id = arg;
            const uint8_t *p = fz_take(in, fz_u8(in) % DMAX, &got);
            f->dl = got;
            if (got) memcpy(f->d, p, got);
            f->cl = sizeof f->c;
            FZ_CHECK(e2e_seal(tx, f->type, f->id, f->d, f->dl, f->c, &f->cl, &seq) == E2E_OK);
            FZ_CHECK(seq == D->n && tx->sseq == D->n + 1);
            D->n++;
            continue;
        }
        if (D->n == 0) continue;
        size_t k = fz_u8(in) % D->n;
        const struct frame *f = &D->f[k];
        uint8_t c[sizeof f->c];
        size_t cl = f->cl;
        memcpy(c, f->c, cl);
        uint64_t next = rx->rseq;
        int e;
        switch (act) {
        case 2:
            e = try_open(rx, k, c, cl, f, &skipped);
            if (k < next) {
                FZ_CHECK(e == E2E_EREPLAY);
            } else {
                FZ_CHECK(e == E2E_OK);
                if (skipped) D->gap = 1;
            }
            break;
        case 3: {
            size_t at = fz_u8(in) % cl;
            c[at] ^= (uint8_t)(fz_u8(in) | 1);
            e = try_open(rx, k, c, cl, NULL, &skipped);
            FZ_CHECK(e == (k < next ? E2E_EREPLAY : E2E_EAUTH));
            break;
        }
        case 4:
            seq = k + 1 + arg;
            e = try_open(rx, seq, c, cl, NULL, &skipped);
            FZ_CHECK(e == (seq < next ? E2E_EREPLAY : E2E_EAUTH));
            break;
        case 5: {
            size_t short_len = fz_u8(in) % cl;
            e = try_open(rx, k, c, short_len, NULL, &skipped);
            FZ_CHECK(e == (k < next ? E2E_EREPLAY : E2E_EAUTH));
            break;
        }
        case 6:
            /* the sender's receiving chain is the other direction's */
            e = try_open(tx, k, c, cl, NULL, &skipped);
            FZ_CHECK(e == (k < tx->rseq ? E2E_EREPLAY : E2E_EAUTH));
            break;
        case 7:
            e = try_open(rx, next + 10001 + arg, c, cl, NULL, &skipped);
            FZ_CHECK(e == E2E_ESTATE);
            break;
        }
    }
    /* the transcripts: equal per direction iff all sealed frames were
     * opened in order, none skipped; the whole conversation's iff both */
    int all = 1;
    for (unsigned d = 0; d < 2; d++) {
        const struct e2e_sess *tx = &end[d], *rx = &end[!d];
        int complete = rx->rseq == dirs[d].n && !dirs[d].gap;
        FZ_CHECK((memcmp(tx->t_send, rx->t_recv, SC_SHA256_LEN) == 0) == complete);
        all &= complete;
    }
    uint8_t ta[SC_SHA256_LEN], tb[SC_SHA256_LEN];
    e2e_transcript(&end[0], ta);
    e2e_transcript(&end[1], tb);
    FZ_CHECK((memcmp(ta, tb, sizeof ta) == 0) == all);
    e2e_sess_wipe(&end[0]);
    e2e_sess_wipe(&end[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) % FZ_E2E_NOPS, opt = fz_u8(&in);
    uint8_t *m = fz_dup(in.p, in.n);
    size_t n = in.n;

    switch (op) {
    case FZ_E2E_C3_PARTIES: {
        char from[E2E_ID_MAX + 1], to[E2E_ID_MAX + 1];
        size_t fc = 1 + (opt & 15) * 70, tc = 1 + (opt >> 4) * 70;
        if (fc > sizeof from) fc = sizeof from;
        if (tc > sizeof to) tc = sizeof to;
        if (e2e_c3_parties(m, n, from, fc, to, tc) == E2E_OK)
            FZ_CHECK(strnlen(from, fc) < fc && strnlen(to, tc) < tc);
        break;
    }
    case FZ_E2E_OPEN: {
        struct e2e_sess s = sess_b[fz_pick3(opt)];
        uint8_t *out = malloc(n ? n : 1);
        size_t ol = n;
        int type;
        uint64_t id, skipped, seq = (opt >> 2) % 4;
        const uint8_t *d;
        size_t dl;
        FZ_SETUP(out != NULL);
        if (opt & 0x80) seq = 10001 + (opt & 0x7f);   /* past the skip limit */
        int e = e2e_open(&s, seq, m, n, out, &ol, &type, &id, &d, &dl, &skipped);
        FZ_CHECK(e != E2E_OK);
        FZ_CHECK(s.rseq == 0 && memcmp(s.ck_recv, sess_b[fz_pick3(opt)].ck_recv, 32) == 0);
        free(out);
        e2e_sess_wipe(&s);
        break;
    }
    case FZ_E2E_OPEN_SEALED: {
        struct e2e_sess a = sess_a[fz_pick3(opt)], b = sess_b[fz_pick3(opt)];
        fz_in body = { m, n };
        int type = (int)fz_u8(&body);
        uint64_t id = 0, seq = 0, skipped;
        for (int i = 0; i < 8; i++) id = id << 8 | fz_u8(&body);
        size_t cap = body.n + 9 + SC_MAX_OVERHEAD, cl = cap, ol = cap, dl;
        uint8_t *c = malloc(cap), *out = malloc(cap);
        const uint8_t *d;
        int t2;
        uint64_t id2;
        FZ_SETUP(c != NULL && out != NULL);
        /* frames lost on the way: sealed and never delivered */
        for (unsigned i = 0; i < ((opt >> 2) & 3); i++) {
            cl = cap;
            FZ_CHECK(e2e_seal(&a, E2E_TEXT, i, "x", 1, c, &cl, &seq) == E2E_OK);
        }
        cl = cap;
        FZ_CHECK(e2e_seal(&a, type, id, body.p, body.n, c, &cl, &seq) == E2E_OK);
        FZ_CHECK(e2e_open(&b, seq, c, cl, out, &ol, &t2, &id2, &d, &dl, &skipped) == E2E_OK);
        FZ_CHECK(skipped == ((opt >> 2) & 3) && b.rseq == seq + 1);
        FZ_CHECK(t2 == (type & 0xff) && id2 == id && dl == body.n);
        FZ_CHECK(dl == 0 || memcmp(d, body.p, dl) == 0);
        /* the same frame again is a replay */
        ol = cap;
        FZ_CHECK(e2e_open(&b, seq, c, cl, out, &ol, &t2, &id2, &d, &dl, &skipped) == E2E_EREPLAY);
        free(c);
        free(out);
        e2e_sess_wipe(&a);
        e2e_sess_wipe(&b);
        break;
    }
    case FZ_E2E_PAGER_FROM: {
        char from[E2E_ID_MAX + 1];
        size_t cap = 1 + opt * 4;
        if (cap > sizeof from) cap = sizeof from;
        if (e2e_pager_from(m, n, from, cap) == E2E_OK) FZ_CHECK(strnlen(from, cap) < cap);
        break;
    }
    case FZ_E2E_SCRIPT: {
        fz_in steps = { m, n };
        script(&steps, opt & 1 ? 2 : 0);    /* fz_suites[]: ChaCha20-Poly1305, CBC+HMAC */
        break;
    }
    }
    free(m);
    return 0;
}
