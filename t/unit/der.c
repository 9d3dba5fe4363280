/*
 * der.c - the strict DER reader (lib/der.c) and the key parsers built on it
 * (kf_spki_parse, kf_pkcs8_parse): every BER leniency X.690 10.1 and 11.1
 * rule out is refused, each next to its DER twin that is accepted, so a
 * refusal is known to come from the rule under test.
 *
 *   lengths   a leading zero byte in a long form (30 82 00 87 ...), the long
 *             form for a length under 128, the indefinite form, more length
 *             bytes than fit (and would wrap), a length past the input
 *   INTEGERs  a leading 00 not needed for the sign, a negative number, one
 *             wider than asked for; the 00 that keeps 0x80.. positive is fine
 *   the rest  BIT STRINGs with unused bits, trailing bytes
 */
#include <stdint.h>
#include <string.h>

#include "crypto.h"
#include "der.h"
#include "keyfile.h"
#include "tap.h"

/* hex (spaces allowed) into b; returns the length */
static size_t hx(uint8_t *b, size_t cap, const char *hex)
{
    char clean[1024];
    size_t n = 0, bl = cap;
    for (const char *p = hex; *p && n + 1 < sizeof clean; p++)
        if (*p != ' ') clean[n++] = *p;
    clean[n] = 0;
    if (sc_hex_decode(clean, n, b, &bl) < 0) {
        fprintf(stderr, "der test: bad hex %s\n", hex);
        exit(2);
    }
    return bl;
}

/* der_take of one TLV of the given tag over exactly these bytes: 0 taken
 * (and the window is then empty), -1 refused */
static int take_all(const char *hex, uint8_t tag, size_t *vlen)
{
    uint8_t b[512];
    der_t in = { b, hx(b, sizeof b, hex) }, v;
    if (der_take(&in, tag, &v) < 0) return -1;
    if (vlen) *vlen = v.n;
    return der_end(&in);
}

static void test_lengths(void)
{
    size_t n = 0;
    ok(take_all("04 03 61 62 63", DER_OCTETSTRING, &n) == 0 && n == 3, "short form length (twin)");
    ok(take_all("04 81 03 61 62 63", DER_OCTETSTRING, NULL) < 0,
       "long form for a length under 128 (81 03) refused");
    ok(take_all("04 82 00 03 61 62 63", DER_OCTETSTRING, NULL) < 0,
       "long form with a leading zero byte (82 00 03) refused");
    ok(take_all("04 80 61 62 63 00 00", DER_OCTETSTRING, NULL) < 0,
       "indefinite length (80 ... 00 00) refused");

    /* 128 and 256 content bytes: the smallest lengths needing 1 and 2 bytes */
    char h[1200];
    uint8_t b[600];
    size_t o = (size_t)snprintf(h, sizeof h, "04 81 80");
    for (int i = 0; i < 128; i++) o += (size_t)snprintf(h + o, sizeof h - o, " %02x", i);
    ok(take_all(h, DER_OCTETSTRING, &n) == 0 && n == 128, "81 80: 128 bytes (twin)");
    o = (size_t)snprintf(h, sizeof h, "04 82 00 80");
    for (int i = 0; i < 128; i++) o += (size_t)snprintf(h + o, sizeof h - o, " %02x", i);
    ok(take_all(h, DER_OCTETSTRING, NULL) < 0, "82 00 80: 128 bytes with a leading zero refused");
    memset(b, 0x5a, sizeof b);
    b[0] = DER_OCTETSTRING;
    b[1] = 0x82;
    b[2] = 0x01;
    b[3] = 0x00;
    der_t in = { b, 4 + 256 }, v;
    ok(der_take(&in, DER_OCTETSTRING, &v) == 0 && v.n == 256 && der_end(&in) == 0,
       "82 01 00: 256 bytes (twin)");
    b[1] = 0x83;
    b[2] = 0x00;
    b[3] = 0x01;
    b[4] = 0x00;
    in = (der_t){ b, 5 + 256 };
    ok(der_take(&in, DER_OCTETSTRING, &v) < 0, "83 00 01 00: 256 bytes in three length bytes refused");

    /* 9 length bytes whose value wraps a 64-bit size to 128, and 128 bytes */
    memset(b, 0x5a, sizeof b);
    hx(b, sizeof b, "04 89 01 00 00 00 00 00 00 00 80");
    in = (der_t){ b, 11 + 128 };
    ok(der_take(&in, DER_OCTETSTRING, &v) < 0,
       "nine length bytes (a value that wraps to 128) before 128 bytes refused");
    /* the indefinite form at the very end of the input: nothing is read
     * past it (a heap copy of exactly two bytes, for ASan) */
    uint8_t *two = malloc(2);
    two[0] = DER_OCTETSTRING;
    two[1] = 0x80;
    in = (der_t){ two, 2 };
    ok(der_take(&in, DER_OCTETSTRING, &v) < 0, "04 80 and nothing after it refused");
    free(two);
    ok(take_all("04 85 01 00 00 00 03 61 62 63", DER_OCTETSTRING, NULL) < 0,
       "five length bytes refused");
    ok(take_all("04 04 61 62 63", DER_OCTETSTRING, NULL) < 0, "a length past the input refused");
    ok(take_all("04 02 61 62 63", DER_OCTETSTRING, NULL) < 0,
       "a byte after the TLV: der_end refuses it");
    ok(take_all("04 03 61 62 63", DER_SEQUENCE, NULL) < 0, "another tag than asked for refused");
}

