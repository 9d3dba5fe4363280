/*
 * crypto_neg.c - failing-input tests for lib/crypto.h: at least one test for
 * each libtomcrypt 1.18 API trap listed in the crypto notes ("API traps",
 * section 5; the "trap N" numbers below and in lib/crypto.c are that list's).
 * Each must-fail case sits next to a must-pass twin, so a refusal is known to
 * come from the check under test and not from a broken set-up.
 *
 * Debian's libtomcrypt is built with ARGTYPE=0 (a failed argument check calls
 * abort()), so every "refused" here must also return cleanly: a crash is a
 * failure of lib/crypto.c.
 *
 * Curve constants: NIST P-224/P-256/P-384 from FIPS 186-4 D.1.2 (SEC 2).
 * Points with a small coordinate (for the x >= p / y >= p cases) were found
 * with integer arithmetic modulo p; their validity is checked below by their
 * must-pass twins.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "tap.h"

/* ---- P-256 (FIPS 186-4 D.1.2.3) ---------------------------------------- */
#define P256_P   "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"
#define P256_N   "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
#define P256_N_1 "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550"
#define P256_N1  "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632552"
#define P256_GX  "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
#define P256_GY  "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
#define P256_NGY "b01cbd1c01e58065711814b583f061e9d431cca994cea1313449bf97c840ae0a" /* p - Gy */
/* (0, Y0) is on P-256 (b is a square mod p); x = p is then 0 mod p */
#define P256_Y0  "66485c780e2f83d72433bd5d84a06bb6541c2af31dae871728bf856a174f93f4"
/* (X5, 5) is on P-256; y = p + 5 is then 5 mod p */
#define P256_X5  "d7325d7646cd60d80a92738ceb345f844cffaf35841022cab176f692de8de1d7"
#define P256_P5  "ffffffff00000001000000000000000000000001000000000000000000000004"
#define ZERO32   "0000000000000000000000000000000000000000000000000000000000000000"
#define ONE32    "0000000000000000000000000000000000000000000000000000000000000001"
#define FF32     "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

/* ---- P-384 (FIPS 186-4 D.1.2.4) ---------------------------------------- */
#define P384_P  "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe" \
                "ffffffff0000000000000000ffffffff"
#define P384_GX "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38" \
                "5502f25dbf55296c3a545e3872760ab7"
#define P384_GY "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c0" \
                "0a60b1ce1d7e819d7a431d7c90ea0e5f"
/* (0, Y0) is on P-384 */
#define P384_Y0 "c306610fb0ae5a159cf45c06069f22a6c5eb3641c602d42dea2c4b4f75550793" \
                "406d80d2b91ad54f9048bd487af1ade1"
#define ZERO48  ZERO32 "00000000000000000000000000000000"
#define ONE48   ZERO32 "00000000000000000000000000000001"

/* ---- P-224 (FIPS 186-4 D.1.2.2) ---------------------------------------- */
#define P224_GX "b70e0cbd6bb4bf7f321390b94a03c1d356c21122343280d6115c1d21"
#define P224_GY "bd376388b5f723fb4c22dfe6cd4375a05a07476444d5819985007e34"
#define ONE28   "00000000000000000000000000000000000000000000000000000001"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* hex constant into out (exactly strlen/2 bytes); a bad constant is a bug in
 * this file, so stop */
static size_t hx(uint8_t *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap) { fprintf(stderr, "bad constant %s\n", hex); exit(2); }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) { fprintf(stderr, "bad constant %s\n", hex); exit(2); }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

/* prefix byte || x || y from hex */
static size_t point(uint8_t *out, uint8_t prefix, const char *x, const char *y)
{
    out[0] = prefix;
    size_t n = 1 + hx(out + 1, SC_MAX_PUB - 1, x);
    return n + (y ? hx(out + n, SC_MAX_PUB - n, y) : 0);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}

