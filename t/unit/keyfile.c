/*
 * keyfile.c - kf_parse_handed (lib/keyfile.h) and sc_key_from_pair
 * (lib/crypto.h): a key one program hands another, whose pair is taken as
 * stored once its public point and its scalar are in range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "keyfile.h"
#include "tap.h"

/* PKCS#8 of a P-256 key as kf_pkcs8_der writes it: the scalar at 36, the
 * public point (04 || X || Y) in the last 65 bytes */
#define D_AT   36
#define PUB_N  65

static char *pem_of(const uint8_t *der, size_t n)
{
    return kf_pem_encode("PRIVATE KEY", der, n);
}

static int same_pub(const sc_key *a, const sc_key *b)
{
    uint8_t pa[SC_MAX_PUB], pb[SC_MAX_PUB];
    size_t la = sizeof pa, lb = sizeof pb;
    return sc_key_public(a, pa, &la) == 0 && sc_key_public(b, pb, &lb) == 0 && la == lb && !memcmp(pa, pb, la);
}

int main(void)
{
    uint8_t der[512], bad[512], pub[SC_MAX_PUB], dg[SC_SHA256_LEN] = { 1, 2, 3 }, sig[SC_MAX_SIG];
    size_t dl = sizeof der, pl = sizeof pub, sl = sizeof sig;
    sc_init();
    sc_key *a = sc_key_generate(SC_P256), *b = sc_key_generate(SC_P256), *k;
    char *pem;
    int made = a && b && kf_pkcs8_der(a, der, &dl) == 0;
    ok(made && dl > D_AT + 32 + PUB_N && der[dl - PUB_N] == 0x04, "a P-256 key in PKCS#8 (%zu bytes)", dl);

    pem = kf_private_pem(a, NULL, 0, 0);
    k = kf_parse_handed(pem, strlen(pem));
    ok(k && same_pub(k, a) && sc_key_is_private(k), "a handed key: the same pair");
    ok(k && sc_sign(k, dg, sizeof dg, sig, &sl) == 0 && sc_verify(a, dg, sizeof dg, sig, sl) == 1,
       "... which signs as the original");
    sc_key_free(k);
    free(pem);

    /* another key's public point in the file: a file read by kf_parse is
     * refused; a handed key is taken as handed (the program handing it
     * checked it), and its signatures do not verify under that point */
    memcpy(bad, der, dl);
    sc_key_public(b, pub, &pl);
    memcpy(bad + dl - PUB_N, pub, PUB_N);
    pem = pem_of(bad, dl);
    ok(!kf_parse(pem, strlen(pem), NULL, 0, 1) && kf_errno == KF_EMISMATCH,
       "kf_parse: a stored public key of another pair is refused");
    k = kf_parse_handed(pem, strlen(pem));
    sl = sizeof sig;
    ok(k && same_pub(k, b) && sc_sign(k, dg, sizeof dg, sig, &sl) == 0 && sc_verify(b, dg, sizeof dg, sig, sl) == 0,
       "kf_parse_handed takes the pair as stored: no d.G (what it saves), so nothing vouches for it");
    sc_key_free(k);
    free(pem);

    /* a point off the curve, or the point at infinity's stand-in */
    memcpy(bad, der, dl);
    bad[dl - 1] ^= 1;
    pem = pem_of(bad, dl);
    ok(!kf_parse_handed(pem, strlen(pem)) && kf_errno == KF_EPOINT, "a public point off the curve is refused");
    free(pem);
    memcpy(bad, der, dl);
    memset(bad + dl - PUB_N + 1, 0, PUB_N - 1);
    pem = pem_of(bad, dl);
    ok(!kf_parse_handed(pem, strlen(pem)) && kf_errno == KF_EPOINT, "(0, 0) is refused");
    free(pem);

    /* the scalar out of [1, n-1] */
    static const char n_hex[] = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    size_t nl = 32;
    memcpy(bad, der, dl);
    sc_hex_decode(n_hex, 64, bad + D_AT, &nl);
    pem = pem_of(bad, dl);
    ok(!kf_parse_handed(pem, strlen(pem)), "d = n is refused");
    free(pem);
    memcpy(bad, der, dl);
    memset(bad + D_AT, 0, 32);
    pem = pem_of(bad, dl);
    ok(!kf_parse_handed(pem, strlen(pem)), "d = 0 is refused");
    free(pem);
    ok(!sc_key_from_pair(SC_P256, der + D_AT, 31, der + dl - PUB_N, PUB_N) &&
       !sc_key_from_pair(SC_P384, der + D_AT, 32, der + dl - PUB_N, PUB_N),
       "sc_key_from_pair: a scalar of the wrong length, a point of another curve: refused");

    /* only an unencrypted PKCS#8 private key */
    pem = kf_private_pem(a, "pass", 4, 1000);
    ok(!kf_parse_handed(pem, strlen(pem)), "an encrypted key is refused");
    free(pem);
    pem = kf_public_pem(a);
    ok(!kf_parse_handed(pem, strlen(pem)) && kf_errno == KF_ENOTPRIV, "a public key is refused");
    free(pem);
    ok(!kf_parse_handed("nothing", 7) && kf_errno == KF_EFORMAT, "not PEM: refused");
    sc_key_free(a);
    sc_key_free(b);
    return tap_done();
}