/* der_take_uint over exactly these bytes into width bytes */
static int uint_all(const char *hex, size_t width, uint8_t *out)
{
    uint8_t b[128];
    der_t in = { b, hx(b, sizeof b, hex) };
    if (der_take_uint(&in, out, width) < 0) return -1;
    return der_end(&in);
}

static void test_integers(void)
{
    uint8_t o[40];
    unsigned long ul;
    ok(uint_all("02 01 00", 4, o) == 0 && !memcmp(o, "\0\0\0\0", 4), "INTEGER 0 (twin)");
    ok(uint_all("02 01 7f", 4, o) == 0 && o[3] == 0x7f && o[2] == 0, "INTEGER 127 (twin)");
    ok(uint_all("02 02 00 80", 4, o) == 0 && o[3] == 0x80 && o[2] == 0,
       "INTEGER 128 with the 00 its sign needs (twin)");
    ok(uint_all("02 02 00 7f", 4, o) < 0, "INTEGER 127 with a needless leading 00 refused");
    ok(uint_all("02 02 00 00", 4, o) < 0, "INTEGER 0 in two bytes refused");
    ok(uint_all("02 03 00 00 80", 4, o) < 0, "INTEGER 128 with two leading 00 refused");
    ok(uint_all("02 01 80", 4, o) < 0, "INTEGER -128 (a negative number) refused");
    ok(uint_all("02 02 ff 7f", 4, o) < 0, "INTEGER -129 refused");
    ok(uint_all("02 00", 4, o) < 0, "INTEGER with no content bytes refused");
    ok(uint_all("02 04 01 02 03 04", 4, o) == 0 && o[0] == 1 && o[3] == 4,
       "a 4-byte INTEGER into 4 bytes (twin)");
    ok(uint_all("02 05 01 02 03 04 05", 4, o) < 0, "a 5-byte INTEGER into 4 bytes refused");
    ok(uint_all("02 05 00 ff 02 03 04", 4, o) == 0 && o[0] == 0xff,
       "00 ff 02 03 04 into 4 bytes: the sign byte does not count (twin)");
    ok(uint_all("02 81 01 05", 4, o) < 0, "an INTEGER with a long-form length (81 01) refused");

    uint8_t b[16];
    der_t in = { b, hx(b, sizeof b, "02 02 01 00") };
    ok(der_take_ulong(&in, &ul) == 0 && ul == 256, "der_take_ulong 256 (twin)");
    in = (der_t){ b, hx(b, sizeof b, "02 03 00 01 00") };
    ok(der_take_ulong(&in, &ul) < 0, "der_take_ulong 256 with a needless 00 refused");
    in = (der_t){ b, hx(b, sizeof b, "02 01 ff") };
    ok(der_take_ulong(&in, &ul) < 0, "der_take_ulong -1 refused");

    /* what the writer makes, the reader takes, and nothing else */
    static const uint8_t nums[][3] = { { 0, 0, 0 }, { 0, 0, 0x7f }, { 0, 0, 0x80 }, { 0, 1, 0 },
                                       { 0x80, 0, 0 } };
    int same = 1;
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        uint8_t w[16], back[3];
        size_t pos = 0;
        der_t r = { w, 0 };
        same &= der_put_uint(w, sizeof w, &pos, nums[i], 3) == 0;
        r.n = pos;
        same &= der_take_uint(&r, back, 3) == 0 && der_end(&r) == 0 && !memcmp(back, nums[i], 3);
    }
    ok(same, "der_put_uint output reads back with der_take_uint (0, 127, 128, 256, 2^23)");
}