/* a copy in a heap block of exactly n bytes, so ASan sees any over-read */
static uint8_t *heap_copy(const void *p, size_t n)
{
    uint8_t *q = xmalloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static void rnd(void *p, size_t n)
{
    if (sc_random(p, n) != 0) { fprintf(stderr, "sc_random failed\n"); exit(2); }
}

/* point accepted by both sc_point_check and sc_key_from_public (1), refused
 * by both (0), or the two disagree (-1) */
static int point_verdict(int curve, const uint8_t *pub, size_t len)
{
    uint8_t *b = len ? heap_copy(pub, len) : NULL;
    int chk = sc_point_check(curve, len ? b : pub, len) == 0;
    sc_key *k = sc_key_from_public(curve, len ? b : pub, len);
    int imp = k != NULL;
    sc_key_free(k);
    free(b);
    return chk == imp ? chk : -1;
}

#define ACCEPT(curve, buf, len, ...) ok(point_verdict(curve, buf, len) == 1, __VA_ARGS__)
#define REFUSE(curve, buf, len, ...) ok(point_verdict(curve, buf, len) == 0, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* traps 3 and 4: public points */

static void test_points(void)
{
    uint8_t b[SC_MAX_PUB + 2], pub[SC_MAX_PUB];
    size_t n, pl = sizeof pub;
    sc_key *a = sc_key_generate(SC_P256);

    ok(a && sc_key_public(a, pub, &pl) == 0 && pl == 65 && pub[0] == 0x04,
       "P-256 generated key exports a 65-byte 04||X||Y point");
    ACCEPT(SC_P256, pub, pl, "P-256 generated public point accepted (twin)");

    n = point(b, 0x04, P256_GX, P256_GY);
    ACCEPT(SC_P256, b, n, "P-256 generator G accepted (twin)");
    n = point(b, 0x04, P256_GX, P256_NGY);
    ACCEPT(SC_P256, b, n, "P-256 -G = (Gx, p - Gy) accepted (twin)");

    /* off the curve: the invalid-curve attack point (1,1), and a flipped bit */
    n = point(b, 0x04, ONE32, ONE32);
    REFUSE(SC_P256, b, n, "P-256 off-curve point (1,1) refused");
    memcpy(b, pub, pl);
    b[pl - 1] ^= 0x01;
    REFUSE(SC_P256, b, pl, "P-256 generated point with the last bit of y flipped refused");
    n = point(b, 0x04, ONE48, ONE48);
    REFUSE(SC_P384, b, n, "P-384 off-curve point (1,1) refused");
    n = point(b, 0x04, ONE28, ONE28);
    REFUSE(SC_P224, b, n, "P-224 off-curve point (1,1) refused");

    /* the point at infinity in its encodings */
    b[0] = 0x00;
    REFUSE(SC_P256, b, 1, "point at infinity as the single byte 00 refused");
    n = point(b, 0x04, ZERO32, ZERO32);
    REFUSE(SC_P256, b, n, "P-256 all-zero coordinates 04||0||0 refused");
    n = point(b, 0x00, ZERO32, ZERO32);
    REFUSE(SC_P256, b, n, "P-256 00||0||0 refused");
    n = point(b, 0x04, ZERO48, ZERO48);
    REFUSE(SC_P384, b, n, "P-384 all-zero coordinates refused");

    /* coordinates >= p whose residue mod p is on the curve */
    n = point(b, 0x04, ZERO32, P256_Y0);
    ACCEPT(SC_P256, b, n, "P-256 (0, y0) accepted (twin of x = p)");
    n = point(b, 0x04, P256_P, P256_Y0);
    REFUSE(SC_P256, b, n, "P-256 x = p (= 0 mod p, on the curve mod p) refused");
    n = point(b, 0x04, P256_X5, "0000000000000000000000000000000000000000000000000000000000000005");
    ACCEPT(SC_P256, b, n, "P-256 (x5, 5) accepted (twin of y = p + 5)");
    n = point(b, 0x04, P256_X5, P256_P5);
    REFUSE(SC_P256, b, n, "P-256 y = p + 5 (= 5 mod p, on the curve mod p) refused");
    n = point(b, 0x04, FF32, P256_GY);
    REFUSE(SC_P256, b, n, "P-256 x = 2^256 - 1 refused");
    n = point(b, 0x04, P256_GX, FF32);
    REFUSE(SC_P256, b, n, "P-256 y = 2^256 - 1 refused");
    n = point(b, 0x04, ZERO48, P384_Y0);
    ACCEPT(SC_P384, b, n, "P-384 (0, y0) accepted (twin of x = p)");
    n = point(b, 0x04, P384_P, P384_Y0);
    REFUSE(SC_P384, b, n, "P-384 x = p refused");

    /* other encodings: hybrid (06/07, Gy is odd so 07 is the "right" one) and
     * compressed (02/03) */
    n = point(b, 0x06, P256_GX, P256_GY);
    REFUSE(SC_P256, b, n, "P-256 hybrid 06||Gx||Gy refused");
    n = point(b, 0x07, P256_GX, P256_GY);
    REFUSE(SC_P256, b, n, "P-256 hybrid 07||Gx||Gy refused");
    n = point(b, 0x02, P256_GX, NULL);
    REFUSE(SC_P256, b, n, "P-256 compressed 02||Gx refused");
    n = point(b, 0x03, P256_GX, NULL);
    REFUSE(SC_P256, b, n, "P-256 compressed 03||Gx (right parity) refused");
    n = point(b, 0x02, P256_GX, P256_GY);
    REFUSE(SC_P256, b, n, "P-256 65 bytes with prefix 02 refused");
    n = point(b, 0x05, P256_GX, P256_GY);
    REFUSE(SC_P256, b, n, "P-256 65 bytes with prefix 05 refused");

    /* wrong lengths */
    n = point(b, 0x04, P256_GX, P256_GY);
    REFUSE(SC_P256, b, n - 1, "P-256 point one byte short (64 bytes) refused");
    b[n] = 0x00;
    REFUSE(SC_P256, b, n + 1, "P-256 point with a trailing byte (66 bytes) refused");
    REFUSE(SC_P256, b + 1, n - 1, "P-256 X||Y without prefix (64 bytes) refused");
    REFUSE(SC_P256, b, 0, "zero-length point refused");
    REFUSE(SC_P256, NULL, 0, "NULL point refused");
    ok(sc_point_check(SC_P256, NULL, 65) != 0 && sc_key_from_public(SC_P256, NULL, 65) == NULL,
       "NULL point with length 65 refused");

    /* trap 4: the curve is pinned by the caller, never guessed from the size */
    n = point(b, 0x04, P384_GX, P384_GY);
    ACCEPT(SC_P384, b, n, "P-384 G accepted as P-384 (twin)");
    REFUSE(SC_P256, b, n, "P-384 G refused as P-256");
    n = point(b, 0x04, P256_GX, P256_GY);
    REFUSE(SC_P384, b, n, "P-256 G refused as P-384");
    REFUSE(SC_P224, b, n, "P-256 G refused as P-224");
    n = point(b, 0x04, P224_GX, P224_GY);
    ACCEPT(SC_P224, b, n, "P-224 G accepted as P-224 (twin)");
    REFUSE(SC_P256, b, n, "P-224 G refused as P-256");
    n = point(b, 0x04, P256_GX, P256_GY);
    REFUSE(SC_CURVE_NONE, b, n, "unknown curve 0 refused");
    REFUSE(521, b, n, "unsupported curve 521 refused");
    ok(sc_key_generate(SC_CURVE_NONE) == NULL && sc_key_generate(521) == NULL,
       "sc_key_generate refuses unknown curves");
    sc_key_free(a);
}

/* ------------------------------------------------------------------------ */
/* private scalars: d in [1, n-1] */

static void test_scalars(void)
{
    uint8_t d[SC_MAX_SCALAR + 1], got[SC_MAX_PUB], want[SC_MAX_PUB], s[SC_MAX_SCALAR];
    size_t gl = 0, wl = 0, sl = 0;
    sc_key *k;
    struct { const char *hex; const char *what; } bad[] = {
        { ZERO32, "0" }, { P256_N, "n" }, { P256_N1, "n + 1" }, { FF32, "2^256 - 1" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hx(d, sizeof d, bad[i].hex);
        uint8_t *b = heap_copy(d, 32);
        k = sc_key_from_scalar(SC_P256, b, 32);
        ok(k == NULL, "P-256 sc_key_from_scalar refuses d = %s", bad[i].what);
        sc_key_free(k);
        free(b);
    }

    /* twins: d = 1 gives G, d = n - 1 gives -G */
    hx(d, sizeof d, ONE32);
    k = sc_key_from_scalar(SC_P256, d, 32);
    wl = point(want, 0x04, P256_GX, P256_GY);
    gl = sizeof got;
    ok(k && sc_key_public(k, got, &gl) == 0 && gl == wl && memcmp(got, want, wl) == 0,
       "P-256 d = 1 accepted, public key is G (twin)");
    sc_key_free(k);
    hx(d, sizeof d, P256_N_1);
    k = sc_key_from_scalar(SC_P256, d, 32);
    wl = point(want, 0x04, P256_GX, P256_NGY);
    gl = sizeof got;
    sl = sizeof s;
    ok(k && sc_key_public(k, got, &gl) == 0 && gl == wl && memcmp(got, want, wl) == 0,
       "P-256 d = n - 1 accepted, public key is -G (twin)");
    ok(k && sc_key_scalar(k, s, &sl) == 0 && sl == 32 && memcmp(s, d, 32) == 0,
       "P-256 sc_key_scalar gives n - 1 back");
    sc_key_free(k);
    hx(d, sizeof d, ONE48);
    k = sc_key_from_scalar(SC_P384, d, 48);
    wl = point(want, 0x04, P384_GX, P384_GY);
    gl = sizeof got;
    ok(k && sc_key_public(k, got, &gl) == 0 && gl == wl && memcmp(got, want, wl) == 0,
       "P-384 d = 1 gives G");
    sc_key_free(k);

    /* length must be the curve size */
    hx(d, sizeof d, "00" ONE32);
    ok(sc_key_from_scalar(SC_P256, d, 33) == NULL, "P-256 33-byte scalar refused");
    ok(sc_key_from_scalar(SC_P256, d + 2, 31) == NULL, "P-256 31-byte scalar refused");
    ok(sc_key_from_scalar(SC_P256, d, 0) == NULL, "P-256 empty scalar refused");
    ok(sc_key_from_scalar(SC_P256, NULL, 32) == NULL, "P-256 NULL scalar refused");
    ok(sc_key_from_scalar(SC_P384, d + 1, 32) == NULL, "P-384 with a 32-byte scalar refused");
    ok(sc_key_from_scalar(SC_CURVE_NONE, d + 1, 32) == NULL, "unknown curve refused");

    /* export / import round trip of a generated key */
    sc_key *a = sc_key_generate(SC_P256);
    sl = sizeof s;
    gl = sizeof got;
    wl = sizeof want;
    k = NULL;
    if (a && sc_key_scalar(a, s, &sl) == 0) k = sc_key_from_scalar(SC_P256, s, sl);
    ok(a && k && sl == 32 && sc_key_public(a, want, &wl) == 0 && sc_key_public(k, got, &gl) == 0 &&
       gl == wl && memcmp(got, want, wl) == 0,
       "P-256 sc_key_scalar -> sc_key_from_scalar keeps the public key");
    sc_key_free(k);

    /* a public-only key has no scalar; small output buffers are refused */
    gl = sizeof got;
    k = a && sc_key_public(a, got, &gl) == 0 ? sc_key_from_public(SC_P256, got, gl) : NULL;
    sl = sizeof s;
    ok(k && !sc_key_is_private(k) && sc_key_curve(k) == SC_P256 && sc_key_scalar(k, s, &sl) != 0,
       "public-only key: sc_key_is_private 0, sc_key_scalar refused");
    ok(a && sc_key_is_private(a), "generated key is private (twin)");
    sl = 31;
    ok(a && sc_key_scalar(a, s, &sl) != 0, "sc_key_scalar with 31-byte room refused");
    gl = 64;
    ok(a && sc_key_public(a, got, &gl) != 0, "sc_key_public with 64-byte room refused");
    sc_key_free(k);
    sc_key_free(a);
}

/* ------------------------------------------------------------------------ */
/* password keys: deterministic */

static void test_password(void)
{
    static const char pw[] = "correct horse battery staple", pw2[] = "correct horse battery stapler";
    static const uint8_t s1[] = "salt-1", s2[] = "salt-2";
    uint8_t p1[SC_MAX_PUB], p2[SC_MAX_PUB], p3[SC_MAX_PUB], p4[SC_MAX_PUB];
    size_t l1 = sizeof p1, l2 = sizeof p2, l3 = sizeof p3, l4 = sizeof p4;
    sc_key *k1 = sc_key_from_password(SC_P256, pw, strlen(pw), s1, 6, 1000);
    sc_key *k2 = sc_key_from_password(SC_P256, pw, strlen(pw), s1, 6, 1000);
    sc_key *k3 = sc_key_from_password(SC_P256, pw, strlen(pw), s2, 6, 1000);
    sc_key *k4 = sc_key_from_password(SC_P256, pw2, strlen(pw2), s1, 6, 1000);
    int all = k1 && k2 && k3 && k4 && sc_key_public(k1, p1, &l1) == 0 &&
              sc_key_public(k2, p2, &l2) == 0 && sc_key_public(k3, p3, &l3) == 0 &&
              sc_key_public(k4, p4, &l4) == 0;
    ok(all && sc_key_is_private(k1), "sc_key_from_password gives private P-256 keys");
    ok(all && l1 == l2 && memcmp(p1, p2, l1) == 0, "same password and salt: same public key");
    ok(all && memcmp(p1, p3, l1) != 0, "different salt: different public key");
    ok(all && memcmp(p1, p4, l1) != 0, "different password: different public key");
    sc_key_free(k1); sc_key_free(k2); sc_key_free(k3); sc_key_free(k4);

    k1 = sc_key_from_password(SC_P256, pw, strlen(pw), s1, 6, 1001);
    l2 = sizeof p2;
    ok(k1 && sc_key_public(k1, p2, &l2) == 0 && memcmp(p1, p2, l1) != 0,
       "different iteration count: different public key");
    sc_key_free(k1);
    k1 = sc_key_from_password(SC_P256, pw, strlen(pw), s1, 6, 0);
    ok(k1 == NULL, "sc_key_from_password refuses zero iterations");
    sc_key_free(k1);
    k1 = sc_key_from_password(SC_CURVE_NONE, pw, strlen(pw), s1, 6, 1000);
    ok(k1 == NULL, "sc_key_from_password refuses an unknown curve");
    sc_key_free(k1);

    k1 = sc_key_from_password(SC_P384, pw, strlen(pw), s1, 6, 1000);
    k2 = sc_key_from_password(SC_P384, pw, strlen(pw), s1, 6, 1000);
    l1 = sizeof p1;
    l2 = sizeof p2;
    ok(k1 && k2 && sc_key_public(k1, p1, &l1) == 0 && sc_key_public(k2, p2, &l2) == 0 &&
       l1 == 97 && memcmp(p1, p2, l1) == 0, "P-384 password key deterministic too");
    sc_key_free(k1); sc_key_free(k2);
}

/* ------------------------------------------------------------------------ */
/* ECDH (trap 5: raw x only through HKDF) */

static void test_ecdh(void)
{
    uint8_t pa[SC_MAX_PUB], pb[SC_MAX_PUB], k1[64], k2[64], k3[64], z1[SC_MAX_SCALAR],
        z2[SC_MAX_SCALAR], d[SC_MAX_SCALAR];
    size_t la = sizeof pa, lb = sizeof pb, zl1 = sizeof z1, zl2 = sizeof z2;
    static const uint8_t salt[] = "salt", info[] = "simpp test";
    sc_key *a = sc_key_generate(SC_P256), *b = sc_key_generate(SC_P256);
    sc_key *apub = NULL, *bpub = NULL;
    if (a && b && sc_key_public(a, pa, &la) == 0 && sc_key_public(b, pb, &lb) == 0) {
        apub = sc_key_from_public(SC_P256, pa, la);
        bpub = sc_key_from_public(SC_P256, pb, lb);
    }
    ok(apub && bpub, "P-256 ECDH set-up: two key pairs");
    ok(sc_ecdh_hkdf(a, bpub, salt, 4, info, 10, k1, 32) == 0 &&
       sc_ecdh_hkdf(b, apub, salt, 4, info, 10, k2, 32) == 0 && memcmp(k1, k2, 32) == 0,
       "sc_ecdh_hkdf agrees both ways (32 bytes)");
    ok(sc_ecdh_hkdf(a, bpub, salt, 4, info, 10, k1, 64) == 0 &&
       sc_ecdh_hkdf(b, apub, salt, 4, info, 10, k2, 64) == 0 && memcmp(k1, k2, 64) == 0,
       "sc_ecdh_hkdf agrees both ways (64 bytes)");
    ok(sc_ecdh_hkdf(a, bpub, salt, 4, info, 9, k3, 64) == 0 && memcmp(k1, k3, 64) != 0,
       "different info: different key");
    ok(sc_ecdh_raw(a, bpub, z1, &zl1) == 0 && sc_ecdh_raw(b, apub, z2, &zl2) == 0 &&
       zl1 == 32 && zl2 == 32 && memcmp(z1, z2, 32) == 0, "sc_ecdh_raw agrees both ways, 32 bytes");
    ok(sc_hkdf_sha256(salt, 4, z1, zl1, info, 10, k3, 64) == 0 && memcmp(k1, k3, 64) == 0,
       "sc_ecdh_hkdf = HKDF-SHA256(salt, raw x, info)");

    /* 1 * B = B: the raw secret of d = 1 is B's x-coordinate */
    sc_key *one = NULL;
    hx(d, sizeof d, ONE32);
    one = sc_key_from_scalar(SC_P256, d, 32);
    zl1 = sizeof z1;
    ok(one && sc_ecdh_raw(one, bpub, z1, &zl1) == 0 && zl1 == 32 && memcmp(z1, pb + 1, 32) == 0,
       "sc_ecdh_raw with d = 1 gives the peer's x-coordinate");
    sc_key_free(one);

    zl1 = 31;
    ok(sc_ecdh_raw(a, bpub, z1, &zl1) != 0, "sc_ecdh_raw with 31-byte room refused");
    zl1 = sizeof z1;
    ok(sc_ecdh_raw(apub, bpub, z1, &zl1) != 0 &&
       sc_ecdh_hkdf(apub, bpub, NULL, 0, NULL, 0, k1, 32) != 0,
       "ECDH with a public-only key as the private side refused");

    sc_key *c = sc_key_generate(SC_P384), *cpub = NULL;
    uint8_t pc[SC_MAX_PUB];
    size_t lc = sizeof pc;
    if (c && sc_key_public(c, pc, &lc) == 0) cpub = sc_key_from_public(SC_P384, pc, lc);
    zl1 = sizeof z1;
    ok(cpub && sc_ecdh_raw(a, cpub, z1, &zl1) != 0 &&
       sc_ecdh_hkdf(c, bpub, NULL, 0, NULL, 0, k1, 32) != 0,
       "ECDH across curves (P-256 with P-384) refused");
    zl1 = sizeof z1;
    zl2 = sizeof z2;
    sc_key *e = sc_key_generate(SC_P384);
    uint8_t pe[SC_MAX_PUB];
    size_t le = sizeof pe;
    sc_key *epub = e && sc_key_public(e, pe, &le) == 0 ? sc_key_from_public(SC_P384, pe, le) : NULL;
    ok(epub && sc_ecdh_raw(c, epub, z1, &zl1) == 0 && sc_ecdh_raw(e, cpub, z2, &zl2) == 0 &&
       zl1 == 48 && zl2 == 48 && memcmp(z1, z2, 48) == 0, "P-384 sc_ecdh_raw agrees, 48 bytes");
    sc_key_free(a); sc_key_free(b); sc_key_free(apub); sc_key_free(bpub);
    sc_key_free(c); sc_key_free(cpub); sc_key_free(e); sc_key_free(epub);
}

/* ------------------------------------------------------------------------ */
/* signatures (traps 6, 7) */

/* DER INTEGER of a big-endian unsigned number */
static size_t der_int(uint8_t *o, const uint8_t *v, size_t n)
{
    while (n > 1 && *v == 0) { v++; n--; }
    size_t pad = (*v & 0x80) ? 1 : 0;
    o[0] = 0x02;
    o[1] = (uint8_t)(n + pad);
    o[2] = 0;
    memcpy(o + 2 + pad, v, n);
    return 2 + pad + n;
}

static int verify_copy(const sc_key *k, const uint8_t *dg, size_t dl, const uint8_t *sig,
                       size_t sl)
{
    uint8_t *s = heap_copy(sig, sl), *d = heap_copy(dg, dl);
    int r = sc_verify(k, d, dl, s, sl);
    free(s);
    free(d);
    return r;
}

static void test_signatures(void)
{
    uint8_t pub[SC_MAX_PUB], dg[64], sig[SC_MAX_SIG], b[2 * SC_MAX_SIG + 8], n[32];
    size_t pl = sizeof pub, sl = sizeof sig;
    sc_key *a = sc_key_generate(SC_P256), *apub = NULL, *other = sc_key_generate(SC_P256);
    if (a && sc_key_public(a, pub, &pl) == 0) apub = sc_key_from_public(SC_P256, pub, pl);
    rnd(dg, sizeof dg);
    hx(n, sizeof n, P256_N);

    ok(apub && sc_sign(a, dg, 32, sig, &sl) == 0 && sl == 64, "P-256 sc_sign gives 64-byte r||s");
    ok(verify_copy(apub, dg, 32, sig, 64) == 1, "valid signature verifies with the public key (twin)");
    ok(verify_copy(a, dg, 32, sig, 64) == 1, "valid signature verifies with the private key object");
    ok(verify_copy(other, dg, 32, sig, 64) == 0, "valid signature refused under another key");

    /* trap 6: only exactly 2 * 32 bytes */
    ok(verify_copy(apub, dg, 32, sig, 63) == 0, "63-byte signature (last byte cut) refused");
    memcpy(b, sig, 64);
    b[64] = 0;
    ok(verify_copy(apub, dg, 32, b, 65) == 0, "65-byte signature (trailing zero) refused");
    b[0] = 0;
    memcpy(b + 1, sig, 64);
    ok(verify_copy(apub, dg, 32, b, 65) == 0, "65-byte signature (leading zero) refused");
    memcpy(b, sig, 64);
    memcpy(b + 64, sig, 64);
    ok(verify_copy(apub, dg, 32, b, 128) == 0, "128-byte signature (sig||sig) refused");
    /* the form 1.18's r||s verifier would take: it splits any even length in
     * halves, and 00||r and 00||s are the same numbers */
    b[0] = 0;
    memcpy(b + 1, sig, 32);
    b[33] = 0;
    memcpy(b + 34, sig + 32, 32);
    ok(verify_copy(apub, dg, 32, b, 66) == 0, "66-byte signature 00||r||00||s refused");
    ok(sc_verify(apub, dg, 32, sig, 0) == 0, "zero-length signature refused");
    ok(sc_verify(apub, dg, 32, NULL, 0) == 0, "NULL signature refused");
    ok(sc_verify(apub, dg, 32, NULL, 64) == 0, "NULL signature with length 64 refused");
    ok(sc_verify(NULL, dg, 32, sig, 64) == 0, "NULL key refused");
    {
        uint8_t *p = b + 2;
        p += der_int(p, sig, 32);
        p += der_int(p, sig + 32, 32);
        b[0] = 0x30;
        b[1] = (uint8_t)(p - b - 2);
        size_t dl = (size_t)(p - b);
        ok(dl >= 8 && verify_copy(apub, dg, 32, b, dl) == 0,
           "DER SEQUENCE{r, s} of the valid signature (%zu bytes) refused", dl);
    }

    /* r, s must lie in [1, n-1] */
    memcpy(b, sig, 64);
    memset(b, 0, 32);
    ok(verify_copy(apub, dg, 32, b, 64) == 0, "r = 0 refused");
    memcpy(b, sig, 64);
    memset(b + 32, 0, 32);
    ok(verify_copy(apub, dg, 32, b, 64) == 0, "s = 0 refused");
    memset(b, 0, 64);
    ok(verify_copy(apub, dg, 32, b, 64) == 0, "r = s = 0 refused");
    memcpy(b, n, 32);
    memcpy(b + 32, sig + 32, 32);
    ok(verify_copy(apub, dg, 32, b, 64) == 0, "r = n refused");
    memcpy(b, sig, 32);
    memcpy(b + 32, n, 32);
    ok(verify_copy(apub, dg, 32, b, 64) == 0, "s = n refused");
    memset(b, 0xff, 32);
    memcpy(b + 32, sig + 32, 32);
    ok(verify_copy(apub, dg, 32, b, 64) == 0, "r = 2^256 - 1 refused");
    memcpy(b, sig, 32);
    memset(b + 32, 0xff, 32);
    ok(verify_copy(apub, dg, 32, b, 64) == 0, "s = 2^256 - 1 refused");

    /* trap 7: a bad signature is "0", never "verified" - one bit flipped at
     * every byte position of r||s, and in the digest */
    {
        int bad = 0;
        for (int i = 0; i < 64; i++) {
            memcpy(b, sig, 64);
            b[i] ^= (uint8_t)(1u << (i % 8));
            if (verify_copy(apub, dg, 32, b, 64) != 0) {
                printf("# flipped bit %d of byte %d verified\n", i % 8, i);
                bad++;
            }
        }
        ok(bad == 0, "64 single-bit flips of a valid signature (one per byte) all refused");
    }
    dg[31] ^= 0x80;
    ok(verify_copy(apub, dg, 32, sig, 64) == 0, "valid signature with a flipped digest bit refused");
    dg[31] ^= 0x80;
    ok(verify_copy(apub, dg, 32, sig, 64) == 1, "... and verifies again with the digest restored");

    /* FIPS 186-4 6.4: only the leftmost 256 bits of a longer digest count */
    sl = sizeof sig;
    ok(sc_sign(a, dg, 64, sig, &sl) == 0 && sl == 64 && verify_copy(apub, dg, 32, sig, 64) == 1,
       "signature of a 64-byte digest verifies with its leftmost 32 bytes");
    memcpy(b, dg, 64);
    b[63] ^= 1;
    ok(verify_copy(apub, b, 64, sig, 64) == 1, "... and with its bits past 256 changed");
    b[0] ^= 1;
    ok(verify_copy(apub, b, 64, sig, 64) == 0, "... but not with a bit inside the first 256 changed");
    sl = sizeof sig;
    memset(b, 0, 32);
    memcpy(b + 12, dg, 20);
    ok(sc_sign(a, dg, 20, sig, &sl) == 0 && verify_copy(apub, dg, 20, sig, 64) == 1 &&
       verify_copy(apub, b, 32, sig, 64) == 1 && verify_copy(apub, dg, 32, sig, 64) == 0,
       "20-byte digest is the number it encodes (= 12 zero bytes || digest; != 32 bytes of it)");

    /* trap 7: with Q = G (d = 1), digest e = n - 1 and r = s = 1, the
     * verifier's sum u1*G + u2*Q = (n-1)G + G is the point at infinity:
     * "invalid", not a crash and not "valid" */
    {
        uint8_t d1[32], e[32], rs[64], s1[SC_MAX_SIG];
        size_t l1 = sizeof s1;
        hx(d1, sizeof d1, ONE32);
        hx(e, sizeof e, P256_N_1);
        memcpy(rs, d1, 32);
        memcpy(rs + 32, d1, 32);
        sc_key *g = sc_key_from_scalar(SC_P256, d1, 32);
        ok(g && verify_copy(g, e, 32, rs, 64) == 0,
           "signature whose verification sum is the point at infinity refused");
        ok(g && sc_sign(g, e, 32, s1, &l1) == 0 && verify_copy(g, e, 32, s1, l1) == 1,
           "... while a real signature by d = 1 over the same digest verifies (twin)");
        /* u1.G = G and u2.Q = -G: r = x(2G), s = n - r, e = n - r give
         * u1 = 1, u2 = -1.  The sum is infinity, so "invalid"; a verifier
         * that took G + (-G) for a doubling would get 2G, whose x is r */
        uint8_t g2[SC_MAX_PUB], order[32];
        size_t gl = sizeof g2;
        sc_key *two = NULL;
        d1[31] = 2;
        hx(order, sizeof order, P256_N);
        if ((two = sc_key_from_scalar(SC_P256, d1, 32)) && sc_key_public(two, g2, &gl) == 0) {
            memcpy(rs, g2 + 1, 32);                 /* r = x(2G) < n */
            unsigned borrow = 0;
            for (int i = 31; i >= 0; i--) {         /* s = e = n - r */
                unsigned v = (unsigned)order[i] - rs[i] - borrow;
                rs[32 + i] = e[i] = (uint8_t)v;
                borrow = (v >> 8) & 1;
            }
        }
        ok(g && two && verify_copy(g, e, 32, rs, 64) == 0 &&
           sc_verify_stepwise(g, e, 32, rs, 64) == 0,
           "u1.G + u2.Q = G + (-G): infinity, refused (not taken for a doubling to 2G)");
        /* twin: r = s = e = x(2G) give u1 = u2 = 1, the sum G + G = 2G: valid */
        memcpy(rs + 32, rs, 32);
        memcpy(e, rs, 32);
        ok(g && two && verify_copy(g, e, 32, rs, 64) == 1 &&
           sc_verify_stepwise(g, e, 32, rs, 64) == 1,
           "u1.G + u2.Q = G + G: a doubling, 2G, valid (twin)");
        /* s + n, a second encoding of s where it fits in 32 bytes: with
         * s = 1 and e = n - r + 2 the sum is (e + r)/s . G = 2G, so (r, 1)
         * is valid and (r, 1 + n) must be refused.  libtomcrypt refuses
         * s >= n as an error, and the stepwise computation, which then
         * decides, reduces s mod n: only the range check stands here */
        {
            unsigned borrow = 0, carry = 2;
            for (int i = 31; i >= 0; i--) {     /* e = n - r + 2 (< n) */
                unsigned v = (unsigned)order[i] - rs[i] - borrow;
                borrow = (v >> 8) & 1;
                v = (v & 0xff) + carry;
                e[i] = (uint8_t)v;
                carry = v >> 8;
            }
            hx(rs + 32, 32, ONE32);
            ok(g && two && verify_copy(g, e, 32, rs, 64) == 1 && sc_verify_stepwise(g, e, 32, rs, 64) == 1,
               "s = 1, e = n - r + 2: valid (twin of the next)");
            hx(rs + 32, 32, P256_N1);
            ok(g && two && verify_copy(g, e, 32, rs, 64) == 0 && sc_verify_stepwise(g, e, 32, rs, 64) == 0,
               "... the same with s + n = n + 1, a second encoding of s = 1: refused by both verifiers");
        }
        sc_key_free(two);
        sc_key_free(g);
    }

    /* trap 8: libtomcrypt 1.18 signs with a random k (no RFC 6979), so two
     * signatures of one digest must differ: equal ones mean a repeated k,
     * which gives the private key away */
    {
        uint8_t s1[SC_MAX_SIG], s2[SC_MAX_SIG];
        size_t l1 = sizeof s1, l2 = sizeof s2;
        ok(sc_sign(a, dg, 32, s1, &l1) == 0 && sc_sign(a, dg, 32, s2, &l2) == 0 && l1 == l2 &&
           memcmp(s1, s2, l1) != 0 && memcmp(s1, s2, 32) != 0 &&
           verify_copy(apub, dg, 32, s1, l1) == 1 && verify_copy(apub, dg, 32, s2, l2) == 1,
           "two signatures of one digest have different r, and both verify");
    }

    /* sc_sign refuses what it cannot do, without aborting */
    sl = sizeof sig;
    ok(sc_sign(apub, dg, 32, sig, &sl) != 0, "sc_sign with a public-only key fails cleanly");
    sl = 63;
    ok(sc_sign(a, dg, 32, sig, &sl) != 0, "sc_sign with 63 bytes of room refused");
    sl = sizeof sig;
    ok(sc_sign(NULL, dg, 32, sig, &sl) != 0, "sc_sign with a NULL key refused");

    /* the _msg convenience forms hash with SHA-256 */
    {
        static const char m[] = "hello, world";
        uint8_t h[SC_SHA256_LEN];
        sl = sizeof sig;
        sc_sha256(m, strlen(m), h);
        ok(sc_sign_msg(a, m, strlen(m), sig, &sl) == 0 && sl == 64 &&
           sc_verify_msg(apub, m, strlen(m), sig, sl) == 1 && verify_copy(apub, h, 32, sig, 64) == 1,
           "sc_sign_msg / sc_verify_msg round trip, = sc_verify(SHA-256(msg))");
        ok(sc_verify_msg(apub, "hello, worle", strlen(m), sig, sl) == 0,
           "sc_verify_msg refuses another message");
    }

    /* P-384: 96-byte signatures */
    {
        sc_key *c = sc_key_generate(SC_P384);
        uint8_t s384[SC_MAX_SIG];
        size_t l384 = sizeof s384;
        ok(c && sc_sign(c, dg, 32, s384, &l384) == 0 && l384 == 96 &&
           verify_copy(c, dg, 32, s384, 96) == 1, "P-384 sign/verify with 96-byte r||s");
        uint8_t w[98] = { 0 };
        memcpy(w + 1, s384, 48);
        memcpy(w + 50, s384 + 48, 48);
        ok(verify_copy(c, dg, 32, s384, 64) == 0 && verify_copy(c, dg, 32, s384, 95) == 0 &&
           verify_copy(c, dg, 32, w, 98) == 0,
           "P-384 64-, 95- and 98-byte (00||r||00||s) signatures refused");
        ok(verify_copy(apub, dg, 32, s384, 96) == 0, "P-384 signature refused by a P-256 key");
        sc_key_free(c);
    }
    /* P-224: a 32-byte digest is cut to its leftmost 224 bits */
    {
        sc_key *c = sc_key_generate(SC_P224);
        uint8_t s224[SC_MAX_SIG];
        size_t l224 = sizeof s224;
        ok(c && sc_sign(c, dg, 32, s224, &l224) == 0 && l224 == 56 &&
           verify_copy(c, dg, 32, s224, 56) == 1 && verify_copy(c, dg, 28, s224, 56) == 1,
           "P-224: signature of a 32-byte digest verifies with its leftmost 28 bytes");
        sc_key_free(c);
    }
    sc_key_free(a);
    sc_key_free(apub);
    sc_key_free(other);
}

/* ------------------------------------------------------------------------ */
/* AEAD suites (trap 9) */

static const int suites[] = { SC_SUITE_CHACHA20_POLY1305, SC_SUITE_AES128_GCM,
                              SC_SUITE_AES128_CBC_HMAC };

static size_t tag_len(int suite) { return suite == SC_SUITE_AES128_CBC_HMAC ? 32 : 16; }

/* sc_seal into a heap block of exactly the announced size */
static uint8_t *seal(int suite, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                     size_t al, const uint8_t *pt, size_t pl, size_t *outlen)
{
    size_t cap = pl + sc_suite_overhead(suite, pl);
    uint8_t *out = xmalloc(cap);
    uint8_t *k = heap_copy(key, sc_suite_keylen(suite)), *nc = heap_copy(nonce, SC_NONCE_LEN),
            *a = heap_copy(aad, al), *p = heap_copy(pt, pl);
    *outlen = cap;
    if (sc_seal(suite, k, nc, a, al, p, pl, out, outlen) != 0) {
        free(out);
        out = NULL;
    }
    free(k); free(nc); free(a); free(p);
    return out;
}

/* sc_open with exact-size copies; out gets `room` bytes preset to 0xa5.
 * Returns sc_open's result; *wiped: the bytes a plaintext could occupy
 * (inlen - tag) are all zero afterwards. */
static int open_(int suite, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                 size_t al, const uint8_t *in, size_t inlen, size_t room, uint8_t **pt,
                 size_t *pl, int *wiped)
{
    uint8_t *k = heap_copy(key, sc_suite_keylen(suite)), *nc = heap_copy(nonce, SC_NONCE_LEN),
            *a = heap_copy(aad, al), *c = heap_copy(in, inlen), *out = xmalloc(room);
    size_t region = inlen > tag_len(suite) ? inlen - tag_len(suite) : 0;
    if (region > room) region = room;
    memset(out, 0xa5, room ? room : 1);
    *pl = room;
    int rc = sc_open(suite, k, nc, a, al, c, inlen, out, pl);
    if (wiped) *wiped = all_zero(out, region);
    free(k); free(nc); free(a); free(c);
    if (pt) *pt = out;
    else free(out);
    return rc;
}

static void test_aead_tamper(int suite)
{
    const char *name = sc_suite_name(suite);
    static const size_t lens[] = { 0, 1, 20, 64 };
    uint8_t key[SC_MAX_KEY], nonce[SC_NONCE_LEN], aad[13], pt[64];
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t pl = lens[li], cl, ol, kl = sc_suite_keylen(suite), tl = tag_len(suite);
        int wiped;
        uint8_t *ct, *out;
        rnd(key, sizeof key); rnd(nonce, sizeof nonce); rnd(aad, sizeof aad); rnd(pt, sizeof pt);
        ct = seal(suite, key, nonce, aad, sizeof aad, pt, pl, &cl);
        if (!ct) {
            ok(0, "%s seal of %zu bytes", name, pl);
            continue;
        }
        ok(open_(suite, key, nonce, aad, sizeof aad, ct, cl, cl, &out, &ol, NULL) == 0 &&
           ol == pl && memcmp(out, pt, pl) == 0, "%s pt %zu: untouched message opens (twin)", name,
           pl);
        free(out);

        ct[cl - 1] ^= 0x80;
        ok(open_(suite, key, nonce, aad, sizeof aad, ct, cl, cl, NULL, &ol, &wiped) != 0 && wiped,
           "%s pt %zu: flipped tag bit refused, output wiped", name, pl);
        ct[cl - 1] ^= 0x80;
        if (cl > tl) {
            ct[0] ^= 0x01;
            ok(open_(suite, key, nonce, aad, sizeof aad, ct, cl, cl, NULL, &ol, &wiped) != 0 &&
               wiped, "%s pt %zu: flipped ciphertext bit refused, output wiped", name, pl);
            ct[cl - tl - 1] ^= 0x40;
            ct[0] ^= 0x01;
            ok(open_(suite, key, nonce, aad, sizeof aad, ct, cl, cl, NULL, &ol, &wiped) != 0 &&
               wiped, "%s pt %zu: flipped last ciphertext byte refused, output wiped", name, pl);
            ct[cl - tl - 1] ^= 0x40;
        }
        aad[5] ^= 0x04;
        ok(open_(suite, key, nonce, aad, sizeof aad, ct, cl, cl, NULL, &ol, &wiped) != 0 && wiped,
           "%s pt %zu: flipped aad bit refused, output wiped", name, pl);
        aad[5] ^= 0x04;
        ok(open_(suite, key, nonce, aad, sizeof aad - 1, ct, cl, cl, NULL, &ol, &wiped) != 0 &&
           wiped, "%s pt %zu: shortened aad refused, output wiped", name, pl);
        ok(open_(suite, key, nonce, aad, 0, ct, cl, cl, NULL, &ol, &wiped) != 0 && wiped,
           "%s pt %zu: missing aad refused, output wiped", name, pl);
        nonce[11] ^= 0x01;
        ok(open_(suite, key, nonce, aad, sizeof aad, ct, cl, cl, NULL, &ol, &wiped) != 0 && wiped,
           "%s pt %zu: other nonce refused, output wiped", name, pl);
        nonce[11] ^= 0x01;
        /* last key byte: for the CBC suite that is the MAC key */
        key[kl - 1] ^= 0x01;
        ok(open_(suite, key, nonce, aad, sizeof aad, ct, cl, cl, NULL, &ol, &wiped) != 0 && wiped,
           "%s pt %zu: other key refused, output wiped", name, pl);
        key[kl - 1] ^= 0x01;

        /* lengths: one byte short, one extra, shorter than the tag */
        ok(open_(suite, key, nonce, aad, sizeof aad, ct, cl - 1, cl, NULL, &ol, NULL) != 0,
           "%s pt %zu: truncated by one byte refused", name, pl);
        {
            uint8_t *longer = xmalloc(cl + 1);
            memcpy(longer, ct, cl);
            longer[cl] = 0;
            ok(open_(suite, key, nonce, aad, sizeof aad, longer, cl + 1, cl + 1, NULL, &ol,
                     NULL) != 0, "%s pt %zu: one byte appended refused", name, pl);
            free(longer);
        }
        ok(open_(suite, key, nonce, aad, sizeof aad, ct, tl - 1, cl, NULL, &ol, NULL) != 0,
           "%s pt %zu: input of tag length - 1 refused", name, pl);
        if (cl > tl)
            ok(open_(suite, key, nonce, aad, sizeof aad, ct + cl - tl, tl, cl, NULL, &ol,
                     NULL) != 0, "%s pt %zu: the tag alone refused", name, pl);
        if (suite == SC_SUITE_AES128_CBC_HMAC && cl - tl >= 32)
            ok(open_(suite, key, nonce, aad, sizeof aad, ct + 16, cl - 16, cl, NULL, &ol,
                     NULL) != 0, "%s pt %zu: first block dropped refused", name, pl);
        /* output room below the plaintext size is refused, not overrun */
        if (pl > 0)
            ok(open_(suite, key, nonce, aad, sizeof aad, ct, cl, pl - 1, NULL, &ol, NULL) != 0,
               "%s pt %zu: output room of %zu bytes refused", name, pl, pl - 1);
        free(ct);
    }
    {
        uint8_t z[1] = { 0 };
        size_t ol = 0;
        ok(sc_open(suite, key, nonce, NULL, 0, z, 0, z, &ol) != 0,
           "%s: empty input refused", name);
    }
}

/* The CBC suite's MAC is checked before the padding, so a padding error can
 * only be met under a valid MAC.  crypto.h documents the MAC input
 * (u64be(aadlen) || aad || nonce || ciphertext) and the key (16-byte AES key
 * then 32-byte HMAC key), so with the key in hand a valid MAC over a changed
 * ciphertext can be made: CBC decryption gives P1 = D(C1) xor C0, so a change
 * of C0 changes P1 - the padding block - as chosen. */
static void test_cbc_padding(void)
{
    const int s = SC_SUITE_AES128_CBC_HMAC;
    uint8_t key[48], nonce[SC_NONCE_LEN], aad[5] = { 'h', 'd', 'r', '-', '1' }, pt[20], mac[SC_SHA256_LEN];
    uint8_t macin[8 + sizeof aad + SC_NONCE_LEN + 32];
    size_t cl = 0, ol = 0;
    rnd(key, sizeof key); rnd(nonce, sizeof nonce); rnd(pt, sizeof pt);
    uint8_t *ct = seal(s, key, nonce, aad, sizeof aad, pt, sizeof pt, &cl);
    ok(ct && cl == 32 + 32, "CBC suite: 20-byte plaintext seals to 2 blocks + 32-byte tag");
    if (!ct) return;
    memset(macin, 0, 8);
    macin[7] = sizeof aad;
    memcpy(macin + 8, aad, sizeof aad);
    memcpy(macin + 8 + sizeof aad, nonce, SC_NONCE_LEN);
    memcpy(macin + 8 + sizeof aad + SC_NONCE_LEN, ct, 32);
    int layout = sc_hmac_sha256(key + 16, 32, macin, sizeof macin, mac) == 0 &&
                 memcmp(mac, ct + 32, 32) == 0;
    ok(layout, "CBC suite tag = HMAC-SHA256(key[16..48], u64be(aadlen)||aad||nonce||ct)");

    /* P1 = pt[16..20] || 0c x 12; change C0 byte i by x: P1 byte i changes by x */
    static const struct { int at; uint8_t x; int valid; const char *what; } f[] = {
        { 0, 0x01, 1, "padding intact, plaintext byte 16 flipped: opens (twin)" },
        { 15, 0x0c, 0, "last padding byte 0x00 refused" },
        { 15, 0x0c ^ 0x11, 0, "last padding byte 0x11 (> 16) refused" },
        { 14, 0x01, 0, "inconsistent padding (0x0d before 0x0c) refused" },
        { 4, 0x01, 0, "first of the 12 padding bytes 0x0d, the other 11 0x0c: refused" },
        { 15, 0x0c ^ 0x01, 1, "padding 0x01: opens as 31 bytes (twin)" },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!layout) {
            ok(1, "CBC suite, valid MAC: %s # SKIP MAC layout differs", f[i].what);
            continue;
        }
        uint8_t forged[64], *out;
        int wiped;
        memcpy(forged, ct, 64);
        forged[f[i].at] ^= f[i].x;
        memcpy(macin + 8 + sizeof aad + SC_NONCE_LEN, forged, 32);
        sc_hmac_sha256(key + 16, 32, macin, sizeof macin, forged + 32);
        int rc = open_(s, key, nonce, aad, sizeof aad, forged, 64, 64, &out, &ol, &wiped);
        if (f[i].valid && f[i].at == 0)
            ok(rc == 0 && ol == 20 && out[16] == (pt[16] ^ 1) && memcmp(out + 17, pt + 17, 3) == 0,
               "CBC suite, valid MAC: %s", f[i].what);
        else if (f[i].valid)
            ok(rc == 0 && ol == 31 && memcmp(out + 16, pt + 16, 4) == 0,
               "CBC suite, valid MAC: %s", f[i].what);
        else
            ok(rc != 0 && wiped, "CBC suite, valid MAC: %s, output wiped", f[i].what);
        free(out);
    }
    free(ct);
}

