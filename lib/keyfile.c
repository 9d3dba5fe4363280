/* keyfile.c - SPKI / PKCS#8 / PBES2 / SEC1 key files and fingerprints.
 * See keyfile.h for the formats and why. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "der.h"
#include "keyfile.h"
#include "util.h"

int kf_errno;

#define FAIL(e) do { kf_errno = (e); goto out; } while (0)
#define DERMAX 1024

/* OID contents (X.690 8.19) */
static const uint8_t oid_ecpub[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const uint8_t oid_p224[] = { 0x2b, 0x81, 0x04, 0x00, 0x21 };
static const uint8_t oid_p256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_pbes2[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d };
static const uint8_t oid_pbkdf2[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c };
static const uint8_t oid_hmac256[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09 };
static const uint8_t oid_aes256cbc[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a };

/* a hostile file must not make us spin for minutes */
#define MAX_ITER 10000000UL

const char *kf_strerror(int e)
{
    switch (e) {
    case KF_OK:        return "no error";
    case KF_ESYS:      return strerror(errno);
    case KF_EFORMAT:   return "not a key file simpp understands (PEM: PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC PRIVATE KEY or PUBLIC KEY)";
    case KF_ECURVE:    return "unsupported curve (P-224, P-256 and P-384 are)";
    case KF_EPOINT:    return "public point is not on the curve";
    case KF_ENEEDPASS: return "key is encrypted and needs a passphrase";
    case KF_EPASS:     return "wrong passphrase, or the file is corrupt";
    case KF_EALGO:     return "unsupported encryption (PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC is)";
    case KF_EMISMATCH: return "stored public key does not match the private key";
    case KF_ENOTPRIV:  return "a public key where a private key is needed";
    }
    return "unknown error";
}

static const uint8_t *curve_oid(int curve, size_t *n)
{
    switch (curve) {
    case SC_P224: *n = sizeof oid_p224; return oid_p224;
    case SC_P256: *n = sizeof oid_p256; return oid_p256;
    case SC_P384: *n = sizeof oid_p384; return oid_p384;
    }
    return NULL;
}

static int oid_curve(const der_t *o)
{
    if (der_eq(o, oid_p224, sizeof oid_p224)) return SC_P224;
    if (der_eq(o, oid_p256, sizeof oid_p256)) return SC_P256;
    if (der_eq(o, oid_p384, sizeof oid_p384)) return SC_P384;
    return SC_CURVE_NONE;
}

/* AlgorithmIdentifier { id-ecPublicKey, namedCurve } (RFC 5480 2.1.1) */
static int put_algid(uint8_t *out, size_t cap, size_t *pos, int curve)
{
    uint8_t in[64];
    size_t p = 0, cn;
    const uint8_t *co = curve_oid(curve, &cn);
    if (!co || der_put(in, sizeof in, &p, DER_OID, oid_ecpub, sizeof oid_ecpub) < 0 ||
        der_put(in, sizeof in, &p, DER_OID, co, cn) < 0)
        return -1;
    return der_put(out, cap, pos, DER_SEQUENCE, in, p);
}

static int take_algid(der_t *in)
{
    der_t a, o;
    if (der_take(in, DER_SEQUENCE, &a) < 0 || der_take(&a, DER_OID, &o) < 0 ||
        !der_eq(&o, oid_ecpub, sizeof oid_ecpub)) {
        kf_errno = KF_EFORMAT;
        return SC_CURVE_NONE;
    }
    /* only named curves; explicit parameters are refused */
    if (der_take(&a, DER_OID, &o) < 0 || der_end(&a) < 0) {
        kf_errno = KF_ECURVE;
        return SC_CURVE_NONE;
    }
    int c = oid_curve(&o);
    if (!c) kf_errno = KF_ECURVE;
    return c;
}

int kf_spki_der(const sc_key *k, uint8_t *out, size_t *len)
{
    uint8_t in[256], pub[SC_MAX_PUB];
    size_t p = 0, pl = sizeof pub, o = 0;
    if (!k || sc_key_public(k, pub, &pl) < 0 || put_algid(in, sizeof in, &p, sc_key_curve(k)) < 0 ||
        der_put_bits(in, sizeof in, &p, pub, pl) < 0 ||
        der_put(out, *len, &o, DER_SEQUENCE, in, p) < 0)
        return -1;
    *len = o;
    return 0;
}

sc_key *kf_spki_parse(const uint8_t *der, size_t len)
{
    der_t in = { der, len }, s, bits;
    sc_key *k = NULL;
    int curve;
    kf_errno = KF_EFORMAT;
    if (der_take(&in, DER_SEQUENCE, &s) < 0 || der_end(&in) < 0) return NULL;
    if (!(curve = take_algid(&s))) return NULL;
    if (der_take_bits(&s, &bits) < 0 || der_end(&s) < 0) { kf_errno = KF_EFORMAT; return NULL; }
    if (!(k = sc_key_from_public(curve, bits.p, bits.n))) { kf_errno = KF_EPOINT; return NULL; }
    kf_errno = KF_OK;
    return k;
}

/* SEC1 ECPrivateKey (RFC 5915 3): version 1, d, [0] curve, [1] public */
static int put_ecpriv(uint8_t *out, size_t cap, size_t *pos, const sc_key *k, int params)
{
    uint8_t in[400], d[SC_MAX_SCALAR], pub[SC_MAX_PUB], t[160];
    size_t p = 0, dl = sizeof d, pl = sizeof pub, tl, cn;
    int r = -1;
    const uint8_t *co = curve_oid(sc_key_curve(k), &cn);
    if (co && sc_key_scalar(k, d, &dl) == 0 && sc_key_public(k, pub, &pl) == 0 &&
        der_put_ulong(in, sizeof in, &p, 1) == 0 &&
        der_put(in, sizeof in, &p, DER_OCTETSTRING, d, dl) == 0 &&
        (!params || (tl = 0, der_put(t, sizeof t, &tl, DER_OID, co, cn) == 0 &&
                     der_put(in, sizeof in, &p, DER_CTX0, t, tl) == 0)) &&
        (tl = 0, der_put_bits(t, sizeof t, &tl, pub, pl) == 0) &&
        der_put(in, sizeof in, &p, DER_CTX1, t, tl) == 0)
        r = der_put(out, cap, pos, DER_SEQUENCE, in, p);
    sc_zero(in, sizeof in);
    sc_zero(d, sizeof d);
    return r;
}

/* curve: known from PKCS#8's AlgorithmIdentifier, or 0 for bare SEC1;
 * handed: the stored public key is taken as it is (kf_parse_handed) */
static sc_key *take_ecpriv(der_t *in, int curve, int handed)
{
    der_t s, d, ctx, o, bits = { NULL, 0 };
    unsigned long ver;
    uint8_t scalar[SC_MAX_SCALAR], pub[SC_MAX_PUB];
    size_t pl = sizeof pub, nb;
    sc_key *k = NULL;
    kf_errno = KF_EFORMAT;
    if (der_take(in, DER_SEQUENCE, &s) < 0 || der_take_ulong(&s, &ver) < 0 || ver != 1 ||
        der_take(&s, DER_OCTETSTRING, &d) < 0)
        return NULL;
    if (der_peek(&s) == DER_CTX0) {
        int c;
        if (der_take(&s, DER_CTX0, &ctx) < 0 || der_take(&ctx, DER_OID, &o) < 0 ||
            der_end(&ctx) < 0)
            return NULL;
        if (!(c = oid_curve(&o)) || (curve && c != curve)) { kf_errno = KF_ECURVE; return NULL; }
        curve = c;
    }
    if (der_peek(&s) == DER_CTX1 &&
        (der_take(&s, DER_CTX1, &ctx) < 0 || der_take_bits(&ctx, &bits) < 0 || der_end(&ctx) < 0))
        return NULL;
    if (der_end(&s) < 0) return NULL;
    if (!curve) { kf_errno = KF_ECURVE; return NULL; }
    nb = sc_curve_bytes(curve);
    /* RFC 5915: d is ceiling(log2(n)/8) octets; some writers drop leading zeros */
    if (d.n == 0 || d.n > nb) return NULL;
    memset(scalar, 0, nb - d.n);
    memcpy(scalar + nb - d.n, d.p, d.n);
    if (handed) {
        if (!bits.p) { sc_zero(scalar, sizeof scalar); return NULL; }
        k = sc_key_from_pair(curve, scalar, nb, bits.p, bits.n);
        sc_zero(scalar, sizeof scalar);
        kf_errno = k ? KF_OK : KF_EPOINT;
        return k;
    }
    k = sc_key_from_scalar(curve, scalar, nb);
    sc_zero(scalar, sizeof scalar);
    if (!k) return NULL;
    if (bits.p && (sc_key_public(k, pub, &pl) < 0 || bits.n != pl || !sc_ct_eq(bits.p, pub, pl))) {
        sc_key_free(k);
        kf_errno = KF_EMISMATCH;
        return NULL;
    }
    kf_errno = KF_OK;
    return k;
}

int kf_pkcs8_der(const sc_key *k, uint8_t *out, size_t *len)
{
    uint8_t in[600], ec[400];
    size_t p = 0, e = 0, o = 0;
    int r = -1;
    if (sc_key_is_private(k) && der_put_ulong(in, sizeof in, &p, 0) == 0 &&
        put_algid(in, sizeof in, &p, sc_key_curve(k)) == 0 &&
        /* the curve is in the AlgorithmIdentifier, so SEC1's [0] is left out,
         * as OpenSSL does */
        put_ecpriv(ec, sizeof ec, &e, k, 0) == 0 &&
        der_put(in, sizeof in, &p, DER_OCTETSTRING, ec, e) == 0 &&
        der_put(out, *len, &o, DER_SEQUENCE, in, p) == 0) {
        *len = o;
        r = 0;
    }
    sc_zero(in, sizeof in);
    sc_zero(ec, sizeof ec);
    return r;
}

static sc_key *pkcs8_parse(const uint8_t *der, size_t len, int handed)
{
    der_t in = { der, len }, s, oct, a;
    unsigned long ver;
    int curve;
    sc_key *k;
    kf_errno = KF_EFORMAT;
    if (der_take(&in, DER_SEQUENCE, &s) < 0 || der_end(&in) < 0 ||
        der_take_ulong(&s, &ver) < 0 || ver > 1)
        return NULL;
    if (!(curve = take_algid(&s))) return NULL;
    if (der_take(&s, DER_OCTETSTRING, &oct) < 0) { kf_errno = KF_EFORMAT; return NULL; }
    /* RFC 5958: optional [0] IMPLICIT attributes and [1] publicKey follow;
     * they carry nothing we need */
    if (der_peek(&s) == DER_CTX0 && der_take(&s, DER_CTX0, &a) < 0) return NULL;
    if (der_peek(&s) == 0x81 && der_take(&s, 0x81, &a) < 0) return NULL;
    if (der_end(&s) < 0) return NULL;
    if (!(k = take_ecpriv(&oct, curve, handed))) return NULL;
    if (der_end(&oct) < 0) { sc_key_free(k); kf_errno = KF_EFORMAT; return NULL; }
    return k;
}

sc_key *kf_pkcs8_parse(const uint8_t *der, size_t len)
{
    return pkcs8_parse(der, len, 0);
}

int kf_fingerprint(const sc_key *k, char out[KF_FPR_LEN])
{
    uint8_t der[256], h[SC_SHA256_LEN];
    char b[64];
    size_t dl = sizeof der, bl = sizeof b;
    if (kf_spki_der(k, der, &dl) < 0) return -1;
    sc_sha256(der, dl, h);
    if (sc_b64_encode(h, sizeof h, b, &bl) < 0) return -1;
    while (bl && b[bl - 1] == '=') b[--bl] = 0;
    if (bl != 43) return -1;
    memcpy(out, "SHA256:", 7);
    memcpy(out + 7, b, 44);
    return 0;
}

/* ---- PEM (RFC 7468) ------------------------------------------------------ */

char *kf_pem_encode(const char *label, const uint8_t *der, size_t len)
{
    size_t bl = 4 * ((len + 2) / 3) + 1, cap = bl + bl / 64 + 2 * strlen(label) + 64, o = 0;
    char *b = malloc(bl), *out = malloc(cap);
    if (!b || !out || sc_b64_encode(der, len, b, &bl) < 0) {
        free(b);
        free(out);
        return NULL;
    }
    o += (size_t)snprintf(out + o, cap - o, "-----BEGIN %s-----\n", label);
    for (size_t i = 0; i < bl; i += 64) {
        size_t n = bl - i < 64 ? bl - i : 64;
        memcpy(out + o, b + i, n);
        o += n;
        out[o++] = '\n';
    }
    snprintf(out + o, cap - o, "-----END %s-----\n", label);
    sc_zero(b, bl);
    free(b);
    return out;
}

/* Find the first PEM block whose label is not skip; decode into der.
 * Returns the label (pointer into a static table) or NULL. */
const char *kf_pem_decode(const char *text, size_t len, uint8_t *der, size_t *dlen)
{
    static const char *labels[] = { "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY",
                                    "PUBLIC KEY" };
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *b = memmem(p, (size_t)(end - p), "-----BEGIN ", 11);
        if (!b) break;
        const char *lab = b + 11, *le = memmem(lab, (size_t)(end - lab), "-----", 5);
        if (!le) break;
        const char *label = NULL;
        for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
            if ((size_t)(le - lab) == strlen(labels[i]) && memcmp(lab, labels[i], strlen(labels[i])) == 0)
                label = labels[i];
        p = le + 5;
        if (!label) continue;                    /* e.g. EC PARAMETERS */
        char endline[64];
        snprintf(endline, sizeof endline, "-----END %s-----", label);
        const char *e = memmem(p, (size_t)(end - p), endline, strlen(endline));
        if (!e) return NULL;
        /* base64 lines between; RFC 7468 lax parsers allow whitespace, we
         * allow line breaks only; legacy "Proc-Type:" headers are refused */
        size_t n = (size_t)(e - p), bn = 0;
        char *b64 = malloc(n + 1);
        if (!b64) return NULL;
        for (size_t i = 0; i < n; i++) {
            char c = p[i];
            if (c == '\n' || c == '\r') continue;
            if (c == ':') { free(b64); kf_errno = KF_EALGO; return NULL; }
            b64[bn++] = c;
        }
        int r = sc_b64_decode(b64, bn, der, dlen);
        sc_zero(b64, n + 1);
        free(b64);
        return r == 0 ? label : NULL;
    }
    return NULL;
}

