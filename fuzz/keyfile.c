/*
 * fuzz/keyfile.c - kf_parse (lib/keyfile.c) on arbitrary text: a key file
 * from anywhere, PEM around DER, read without and with a passphrase.
 *
 * Input: one option byte (bit 0: want_private), then the text.
 *
 * Slow inputs: an ENCRYPTED PRIVATE KEY names its own PBKDF2 count, and
 * kf_parse accepts up to 10,000,000 (keyfile.c MAX_ITER), seconds of work
 * per file.  So the passphrase run is skipped when the file asks for more
 * than FZ_KF_ITER_CAP rounds; the count is read here the way kf_parse
 * reaches it, and only when kf_parse without a passphrase has said the file
 * is well-formed and needs one (KF_ENEEDPASS: nothing else can reach the
 * PBKDF2 call).
 *
 * Properties: an unencrypted file parses the same with or without a
 * passphrase; every key read writes out (PEM) and reads back as the same
 * key; a file said to need a passphrase is one kf_is_encrypted recognises.
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

/* The base64 of the first PEM block kf_parse would read (RFC 7468
 * "-----BEGIN label-----" ... "-----END label-----" with one of its four
 * labels); 0 if there is none. */
static int first_block(const char *t, size_t n, const char **label, const char **body,
                       size_t *bn)
{
    static const char *labels[] = { "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY",
                                    "PUBLIC KEY" };
    const char *p = t, *end = t + n;
    while (p < end) {
        const char *b = memmem(p, (size_t)(end - p), "-----BEGIN ", 11);
        if (!b) return 0;
        const char *lab = b + 11, *le = memmem(lab, (size_t)(end - lab), "-----", 5);
        if (!le) return 0;
        p = le + 5;
        for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
            size_t ll = strlen(labels[i]);
            if ((size_t)(le - lab) != ll || memcmp(lab, labels[i], ll) != 0) continue;
            char endline[64];
            snprintf(endline, sizeof endline, "-----END %s-----", labels[i]);
            const char *e = memmem(p, (size_t)(end - p), endline, strlen(endline));
            if (!e) return 0;
            *label = labels[i];
            *body = p;
            *bn = (size_t)(e - p);
            return 1;
        }
    }
    return 0;
}

/* PBKDF2 iteration count of an EncryptedPrivateKeyInfo (RFC 8018 A.2, A.4):
 * SEQ { SEQ { OID, SEQ { SEQ { OID, SEQ { salt, count ...} } ... } } ... }.
 * 0 if it cannot be found: then the run with a passphrase is skipped. */
static unsigned long pbes2_iter(const char *t, size_t n)
{
    const char *label, *body;
    size_t bn, k = 0;
    if (!first_block(t, n, &label, &body, &bn) || strcmp(label, "ENCRYPTED PRIVATE KEY") != 0)
        return 0;
    char *b64 = malloc(bn + 1);
    FZ_SETUP(b64 != NULL);
    for (size_t i = 0; i < bn; i++)
        if (body[i] != '\n' && body[i] != '\r') b64[k++] = body[i];
    uint8_t der[1024];
    size_t dl = sizeof der;
    int ok = sc_b64_decode(b64, k, der, &dl) == 0;
    free(b64);
    if (!ok) return 0;
    der_t in = { der, dl }, s, alg, o, params, kdf, kp, salt;
    unsigned long iter;
    if (der_take(&in, DER_SEQUENCE, &s) < 0 || der_take(&s, DER_SEQUENCE, &alg) < 0 ||
        der_take(&alg, DER_OID, &o) < 0 || der_take(&alg, DER_SEQUENCE, &params) < 0 ||
        der_take(&params, DER_SEQUENCE, &kdf) < 0 || der_take(&kdf, DER_OID, &o) < 0 ||
        der_take(&kdf, DER_SEQUENCE, &kp) < 0 || der_take(&kp, DER_OCTETSTRING, &salt) < 0 ||
        der_take_ulong(&kp, &iter) < 0)
        return 0;
    return iter;
}

static int same_public(const sc_key *a, const sc_key *b)
{
    uint8_t pa[SC_MAX_PUB], pb[SC_MAX_PUB];
    size_t la = sizeof pa, lb = sizeof pb;
    return sc_key_curve(a) == sc_key_curve(b) && sc_key_public(a, pa, &la) == 0 &&
           sc_key_public(b, pb, &lb) == 0 && la == lb && memcmp(pa, pb, la) == 0;
}

/* a key read from a file writes out and reads back as itself */
static void round_trip(const sc_key *k)
{
    char fpr[KF_FPR_LEN];
    FZ_CHECK(kf_fingerprint(k, fpr) == 0 && strlen(fpr) == KF_FPR_LEN - 1);
    char *pem = kf_public_pem(k);
    FZ_CHECK(pem != NULL);
    sc_key *back = kf_parse(pem, strlen(pem), NULL, 0, 0);
    FZ_CHECK(back != NULL && same_public(k, back) && !sc_key_is_private(back));
    sc_key_free(back);
    free(pem);
    if (!sc_key_is_private(k)) return;
    pem = kf_private_pem(k, NULL, 0, 0);
    FZ_CHECK(pem != NULL);
    back = kf_parse(pem, strlen(pem), NULL, 0, 1);
    FZ_CHECK(back != NULL && same_public(k, back) && sc_key_is_private(back));
    uint8_t d1[SC_MAX_SCALAR], d2[SC_MAX_SCALAR];
    size_t l1 = sizeof d1, l2 = sizeof d2;
    FZ_CHECK(sc_key_scalar(k, d1, &l1) == 0 && sc_key_scalar(back, d2, &l2) == 0 && l1 == l2 &&
             memcmp(d1, d2, l1) == 0);
    sc_key_free(back);
    free(pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    int want_private = (int)(fz_u8(&in) & 1);
    size_t n = in.n;
    char *t = (char *)fz_dup(in.p, n);

    sc_key *k1 = kf_parse(t, n, NULL, 0, want_private);
    int e1 = kf_errno;
    FZ_CHECK((k1 != NULL) == (e1 == KF_OK));
    if (k1) {
        FZ_CHECK(!want_private || sc_key_is_private(k1));
        round_trip(k1);
    }
    if (e1 == KF_ENEEDPASS && !memchr(t, 0, n)) {
        char *z = malloc(n + 1);
        FZ_SETUP(z != NULL);
        memcpy(z, t, n);
        z[n] = 0;
        FZ_CHECK(kf_is_encrypted(z));
        free(z);
    }

    unsigned long iter = e1 == KF_ENEEDPASS ? pbes2_iter(t, n) : 0;
    if (e1 != KF_ENEEDPASS || (iter > 0 && iter <= FZ_KF_ITER_CAP)) {
        sc_key *k2 = kf_parse(t, n, FZ_KF_PASS, strlen(FZ_KF_PASS), want_private);
        int e2 = kf_errno;
        FZ_CHECK((k2 != NULL) == (e2 == KF_OK));
        if (e1 != KF_ENEEDPASS) {
            /* the passphrase only matters to an encrypted key */
            FZ_CHECK(e2 == e1 && (k1 == NULL) == (k2 == NULL));
            FZ_CHECK(k1 == NULL || same_public(k1, k2));
        } else {
            FZ_CHECK(e2 != KF_ENEEDPASS);
            if (k2) {
                FZ_CHECK(sc_key_is_private(k2));
                round_trip(k2);
            }
        }
        sc_key_free(k2);
    }
    sc_key_free(k1);
    free(t);
    return 0;
}
