/* e2e.c - the client-client layer: the C3/C4 handshake for each suite,
 * participant and suite binding, the ratcheted frames (replay, tamper,
 * drop, reorder, reflection, cross-session), forward secrecy of the
 * chains, pager mode, the safety number, and malformed input to every
 * parser, with a must-fail twin next to every must-pass check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "tap.h"

#define ALICE "alice@localhost"
#define BOB   "bob@localhost"
#define CAROL "carol@localhost"
#define MALLORY "mallory@localhost"
#define ALLOW_ALL (1u << SC_SUITE_CHACHA20_POLY1305 | 1u << SC_SUITE_AES128_GCM | \
                   1u << SC_SUITE_AES128_CBC_HMAC)
#define FRAME_MAX 2200                      /* 2000 bytes of data + type, id, tag, padding */

static sc_key *k_alice, *k_bob, *k_carol, *k_mallory;     /* long-term keys, P-256 */
static const uint8_t all3[] = { SC_SUITE_CHACHA20_POLY1305, SC_SUITE_AES128_GCM,
                                SC_SUITE_AES128_CBC_HMAC };

/* xorshift64 with a fixed seed: a failing fuzz case can be rerun as is */
static uint64_t rng_state = 0x243f6a8885a308d3u;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static void rnd_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
}
/* a non-zero xor mask: the byte always changes */
static uint8_t rnd_mask(void) { return (uint8_t)(1 + rnd() % 255); }

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

/* ---- handshake helpers ---------------------------------------------------- */

struct hsrun {
    struct e2e_hs hs;
    struct e2e_sess a, b;
    uint8_t c3[E2E_MSG_MAX], c4[E2E_MSG_MAX];
    size_t l3, l4;
};

/* A (alice) makes C3 for B (bob) */
static int run_c3(struct hsrun *h, const uint8_t *suites, size_t n)
{
    h->l3 = sizeof h->c3;
    return e2e_c3_make(&h->hs, ALICE, BOB, k_alice, suites, n, h->c3, &h->l3);
}

/* B checks C3 with alice's pinned key and answers C4 */
static int run_c4(struct hsrun *h, unsigned allowed)
{
    h->l4 = sizeof h->c4;
    return e2e_c3_accept(BOB, ALICE, k_bob, k_alice, allowed, h->c3, h->l3, h->c4, &h->l4, &h->b);
}

/* C3, C4, A accepts C4; the handshake state is wiped whatever happens so
 * no ephemeral key outlives a failed run */
static int handshake(struct hsrun *h, const uint8_t *suites, size_t n, unsigned allowed)
{
    int e = run_c3(h, suites, n);
    if (!e) e = run_c4(h, allowed);
    if (!e) e = e2e_c4_accept(&h->hs, k_bob, h->c4, h->l4, &h->a);
    e2e_hs_wipe(&h->hs);
    return e;
}

/*
 * Where the fields of C3 and C4 sit (lib/e2e.c):
 *   C3 = V || 0x21 || n || suites[n] || N_A(32) || curve(2) || xl || X || from || to || sl || sig
 *   C4 = V || 0x22 || suite || N_B(32) || yl || Y || h(C3)(32) || sl || sig
 * ids are u16 length || bytes.  The tests use it to play the attacker.
 */
struct c3_at { size_t x, xl, from, to, sig; };
static struct c3_at c3_layout(const uint8_t *m)
{
    struct c3_at o;
    size_t p = 3 + (size_t)m[2] + 32 + 2;
    o.xl = m[p];
    o.x = p + 1;
    o.from = o.x + o.xl;
    o.to = o.from + 2 + ((size_t)m[o.from] << 8 | m[o.from + 1]);
    o.sig = o.to + 2 + ((size_t)m[o.to] << 8 | m[o.to + 1]);
    return o;
}
#define C4_Y 36
static size_t c4_sig_at(const uint8_t *m) { return C4_Y + (size_t)m[C4_Y - 1] + SC_SHA256_LEN; }

/* a new signature over m[0..signed_len) under key k, as the real code
 * makes it: what the holder of k (an attacker with her own key, or this
 * test with the genuine key) can produce after editing a message */
static size_t resign(const sc_key *k, const char *label, uint8_t *m, size_t signed_len)
{
    uint8_t d[SC_SHA256_LEN], sig[SC_MAX_SIG];
    size_t sl = sizeof sig;
    sc_sha256_parts(d, label, strlen(label), m, signed_len, (void *)NULL);
    if (sc_sign(k, d, sizeof d, sig, &sl) < 0) return 0;
    m[signed_len] = (uint8_t)sl;
    memcpy(m + signed_len + 1, sig, sl);
    return signed_len + 1 + sl;
}

/* ---- frame helpers -------------------------------------------------------- */

struct frame { uint8_t b[FRAME_MAX]; size_t n; uint64_t seq; };
struct opened {
    uint8_t pt[FRAME_MAX];
    int type;
    uint64_t id, skipped;
    const uint8_t *data;
    size_t dlen;
};

static int seal(struct e2e_sess *s, int type, uint64_t id, const void *d, size_t dl, struct frame *f)
{
    f->n = sizeof f->b;
    return e2e_seal(s, type, id, d, dl, f->b, &f->n, &f->seq);
}

static int open_at(struct e2e_sess *s, uint64_t seq, const uint8_t *in, size_t len, struct opened *o)
{
    size_t n = sizeof o->pt;
    return e2e_open(s, seq, in, len, o->pt, &n, &o->type, &o->id, &o->data, &o->dlen, &o->skipped);
}
static int open_f(struct e2e_sess *s, const struct frame *f, struct opened *o)
{
    return open_at(s, f->seq, f->b, f->n, o);
}

/* The caller's half of key confirmation (the API leaves it out): A sends
 * FIN carrying the th it holds, B opens it, compares with its own th and
 * only then marks its session confirmed. */
static int fin(struct e2e_sess *a, struct e2e_sess *b, const uint8_t *payload)
{
    struct frame f;
    struct opened o;
    if (seal(a, E2E_FIN, 0, payload, SC_SHA256_LEN, &f)) return -1;
    if (open_f(b, &f, &o)) return -2;
    if (o.type != E2E_FIN || o.dlen != SC_SHA256_LEN || !sc_ct_eq(o.data, b->th, SC_SHA256_LEN))
        return -3;
    b->confirmed = 1;
    return 0;
}

static int same_transcript(const struct e2e_sess *a, const struct e2e_sess *b)
{
    uint8_t ta[SC_SHA256_LEN], tb[SC_SHA256_LEN];
    e2e_transcript(a, ta);
    e2e_transcript(b, tb);
    return memcmp(ta, tb, sizeof ta) == 0;
}

/* ---- handshake ------------------------------------------------------------ */