static void test_aead_roundtrip(int suite)
{
    const char *name = sc_suite_name(suite);
    uint8_t key[SC_MAX_KEY], nonce[SC_NONCE_LEN], aad[40], pt[301];
    int bad = 0;
    for (size_t pl = 0; pl <= 300; pl++) {
        size_t al = (pl * 7) % sizeof aad, cl, ol;
        size_t want = suite == SC_SUITE_AES128_CBC_HMAC ? 16 * (pl / 16 + 1) + 32 : pl + 16;
        uint8_t *ct, *out = NULL;
        rnd(key, sizeof key); rnd(nonce, sizeof nonce); rnd(aad, al); rnd(pt, pl);
        ct = seal(suite, key, nonce, aad, al, pt, pl, &cl);
        int good = ct && cl == want && cl <= pl + sc_suite_overhead(suite, pl) &&
                   /* tight output room: exactly the ciphertext body */
                   open_(suite, key, nonce, aad, al, ct, cl, cl - tag_len(suite), &out, &ol,
                         NULL) == 0 && ol == pl && memcmp(out, pt, pl) == 0;
        if (good && pl >= 16 && memcmp(ct, pt, 16) == 0) good = 0;
        if (!good) {
            printf("# %s: round trip of %zu bytes (aad %zu) failed\n", name, pl, al);
            bad++;
        }
        free(ct);
        free(out);
    }
    ok(bad == 0, "%s: sc_seal/sc_open round trip for every length 0..300", name);

    /* same inputs, same output; the nonce changes it */
    size_t l1 = 0, l2 = 0, l3 = 0;
    rnd(key, sizeof key); rnd(nonce, sizeof nonce); rnd(pt, 100);
    uint8_t *c1 = seal(suite, key, nonce, aad, 10, pt, 100, &l1);
    uint8_t *c2 = seal(suite, key, nonce, aad, 10, pt, 100, &l2);
    nonce[0] ^= 1;
    uint8_t *c3 = seal(suite, key, nonce, aad, 10, pt, 100, &l3);
    ok(c1 && c2 && c3 && l1 == l2 && l1 == l3 && memcmp(c1, c2, l1) == 0 && memcmp(c1, c3, l1) != 0,
       "%s: sealing is deterministic in (key, nonce) and the nonce matters", name);
    free(c1); free(c2); free(c3);

    /* output room one byte short is refused */
    {
        size_t need = 100 + sc_suite_overhead(suite, 100), room = need - 1;
        uint8_t *o = xmalloc(room);
        ok(sc_seal(suite, key, nonce, aad, 10, pt, 100, o, &room) != 0,
           "%s: sc_seal with one byte too little room refused", name);
        free(o);
    }
}