char *kf_public_pem(const sc_key *k)
{
    uint8_t der[256];
    size_t dl = sizeof der;
    if (kf_spki_der(k, der, &dl) < 0) return NULL;
    return kf_pem_encode("PUBLIC KEY", der, dl);
}

/* EncryptedPrivateKeyInfo with PBES2 (RFC 8018 A.4, 6.2; RFC 5958 3) */
static int pbes2_seal(const uint8_t *p8, size_t p8len, const char *pass, size_t passlen,
                      unsigned long iter, uint8_t *out, size_t *outlen)
{
    uint8_t salt[16], iv[16], key[32], buf[DERMAX], enc[DERMAX], t1[200], t2[200], t3[300];
    size_t padded = p8len + 16 - p8len % 16, a = 0, b = 0, c = 0, o = 0;
    int r = -1;
    if (padded > sizeof buf || sc_random(salt, sizeof salt) < 0 || sc_random(iv, sizeof iv) < 0 ||
        sc_pbkdf2_sha256(pass, passlen, salt, sizeof salt, iter, key, sizeof key) < 0)
        goto out;
    memcpy(buf, p8, p8len);
    memset(buf + p8len, (int)(padded - p8len), padded - p8len);
    if (sc_aes256_cbc(1, key, iv, buf, padded, enc) < 0) goto out;
    /* PBKDF2-params { salt, iterationCount, prf hmacWithSHA256 NULL } */
    if (der_put(t1, sizeof t1, &a, DER_OID, oid_hmac256, sizeof oid_hmac256) < 0 ||
        der_put(t1, sizeof t1, &a, DER_NULL, NULL, 0) < 0 ||
        der_put(t2, sizeof t2, &b, DER_OCTETSTRING, salt, sizeof salt) < 0 ||
        der_put_ulong(t2, sizeof t2, &b, iter) < 0 ||
        der_put(t2, sizeof t2, &b, DER_SEQUENCE, t1, a) < 0)
        goto out;
    a = 0;
    if (der_put(t1, sizeof t1, &a, DER_OID, oid_pbkdf2, sizeof oid_pbkdf2) < 0 ||
        der_put(t1, sizeof t1, &a, DER_SEQUENCE, t2, b) < 0)
        goto out;
    c = 0;
    if (der_put(t3, sizeof t3, &c, DER_SEQUENCE, t1, a) < 0) goto out;   /* keyDerivationFunc */
    b = 0;
    if (der_put(t2, sizeof t2, &b, DER_OID, oid_aes256cbc, sizeof oid_aes256cbc) < 0 ||
        der_put(t2, sizeof t2, &b, DER_OCTETSTRING, iv, sizeof iv) < 0 ||
        der_put(t3, sizeof t3, &c, DER_SEQUENCE, t2, b) < 0)             /* encryptionScheme */
        goto out;
    a = 0;
    if (der_put(t1, sizeof t1, &a, DER_OID, oid_pbes2, sizeof oid_pbes2) < 0 ||
        der_put(t1, sizeof t1, &a, DER_SEQUENCE, t3, c) < 0)
        goto out;
    b = 0;
    if (der_put(buf, sizeof buf, &b, DER_SEQUENCE, t1, a) < 0 ||
        der_put(buf, sizeof buf, &b, DER_OCTETSTRING, enc, padded) < 0 ||
        der_put(out, *outlen, &o, DER_SEQUENCE, buf, b) < 0)
        goto out;
    *outlen = o;
    r = 0;
out:
    sc_zero(key, sizeof key);
    sc_zero(buf, sizeof buf);
    return r;
}