static void test_handshake(void)
{
    struct hsrun h, h2;
    for (int suite = 1; suite <= 3; suite++) {
        uint8_t one = (uint8_t)suite;
        ok(handshake(&h, &one, 1, ALLOW_ALL) == E2E_OK, "C3/C4 complete, suite %s", sc_suite_name(suite));
        ok(h.a.suite == suite && h.b.suite == suite, "both sides run suite %d", suite);
        ok(!memcmp(h.a.sid, h.b.sid, E2E_SID) && !memcmp(h.a.th, h.b.th, SC_SHA256_LEN),
           "same sid and th on both sides");
        ok(!memcmp(h.a.ck_send, h.b.ck_recv, 32) && !memcmp(h.a.ck_recv, h.b.ck_send, 32),
           "A's send chain is B's receive chain and the other way round");
        ok(memcmp(h.a.ck_send, h.a.ck_recv, 32) != 0, "one key per direction (A->B != B->A)");
        ok(h.a.initiator == 1 && h.b.initiator == 0, "A is the initiator, B is not");
        ok(h.a.sseq == 0 && h.a.rseq == 0 && h.b.sseq == 0 && h.b.rseq == 0, "sequence numbers start at 0");
        ok(h.a.confirmed == 1, "A's session is confirmed by C4");
        ok(h.b.confirmed == 0, "B's session is not confirmed before FIN");
        ok(h.hs.eph == NULL && h.hs.state == 0, "A's ephemeral x is gone after C4");
        {   /* FIN with the wrong payload, on copies: the genuine FIN follows */
            struct e2e_sess a2 = h.a, b2 = h.b;
            uint8_t bad[SC_SHA256_LEN];
            memcpy(bad, h.a.th, sizeof bad);
            bad[SC_SHA256_LEN - 1] ^= 1;
            ok(fin(&a2, &b2, bad) == -3 && !b2.confirmed, "a FIN carrying another th does not confirm B");
            e2e_sess_wipe(&a2);
            e2e_sess_wipe(&b2);
        }
        ok(fin(&h.a, &h.b, h.a.th) == 0 && h.b.confirmed, "FIN carrying th confirms B");
    }
    {   /* th is h(C3 || C4), sid comes from th */
        uint8_t th[SC_SHA256_LEN], h3[SC_SHA256_LEN];
        sc_sha256_parts(th, h.c3, h.l3, h.c4, h.l4, (void *)NULL);
        sc_sha256(h.c3, h.l3, h3);
        ok(!memcmp(th, h.a.th, sizeof th), "th = h(C3 || C4)");
        ok(memcmp(h3, h.a.th, sizeof h3) != 0, "(th is not h(C3) alone)");
    }
    ok(handshake(&h2, all3, 3, ALLOW_ALL) == E2E_OK, "a second handshake between the same two");
    ok(memcmp(h.a.sid, h2.a.sid, E2E_SID) && memcmp(h.a.ck_send, h2.a.ck_send, 32) &&
       memcmp(h.c3, h2.c3, h.l3 < h2.l3 ? h.l3 : h2.l3),
       "fresh nonces and ephemerals: another sid, other keys, another C3");
    {
        char from[64], to[64];
        ok(e2e_c3_parties(h.c3, h.l3, from, sizeof from, to, sizeof to) == E2E_OK &&
           !strcmp(from, ALICE) && !strcmp(to, BOB), "e2e_c3_parties reads from=alice to=bob");
        ok(e2e_c3_parties(h.c4, h.l4, from, sizeof from, to, sizeof to) == E2E_EFORMAT,
           "e2e_c3_parties refuses a C4");
    }
    {   /* both on P-384 works; mixed curves are refused */
        sc_key *a384 = sc_key_generate(SC_P384), *b384 = sc_key_generate(SC_P384);
        struct e2e_hs hs;
        struct e2e_sess a, b;
        uint8_t c3[E2E_MSG_MAX], c4[E2E_MSG_MAX];
        size_t l3 = sizeof c3, l4 = sizeof c4;
        int e = e2e_c3_make(&hs, ALICE, BOB, a384, all3, 3, c3, &l3);
        ok(e == E2E_OK && e2e_c3_accept(BOB, ALICE, b384, a384, ALLOW_ALL, c3, l3, c4, &l4, &b) == E2E_OK &&
           e2e_c4_accept(&hs, b384, c4, l4, &a) == E2E_OK && !memcmp(a.th, b.th, SC_SHA256_LEN) &&
           !memcmp(a.ck_send, b.ck_recv, 32), "handshake on P-384 keys");
        l3 = sizeof c3;
        l4 = sizeof c4;
        e2e_c3_make(&hs, ALICE, BOB, k_alice, all3, 3, c3, &l3);
        ok(e2e_c3_accept(BOB, ALICE, b384, k_alice, ALLOW_ALL, c3, l3, c4, &l4, &b) == E2E_EKEY,
           "P-256 C3 at a P-384 bob: EKEY");
        e2e_hs_wipe(&hs);
        l3 = sizeof c3;
        e2e_c3_make(&hs, ALICE, BOB, a384, all3, 3, c3, &l3);
        ok(e2e_c3_accept(BOB, ALICE, k_bob, a384, ALLOW_ALL, c3, l3, c4, &l4, &b) == E2E_EKEY,
           "P-384 C3 at a P-256 bob: EKEY");
        e2e_hs_wipe(&hs);
        sc_key_free(a384);
        sc_key_free(b384);
    }
    {   /* e2e_c3_make refuses bad arguments and keeps no key when it does */
        struct e2e_hs hs;
        uint8_t c3[E2E_MSG_MAX], nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
        size_t l3 = sizeof c3;
        ok(e2e_c3_make(&hs, "", BOB, k_alice, all3, 3, c3, &l3) == E2E_EFORMAT && !hs.eph, "empty id refused");
        ok(e2e_c3_make(&hs, "al ice", BOB, k_alice, all3, 3, c3, &l3) == E2E_EFORMAT && !hs.eph,
           "id with a space refused");
        ok(e2e_c3_make(&hs, ALICE, "b\x7f", k_alice, all3, 3, c3, &l3) == E2E_EFORMAT && !hs.eph,
           "peer id with DEL refused");
        ok(e2e_c3_make(&hs, ALICE, BOB, k_alice, all3, 0, c3, &l3) == E2E_EFORMAT && !hs.eph,
           "no suite offered: refused");
        ok(e2e_c3_make(&hs, ALICE, BOB, k_alice, nine, 9, c3, &l3) == E2E_EFORMAT && !hs.eph,
           "nine suites offered: refused");
        ok(e2e_c3_make(&hs, ALICE, BOB, k_alice, nine, 8, c3, &l3) == E2E_OK && hs.eph, "(eight are fine)");
        e2e_hs_wipe(&hs);
        l3 = 50;
        ok(e2e_c3_make(&hs, ALICE, BOB, k_alice, all3, 3, c3, &l3) != E2E_OK, "C3 into a 50-byte buffer fails");
        ok(hs.eph == NULL && hs.state == 0, "... and keeps no ephemeral key behind");
        e2e_hs_wipe(&hs);
    }
    {   /* identities long enough that C3 would exceed E2E_MSG_MAX */
        static char me[1001], peer[1001];
        static uint8_t big[4 * E2E_MSG_MAX];
        uint8_t c4[E2E_MSG_MAX];
        struct e2e_hs hs;
        struct e2e_sess a, b;
        size_t lb = sizeof big, l4 = sizeof c4;
        memset(me, 'a', 900);
        memset(peer, 'b', 900);
        me[900] = peer[900] = 0;
        ok(e2e_c3_make(&hs, me, peer, k_alice, all3, 3, big, &lb) == E2E_OK && lb <= E2E_MSG_MAX &&
           e2e_c3_accept(peer, me, k_bob, k_alice, ALLOW_ALL, big, lb, c4, &l4, &b) == E2E_OK &&
           e2e_c4_accept(&hs, k_bob, c4, l4, &a) == E2E_OK, "900-byte ids: the handshake completes");
        e2e_hs_wipe(&hs);
        memset(me, 'a', 1000);
        memset(peer, 'b', 1000);
        lb = sizeof big;
        ok(e2e_c3_make(&hs, me, peer, k_alice, all3, 3, big, &lb) != E2E_OK,
           "1000-byte ids: a C3 over E2E_MSG_MAX (no receiver would parse it) is refused, not kept");
        ok(hs.eph == NULL && hs.state == 0, "... and no ephemeral key is kept");
        e2e_hs_wipe(&hs);
    }
}

/* ---- ephemeral keys made ahead (e2e_c3_*_spare) ----------------------------- */

/* the X (or Y) a handshake message carries, against a key's public point */
static int carries(const uint8_t *field, size_t fl, const sc_key *k)
{
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    return sc_key_public(k, pub, &pl) == 0 && pl == fl && !memcmp(pub, field, pl);
}

static void test_spare(void)
{
    struct e2e_hs hs;
    struct e2e_sess a, b;
    uint8_t c3[E2E_MSG_MAX], c4[E2E_MSG_MAX];
    size_t l3 = sizeof c3, l4 = sizeof c4;
    sc_key *sa = sc_key_generate(SC_P256), *sb = sc_key_generate(SC_P256);
    sc_key *ka = NULL, *kb = NULL;          /* copies of the spares, to compare with */
    uint8_t da[SC_MAX_SCALAR], db[SC_MAX_SCALAR];
    size_t dal = sizeof da, dbl = sizeof db;
    /* the same key pairs twice, to recognise them in C3 and C4 */
    ok(sa && sb && sc_key_scalar(sa, da, &dal) == 0 && sc_key_scalar(sb, db, &dbl) == 0 &&
       (ka = sc_key_from_scalar(SC_P256, da, dal)) && (kb = sc_key_from_scalar(SC_P256, db, dbl)),
       "two spare key pairs");
    ok(e2e_c3_make_spare(&hs, ALICE, BOB, k_alice, all3, 3, c3, &l3, &sa) == E2E_OK && sa == NULL,
       "C3 takes alice's spare (the pointer is cleared: it cannot be used twice)");
    struct c3_at at = c3_layout(c3);
    ok(carries(c3 + at.x, at.xl, ka), "C3's X is the spare's public key");
    {   /* a forged C3 does not use up bob's spare */
        uint8_t bad[E2E_MSG_MAX];
        size_t l4b = sizeof c4;
        memcpy(bad, c3, l3);
        bad[l3 - 1] ^= 1;
        ok(e2e_c3_accept_spare(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, bad, l3, c4, &l4b, &b, &sb) == E2E_EAUTH &&
           sb != NULL, "a C3 with a broken signature is refused and leaves bob's spare alone");
    }
    ok(e2e_c3_accept_spare(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, c3, l3, c4, &l4, &b, &sb) == E2E_OK &&
       sb == NULL, "C4 takes bob's spare");
    ok(carries(c4 + C4_Y, c4[C4_Y - 1], kb), "C4's Y is the spare's public key");
    ok(e2e_c4_accept(&hs, k_bob, c4, l4, &a) == E2E_OK && !memcmp(a.ck_send, b.ck_recv, 32) &&
       !memcmp(a.th, b.th, SC_SHA256_LEN) && hs.eph == NULL,
       "the handshake completes with both spares; alice's x is gone after C4");
    e2e_sess_wipe(&a);
    e2e_sess_wipe(&b);
    {   /* a spare on another curve, or a public key, is not used, and stays */
        sc_key *p384 = sc_key_generate(SC_P384), *pubonly;
        uint8_t pub[SC_MAX_PUB];
        size_t pl = sizeof pub;
        sc_key_public(k_carol, pub, &pl);
        pubonly = sc_key_from_public(SC_P256, pub, pl);
        l3 = sizeof c3;
        ok(e2e_c3_make_spare(&hs, ALICE, BOB, k_alice, all3, 3, c3, &l3, &p384) == E2E_OK && p384 &&
           !carries(c3 + c3_layout(c3).x, c3_layout(c3).xl, p384), "a P-384 spare is left for a P-256 C3");
        l4 = sizeof c4;
        ok(e2e_c3_accept_spare(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, c3, l3, c4, &l4, &b, &pubonly) == E2E_OK &&
           pubonly && e2e_c4_accept(&hs, k_bob, c4, l4, &a) == E2E_OK,
           "a public key as spare is left alone; the handshake makes its own");
        l3 = sizeof c3;
        sc_key *none = NULL;
        ok(e2e_c3_make_spare(&hs, ALICE, BOB, k_alice, all3, 3, c3, &l3, &none) == E2E_OK && hs.eph,
           "no spare: C3 makes its key as before");
        e2e_hs_wipe(&hs);
        sc_key_free(p384);
        sc_key_free(pubonly);
        e2e_sess_wipe(&a);
        e2e_sess_wipe(&b);
    }
    {   /* bad arguments refuse before the spare is touched */
        sc_key *sp = sc_key_generate(SC_P256);
        l3 = sizeof c3;
        ok(e2e_c3_make_spare(&hs, "", BOB, k_alice, all3, 3, c3, &l3, &sp) == E2E_EFORMAT && sp && !hs.eph,
           "an empty id is refused and the spare kept");
        sc_key_free(sp);
    }
    sc_key_free(ka);
    sc_key_free(kb);
}

