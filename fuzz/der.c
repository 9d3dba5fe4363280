/*
 * fuzz/der.c - the strict DER reader (lib/der.c) and the two key parsers
 * built on it, kf_spki_parse and kf_pkcs8_parse (lib/keyfile.c).
 *
 * Input: op (FZ_DER_*), then:
 *   walk   a width byte for INTEGERs, then any DER: every TLV is taken,
 *          constructed ones are walked into, INTEGERs and BIT STRINGs go
 *          through der_take_uint / der_take_ulong / der_take_bits
 *   spki   a SubjectPublicKeyInfo
 *   pkcs8  a PrivateKeyInfo
 *
 * Properties: DER has one encoding per value and the reader refuses all
 * others, so whatever it accepts the writer must reproduce byte for byte
 * (der_put, der_put_uint, der_put_bits; kf_spki_der for a whole SPKI); a
 * PKCS#8 key writes out and reads back as the same key.
 */
#include "der.h"
#include "fuzz.h"
#include "keyfile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_SETUP(sc_init() == 0);
    return 0;
}

/* the bytes one der_take consumed, written again, must be the same */
static void same_tlv(const uint8_t *was, size_t n, uint8_t tag, const der_t *v)
{
    static uint8_t buf[8 + 0x10000];        /* static: walk() recurses */
    size_t pos = 0;
    if (v->n >= 0x10000) return;            /* beyond what der_put writes */
    FZ_CHECK(der_put(buf, sizeof buf, &pos, tag, v->p, v->n) == 0);
    if (pos != n || memcmp(buf, was, n) != 0)
        fz_fail("DER TLV (tag %02x, %zu content bytes) re-encodes differently", tag, v->n);
}

static void walk(der_t in, unsigned width, unsigned depth)
{
    if (depth > 32) return;
    while (der_peek(&in) >= 0) {
        uint8_t tag = (uint8_t)der_peek(&in);
        const uint8_t *start = in.p;
        der_t save = in, v;
        if (tag == DER_INTEGER) {
            uint8_t num[64];
            unsigned long ul;
            der_t again = in;
            if (der_take_uint(&in, num, width) == 0) {
                uint8_t buf[128];
                size_t pos = 0;
                FZ_CHECK(der_put_uint(buf, sizeof buf, &pos, num, width) == 0);
                FZ_CHECK(pos == (size_t)(in.p - start) && memcmp(buf, start, pos) == 0);
            }
            if (der_take_ulong(&again, &ul) == 0) {
                uint8_t buf[32];
                size_t pos = 0;
                FZ_CHECK(der_put_ulong(buf, sizeof buf, &pos, ul) == 0);
                FZ_CHECK(pos == (size_t)(again.p - start) && memcmp(buf, start, pos) == 0);
            }
            in = save;
        } else if (tag == DER_BITSTRING) {
            der_t bits;
            if (der_take_bits(&in, &bits) == 0 && bits.n < 199) {
                uint8_t buf[256];
                size_t pos = 0;
                FZ_CHECK(der_put_bits(buf, sizeof buf, &pos, bits.p, bits.n) == 0);
                FZ_CHECK(pos == (size_t)(in.p - start) && memcmp(buf, start, pos) == 0);
            }
            in = save;
        }
        if (der_take(&in, tag, &v) < 0) return;
        FZ_CHECK(v.p >= start && v.p + v.n == in.p);
        same_tlv(start, (size_t)(in.p - start), tag, &v);
        /* constructed (X.690 8.1.2.5): its contents are TLVs too */
        if (tag & 0x20) walk(v, width, depth + 1);
    }
    FZ_CHECK(der_end(&in) == 0 && in.n == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) % FZ_DER_NOPS;

    switch (op) {
    case FZ_DER_WALK: {
        unsigned width = 1 + fz_u8(&in) % 64;
        uint8_t *m = fz_dup(in.p, in.n);
        der_t d = { m, in.n };
        walk(d, width, 0);
        free(m);
        break;
    }
    case FZ_DER_SPKI: {
        uint8_t *m = fz_dup(in.p, in.n);
        sc_key *k = kf_spki_parse(m, in.n);
        if (k) {
            uint8_t out[256];
            size_t ol = sizeof out;
            FZ_CHECK(kf_errno == KF_OK && !sc_key_is_private(k));
            FZ_CHECK(kf_spki_der(k, out, &ol) == 0);
            if (ol != in.n || memcmp(out, m, ol) != 0)
                fz_fail("an SPKI that parses does not re-encode to itself (%zu vs %zu bytes)",
                        in.n, ol);
        }
        sc_key_free(k);
        free(m);
        break;
    }
    case FZ_DER_PKCS8: {
        uint8_t *m = fz_dup(in.p, in.n);
        sc_key *k = kf_pkcs8_parse(m, in.n);
        if (k) {
            uint8_t out[1024], d1[SC_MAX_SCALAR], d2[SC_MAX_SCALAR];
            size_t ol = sizeof out, l1 = sizeof d1, l2 = sizeof d2;
            FZ_CHECK(kf_errno == KF_OK && sc_key_is_private(k));
            FZ_CHECK(kf_pkcs8_der(k, out, &ol) == 0);
            sc_key *back = kf_pkcs8_parse(out, ol);
            FZ_CHECK(back != NULL);
            FZ_CHECK(sc_key_scalar(k, d1, &l1) == 0 && sc_key_scalar(back, d2, &l2) == 0);
            FZ_CHECK(l1 == l2 && memcmp(d1, d2, l1) == 0);
            sc_key_free(back);
        }
        sc_key_free(k);
        free(m);
        break;
    }
    }
    return 0;
}
