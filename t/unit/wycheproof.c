/*
 * wycheproof.c - the Wycheproof vector sets for ECDSA P-256/SHA-256 (r || s
 * and DER signatures) and ECDH P-256 (X9.63 points and SPKI public keys),
 * through lib/crypto.h and the key and DER parsers simpp reads them with.
 *
 * The vectors are in t/data/wycheproof/, converted from the C2SP Wycheproof
 * repository by scripts/wycheproof-data (each file names its source file
 * and commit).  Every vector must agree: "valid" ones are accepted (and an
 * ECDH gives the expected secret), "invalid" ones refused.  "acceptable"
 * ones are those a library may take or refuse; simpp refuses all of them
 * (compressed points: 1.18 has no decompression and the protocol sends
 * uncompressed ones; BER forms and explicit curve parameters in an SPKI:
 * only strict DER with a named curve is read), and this test holds it to
 * that.  Each signature goes through both sc_verify and
 * sc_verify_stepwise, the computation sc_verify falls back to.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "der.h"
#include "keyfile.h"
#include "tap.h"

enum { VALID, INVALID, ACCEPTABLE };

static int result_of(const char *s)
{
    if (strcmp(s, "valid") == 0) return VALID;
    if (strcmp(s, "invalid") == 0) return INVALID;
    if (strcmp(s, "acceptable") == 0) return ACCEPTABLE;
    return -1;
}

/* hex field ("-" is empty) into a malloc'd buffer */
static uint8_t *unhex(const char *h, size_t *n)
{
    size_t l = strcmp(h, "-") == 0 ? 0 : strlen(h);
    uint8_t *b = malloc(l / 2 + 1);
    *n = l / 2 + 1;
    if (!b || l % 2 || sc_hex_decode(h, l, b, n) < 0) {
        fprintf(stderr, "wycheproof: bad hex field %.40s\n", h);
        exit(2);
    }
    return b;
}

struct set {
    const char *file;
    FILE *f;
    char *line;
    size_t cap;
    long count;                 /* the file's "count" line */
    size_t n, bad;              /* vectors run, disagreements */
    size_t per[3];              /* vectors per result */
};

static int set_open(struct set *s, const char *file)
{
    char path[4096];
    memset(s, 0, sizeof *s);
    s->file = file;
    s->count = -1;
    snprintf(path, sizeof path, "%s/wycheproof/%s", tap_datadir(), file);
    s->f = fopen(path, "r");
    ok(s->f != NULL, "%s: opened", path);
    return s->f ? 0 : -1;
}

/* the next line split into up to max fields; 0 at the end */
static int set_next(struct set *s, char **field, int max)
{
    for (;;) {
        if (getline(&s->line, &s->cap, s->f) < 0) return 0;
        char *p = s->line;
        if (*p == '#' || *p == '\n') continue;
        int nf = 0;
        for (char *t = strtok(p, " \n"); t && nf < max; t = strtok(NULL, " \n")) field[nf++] = t;
        if (nf == 2 && strcmp(field[0], "count") == 0) {
            s->count = strtol(field[1], NULL, 10);
            continue;
        }
        return nf;
    }
}

static void set_close(struct set *s)
{
    ok(s->count > 0 && s->n == (size_t)s->count, "%s: %zu vectors run, the file holds %ld",
       s->file, s->n, s->count);
    ok(s->bad == 0, "%s: every vector agrees (%zu valid, %zu invalid, %zu acceptable; %zu disagree)",
       s->file, s->per[VALID], s->per[INVALID], s->per[ACCEPTABLE], s->bad);
    free(s->line);
    if (s->f) fclose(s->f);
}

/* one vector's verdict: accepted (1) or not, against what it should be */
static void agree(struct set *s, const char *id, int result, int accepted, const char *what,
                  const char *flags)
{
    int want = result == VALID;
    s->n++;
    if (result >= 0) s->per[result]++;
    if (result < 0 || accepted != want) {
        s->bad++;
        printf("# %s tcId %s (%s): %s %s\n", s->file, id, flags, what,
               result < 0 ? "wrong" : accepted ? "accepted" : "refused");
    }
}

/* DER SEQUENCE { INTEGER r, INTEGER s } into r || s, strictly; -1 if not */
static int der_sig(const uint8_t *der, size_t n, uint8_t *rs, size_t nb)
{
    der_t in = { der, n }, seq;
    if (der_take(&in, DER_SEQUENCE, &seq) < 0 || der_end(&in) < 0 ||
        der_take_uint(&seq, rs, nb) < 0 || der_take_uint(&seq, rs + nb, nb) < 0 ||
        der_end(&seq) < 0)
        return -1;
    return 0;
}