/* ---- participant consistency ---------------------------------------------- */

static void test_parties(void)
{
    struct hsrun h;
    struct e2e_sess s, s2;
    uint8_t c4[E2E_MSG_MAX];
    size_t l4 = sizeof c4;
    run_c3(&h, all3, 3);
    ok(e2e_c3_accept(CAROL, ALICE, k_carol, k_alice, ALLOW_ALL, h.c3, h.l3, c4, &l4, &s) == E2E_EPARTY,
       "C3 from alice to bob given to carol: EPARTY");
    ok(e2e_c3_accept(BOB, CAROL, k_bob, k_carol, ALLOW_ALL, h.c3, h.l3, c4, &l4, &s) == E2E_EPARTY,
       "C3 from alice where bob waits for carol: EPARTY");
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_carol, ALLOW_ALL, h.c3, h.l3, c4, &l4, &s) == E2E_EAUTH,
       "C3 checked with the wrong long-term key: EAUTH");
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, h.c3, h.l3, c4, &l4, &s) == E2E_OK,
       "the same C3 at bob, with alice's key: accepted");
    ok(e2e_c4_accept(&h.hs, k_carol, c4, l4, &s2) == E2E_EAUTH, "C4 checked with the wrong long-term key: EAUTH");
    ok(h.hs.state == E2E_C3 && h.hs.eph, "a refused C4 leaves A waiting, x kept");
    ok(e2e_c4_accept(&h.hs, k_bob, c4, l4, &s2) == E2E_OK, "the genuine C4 is then accepted");
    {   /* mallory signs a C3 saying it is from alice */
        struct e2e_hs hm;
        uint8_t m3[E2E_MSG_MAX];
        size_t lm = sizeof m3;
        e2e_c3_make(&hm, ALICE, BOB, k_mallory, all3, 3, m3, &lm);
        l4 = sizeof c4;
        ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, m3, lm, c4, &l4, &s) == E2E_EAUTH,
           "C3 claiming to be from alice, signed by mallory: EAUTH");
        l4 = sizeof c4;
        ok(e2e_c3_accept(BOB, ALICE, k_bob, k_mallory, ALLOW_ALL, m3, lm, c4, &l4, &s) == E2E_OK,
           "(it verifies with mallory's key: the pinned key is what refuses it)");
        e2e_hs_wipe(&hm);
        lm = sizeof m3;
        e2e_c3_make(&hm, MALLORY, BOB, k_mallory, all3, 3, m3, &lm);
        l4 = sizeof c4;
        ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, m3, lm, c4, &l4, &s) == E2E_EPARTY,
           "mallory's own C3 where bob waits for alice: EPARTY");
        e2e_hs_wipe(&hm);
    }
}

/* ---- every byte of C3 and C4 ---------------------------------------------- */

static void test_flips(void)
{
    struct hsrun h;
    struct e2e_sess a, b;
    int caught = 0, total = 0;
    uint8_t t[E2E_MSG_MAX + 1], c4[E2E_MSG_MAX];
    size_t l4;

    /* C3: B refuses it, or A refuses B's answer, or the keys differ at FIN */
    run_c3(&h, all3, 3);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < h.l3; i++) {
            memcpy(t, h.c3, h.l3);
            t[i] ^= pass == 0 ? 0x01 : rnd_mask();
            total++;
            l4 = sizeof c4;
            if (e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, t, h.l3, c4, &l4, &b) != E2E_OK) {
                caught++;
                continue;
            }
            if (e2e_c4_accept(&h.hs, k_bob, c4, l4, &a) != E2E_OK || fin(&a, &b, a.th) != 0) caught++;
            if (h.hs.state != E2E_C3) run_c3(&h, all3, 3);   /* A's state was used up: a new C3 */
        }
    ok(caught == total, "C3 changed in flight: %d of %d single-byte changes refused", caught, total);
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, h.c3, h.l3, c4, &l4, &b) == E2E_OK &&
       e2e_c4_accept(&h.hs, k_bob, c4, l4, &a) == E2E_OK && fin(&a, &b, a.th) == 0,
       "the same C3 unchanged: accepted, answered, confirmed");

    run_c3(&h, all3, 3);
    caught = total = 0;
    for (size_t n = 0; n < h.l3; n++) {
        total++;
        l4 = sizeof c4;
        if (e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, h.c3, n, c4, &l4, &b) != E2E_OK) caught++;
    }
    ok(caught == total, "C3 truncated: %d of %d lengths refused", caught, total);
    memcpy(t, h.c3, h.l3);
    t[h.l3] = 0;
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, t, h.l3 + 1, c4, &l4, &b) == E2E_EFORMAT,
       "C3 with a trailing byte: EFORMAT");
    e2e_hs_wipe(&h.hs);

    /* C4: A refuses every change (its state survives a refusal) */
    run_c3(&h, all3, 3);
    run_c4(&h, ALLOW_ALL);
    caught = total = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < h.l4; i++) {
            memcpy(t, h.c4, h.l4);
            t[i] ^= pass == 0 ? 0x01 : rnd_mask();
            total++;
            if (e2e_c4_accept(&h.hs, k_bob, t, h.l4, &a) != E2E_OK)
                caught++;
            else {
                run_c3(&h, all3, 3);
                run_c4(&h, ALLOW_ALL);
            }
        }
    ok(caught == total, "C4 changed in flight: %d of %d single-byte changes refused", caught, total);
    caught = total = 0;
    for (size_t n = 0; n < h.l4; n++) {
        total++;
        if (e2e_c4_accept(&h.hs, k_bob, h.c4, n, &a) != E2E_OK) caught++;
    }
    ok(caught == total, "C4 truncated: %d of %d lengths refused", caught, total);
    memcpy(t, h.c4, h.l4);
    t[h.l4] = 0;
    ok(e2e_c4_accept(&h.hs, k_bob, t, h.l4 + 1, &a) == E2E_EFORMAT, "C4 with a trailing byte: EFORMAT");
    ok(e2e_c4_accept(&h.hs, k_bob, h.c4, h.l4, &a) == E2E_OK && fin(&a, &h.b, a.th) == 0,
       "the same C4 unchanged: accepted and confirmed");
}

/* ---- suites and downgrade ------------------------------------------------- */

static int chosen(const uint8_t *suites, size_t n, unsigned allowed)
{
    struct hsrun h;
    int e = handshake(&h, suites, n, allowed);
    return e ? e : h.a.suite == h.b.suite ? h.a.suite : -100;
}

