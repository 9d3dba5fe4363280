/*
 * fuzz/fuzz.h - shared by the libFuzzer targets in fuzz/ and by the seed
 * maker fuzz/mkseeds.c.
 *
 * Fixed keys and contexts.  The targets and the seed maker derive the same
 * keys from the same labels, so a seed made once (an S1 under K_A, a C3
 * signed by alice, a pager message to bob) still gets past its tag or
 * signature in every later run, and the fuzzer starts from messages that
 * reach the code behind those checks instead of bouncing off them.
 *
 * Input layout.  Every target reads its input front to back with fz_*:
 * option bytes first (which function, which curve or suite, where to split),
 * then the message.  Reading past the end gives zeros and an empty message,
 * never a failure, so every input is a valid test case.  The op numbers are
 * here so that mkseeds writes the same ones the targets read.
 */
#ifndef SIMPP_FUZZ_H
#define SIMPP_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/* the libFuzzer entry points (declared here so every target has prototypes) */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- checks ------------------------------------------------------------ */

/* A property the library promises did not hold: abort, which libFuzzer
 * records as a crash with the input that caused it. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void fz_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("fuzz: property violated: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
#define FZ_CHECK(cond) \
    do { if (!(cond)) fz_fail("%s (%s:%d)", #cond, __FILE__, __LINE__); } while (0)

/* Set-up that must work (keys from fixed scalars, a valid handshake in
 * LLVMFuzzerInitialize): a failure is the harness's, not the input's. */
#define FZ_SETUP(cond) \
    do { if (!(cond)) { fprintf(stderr, "fuzz: set-up failed: %s (%s:%d)\n", #cond, \
                                __FILE__, __LINE__); exit(2); } } while (0)

/* ---- reading the input ------------------------------------------------- */

typedef struct { const uint8_t *p; size_t n; } fz_in;

static inline unsigned fz_u8(fz_in *in)
{
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}
static inline unsigned fz_u16(fz_in *in)
{
    unsigned hi = fz_u8(in);
    return hi << 8 | fz_u8(in);
}
/* up to want bytes (fewer at the end of the input); *got says how many */
static inline const uint8_t *fz_take(fz_in *in, size_t want, size_t *got)
{
    const uint8_t *p = in->p;
    *got = want < in->n ? want : in->n;
    in->p += *got;
    in->n -= *got;
    return p;
}
/* exactly n bytes into out, zero-filled past the end of the input */
static inline void fz_fill(fz_in *in, void *out, size_t n)
{
    size_t got;
    const uint8_t *p = fz_take(in, n, &got);
    memset(out, 0, n);
    if (got) memcpy(out, p, got);
}
/* Split the rest at a point chosen by two input bytes: where one read ends
 * and the next begins, or where one message ends and the next begins. */
static inline size_t fz_split(fz_in *in)
{
    unsigned k = fz_u16(in);
    return in->n ? k % (in->n + 1) : 0;
}

/* A copy that ends exactly at the input's end, in its own allocation, so
 * ASan sees any read past the message (libFuzzer's buffer already is one,
 * but a target that cuts the input in parts needs this per part). */
static inline uint8_t *fz_dup(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    FZ_SETUP(d != NULL);
    if (n) memcpy(d, p, n);
    return d;
}

/* one of three (curve, suite) from the two low bits of an option byte,
 * whatever its other bits say */
static inline int fz_pick3(unsigned opt)
{
    return (int)((opt & 3) % 3);
}

/* ---- fixed keys and contexts -------------------------------------------- */

static const int fz_curves[3] = { SC_P224, SC_P256, SC_P384 };
static const uint8_t fz_suites[3] = { SC_SUITE_CHACHA20_POLY1305, SC_SUITE_AES128_GCM,
                                      SC_SUITE_AES128_CBC_HMAC };

#define FZ_STREAM_ID "fuzz-stream-0001"
#define FZ_ID_A      "alice@fuzz.example"
#define FZ_ID_B      "bob@fuzz.example"

/* A private key whose scalar is HKDF(label): the same on every run. */
static inline sc_key *fz_key(int curve, const char *label)
{
    uint8_t d[SC_MAX_SCALAR];
    size_t nb = sc_curve_bytes(curve);
    FZ_SETUP(sc_init() == 0 && nb > 0);
    FZ_SETUP(sc_hkdf_sha256(NULL, 0, label, strlen(label), "simpp fuzz key", 14, d, nb) == 0);
    sc_key *k = sc_key_from_scalar(curve, d, nb);
    FZ_SETUP(k != NULL);
    return k;
}
/* fixed bytes: the master key K_A of the login target, nonces */
static inline void fz_bytes(const char *label, uint8_t *out, size_t n)
{
    FZ_SETUP(sc_hkdf_sha256(NULL, 0, label, strlen(label), "simpp fuzz bytes", 16, out, n) == 0);
}