static sc_key *pbes2_open(const uint8_t *der, size_t len, const char *pass, size_t passlen)
{
    der_t in = { der, len }, s, alg, o, params, kdf, kp, prf, enc, salt, iv, data;
    unsigned long iter, klen;
    uint8_t key[32], pt[DERMAX];
    sc_key *k = NULL;
    kf_errno = KF_EFORMAT;
    if (der_take(&in, DER_SEQUENCE, &s) < 0 || der_end(&in) < 0 ||
        der_take(&s, DER_SEQUENCE, &alg) < 0 || der_take(&s, DER_OCTETSTRING, &data) < 0 ||
        der_end(&s) < 0 || der_take(&alg, DER_OID, &o) < 0)
        return NULL;
    kf_errno = KF_EALGO;
    if (!der_eq(&o, oid_pbes2, sizeof oid_pbes2) ||
        der_take(&alg, DER_SEQUENCE, &params) < 0 || der_end(&alg) < 0 ||
        der_take(&params, DER_SEQUENCE, &kdf) < 0 || der_take(&params, DER_SEQUENCE, &enc) < 0 ||
        der_end(&params) < 0 || der_take(&kdf, DER_OID, &o) < 0 ||
        !der_eq(&o, oid_pbkdf2, sizeof oid_pbkdf2) || der_take(&kdf, DER_SEQUENCE, &kp) < 0 ||
        der_end(&kdf) < 0 || der_take(&kp, DER_OCTETSTRING, &salt) < 0 ||
        der_take_ulong(&kp, &iter) < 0)
        return NULL;
    if (der_peek(&kp) == DER_INTEGER && (der_take_ulong(&kp, &klen) < 0 || klen != 32)) return NULL;
    /* an absent prf means hmacWithSHA1 (RFC 8018 A.2): not supported */
    if (der_take(&kp, DER_SEQUENCE, &prf) < 0 || der_end(&kp) < 0 ||
        der_take(&prf, DER_OID, &o) < 0 || !der_eq(&o, oid_hmac256, sizeof oid_hmac256))
        return NULL;
    if (der_peek(&prf) == DER_NULL && der_take(&prf, DER_NULL, &o) < 0) return NULL;
    if (der_end(&prf) < 0 || der_take(&enc, DER_OID, &o) < 0 ||
        !der_eq(&o, oid_aes256cbc, sizeof oid_aes256cbc) ||
        der_take(&enc, DER_OCTETSTRING, &iv) < 0 || iv.n != 16 || der_end(&enc) < 0)
        return NULL;
    if (iter == 0 || iter > MAX_ITER || data.n == 0 || data.n % 16 || data.n > sizeof pt) {
        kf_errno = KF_EFORMAT;
        return NULL;
    }
    if (!pass) { kf_errno = KF_ENEEDPASS; return NULL; }
    kf_errno = KF_EPASS;
    if (sc_pbkdf2_sha256(pass, passlen, salt.p, salt.n, iter, key, sizeof key) == 0 &&
        sc_aes256_cbc(0, key, iv.p, data.p, data.n, pt) == 0) {
        unsigned pad = pt[data.n - 1];
        int bad = pad == 0 || pad > 16;
        for (unsigned i = 1; !bad && i <= pad; i++) bad = pt[data.n - i] != pad;
        if (!bad) k = kf_pkcs8_parse(pt, data.n - pad);
        /* a wrong passphrase shows as bad padding or garbage DER */
        if (!k && kf_errno != KF_EMISMATCH) kf_errno = KF_EPASS;
    }
    sc_zero(key, sizeof key);
    sc_zero(pt, sizeof pt);
    return k;
}