static void test_suites(void)
{
    struct hsrun h;
    struct e2e_sess a, b;
    uint8_t t[E2E_MSG_MAX], c4[E2E_MSG_MAX];
    size_t l4;

    /* the offered list edited in flight */
    run_c3(&h, all3, 3);
    memcpy(t, h.c3, h.l3);
    t[3] = SC_SUITE_AES128_CBC_HMAC;            /* {1,2,3} -> {3,2,1}: the weakest first */
    t[5] = SC_SUITE_CHACHA20_POLY1305;
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, t, h.l3, c4, &l4, &b) == E2E_EAUTH,
       "C3 suite list reordered in flight: EAUTH");
    t[0] = h.c3[0];
    t[1] = h.c3[1];
    t[2] = 1;                                   /* {1,2,3} -> {3}: stripped to the paper's suite */
    t[3] = SC_SUITE_AES128_CBC_HMAC;
    memcpy(t + 4, h.c3 + 6, h.l3 - 6);
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, t, h.l3 - 2, c4, &l4, &b) == E2E_EAUTH,
       "C3 suite list stripped in flight: EAUTH");
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, h.c3, h.l3, c4, &l4, &b) == E2E_OK &&
       b.suite == SC_SUITE_CHACHA20_POLY1305, "the C3 as sent: suite 1 chosen");
    /* C4's suite byte edited in flight */
    memcpy(t, c4, l4);
    t[2] = SC_SUITE_AES128_CBC_HMAC;
    ok(e2e_c4_accept(&h.hs, k_bob, t, l4, &a) == E2E_EAUTH, "C4 suite changed in flight (1 -> 3): EAUTH");
    ok(e2e_c4_accept(&h.hs, k_bob, c4, l4, &a) == E2E_OK && a.suite == 1, "the C4 as sent: accepted, suite 1");

    /* a C4 that B really signed, choosing a suite A never offered */
    {
        const uint8_t only1[] = { SC_SUITE_CHACHA20_POLY1305 };
        run_c3(&h, only1, 1);
        run_c4(&h, ALLOW_ALL);
        size_t at = c4_sig_at(h.c4), n;
        memcpy(t, h.c4, h.l4);
        t[2] = SC_SUITE_AES128_CBC_HMAC;
        n = resign(k_bob, "simpp/1 C4", t, at);
        ok(e2e_c4_accept(&h.hs, k_bob, t, n, &a) == E2E_ESUITE, "C4 choosing a suite not offered: ESUITE");
        t[2] = 9;
        n = resign(k_bob, "simpp/1 C4", t, at);
        ok(e2e_c4_accept(&h.hs, k_bob, t, n, &a) == E2E_ESUITE, "C4 choosing unknown suite 9: ESUITE");
        t[2] = SC_SUITE_NONE;
        n = resign(k_bob, "simpp/1 C4", t, at);
        ok(e2e_c4_accept(&h.hs, k_bob, t, n, &a) == E2E_ESUITE, "C4 choosing suite 0 (none): ESUITE");
        t[2] = SC_SUITE_CHACHA20_POLY1305;
        n = resign(k_bob, "simpp/1 C4", t, at);
        ok(e2e_c4_accept(&h.hs, k_bob, t, n, &a) == E2E_OK,
           "(the same re-signed C4 with the offered suite is accepted)");
        e2e_hs_wipe(&h.hs);
    }
    {   /* an offer of suite 9 only: B must not take it even if its mask says yes */
        const uint8_t s9[] = { 9 }, s40[] = { 40 }, s0[] = { 0 };
        ok(chosen(s9, 1, ALLOW_ALL | 1u << 9) == E2E_ESUITE, "unknown suite 9 offered and 'allowed': ESUITE");
        ok(chosen(s40, 1, ~0u) == E2E_ESUITE, "suite 40 offered, every bit allowed: ESUITE (no shift past 31)");
        ok(chosen(s0, 1, ~0u) == E2E_ESUITE, "suite 0 offered: ESUITE");
    }

    /* B takes the first offered suite it allows */
    {
        const uint8_t rev[] = { 3, 2, 1 }, odd[] = { 0, 9, 200, 2, 1 }, one[] = { 1 };
        ok(chosen(rev, 3, ALLOW_ALL) == 3, "offer {3,2,1}, all allowed: 3");
        ok(chosen(rev, 3, 1u << 1 | 1u << 2) == 2, "offer {3,2,1}, {1,2} allowed: 2");
        ok(chosen(all3, 3, 1u << 3) == 3, "offer {1,2,3}, {3} allowed: 3");
        ok(chosen(all3, 3, ALLOW_ALL) == 1, "offer {1,2,3}, all allowed: 1");
        ok(chosen(odd, 5, ALLOW_ALL) == 2, "offer {0,9,200,2,1}: unknown skipped, 2");
        ok(chosen(one, 1, 1u << 2 | 1u << 3) == E2E_ESUITE, "offer {1}, {2,3} allowed: ESUITE");
        ok(chosen(one, 1, 1u << 1) == 1, "offer {1}, {1} allowed: 1");
        ok(chosen(all3, 3, 0) == E2E_ESUITE, "nothing allowed: ESUITE");
    }
}

/* ---- man in the middle ---------------------------------------------------- */

static void test_mitm(void)
{
    struct hsrun h;
    struct e2e_sess a, b;
    uint8_t t[E2E_MSG_MAX], c4[E2E_MSG_MAX], pub[SC_MAX_PUB];
    size_t l4, pl = sizeof pub, n;
    sc_key *m_eph = sc_key_generate(SC_P256);   /* mallory's ephemeral share */
    sc_key_public(m_eph, pub, &pl);

    run_c3(&h, all3, 3);
    struct c3_at at = c3_layout(h.c3);
    ok(at.xl == pl && at.sig + 1 + h.c3[at.sig] == h.l3, "(C3 layout as the tests read it)");
    memcpy(t, h.c3, h.l3);
    memcpy(t + at.x, pub, pl);
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, t, h.l3, c4, &l4, &b) == E2E_EAUTH,
       "C3 with mallory's X, signature untouched: EAUTH");
    n = resign(k_mallory, "simpp/1 C3", t, at.sig);
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, t, n, c4, &l4, &b) == E2E_EAUTH,
       "C3 with mallory's X, re-signed by mallory: EAUTH under alice's pinned key");
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_mallory, ALLOW_ALL, t, n, c4, &l4, &b) == E2E_OK,
       "(a bob who was given mallory's key as alice's accepts it: hence pinning)");
    {
        char s_ab[80], s_mb[80];
        e2e_safety_number(k_alice, k_bob, s_ab);
        e2e_safety_number(k_mallory, k_bob, s_mb);
        ok(strcmp(s_ab, s_mb) != 0, "... and the safety numbers alice and bob compare then differ");
    }
    /* an invalid point re-signed with the genuine key: the point check, not the signature, refuses */
    memcpy(t, h.c3, h.l3);
    t[at.x + at.xl - 1] ^= 1;
    n = resign(k_alice, "simpp/1 C3", t, at.sig);
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, t, n, c4, &l4, &b) == E2E_EKEY,
       "C3 with X off the curve (validly signed): EKEY");

    /* C4: mallory answers alice with her own Y */
    run_c4(&h, ALLOW_ALL);
    size_t s4 = c4_sig_at(h.c4);
    ok(h.c4[C4_Y - 1] == pl && s4 + 1 + h.c4[s4] == h.l4, "(C4 layout as the tests read it)");
    memcpy(t, h.c4, h.l4);
    memcpy(t + C4_Y, pub, pl);
    ok(e2e_c4_accept(&h.hs, k_bob, t, h.l4, &a) == E2E_EAUTH, "C4 with mallory's Y, signature untouched: EAUTH");
    n = resign(k_mallory, "simpp/1 C4", t, s4);
    ok(e2e_c4_accept(&h.hs, k_bob, t, n, &a) == E2E_EAUTH,
       "C4 with mallory's Y, re-signed by mallory: EAUTH under bob's pinned key");
    memcpy(t, h.c4, h.l4);
    t[C4_Y + pl - 1] ^= 1;
    n = resign(k_bob, "simpp/1 C4", t, s4);
    ok(e2e_c4_accept(&h.hs, k_bob, t, n, &a) == E2E_EKEY, "C4 with Y off the curve (validly signed): EKEY");
    memcpy(t, h.c4, h.l4);
    memcpy(t + C4_Y, pub, pl);
    n = resign(k_mallory, "simpp/1 C4", t, s4);
    ok(e2e_c4_accept(&h.hs, k_mallory, t, n, &a) == E2E_OK,
       "(an alice who was given mallory's key as bob's accepts it: hence pinning)");
    sc_key_free(m_eph);
}

/* ---- replay of handshake messages ----------------------------------------- */