static void test_aead(void)
{
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        int s = suites[i];
        ok(sc_suite_name(s) && sc_suite_from_name(sc_suite_name(s)) == s &&
           sc_suite_keylen(s) == (s == SC_SUITE_AES128_GCM ? 16u : s == SC_SUITE_AES128_CBC_HMAC ? 48u : 32u),
           "suite %d: name %s, key length %zu", s, sc_suite_name(s) ? sc_suite_name(s) : "?",
           sc_suite_keylen(s));
        test_aead_roundtrip(s);
        test_aead_tamper(s);
    }
    test_cbc_padding();

    uint8_t key[SC_MAX_KEY] = { 0 }, nonce[SC_NONCE_LEN] = { 0 }, buf[64] = { 0 };
    size_t l = sizeof buf;
    ok(sc_suite_name(SC_SUITE_NONE) == NULL && sc_suite_name(4) == NULL &&
       sc_suite_from_name("aes") == SC_SUITE_NONE && sc_suite_keylen(4) == 0,
       "unknown suites have no name and no key length");
    ok(sc_seal(SC_SUITE_NONE, key, nonce, NULL, 0, buf, 8, buf, &l) != 0 &&
       sc_seal(4, key, nonce, NULL, 0, buf, 8, buf, &l) != 0,
       "sc_seal refuses unknown suites");
    l = 16;
    ok(sc_open(SC_SUITE_NONE, key, nonce, NULL, 0, buf, 48, buf + 48, &l) != 0 &&
       sc_open(4, key, nonce, NULL, 0, buf, 48, buf + 48, &l) != 0,
       "sc_open refuses unknown suites");
}