char *kf_private_pem(const sc_key *k, const char *pass, size_t passlen, unsigned long iter)
{
    uint8_t p8[DERMAX], enc[DERMAX];
    size_t pl = sizeof p8, el = sizeof enc;
    char *pem = NULL;
    if (kf_pkcs8_der(k, p8, &pl) < 0) return NULL;
    if (!pass)
        pem = kf_pem_encode("PRIVATE KEY", p8, pl);
    else if (pbes2_seal(p8, pl, pass, passlen, iter ? iter : KF_DEFAULT_ITER, enc, &el) == 0)
        pem = kf_pem_encode("ENCRYPTED PRIVATE KEY", enc, el);
    sc_zero(p8, sizeof p8);
    return pem;
}

int kf_write_private(const char *path, const sc_key *k, const char *pass, size_t passlen,
                     unsigned long iter, int force)
{
    char *pem = kf_private_pem(k, pass, passlen, iter);
    int r;
    if (!pem) { kf_errno = KF_ENOTPRIV; return -1; }
    r = write_file_atomic(path, pem, strlen(pem), 0600, force);
    kf_errno = r < 0 ? KF_ESYS : KF_OK;
    sc_zero(pem, strlen(pem));
    free(pem);
    return r;
}

int kf_write_public(const char *path, const sc_key *k, int force)
{
    char *pem = kf_public_pem(k);
    int r;
    if (!pem) { kf_errno = KF_EFORMAT; return -1; }
    r = write_file_atomic(path, pem, strlen(pem), 0644, force);
    kf_errno = r < 0 ? KF_ESYS : KF_OK;
    free(pem);
    return r;
}