static void test_hs_replay(void)
{
    struct hsrun h1, h2;
    struct e2e_sess s;
    struct frame old_fin;
    struct opened o;
    ok(handshake(&h1, all3, 3, ALLOW_ALL) == E2E_OK, "first handshake");
    seal(&h1.a, E2E_FIN, 0, h1.a.th, SC_SHA256_LEN, &old_fin);
    run_c3(&h2, all3, 3);
    run_c4(&h2, ALLOW_ALL);
    ok(e2e_c4_accept(&h2.hs, k_bob, h1.c4, h1.l4, &s) == E2E_EAUTH, "an old C4 given to a new C3: EAUTH (h3)");
    ok(e2e_c4_accept(&h2.hs, k_bob, h2.c4, h2.l4, &s) == E2E_OK, "the C4 that answers this C3: accepted");
    ok(e2e_c4_accept(&h2.hs, k_bob, h2.c4, h2.l4, &s) == E2E_ESTATE, "the same C4 again: ESTATE");
    {
        struct e2e_hs none;
        memset(&none, 0, sizeof none);
        ok(e2e_c4_accept(&none, k_bob, h2.c4, h2.l4, &s) == E2E_ESTATE, "a C4 with no C3 sent: ESTATE");
    }
    {   /* an old C3 replayed to bob: bob cannot tell and answers, but the
         * replayer has no x, and alice's old FIN does not open: no confirmation */
        struct e2e_sess b;
        uint8_t c4[E2E_MSG_MAX];
        size_t l4 = sizeof c4;
        ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, h1.c3, h1.l3, c4, &l4, &b) == E2E_OK,
           "an old C3 replayed: bob answers (a fresh y)");
        ok(memcmp(b.ck_recv, h1.b.ck_recv, 32) != 0, "... with new keys");
        ok(open_f(&b, &old_fin, &o) == E2E_EAUTH && !b.confirmed, "... and the old FIN does not open on them");
        ok(open_f(&h1.b, &old_fin, &o) == E2E_OK, "(the old FIN opens in its own session)");
    }
}

/* ---- frames --------------------------------------------------------------- */

static void test_roundtrip(void)
{
    static uint8_t data[2001];
    struct hsrun h;
    struct frame f, g;
    struct opened o;
    for (int suite = 1; suite <= 3; suite++) {
        uint8_t one = (uint8_t)suite;
        int good = 0, refused = 0, sized = 0, total = 0;
        uint64_t want[2] = { 0, 0 };
        handshake(&h, &one, 1, ALLOW_ALL);
        for (size_t len = 0; len <= 2000; len++) {
            int dir = (int)(len & 1);           /* both ways, alternately */
            struct e2e_sess *tx = dir ? &h.b : &h.a, *rx = dir ? &h.a : &h.b;
            int type = 1 + (int)(len % 8);
            uint64_t id = rnd();
            rnd_fill(data, len);
            total++;
            if (seal(tx, type, id, data, len, &f) != E2E_OK || f.seq != want[dir]++) continue;
            if (f.n == 9 + len + sc_suite_overhead(suite, 9 + len)) sized++;
            g = f;
            g.b[rnd() % g.n] ^= rnd_mask();
            if (open_f(rx, &g, &o) == E2E_EAUTH) refused++;
            if (open_f(rx, &f, &o) == E2E_OK && o.type == type && o.id == id && o.dlen == len &&
                !memcmp(o.data, data, len) && o.skipped == 0)
                good++;
        }
        ok(good == total, "suite %d: %d of %d frames (lengths 0..2000, types 1..8, both ways) round trip",
           suite, good, total);
        ok(refused == total, "suite %d: %d of %d with one byte changed refused, the genuine one then opened",
           suite, refused, total);
        ok(sized == total, "suite %d: frame = type, id, data and the suite's overhead", suite);
        ok(same_transcript(&h.a, &h.b), "suite %d: transcripts equal after the conversation", suite);
        seal(&h.a, E2E_TEXT, 1, "x", 1, &f);
        ok(!same_transcript(&h.a, &h.b), "suite %d: ... differ while a frame is in flight", suite);
        open_f(&h.b, &f, &o);
        ok(same_transcript(&h.a, &h.b), "suite %d: ... and are equal again once it is read", suite);
    }
}

static void test_frame_attacks(void)
{
    struct hsrun h, x;
    struct frame f[4], g;
    struct opened o;
    struct e2e_sess snap;
    for (int suite = 1; suite <= 3; suite++) {
        uint8_t one = (uint8_t)suite;
        char nm[24];
        snprintf(nm, sizeof nm, "suite %d", suite);

        /* replay */
        handshake(&h, &one, 1, ALLOW_ALL);
        for (int i = 0; i < 4; i++) seal(&h.a, E2E_TEXT, (uint64_t)i, "hello", 5, &f[i]);
        ok(open_f(&h.b, &f[0], &o) == E2E_OK, "%s: frame 0 opens", nm);
        ok(open_f(&h.b, &f[0], &o) == E2E_EREPLAY, "%s: frame 0 again: EREPLAY", nm);

        /* tamper: every byte of frame 1, then a relabelled and a cut frame */
        snap = h.b;
        int caught = 0, kept = 0;
        for (size_t i = 0; i < f[1].n; i++) {
            g = f[1];
            g.b[i] ^= 0x01;
            if (open_f(&h.b, &g, &o) == E2E_EAUTH) caught++;
            if (!memcmp(&snap, &h.b, sizeof snap)) kept++;
        }
        ok(caught == (int)f[1].n && kept == (int)f[1].n,
           "%s: each of %zu byte flips of frame 1: EAUTH, receive state unchanged", nm, f[1].n);
        ok(open_at(&h.b, 1, f[1].b, f[1].n - 1, &o) == E2E_EAUTH, "%s: frame 1 cut by a byte: EAUTH", nm);
        ok(open_at(&h.b, 1, f[2].b, f[2].n, &o) == E2E_EAUTH, "%s: frame 2 relabelled as 1: EAUTH", nm);
        ok(open_at(&h.b, 1, f[1].b, 0, &o) == E2E_EAUTH, "%s: empty frame: EAUTH", nm);
        ok(!memcmp(&snap, &h.b, sizeof snap), "%s: receive state still unchanged", nm);
        ok(open_f(&h.b, &f[1], &o) == E2E_OK && o.skipped == 0 && o.id == 1,
           "%s: the genuine frame 1 then opens", nm);

        /* drop: frame 2 never arrives */
        ok(open_f(&h.b, &f[3], &o) == E2E_OK && o.skipped == 1 && o.id == 3,
           "%s: frame 3 after a dropped 2 opens, skipped = 1", nm);
        ok(!same_transcript(&h.a, &h.b), "%s: ... and the transcripts then differ", nm);
        ok(open_f(&h.b, &f[2], &o) == E2E_EREPLAY, "%s: the dropped frame arriving late: EREPLAY", nm);

        /* reorder: 2 before 1 */
        handshake(&h, &one, 1, ALLOW_ALL);
        for (int i = 0; i < 3; i++) seal(&h.a, E2E_TEXT, (uint64_t)i, "hi", 2, &f[i]);
        open_f(&h.b, &f[0], &o);
        ok(open_f(&h.b, &f[2], &o) == E2E_OK && o.skipped == 1, "%s: frame 2 before 1 opens, skipped = 1", nm);
        ok(open_f(&h.b, &f[1], &o) == E2E_EREPLAY, "%s: then frame 1: EREPLAY", nm);
        ok(!same_transcript(&h.a, &h.b), "%s: transcripts differ after the reorder", nm);

        /* in order, the twin of both */
        handshake(&h, &one, 1, ALLOW_ALL);
        int good = 0;
        for (int i = 0; i < 3; i++) {
            seal(&h.a, E2E_TEXT, (uint64_t)i, "hi", 2, &f[i]);
            seal(&h.b, E2E_ACK, (uint64_t)i, "ok", 2, &g);
            good += open_f(&h.b, &f[i], &o) == E2E_OK && o.skipped == 0;
            good += open_f(&h.a, &g, &o) == E2E_OK && o.skipped == 0;
        }
        ok(good == 6 && same_transcript(&h.a, &h.b), "%s: in order both ways: transcripts equal", nm);

        /* another session between the same two people */
        handshake(&x, &one, 1, ALLOW_ALL);
        seal(&x.a, E2E_TEXT, 7, "elsewhere", 9, &g);
        snap = h.b;
        snap.rseq = g.seq;
        ok(open_f(&snap, &g, &o) == E2E_EAUTH, "%s: a frame of session X given to session Y: EAUTH", nm);
        ok(open_f(&x.b, &g, &o) == E2E_OK, "%s: (it opens in X)", nm);

        /* reflection */
        seal(&h.a, E2E_TEXT, 8, "to bob", 6, &g);
        snap = h.a;
        snap.rseq = g.seq;
        ok(open_f(&snap, &g, &o) == E2E_EAUTH, "%s: a frame reflected to its sender: EAUTH", nm);
        ok(open_f(&h.b, &g, &o) == E2E_OK, "%s: (bob opens it)", nm);
    }

    /* a gap of 10000 frames is tolerated, 10001 is not */
    {
        struct frame last, over;
        int sealed = 1;
        handshake(&h, all3, 3, ALLOW_ALL);
        for (int i = 0; i < 10000 && sealed; i++) sealed = seal(&h.a, E2E_TEXT, 0, "", 0, &last) == E2E_OK;
        seal(&h.a, E2E_TEXT, 1, "a", 1, &last);     /* seq 10000 */
        seal(&h.a, E2E_TEXT, 2, "b", 1, &over);     /* seq 10001 */
        ok(sealed && last.seq == 10000 && over.seq == 10001, "(10002 frames sealed)");
        ok(open_f(&h.b, &over, &o) == E2E_ESTATE && h.b.rseq == 0, "a skip of 10001 frames is refused");
        ok(open_at(&h.b, UINT64_MAX, over.b, over.n, &o) == E2E_ESTATE, "seq 2^64-1 is refused");
        ok(open_f(&h.b, &last, &o) == E2E_OK && o.skipped == 10000 && o.id == 1, "a skip of 10000 opens");
        ok(open_f(&h.b, &over, &o) == E2E_OK && o.skipped == 0, "... and the next frame after it");
    }

    /* sealing limits */
    {
        uint8_t d[8] = { 0 };
        handshake(&h, all3, 3, ALLOW_ALL);
        snap = h.a;
        snap.sseq = UINT64_MAX;
        ok(seal(&snap, E2E_TEXT, 0, d, 1, &g) == E2E_ESTATE, "seal at seq 2^64-1: ESTATE");
        ok(seal(&h.a, E2E_TEXT, 0, d, (1u << 24) + 1, &g) == E2E_ESTATE, "seal of 16 MiB + 1: ESTATE");
        ok(h.a.sseq == 0, "(nothing counted)");
        /* an output buffer too small is an ordinary error: the session must go on */
        size_t small = 10;
        uint64_t sq;
        ok(e2e_seal(&h.a, E2E_TEXT, 0, "hello", 5, g.b, &small, &sq) != E2E_OK, "seal into 10 bytes fails");
        ok(seal(&h.a, E2E_TEXT, 1, "hello", 5, &g) == E2E_OK && open_f(&h.b, &g, &o) == E2E_OK && o.id == 1,
           "... and the next frame still opens at the peer (the chain did not move on its own)");
        ok(same_transcript(&h.a, &h.b), "... and the transcripts agree");
        /* a receive buffer too small: refused, and the state is kept */
        seal(&h.a, E2E_TEXT, 2, "hello", 5, &g);
        size_t n = 4;
        int type;
        uint64_t id, sk;
        const uint8_t *dp;
        size_t dl;
        snap = h.b;
        ok(e2e_open(&h.b, g.seq, g.b, g.n, o.pt, &n, &type, &id, &dp, &dl, &sk) != E2E_OK &&
           !memcmp(&snap, &h.b, sizeof snap), "open into 4 bytes fails, state unchanged");
        ok(open_f(&h.b, &g, &o) == E2E_OK && o.id == 2, "... the frame then opens into room enough");
    }

    /* a wiped session seals and opens nothing */
    {
        handshake(&h, all3, 3, ALLOW_ALL);
        seal(&h.a, E2E_TEXT, 0, "x", 1, &g);
        snap = h.b;
        e2e_sess_wipe(&snap);
        ok(open_f(&snap, &g, &o) != E2E_OK, "a wiped session opens nothing");
        e2e_sess_wipe(&h.a);
        ok(seal(&h.a, E2E_TEXT, 0, "x", 1, &g) != E2E_OK, "a wiped session seals nothing");
    }
}