/* ------------------------------------------------------------------------ */
/* encodings (trap 12) */

static int b64dec(const char *s, size_t n, uint8_t *out, size_t *ol)
{
    char *c = (char *)heap_copy(s, n);
    int r = sc_b64_decode(c, n, out, ol);
    free(c);
    return r;
}

static void test_base64(void)
{
    /* RFC 4648 section 10 */
    static const char *rfc[][2] = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
    };
    for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
        char enc[16];
        uint8_t dec[16];
        size_t el = sizeof enc, dl = sizeof dec, pl = strlen(rfc[i][0]);
        ok(sc_b64_encode(rfc[i][0], pl, enc, &el) == 0 && el == strlen(rfc[i][1]) &&
           memcmp(enc, rfc[i][1], el) == 0 && b64dec(rfc[i][1], el, dec, &dl) == 0 && dl == pl &&
           memcmp(dec, rfc[i][0], pl) == 0,
           "RFC 4648 s.10 base64 \"%s\" <-> \"%s\" (twin)", rfc[i][0], rfc[i][1]);
    }
    static const struct { const char *s; size_t n; const char *what; } bad[] = {
        { "Zm9v!!YmFy", 10, "junk characters inside" },
        { "Zm9vYg", 6, "missing padding" },
        { "Zm9vYmE", 7, "missing padding (one char)" },
        { "Zm9vYg=", 7, "half the padding" },
        { "Zm9v YmFy", 9, "space inside" },
        { "Zm9vYmFy\n", 9, "trailing newline" },
        { "Zm9vYmE\n", 8, "newline in place of padding" },
        { " Zm9vYmE", 8, "leading space" },
        { "Zm=9YmFy", 8, "padding in the middle" },
        { "Zm9vYg==Zm9v", 12, "data after padding" },
        { "Zm9v====", 8, "a whole quantum of padding" },
        { "====", 4, "padding only" },
        { "Z===", 4, "one character and padding" },
        { "Zm-_", 4, "base64url alphabet" },
        { "Zm9\0", 4, "NUL byte" },
        { "\xc3\xa9Zm", 4, "non-ASCII bytes" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t dec[16];
        size_t dl = sizeof dec;
        ok(b64dec(bad[i].s, bad[i].n, dec, &dl) != 0, "base64 %s refused", bad[i].what);
    }
    {
        uint8_t dec[5];
        size_t dl = sizeof dec;
        char enc[8];
        size_t el = sizeof enc;
        ok(b64dec("Zm9vYmFy", 8, dec, &dl) != 0, "base64 decode with 5 bytes of room for 6 refused");
        ok(sc_b64_encode("foobar", 6, enc, &el) != 0, "base64 encode with 8 bytes of room for 8+NUL refused");
    }
}