int kf_is_encrypted(const char *text)
{
    return strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL;
}

sc_key *kf_parse(const char *text, size_t len, const char *pass, size_t passlen, int want_private)
{
    uint8_t der[DERMAX];
    size_t dl = sizeof der;
    sc_key *k = NULL;
    kf_errno = KF_EFORMAT;
    const char *label = kf_pem_decode(text, len, der, &dl);
    if (!label) return NULL;
    if (strcmp(label, "PUBLIC KEY") == 0) {
        if (want_private) kf_errno = KF_ENOTPRIV;
        else k = kf_spki_parse(der, dl);
    } else if (strcmp(label, "PRIVATE KEY") == 0)
        k = kf_pkcs8_parse(der, dl);
    else if (strcmp(label, "ENCRYPTED PRIVATE KEY") == 0)
        k = pbes2_open(der, dl, pass, passlen);
    else {                                       /* SEC1 "EC PRIVATE KEY" */
        der_t in = { der, dl };
        k = take_ecpriv(&in, 0, 0);
        if (k && der_end(&in) < 0) { sc_key_free(k); k = NULL; kf_errno = KF_EFORMAT; }
    }
    sc_zero(der, sizeof der);
    return k;
}

sc_key *kf_parse_handed(const char *text, size_t len)
{
    uint8_t der[DERMAX];
    size_t dl = sizeof der;
    sc_key *k = NULL;
    const char *label = kf_pem_decode(text, len, der, &dl);
    kf_errno = KF_EFORMAT;
    if (label && strcmp(label, "PRIVATE KEY") == 0) k = pkcs8_parse(der, dl, 1);
    else if (label && strstr(label, "PUBLIC")) kf_errno = KF_ENOTPRIV;
    sc_zero(der, sizeof der);
    return k;
}

sc_key *kf_read(const char *path, const char *pass, size_t passlen, int want_private)
{
    char *text;
    size_t len;
    sc_key *k;
    if (read_file(path, 64 * 1024, &text, &len) < 0) { kf_errno = KF_ESYS; return NULL; }
    k = kf_parse(text, len, pass, passlen, want_private);
    sc_zero(text, len);
    free(text);
    return k;
}