/* ---- forward secrecy ------------------------------------------------------ */

static void test_forward_secrecy(void)
{
    struct hsrun h;
    struct frame f;
    struct opened o;
    static uint8_t seen[65][32];
    handshake(&h, all3, 3, ALLOW_ALL);
    memcpy(seen[0], h.a.ck_send, 32);
    int fresh = 0, tracks = 0;
    for (int i = 1; i <= 64; i++) {
        seal(&h.a, E2E_TEXT, (uint64_t)i, "m", 1, &f);
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= !memcmp(seen[j], h.a.ck_send, 32);
        fresh += !dup;
        memcpy(seen[i], h.a.ck_send, 32);
        open_f(&h.b, &f, &o);
        tracks += !memcmp(h.b.ck_recv, h.a.ck_send, 32);
    }
    ok(fresh == 64, "each seal replaces ck_send with a value never held before (%d of 64)", fresh);
    ok(tracks == 64, "the receiver's ck_recv follows, frame by frame (%d of 64)", tracks);

    /* the state after reading frame n cannot read frame n again, even with
     * the replay check out of the way: its key is gone */
    seal(&h.a, E2E_TEXT, 99, "secret", 6, &f);
    struct e2e_sess before = h.b, after;
    ok(open_f(&h.b, &f, &o) == E2E_OK, "frame opens");
    after = h.b;
    after.rseq = f.seq;
    ok(open_f(&after, &f, &o) == E2E_EAUTH, "a state captured after it cannot open it (rseq forced back)");
    ok(open_f(&before, &f, &o) == E2E_OK, "(one captured before it can)");

    struct e2e_hs hs;
    uint8_t c3[E2E_MSG_MAX];
    size_t l3 = sizeof c3;
    e2e_c3_make(&hs, ALICE, BOB, k_alice, all3, 3, c3, &l3);
    ok(hs.eph != NULL && hs.state == E2E_C3, "after C3 the handshake holds x");
    e2e_hs_wipe(&hs);
    ok(hs.eph == NULL && hs.state == 0 && all_zero(&hs, sizeof hs), "e2e_hs_wipe: no ephemeral key, state 0, all zero");
    ok(!all_zero(&h.a, sizeof h.a), "a live session is not all zero");
    e2e_sess_wipe(&h.a);
    ok(all_zero(&h.a, sizeof h.a), "e2e_sess_wipe zeroes every key and transcript");
}

/* ---- pager mode ----------------------------------------------------------- */

struct pager_at { size_t e, el, from, to, id, ts, ct; };
/* V || 0x31 || suite || curve(2) || el || E || from || to || id(16) || ts(8) || ciphertext */
static struct pager_at pager_layout(const uint8_t *m)
{
    struct pager_at p;
    p.el = m[5];
    p.e = 6;
    p.from = p.e + p.el;
    p.to = p.from + 2 + ((size_t)m[p.from] << 8 | m[p.from + 1]);
    p.id = p.to + 2 + ((size_t)m[p.to] << 8 | m[p.to + 1]);
    p.ts = p.id + 16;
    p.ct = p.ts + 8;
    return p;
}

static int pager_open_as(const sc_key *my, const char *me, const sc_key *peer, const char *pn, const uint8_t *m,
                  size_t ml, uint8_t *text, size_t *tl)
{
    uint8_t id[16];
    int64_t ts;
    return e2e_pager_open(my, me, peer, pn, m, ml, id, &ts, text, tl);
}