static void ecdsa(const char *file, int der)
{
    struct set s;
    char *f[6];
    int nf;
    sc_key *key = NULL;
    if (set_open(&s, file) < 0) return;
    while ((nf = set_next(&s, f, 6)) > 0) {
        size_t n;
        if (nf == 2 && strcmp(f[0], "key") == 0) {
            uint8_t *pub = unhex(f[1], &n);
            sc_key_free(key);
            key = sc_key_from_public(SC_P256, pub, n);
            if (!key) printf("# %s: the public key after vector %zu does not import\n", file, s.n);
            free(pub);
            continue;
        }
        if (nf != 5 || !key) {
            s.n++;
            s.bad++;
            printf("# %s: a line that is not a vector, or no key before it\n", file);
            continue;
        }
        uint8_t *msg = unhex(f[2], &n), d[SC_SHA256_LEN], rs[2 * 32];
        sc_sha256(msg, n, d);
        free(msg);
        uint8_t *sig = unhex(f[3], &n);
        const uint8_t *v = sig;
        size_t vl = n;
        int res = result_of(f[1]), parsed = 1;
        if (der) {
            parsed = der_sig(sig, n, rs, 32) == 0;
            v = rs;
            vl = sizeof rs;
        }
        int a = parsed && sc_verify(key, d, sizeof d, v, vl);
        int b = parsed && sc_verify_stepwise(key, d, sizeof d, v, vl);
        if (a != b) printf("# %s tcId %s: sc_verify %d, sc_verify_stepwise %d\n", file, f[0], a, b);
        agree(&s, f[0], a == b ? res : -1, a, "signature", f[4]);
        free(sig);
    }
    sc_key_free(key);
    set_close(&s);
}

/* a Wycheproof private key (an integer: maybe a leading 00, maybe short)
 * as the 32-byte scalar sc_key_from_scalar takes */
static sc_key *priv_key(const char *hex)
{
    size_t n;
    uint8_t *b = unhex(hex, &n), d[32] = { 0 };
    const uint8_t *p = b;
    sc_key *k = NULL;
    while (n > 0 && *p == 0) { p++; n--; }
    if (n <= sizeof d) {
        memcpy(d + sizeof d - n, p, n);
        k = sc_key_from_scalar(SC_P256, d, sizeof d);
    }
    sc_zero(d, sizeof d);
    free(b);
    return k;
}

static void ecdh(const char *file, int spki)
{
    struct set s;
    char *f[7];
    int nf;
    if (set_open(&s, file) < 0) return;
    while ((nf = set_next(&s, f, 7)) > 0) {
        if (nf != 6) {
            s.n++;
            s.bad++;
            printf("# %s: a line that is not a vector\n", file);
            continue;
        }
        size_t pl, sl;
        int res = result_of(f[1]);
        sc_key *priv = priv_key(f[2]);
        uint8_t *pub = unhex(f[3], &pl), *want = unhex(f[4], &sl), z[SC_MAX_SCALAR];
        size_t zl = sizeof z;
        sc_key *pk = spki ? kf_spki_parse(pub, pl) : sc_key_from_public(SC_P256, pub, pl);
        int got = priv && pk && sc_ecdh_raw(priv, pk, z, &zl) == 0;
        if (!priv && res == VALID) printf("# %s tcId %s: the private key\n", file, f[0]);
        if (got && (zl != sl || memcmp(z, want, sl) != 0)) {
            printf("# %s tcId %s: a different shared secret\n", file, f[0]);
            res = -1;                           /* a disagreement, whatever it was */
        }
        agree(&s, f[0], res, got, spki ? "SPKI public key" : "public point", f[5]);
        sc_key_free(priv);
        sc_key_free(pk);
        free(pub);
        free(want);
    }
    set_close(&s);
}

int main(void)
{
    if (sc_init() < 0) return 1;
    ecdsa("ecdsa_secp256r1_sha256_p1363.txt", 0);
    ecdsa("ecdsa_secp256r1_sha256.txt", 1);
    ecdh("ecdh_secp256r1_ecpoint.txt", 0);
    ecdh("ecdh_secp256r1.txt", 1);
    return tap_done();
}