/* server key, one per curve: the relay's KR_S */
static inline sc_key *fz_server_key(int ci)
{
    static const char *l[3] = { "server P-224", "server P-256", "server P-384" };
    return fz_key(fz_curves[ci], l[ci]);
}
/* alice's and bob's long-term keys, one per curve */
static inline sc_key *fz_alice_key(int ci)
{
    static const char *l[3] = { "alice P-224", "alice P-256", "alice P-384" };
    return fz_key(fz_curves[ci], l[ci]);
}
static inline sc_key *fz_bob_key(int ci)
{
    static const char *l[3] = { "bob P-224", "bob P-256", "bob P-384" };
    return fz_key(fz_curves[ci], l[ci]);
}

/* The clear header H of a pager message from alice to bob (e2e_pager_seal,
 * doc/PROTOCOL.md) with ephemeral share e on P-256, a fixed message id and
 * time: the e2e target encrypts inner plaintexts under it, and mkseeds
 * signs seeds over it.  Returns its length (h holds 512). */
static inline size_t fz_pager_header(uint8_t suite, const uint8_t *e, size_t el, uint8_t *h)
{
    static const char *ids[2] = { FZ_ID_A, FZ_ID_B };
    size_t o = 0;
    h[o++] = 1;                             /* version */
    h[o++] = 0x31;                          /* E2E_PAGER */
    h[o++] = suite;
    h[o++] = SC_P256 >> 8;
    h[o++] = SC_P256 & 0xff;
    h[o++] = (uint8_t)el;
    memcpy(h + o, e, el);
    o += el;
    for (int i = 0; i < 2; i++) {
        size_t l = strlen(ids[i]);
        h[o++] = (uint8_t)(l >> 8);
        h[o++] = (uint8_t)l;
        memcpy(h + o, ids[i], l);
        o += l;
    }
    memset(h + o, 0x11, 16 + 8);            /* message id, time */
    return o + 16 + 8;
}
#define FZ_PAGER_EPH "pager ephemeral"      /* fz_key label of e */

/* SCRAM: the credential the sasl target's server holds, and the nonces
 * both test hooks fix, so a seeded exchange verifies */
#define FZ_SCRAM_USER   "user"
#define FZ_SCRAM_PW     "pencil"
#define FZ_SCRAM_ITER   4096UL
#define FZ_SCRAM_CNONCE "fyko+d2lbbFgONRv9qkxdawL"
#define FZ_SCRAM_SNONCE "3rfcNHYJY1ZVvWVs7j"

/* keyfile: the passphrase the target offers, and the largest PBKDF2 count
 * it lets an input ask for (each round is two SHA-256 blocks; 10,000,000 of
 * them take seconds) */
#define FZ_KF_PASS      "fuzz-pass"
#define FZ_KF_ITER_CAP  1000UL
/* sasl: the largest SCRAM count the client side is run with */
#define FZ_SCRAM_ITER_CAP 8192UL

/* ---- op numbers (first input byte, modulo the count) --------------------- */

enum { FZ_SRV_S1_ID, FZ_SRV_S1_ACCEPT, FZ_SRV_R1_ACCEPT, FZ_SRV_R3_VERIFY, FZ_SRV_CHAN_OPEN,
       FZ_SRV_CHAN_SEALED, FZ_SRV_NOPS };
enum { FZ_CLI_R2, FZ_CLI_R2_SEALED, FZ_CLI_S2, FZ_CLI_S2_SEALED, FZ_CLI_NOPS };
enum { FZ_E2E_C3_PARTIES, FZ_E2E_OPEN, FZ_E2E_OPEN_SEALED, FZ_E2E_PAGER_FROM, FZ_E2E_SCRIPT,
       FZ_E2E_NOPS };
enum { FZ_E2ES_C3_ACCEPT, FZ_E2ES_C4_ACCEPT, FZ_E2ES_C4_SIGNED, FZ_E2ES_PAGER_OPEN,
       FZ_E2ES_PAGER_INNER, FZ_E2ES_NOPS };
enum { FZ_DER_WALK, FZ_DER_SPKI, FZ_DER_PKCS8, FZ_DER_NOPS };
enum { FZ_SASL_SERVER, FZ_SASL_PLAIN, FZ_SASL_CLIENT, FZ_SASL_NOPS };
enum { FZ_PL_OFFER, FZ_PL_RECV, FZ_PL_VIDEO, FZ_PL_SMALL, FZ_PL_NAME, FZ_PL_CLEAN, FZ_PL_NOPS };
enum { FZ_APDU_ROUNDS, FZ_APDU_FCI, FZ_APDU_NOPS };

#endif