static void test_pager(void)
{
    static uint8_t m[4096], t[4096];
    uint8_t id[16], id2[16], text[256];
    int64_t ts = 1700000000123, ts2 = 0;
    size_t ml = sizeof m, tl = sizeof text, n;
    char from[64];
    rnd_fill(id, sizeof id);

    ok(e2e_pager_seal(k_alice, ALICE, k_bob, BOB, id, ts, "hello bob", 9, m, &ml) == E2E_OK, "pager: sealed");
    ok(e2e_pager_open(k_bob, BOB, k_alice, ALICE, m, ml, id2, &ts2, text, &tl) == E2E_OK && tl == 9 &&
       !memcmp(text, "hello bob", 9) && !memcmp(id, id2, 16) && ts2 == ts, "pager: bob opens text, id, time");
    ok(e2e_pager_from(m, ml, from, sizeof from) == E2E_OK && !strcmp(from, ALICE), "pager: from = alice");
    ok(e2e_pager_from(m, 3, from, sizeof from) == E2E_EFORMAT, "pager: from of 3 bytes: EFORMAT");
    tl = sizeof text;
    ok(pager_open_as(k_carol, BOB, k_alice, ALICE, m, ml, text, &tl) == E2E_EAUTH, "pager: the wrong recipient key: EAUTH");
    tl = sizeof text;
    ok(pager_open_as(k_carol, CAROL, k_alice, ALICE, m, ml, text, &tl) == E2E_EPARTY, "pager: carol opening bob's: EPARTY");
    tl = sizeof text;
    ok(pager_open_as(k_bob, BOB, k_carol, CAROL, m, ml, text, &tl) == E2E_EPARTY, "pager: opened as from carol: EPARTY");
    tl = sizeof text;
    ok(pager_open_as(k_bob, BOB, k_carol, ALICE, m, ml, text, &tl) == E2E_EAUTH,
       "pager: opened as from alice with carol's key: EAUTH");
    tl = 8;
    ok(pager_open_as(k_bob, BOB, k_alice, ALICE, m, ml, text, &tl) == E2E_EFORMAT, "pager: 9 bytes into 8: refused");
    tl = 9;
    ok(pager_open_as(k_bob, BOB, k_alice, ALICE, m, ml, text, &tl) == E2E_OK && tl == 9, "pager: 9 bytes into 9: opens");

    /* mallory encrypts to bob a message that says it is from alice */
    {
        uint8_t mm[1024];
        size_t mml = sizeof mm;
        e2e_pager_seal(k_mallory, ALICE, k_bob, BOB, id, ts, "pay mallory", 11, mm, &mml);
        ok(e2e_pager_from(mm, mml, from, sizeof from) == E2E_OK && !strcmp(from, ALICE),
           "pager: mallory's message claims alice");
        tl = sizeof text;
        ok(pager_open_as(k_bob, BOB, k_alice, ALICE, mm, mml, text, &tl) == E2E_EAUTH,
           "pager: ... and is refused under alice's key: EAUTH");
        tl = sizeof text;
        ok(pager_open_as(k_bob, BOB, k_mallory, ALICE, mm, mml, text, &tl) == E2E_OK,
           "pager: (it verifies with mallory's key: the signature is what refuses it)");
    }

    /* every byte of the message */
    {
        int caught = 0;
        for (size_t i = 0; i < ml; i++) {
            memcpy(t, m, ml);
            t[i] ^= rnd_mask();
            tl = sizeof text;
            caught += pager_open_as(k_bob, BOB, k_alice, ALICE, t, ml, text, &tl) != E2E_OK;
        }
        ok(caught == (int)ml, "pager: %d of %zu single-byte changes refused", caught, ml);
        caught = 0;
        for (size_t k = 0; k < ml; k++) {
            tl = sizeof text;
            caught += pager_open_as(k_bob, BOB, k_alice, ALICE, m, k, text, &tl) != E2E_OK;
        }
        ok(caught == (int)ml, "pager: %d of %zu truncations refused", caught, ml);
        memcpy(t, m, ml);
        t[ml] = 0;
        tl = sizeof text;
        ok(pager_open_as(k_bob, BOB, k_alice, ALICE, t, ml + 1, text, &tl) == E2E_EAUTH, "pager: a trailing byte: EAUTH");
    }
    /* the header fields by name */
    {
        struct pager_at p = pager_layout(m);
        ok(p.el == 65 && !memcmp(m + p.from + 2, ALICE, strlen(ALICE)) && !memcmp(m + p.id, id, 16),
           "(pager layout as the tests read it)");
        memcpy(t, m, ml);
        memcpy(t + p.from + 2, CAROL, strlen(CAROL));   /* same length as alice's id */
        tl = sizeof text;
        ok(pager_open_as(k_bob, BOB, k_carol, CAROL, t, ml, text, &tl) == E2E_EAUTH, "pager: from rewritten to carol: EAUTH");
        tl = sizeof text;
        ok(pager_open_as(k_bob, BOB, k_alice, ALICE, t, ml, text, &tl) == E2E_EPARTY, "pager: ... and not from alice: EPARTY");
        const struct { size_t at; const char *what; } f[] = {
            { p.id, "id" }, { p.id + 15, "last id byte" }, { p.ts, "timestamp" }, { p.ts + 7, "timestamp low byte" },
            { p.e + 1, "E" }, { p.ct, "ciphertext" }, { ml - 1, "tag" }, { p.to + 2, "to" },
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
            memcpy(t, m, ml);
            t[f[i].at] ^= 0x01;
            tl = sizeof text;
            int e = pager_open_as(k_bob, BOB, k_alice, ALICE, t, ml, text, &tl);
            ok(e == E2E_EAUTH || e == E2E_EKEY || e == E2E_EPARTY, "pager: %s changed: refused (%s)", f[i].what,
               e2e_strerror(e));
        }
        memcpy(t, m, ml);
        t[2] = SC_SUITE_AES128_GCM;
        tl = sizeof text;
        ok(pager_open_as(k_bob, BOB, k_alice, ALICE, t, ml, text, &tl) == E2E_EAUTH, "pager: suite byte changed: EAUTH");
        t[2] = 7;
        tl = sizeof text;
        ok(pager_open_as(k_bob, BOB, k_alice, ALICE, t, ml, text, &tl) == E2E_EFORMAT, "pager: unknown suite: EFORMAT");
        memcpy(t, m, ml);
        t[0] = 2;
        ok(pager_open_as(k_bob, BOB, k_alice, ALICE, t, ml, text, &tl) == E2E_EVERSION, "pager: version 2: EVERSION");
    }

    /* lengths */
    {
        size_t big = (size_t)1 << 20;
        uint8_t *bt = malloc(big + 1), *bm = malloc(big + 1024), *bo = malloc(big + 1);
        size_t bl = big + 1024, ol = big + 1;
        for (size_t i = 0; i <= big; i++) bt[i] = (uint8_t)i;
        ok(e2e_pager_seal(k_alice, ALICE, k_bob, BOB, id, ts, bt, big + 1, bm, &bl) == E2E_EFORMAT,
           "pager: 1 MiB + 1 of text: EFORMAT");
        bl = big + 1024;
        ok(e2e_pager_seal(k_alice, ALICE, k_bob, BOB, id, ts, bt, big, bm, &bl) == E2E_OK &&
           pager_open_as(k_bob, BOB, k_alice, ALICE, bm, bl, bo, &ol) == E2E_OK && ol == big && !memcmp(bo, bt, big),
           "pager: 1 MiB of text round trips");
        free(bt);
        free(bm);
        free(bo);
    }
    ml = sizeof m;
    tl = sizeof text;
    ok(e2e_pager_seal(k_alice, ALICE, k_bob, BOB, id, ts, "", 0, m, &ml) == E2E_OK &&
       pager_open_as(k_bob, BOB, k_alice, ALICE, m, ml, text, &tl) == E2E_OK && tl == 0, "pager: empty text round trips");
    ml = sizeof m;
    tl = 0;
    ok(e2e_pager_seal(k_alice, ALICE, k_bob, BOB, id, ts, NULL, 0, m, &ml) == E2E_OK &&
       pager_open_as(k_bob, BOB, k_alice, ALICE, m, ml, text, &tl) == E2E_OK && tl == 0,
       "pager: empty text given as NULL round trips, into a 0-byte buffer");
    {
        size_t need = ml;
        int refused = 0;
        for (size_t cap = 0; cap < need; cap++) {
            n = cap;
            refused += e2e_pager_seal(k_alice, ALICE, k_bob, BOB, id, ts, "", 0, t, &n) != E2E_OK;
        }
        ok(refused == (int)need, "pager: every output buffer shorter than %zu bytes refused", need);
        n = need;
        ok(e2e_pager_seal(k_alice, ALICE, k_bob, BOB, id, ts, "", 0, t, &n) == E2E_OK && n == need,
           "pager: (exactly %zu is enough)", need);
    }
    ml = sizeof m;
    ok(e2e_pager_seal(k_alice, "", k_bob, BOB, id, ts, "x", 1, m, &ml) == E2E_EFORMAT, "pager: empty sender id");
    ok(e2e_pager_seal(k_alice, ALICE, k_bob, "b ob", id, ts, "x", 1, m, &ml) == E2E_EFORMAT,
       "pager: recipient id with a space");
    {   /* a P-384 recipient, a P-256 sender */
        sc_key *d384 = sc_key_generate(SC_P384);
        ml = sizeof m;
        tl = sizeof text;
        ok(e2e_pager_seal(k_alice, ALICE, d384, "dave", id, ts, "hi", 2, m, &ml) == E2E_OK &&
           pager_open_as(d384, "dave", k_alice, ALICE, m, ml, text, &tl) == E2E_OK && tl == 2,
           "pager: to a P-384 key from a P-256 key");
        tl = sizeof text;
        ok(pager_open_as(k_bob, "dave", k_alice, ALICE, m, ml, text, &tl) == E2E_EKEY, "pager: ... not opened by a P-256 key");
        sc_key_free(d384);
    }
}

/* ---- safety number -------------------------------------------------------- */

/* 12 groups of 5 digits, one space or newline between groups */
static int safety_format(const char *s)
{
    for (int g = 0; g < 12; g++) {
        for (int i = 0; i < 5; i++, s++)
            if (*s < '0' || *s > '9') return 0;
        if (g < 11 && *s != ' ' && *s != '\n') return 0;
        if (g < 11) s++;
    }
    return *s == 0;
}

static void test_safety(void)
{
    char ab[80], ba[80], ac[80], ab2[80], pub_ab[80];
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    ok(e2e_safety_number(k_alice, k_bob, ab) == 0 && e2e_safety_number(k_bob, k_alice, ba) == 0,
       "safety numbers computed");
    ok(!strcmp(ab, ba), "(a,b) and (b,a): the same number");
    e2e_safety_number(k_alice, k_bob, ab2);
    ok(!strcmp(ab, ab2), "the same number each time");
    e2e_safety_number(k_alice, k_carol, ac);
    ok(strcmp(ab, ac) != 0, "another key: another number");
    sc_key_public(k_bob, pub, &pl);
    sc_key *bob_pub = sc_key_from_public(SC_P256, pub, pl);
    ok(bob_pub && e2e_safety_number(k_alice, bob_pub, pub_ab) == 0 && !strcmp(ab, pub_ab),
       "bob's public key alone (as alice holds it) gives the same number");
    sc_key_free(bob_pub);
    ok(safety_format(ab) && strlen(ab) == 71, "format: 12 groups of 5 digits: %.23s...", ab);
    {
        char bad[84];
        memcpy(bad, ab, 72);
        bad[2] = 'x';
        ok(!safety_format(bad), "(the format check refuses a letter)");
        memcpy(bad, ab, 71);
        memcpy(bad + 71, " 1", 3);
        ok(!safety_format(bad), "(... and a 13th group)");
    }
}