static void test_hex(void)
{
    uint8_t out[8];
    size_t l = sizeof out;
    char enc[9];
    ok(sc_hex_decode("00ff7F0a", 8, out, &l) == 0 && l == 4 && out[0] == 0 && out[1] == 0xff &&
       out[2] == 0x7f && out[3] == 0x0a, "hex decode, mixed case (twin)");
    sc_hex_encode(out, 4, enc);
    ok(strcmp(enc, "00ff7f0a") == 0, "hex encode is lower case");
    l = sizeof out;
    ok(sc_hex_decode("abc", 3, out, &l) != 0, "hex odd length refused");
    l = sizeof out;
    ok(sc_hex_decode("0g", 2, out, &l) != 0, "hex non-digit refused");
    l = sizeof out;
    ok(sc_hex_decode("0 ", 2, out, &l) != 0 && sc_hex_decode("0x00", 4, out, &l) != 0,
       "hex separators and 0x prefix refused");
    l = 1;
    ok(sc_hex_decode("0011", 4, out, &l) != 0, "hex decode with too little room refused");
}

/* ------------------------------------------------------------------------ */
/* small things: sc_ct_eq, HMAC/HKDF/PBKDF2 edges, randomness */

static void test_misc(void)
{
    uint8_t a[33], b[33], h1[32], h2[32], h3[32], big[255 * 32 + 1];
    rnd(a, sizeof a);
    memcpy(b, a, sizeof b);
    ok(sc_ct_eq(a, b, sizeof a) == 1, "sc_ct_eq: equal buffers give 1");
    b[0] ^= 1;
    ok(sc_ct_eq(a, b, sizeof a) == 0, "sc_ct_eq: first byte differs gives 0");
    b[0] ^= 1;
    b[32] ^= 0x80;
    ok(sc_ct_eq(a, b, sizeof a) == 0, "sc_ct_eq: last byte differs gives 0");
    ok(sc_ct_eq(a, b, 32) == 1, "sc_ct_eq: the differing byte outside n is ignored");
    b[32] ^= 0x80;
    b[16] ^= 0xff;
    ok(sc_ct_eq(a, b, sizeof a) == 0, "sc_ct_eq: middle byte differs gives 0");
    ok(sc_ct_eq(a, b, 0) == 1, "sc_ct_eq: empty buffers are equal");

    /* RFC 2104 s.2: the key is zero-padded to the block size */
    static const uint8_t zeros[64] = { 0 };
    ok(sc_hmac_sha256("", 0, "msg", 3, h1) == 0 && sc_hmac_sha256(zeros, 1, "msg", 3, h2) == 0 &&
       sc_hmac_sha256(zeros, 64, "msg", 3, h3) == 0 && memcmp(h1, h2, 32) == 0 &&
       memcmp(h1, h3, 32) == 0, "HMAC-SHA256: empty key = one zero byte = 64 zero bytes");

    /* RFC 5869 s.2.3: L <= 255 * HashLen */
    ok(sc_hkdf_sha256("s", 1, "ikm", 3, "i", 1, big, 255 * 32) == 0,
       "HKDF-SHA256 output of 255*32 bytes allowed (twin)");
    ok(sc_hkdf_sha256("s", 1, "ikm", 3, "i", 1, big, 255 * 32 + 1) != 0,
       "HKDF-SHA256 output of 255*32+1 bytes refused");
    /* RFC 5869 s.2.2: no salt = HashLen zero bytes */
    ok(sc_hkdf_sha256(NULL, 0, "ikm", 3, "i", 1, h1, 32) == 0 &&
       sc_hkdf_sha256(zeros, 32, "ikm", 3, "i", 1, h2, 32) == 0 && memcmp(h1, h2, 32) == 0,
       "HKDF-SHA256: absent salt = 32 zero bytes");

    ok(sc_pbkdf2_sha256("pw", 2, "salt", 4, 0, h1, 32) != 0, "PBKDF2 with zero iterations refused");
    ok(sc_pbkdf2_sha256("pw", 2, "salt", 4, 1, h1, 32) == 0, "PBKDF2 with one iteration (twin)");

    ok(sc_random(h1, 32) == 0 && sc_random(h2, 32) == 0 && memcmp(h1, h2, 32) != 0 &&
       sc_random(h3, 0) == 0, "sc_random: two draws differ; zero bytes is fine");

    uint8_t z[16];
    memset(z, 0xa5, sizeof z);
    sc_zero(z, sizeof z);
    ok(all_zero(z, sizeof z), "sc_zero clears");

    ok(sc_curve_from_name("P-256") == SC_P256 && sc_curve_from_name("prime256v1") == SC_P256 &&
       sc_curve_from_name("secp384r1") == SC_P384 && sc_curve_from_name("P-521") == SC_CURVE_NONE &&
       sc_curve_from_name("") == SC_CURVE_NONE && sc_curve_bytes(SC_P224) == 28 &&
       sc_curve_bytes(SC_P256) == 32 && sc_curve_bytes(SC_P384) == 48 &&
       sc_curve_bytes(SC_CURVE_NONE) == 0 && strcmp(sc_curve_name(SC_P256), "P-256") == 0,
       "curve names and sizes");

    /* sc_aes256_cbc: whole blocks only */
    uint8_t k[32] = { 0 }, iv[16] = { 0 }, blk[32] = { 0 }, o[32];
    ok(sc_aes256_cbc(1, k, iv, blk, 32, o) == 0, "AES-256-CBC of two blocks (twin)");
    ok(sc_aes256_cbc(1, k, iv, blk, 15, o) != 0 && sc_aes256_cbc(0, k, iv, blk, 17, o) != 0 &&
       sc_aes256_cbc(1, k, iv, blk, 0, o) != 0, "AES-256-CBC of 15, 17 and 0 bytes refused");
}

int main(void)
{
    (void)tap_datadir;              /* tap.h helper; this test reads no data files */
    ok(sc_init() == 0 && sc_init() == 0, "sc_init, twice");
    test_points();
    test_scalars();
    test_password();
    test_ecdh();
    test_signatures();
    test_aead();
    test_base64();
    test_hex();
    test_misc();
    return tap_done();
}