static void test_bits(void)
{
    uint8_t b[16];
    der_t in = { b, hx(b, sizeof b, "03 03 00 ab cd") }, bits;
    ok(der_take_bits(&in, &bits) == 0 && bits.n == 2 && bits.p[0] == 0xab,
       "BIT STRING with 0 unused bits (twin)");
    in = (der_t){ b, hx(b, sizeof b, "03 03 04 ab c0") };
    ok(der_take_bits(&in, &bits) < 0, "BIT STRING with 4 unused bits refused");
    in = (der_t){ b, hx(b, sizeof b, "03 00") };
    ok(der_take_bits(&in, &bits) < 0, "BIT STRING without its unused-bits byte refused");
}

/* the length octets of a DER header at p: how many bytes, and the value */
static size_t hdr_len(const uint8_t *p, size_t *value)
{
    if (!(p[1] & 0x80)) {
        *value = p[1];
        return 1;
    }
    size_t nl = p[1] & 0x7f, v = 0;
    for (size_t i = 0; i < nl; i++) v = v << 8 | p[2 + i];
    *value = v;
    return 1 + nl;
}

/* the outer SEQUENCE of der re-encoded with one more length byte (a leading
 * zero) into out */
static size_t widen_outer(const uint8_t *der, uint8_t *out)
{
    size_t v, hl = hdr_len(der, &v), o = 0;
    out[o++] = der[0];
    if (v < 0x80) {
        out[o++] = 0x81;                    /* long form for a short length */
        out[o++] = (uint8_t)v;
    } else {
        size_t nl = hl - 1;
        out[o++] = (uint8_t)(0x80 | (nl + 1));
        out[o++] = 0;                       /* the leading zero byte */
        memcpy(out + o, der + 2, nl);
        o += nl;
    }
    memcpy(out + o, der + 1 + hl, v);
    return o + v;
}

static void test_keys(void)
{
    sc_key *k = sc_key_generate(SC_P256), *got;
    uint8_t spki[128], p8[256], w[300];
    size_t sl = sizeof spki, pl = sizeof p8, wl;
    int made = k && kf_spki_der(k, spki, &sl) == 0 && kf_pkcs8_der(k, p8, &pl) == 0;
    ok(made, "a P-256 key as SPKI (%zu bytes) and PKCS#8 (%zu bytes)", sl, pl);
    if (!made) {
        sc_key_free(k);
        return;
    }

    got = kf_spki_parse(spki, sl);
    ok(got != NULL, "SPKI as written reads (twin)");
    sc_key_free(got);
    wl = widen_outer(spki, w);
    ok(spki[1] < 0x80 && w[1] == 0x81 && kf_spki_parse(w, wl) == NULL,
       "SPKI whose SEQUENCE length is in the long form (30 81 %02x) refused", spki[1]);
    spki[sl] = 0;
    ok(kf_spki_parse(spki, sl + 1) == NULL, "SPKI with a trailing byte refused");

    got = kf_pkcs8_parse(p8, pl);
    ok(got != NULL, "PKCS#8 as written reads (twin)");
    sc_key_free(got);
    wl = widen_outer(p8, w);
    ok(p8[1] == 0x81 && w[1] == 0x82 && w[2] == 0 && kf_pkcs8_parse(w, wl) == NULL,
       "PKCS#8 whose SEQUENCE length has a leading zero byte (30 82 00 %02x ...) refused", p8[2]);
    /* its version INTEGER 0 (02 01 00) as 02 02 00 00, the lengths fixed up */
    {
        size_t v, hl = hdr_len(p8, &v), at = 1 + hl;
        uint8_t m[300];
        size_t o = 0;
        ok(p8[at] == 0x02 && p8[at + 1] == 1 && p8[at + 2] == 0 && v + 1 < 0x100,
           "PKCS#8 starts with INTEGER 0");
        m[o++] = 0x30;
        m[o++] = 0x81;
        m[o++] = (uint8_t)(v + 1);
        m[o++] = 0x02;
        m[o++] = 0x02;
        m[o++] = 0x00;
        m[o++] = 0x00;
        memcpy(m + o, p8 + at + 3, v - 3);
        o += v - 3;
        ok(kf_pkcs8_parse(m, o) == NULL, "PKCS#8 with version 0 as a non-minimal INTEGER refused");
    }
    sc_key_free(k);
}

int main(void)
{
    if (sc_init() < 0) return 1;
    test_lengths();
    test_integers();
    test_bits();
    test_keys();
    return tap_done();
}