/* ---- malformed and random input ------------------------------------------- */

static void test_malformed(void)
{
    static uint8_t buf[(2u << 20) + 2];
    struct hsrun h;
    struct e2e_sess s;
    struct opened o;
    uint8_t c4[E2E_MSG_MAX], text[256], id[16];
    int64_t ts;
    size_t l4, tl;
    char from[E2E_ID_MAX + 1], to[E2E_ID_MAX + 1];

    /* sizes at the edges */
    rnd_fill(buf, E2E_MSG_MAX + 1);
    buf[0] = 1;
    buf[1] = E2E_C3;
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, buf, E2E_MSG_MAX + 1, c4, &l4, &s) == E2E_EFORMAT,
       "C3 over E2E_MSG_MAX: EFORMAT");
    ok(e2e_c3_parties(buf, E2E_MSG_MAX + 1, from, sizeof from, to, sizeof to) == E2E_EFORMAT,
       "c3_parties over E2E_MSG_MAX: EFORMAT");
    run_c3(&h, all3, 3);
    buf[1] = E2E_C4;
    ok(e2e_c4_accept(&h.hs, k_bob, buf, E2E_MSG_MAX + 1, &s) == E2E_EFORMAT, "C4 over E2E_MSG_MAX: EFORMAT");
    buf[1] = E2E_PAGER;
    tl = sizeof text;
    ok(e2e_pager_open(k_bob, BOB, k_alice, ALICE, buf, (2u << 20) + 1, id, &ts, text, &tl) == E2E_EFORMAT,
       "pager over 2 MiB: EFORMAT");
    for (size_t n = 0; n < 4; n++) {
        l4 = sizeof c4;
        ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, h.c3, n, c4, &l4, &s) == E2E_EFORMAT &&
           e2e_c4_accept(&h.hs, k_bob, h.c3, n, &s) == E2E_EFORMAT &&
           e2e_pager_from(h.c3, n, from, sizeof from) == E2E_EFORMAT, "%zu-byte C3, C4, pager: EFORMAT", n);
    }
    memcpy(buf, h.c3, h.l3);
    buf[0] = 2;
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, buf, h.l3, c4, &l4, &s) == E2E_EVERSION,
       "C3 version 2: EVERSION");
    ok(e2e_c4_accept(&h.hs, k_bob, h.c3, h.l3, &s) == E2E_EFORMAT, "a C3 given as C4: EFORMAT");
    run_c4(&h, ALLOW_ALL);
    l4 = sizeof c4;
    ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, h.c4, h.l4, c4, &l4, &s) == E2E_EFORMAT,
       "a C4 given as C3: EFORMAT");
    memcpy(buf, h.c4, h.l4);
    buf[0] = 0;
    ok(e2e_c4_accept(&h.hs, k_bob, buf, h.l4, &s) == E2E_EVERSION, "C4 version 0: EVERSION");
    {   /* C3 whose suite count runs past the end */
        memcpy(buf, h.c3, h.l3);
        buf[2] = 255;
        l4 = sizeof c4;
        ok(e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, buf, h.l3, c4, &l4, &s) == E2E_EFORMAT,
           "C3 with 255 suites in 200 bytes: EFORMAT");
        buf[2] = 0;
        ok(e2e_c3_parties(buf, h.l3, from, sizeof from, to, sizeof to) == E2E_EFORMAT, "C3 with 0 suites: EFORMAT");
        char tiny[4];
        ok(e2e_c3_parties(h.c3, h.l3, tiny, sizeof tiny, to, sizeof to) == E2E_OK && !strcmp(tiny, "ali"),
           "c3_parties into a 4-byte buffer: cut, terminated");
    }

    /* random bytes, half of them behind a valid version and type so the
     * parsers get past the first two checks */
    int wins[6] = { 0 };
    struct hsrun live;
    handshake(&live, all3, 3, ALLOW_ALL);
    struct e2e_sess before = live.b;
    for (int i = 0; i < 1000; i++) {
        size_t len = rnd() % (E2E_MSG_MAX + 64);
        int prefix = (int)(rnd() & 1);
        rnd_fill(buf, len);
        if (prefix && len >= 2) buf[0] = 1;
        if (prefix && len >= 2) buf[1] = E2E_C3;
        wins[0] += e2e_c3_parties(buf, len, from, sizeof from, to, sizeof to) == E2E_OK;
        l4 = sizeof c4;
        wins[1] += e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, buf, len, c4, &l4, &s) == E2E_OK;
        if (prefix && len >= 2) buf[1] = E2E_C4;
        if (e2e_c4_accept(&h.hs, k_bob, buf, len, &s) == E2E_OK) {
            wins[2]++;
            run_c3(&h, all3, 3);
        }
        if (prefix && len >= 2) buf[1] = E2E_PAGER;
        wins[3] += e2e_pager_from(buf, len, from, sizeof from) == E2E_OK;
        tl = sizeof text;
        wins[4] += e2e_pager_open(k_bob, BOB, k_alice, ALICE, buf, len, id, &ts, text, &tl) == E2E_OK;
        wins[5] += open_at(&live.b, live.b.rseq + rnd() % 3, buf, len % 300, &o) == E2E_OK;
    }
    ok(wins[0] == 0, "1000 random C3s: e2e_c3_parties accepted %d", wins[0]);
    ok(wins[1] == 0, "1000 random C3s: e2e_c3_accept accepted %d", wins[1]);
    ok(wins[2] == 0, "1000 random C4s: e2e_c4_accept accepted %d", wins[2]);
    ok(wins[3] == 0, "1000 random pager messages: e2e_pager_from accepted %d", wins[3]);
    ok(wins[4] == 0, "1000 random pager messages: e2e_pager_open accepted %d", wins[4]);
    ok(wins[5] == 0, "1000 random frames: e2e_open accepted %d", wins[5]);
    ok(!memcmp(&before, &live.b, sizeof before), "random frames left the receive state as it was");
    {
        struct frame f;
        seal(&live.a, E2E_TEXT, 5, "still here", 10, &f);
        ok(open_f(&live.b, &f, &o) == E2E_OK && o.id == 5, "the next genuine frame opens");
    }

    /* valid messages with a few bytes changed and the length moved a little:
     * the parsers past the format checks, on to the signatures and tags */
    {
        int c3w = 0, c4w = 0, pw = 0, tries = 0;
        uint8_t pm[1024];
        size_t pml = sizeof pm;
        e2e_pager_seal(k_alice, ALICE, k_bob, BOB, id, 42, "mutate me", 9, pm, &pml);
        for (int i = 0; i < 150; i++) {
            for (int which = 0; which < 3; which++) {
                const uint8_t *src = which == 0 ? h.c3 : which == 1 ? h.c4 : pm;
                size_t sl = which == 0 ? h.l3 : which == 1 ? h.l4 : pml, len = sl;
                memcpy(buf, src, sl);
                for (int k = 1 + (int)(rnd() % 4); k > 0; k--) buf[rnd() % sl] ^= rnd_mask();
                if (rnd() % 3 == 0) len = sl - 1 - rnd() % 8;
                else if (rnd() % 3 == 0) len = sl + 1 + rnd() % 8;
                if (len == sl && !memcmp(buf, src, sl)) continue;  /* the changes cancelled out */
                tries++;
                if (which == 0) {
                    l4 = sizeof c4;
                    c3w += e2e_c3_accept(BOB, ALICE, k_bob, k_alice, ALLOW_ALL, buf, len, c4, &l4, &s) == E2E_OK;
                } else if (which == 1) {
                    if (e2e_c4_accept(&h.hs, k_bob, buf, len, &s) == E2E_OK) {
                        c4w++;
                        run_c3(&h, all3, 3);
                    }
                } else {
                    tl = sizeof text;
                    pw += e2e_pager_open(k_bob, BOB, k_alice, ALICE, buf, len, id, &ts, text, &tl) == E2E_OK;
                }
            }
        }
        ok(c3w == 0 && c4w == 0 && pw == 0, "%d mutated C3/C4/pager messages: %d, %d, %d accepted", tries, c3w, c4w,
           pw);
    }
    e2e_hs_wipe(&h.hs);
}

int main(void)
{
    sc_init();
    k_alice = sc_key_generate(SC_P256);
    k_bob = sc_key_generate(SC_P256);
    k_carol = sc_key_generate(SC_P256);
    k_mallory = sc_key_generate(SC_P256);
    if (!k_alice || !k_bob || !k_carol || !k_mallory) {
        printf("Bail out! no keys\n");
        return 1;
    }
    test_handshake();
    test_spare();
    test_parties();
    test_flips();
    test_suites();
    test_mitm();
    test_hs_replay();
    test_roundtrip();
    test_frame_attacks();
    test_forward_secrecy();
    test_pager();
    test_safety();
    test_malformed();
    sc_key_free(k_alice);
    sc_key_free(k_bob);
    sc_key_free(k_carol);
    sc_key_free(k_mallory);
    return tap_done();
}
