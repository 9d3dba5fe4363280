/*
 * crypto_kat.c - known-answer tests of lib/crypto.h against published vectors.
 *
 * The vector files are read at run time: NIST CAVP and RFC files from the
 * python3-cryptography-vectors package (directory $SIMPP_VECTORS, default
 * /usr/lib/python3/dist-packages/cryptography_vectors), and the short RFC
 * vectors typed into t/data ($SIMPP_DATA).  A missing file is a failure, not
 * a skip.  Each file's expected vector count is checked too, so a parser
 * that silently drops records cannot make the run look green.
 *
 *   RFC 4231          HMAC-SHA256                  sc_hmac_sha256
 *   RFC 5869          HKDF-SHA256                  sc_hkdf_sha256
 *   RFC 7914 s.11     PBKDF2-HMAC-SHA256           sc_pbkdf2_sha256, sc_pbkdf2
 *   RFC 6070          PBKDF2-HMAC-SHA1             sc_pbkdf2
 *   NIST CAVP SHAVS   SHA-256 Short/LongMsg        sc_sha256, incremental API
 *   RFC 8439          ChaCha20-Poly1305            sc_seal/sc_open suite 1
 *   NIST CAVP GCMVS   AES-128-GCM                  sc_seal/sc_open suite 2
 *   OpenSSL           AES-128-GCM, long messages   either side of GCM_SHORT
 *   NIST CAVP AESAVS  AES-256-CBC                  sc_aes256_cbc
 *   NIST CAVP ECDSA2VS (FIPS 186-3) KeyPair, PKV, SigGen, SigVer (P-224/256/384)
 *   RFC 6979 A.2.5    ECDSA P-256 (verify side)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "tap.h"

/* ------------------------------------------------------------------------ */
/* vector files                                                              */

static const char *vecdir(void)
{
    const char *d = getenv("SIMPP_VECTORS");
    return d && *d ? d : "/usr/lib/python3/dist-packages/cryptography_vectors";
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "crypto_kat: out of memory\n");
        exit(2);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

typedef struct { char *key, *val; } field;
typedef struct { field *f; size_t n, cap; int line; } record;
typedef struct { record *r; size_t n, cap; } vecfile;

static void rec_add(record *r, const char *key, const char *val)
{
    for (size_t i = 0; i < r->n; i++)      /* a later [param] replaces an earlier one */
        if (strcmp(r->f[i].key, key) == 0) {
            free(r->f[i].val);
            r->f[i].val = xstrdup(val);
            return;
        }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        field *nf = realloc(r->f, r->cap * sizeof *nf);
        if (!nf) { fprintf(stderr, "crypto_kat: out of memory\n"); exit(2); }
        r->f = nf;
    }
    r->f[r->n].key = xstrdup(key);
    r->f[r->n].val = xstrdup(val);
    r->n++;
}

static void rec_free(record *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->f[i].key);
        free(r->f[i].val);
    }
    free(r->f);
    memset(r, 0, sizeof *r);
}

static const char *rec_get(const record *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].key, key) == 0) return r->f[i].val;
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

/* is key one of the comma-separated names in list? */
static int in_list(const char *key, const char *list)
{
    size_t kl = strlen(key);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == kl && strncmp(p, key, l) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/*
 * Read "key = value" records.  A record starts at a line whose key is one of
 * `starts` (comma-separated) and runs to the next such line or [header]; blank
 * lines and '#' comments are ignored, lines before the first record too.  A
 * line without '=' is a key with an empty value (GCMVS "FAIL").  Headers:
 * consecutive [..] lines form a group; "[k = v]" is kept as field "@k", any
 * other "[text]" is appended to field "@" (";"-separated).  Every record gets
 * a copy of the header fields in force.
 */
static int vec_load(vecfile *vf, const char *path, const char *starts)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, prev_hdr = 0;
    record hdr = { 0 }, *cur = NULL;
    memset(vf, 0, sizeof *vf);
    if (!f) return -1;
    while (getline(&line, &cap, f) >= 0) {
        char *s = trim(line);
        lineno++;
        if (!*s || *s == '#') continue;
        if (*s == '[') {
            char *e = strrchr(s, ']');
            if (e) *e = 0;
            s++;
            if (!prev_hdr) rec_free(&hdr);
            cur = NULL;
            prev_hdr = 1;
            char *eq = strchr(s, '=');
            if (eq) {
                char k[128];
                *eq = 0;
                snprintf(k, sizeof k, "@%s", trim(s));
                rec_add(&hdr, k, trim(eq + 1));
            } else {
                const char *old = rec_get(&hdr, "@");
                char *v = xmalloc((old ? strlen(old) + 1 : 0) + strlen(s) + 1);
                sprintf(v, "%s%s%s", old ? old : "", old ? ";" : "", trim(s));
                rec_add(&hdr, "@", v);
                free(v);
            }
            continue;
        }
        prev_hdr = 0;
        char *eq = strchr(s, '=');
        const char *val = "";
        if (eq) {
            *eq = 0;
            val = trim(eq + 1);
        }
        char *key = trim(s);
        if (in_list(key, starts)) {
            if (vf->n == vf->cap) {
                vf->cap = vf->cap ? 2 * vf->cap : 64;
                record *nr = realloc(vf->r, vf->cap * sizeof *nr);
                if (!nr) { fprintf(stderr, "crypto_kat: out of memory\n"); exit(2); }
                vf->r = nr;
            }
            cur = &vf->r[vf->n++];
            memset(cur, 0, sizeof *cur);
            cur->line = lineno;
            for (size_t i = 0; i < hdr.n; i++) rec_add(cur, hdr.f[i].key, hdr.f[i].val);
        }
        if (cur) rec_add(cur, key, val);
    }
    free(line);
    rec_free(&hdr);
    fclose(f);
    return 0;
}

static void vec_free(vecfile *vf)
{
    for (size_t i = 0; i < vf->n; i++) rec_free(&vf->r[i]);
    free(vf->r);
    memset(vf, 0, sizeof *vf);
}

/* open a file under the vectors directory (data = 0) or t/data (data = 1) */
static int vec_open(vecfile *vf, int data, const char *rel, const char *starts)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data ? tap_datadir() : vecdir(), rel);
    if (vec_load(vf, path, starts) < 0) {
        ok(0, "read vector file %s", path);
        return -1;
    }
    return 0;
}

/* section header test: "@" is e.g. "P-256,SHA-256" or "P-256;B.4.2 ..." */
static int sect_is(const record *r, const char *want)
{
    const char *s = rec_get(r, "@");
    size_t n = strlen(want);
    return s && strncmp(s, want, n) == 0 && (s[n] == 0 || s[n] == ';');
}

static int hexdigit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/*
 * Field value as bytes: a "quoted string" as its characters, anything else
 * as hex (an odd digit count is a number: a leading 0 is implied, as in the
 * FIPS 186-3 PKV file).  *out is malloc'd with exactly *len bytes (one byte
 * for an empty value, so it is never NULL).  -1 if absent or not hex.
 */
static int rec_bytes(const record *r, const char *key, uint8_t **out, size_t *len)
{
    const char *v = rec_get(r, key);
    *out = NULL;
    *len = 0;
    if (!v) return -1;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        *len = n - 2;
        *out = xmalloc(*len);
        memcpy(*out, v + 1, *len);
        return 0;
    }
    size_t odd = n % 2;
    *len = (n + odd) / 2;
    *out = xmalloc(*len);
    for (size_t i = 0; i < *len; i++) {
        int hi = (i == 0 && odd) ? 0 : hexdigit((unsigned char)v[2 * i - odd]);
        int lo = hexdigit((unsigned char)v[2 * i + 1 - odd]);
        if (hi < 0 || lo < 0) {
            free(*out);
            *out = NULL;
            *len = 0;
            return -1;
        }
        (*out)[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static long rec_long(const record *r, const char *key)
{
    const char *v = rec_get(r, key);
    return v ? strtol(v, NULL, 10) : -1;
}

/* big-endian number src (any leading zeros) into exactly width bytes;
 * -1 if it does not fit */
static int put_fixed(uint8_t *dst, size_t width, const uint8_t *src, size_t len)
{
    while (len && *src == 0) { src++; len--; }
    if (len > width) return -1;
    memset(dst, 0, width - len);
    memcpy(dst + width - len, src, len);
    return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

/* ------------------------------------------------------------------------ */
/* RFC 4231 section 4: HMAC-SHA256 test cases 1-4, 6, 7 (the truncated case 5
 * is not in the file) */

static void kat_hmac(void)
{
    vecfile vf;
    if (vec_open(&vf, 0, "HMAC/rfc-4231-sha256.txt", "Len") < 0) return;
    size_t n = 0;
    for (size_t i = 0; i < vf.n; i++) {
        const record *r = &vf.r[i];
        uint8_t *key = NULL, *msg = NULL, *md = NULL, mac[SC_SHA256_LEN];
        size_t kl = 0, ml = 0, mdl = 0;
        int good = rec_bytes(r, "Key", &key, &kl) == 0 && rec_bytes(r, "Msg", &msg, &ml) == 0 &&
                   rec_bytes(r, "MD", &md, &mdl) == 0 && mdl <= SC_SHA256_LEN && mdl > 0 &&
                   (long)ml * 8 == rec_long(r, "Len");
        good = good && sc_hmac_sha256(key, kl, msg, ml, mac) == 0 && memcmp(mac, md, mdl) == 0;
        ok(good, "RFC 4231 HMAC-SHA256, key %zu bytes, msg %zu bytes (line %d)", kl, ml, r->line);
        free(key); free(msg); free(md);
        n++;
    }
    ok(n == 6, "RFC 4231: %zu HMAC-SHA256 cases read (expect 6)", n);
    vec_free(&vf);
}

/* ------------------------------------------------------------------------ */
/* RFC 5869 Appendix A.1-A.3: HKDF with SHA-256 */

static void kat_hkdf(void)
{
    vecfile vf;
    if (vec_open(&vf, 0, "KDF/rfc-5869-HKDF-SHA256.txt", "COUNT") < 0) return;
    size_t n = 0;
    for (size_t i = 0; i < vf.n; i++) {
        const record *r = &vf.r[i];
        uint8_t *ikm = NULL, *salt = NULL, *info = NULL, *okm = NULL, *out;
        size_t il = 0, sl = 0, nl = 0, ol = 0;
        long L = rec_long(r, "L");
        const char *h = rec_get(r, "Hash");
        if (!h || strcmp(h, "SHA-256") != 0) continue;
        int good = rec_bytes(r, "IKM", &ikm, &il) == 0 && rec_bytes(r, "salt", &salt, &sl) == 0 &&
                   rec_bytes(r, "info", &info, &nl) == 0 && rec_bytes(r, "OKM", &okm, &ol) == 0 &&
                   L > 0 && (size_t)L == ol;
        out = xmalloc(ol);
        good = good && sc_hkdf_sha256(salt, sl, ikm, il, info, nl, out, ol) == 0 &&
               memcmp(out, okm, ol) == 0;
        ok(good, "RFC 5869 A.%s HKDF-SHA256, L=%ld (line %d)", rec_get(r, "COUNT"), L, r->line);
        free(ikm); free(salt); free(info); free(okm); free(out);
        n++;
    }
    ok(n == 3, "RFC 5869: %zu HKDF-SHA256 cases read (expect 3)", n);
    vec_free(&vf);
}

/* ------------------------------------------------------------------------ */
/* PBKDF2-HMAC-SHA256: RFC 7914 section 11 and RFC 6070 inputs; PBKDF2-HMAC-SHA1
 * (SCRAM-SHA-1): RFC 6070; both also against Python's hashlib for a password
 * longer than a block and a key of several blocks (t/data) */

static void kat_pbkdf2(const char *file, int h, size_t want)
{
    vecfile vf;
    if (vec_open(&vf, 1, file, "P") < 0) return;
    size_t n = 0;
    for (size_t i = 0; i < vf.n; i++) {
        const record *r = &vf.r[i];
        uint8_t *pw = NULL, *salt = NULL, *dk = NULL, *out;
        size_t pl = 0, sl = 0, dl = 0;
        long c = rec_long(r, "c");
        int good = rec_bytes(r, "P", &pw, &pl) == 0 && rec_bytes(r, "S", &salt, &sl) == 0 &&
                   rec_bytes(r, "DK", &dk, &dl) == 0 && c > 0 && dl > 0;
        out = xmalloc(dl);
        good = good && sc_pbkdf2(h, pw, pl, salt, sl, (unsigned long)c, out, dl) == 0 &&
               memcmp(out, dk, dl) == 0;
        if (h == SC_HASH_SHA256) {
            memset(out, 0, dl);
            good = good && sc_pbkdf2_sha256(pw, pl, salt, sl, (unsigned long)c, out, dl) == 0 &&
                   memcmp(out, dk, dl) == 0;
        }
        ok(good, "PBKDF2 c=%ld dkLen=%zu (%s line %d)", c, dl, file, r->line);
        free(pw); free(salt); free(dk); free(out);
        n++;
    }
    ok(n == want, "%s: %zu cases read (expect %zu)", file, n, want);
    vec_free(&vf);
}

/* ------------------------------------------------------------------------ */
/* NIST CAVP SHAVS (FIPS 180-4) SHA-256 byte-oriented Short/LongMsg */

static void kat_sha256_file(const char *rel, size_t expect)
{
    /* chunk sizes for the incremental API: around the 64-byte block edges */
    static const size_t chunks[] = { 1, 63, 64, 65, 3, 127, 128, 7, 200 };
    vecfile vf;
    if (vec_open(&vf, 0, rel, "Len") < 0) return;
    size_t n = 0;
    for (size_t i = 0; i < vf.n; i++) {
        const record *r = &vf.r[i];
        uint8_t *msg = NULL, *md = NULL, out[SC_SHA256_LEN];
        size_t ml = 0, mdl = 0;
        long bits = rec_long(r, "Len");
        int good = rec_bytes(r, "Msg", &msg, &ml) == 0 && rec_bytes(r, "MD", &md, &mdl) == 0 &&
                   mdl == SC_SHA256_LEN && bits >= 0 && bits % 8 == 0 && (size_t)bits / 8 <= ml;
        size_t len = good ? (size_t)bits / 8 : 0;        /* "Len = 0" has "Msg = 00" */
        memset(out, 0, sizeof out);
        if (good) sc_sha256(msg, len, out);
        ok(good && memcmp(out, md, SC_SHA256_LEN) == 0, "SHA-256 %zu bytes, one call (%s line %d)",
           len, rel, r->line);

        sc_sha256_ctx c;
        size_t off = 0, k = i;
        memset(out, 0, sizeof out);
        sc_sha256_init(&c);
        sc_sha256_update(&c, msg, 0);
        while (good && off < len) {
            size_t step = chunks[k++ % (sizeof chunks / sizeof chunks[0])];
            if (step > len - off) step = len - off;
            sc_sha256_update(&c, msg + off, step);
            off += step;
        }
        sc_sha256_final(&c, out);
        ok(good && memcmp(out, md, SC_SHA256_LEN) == 0,
           "SHA-256 %zu bytes, init/update/final in chunks (%s line %d)", len, rel, r->line);
        free(msg); free(md);
        n++;
    }
    ok(n == expect, "%s: %zu messages read (expect %zu)", rel, n, expect);
    vec_free(&vf);
}

/* ------------------------------------------------------------------------ */
/* AEAD: one vector through sc_seal and sc_open.  A valid vector must seal to
 * exactly ct||tag and open to pt; an invalid one must be refused by sc_open
 * with the output buffer wiped. */

static size_t aead_used, aead_skipped;

static void aead_vector(int suite, const char *what, int line, const uint8_t *key, size_t kl,
                        const uint8_t *nonce, size_t nl, const uint8_t *aad, size_t al,
                        const uint8_t *pt, size_t pl, const uint8_t *ct, size_t cl,
                        const uint8_t *tag, size_t tl, int valid)
{
    if (kl != sc_suite_keylen(suite) || nl != SC_NONCE_LEN || tl != 16 || (valid && pl != cl)) {
        aead_skipped++;
        return;
    }
    aead_used++;
    size_t inlen = cl + tl;
    uint8_t *in = xmalloc(inlen);
    memcpy(in, ct, cl);
    memcpy(in + cl, tag, tl);

    if (valid) {
        size_t cap = pl + sc_suite_overhead(suite, pl), outlen = cap;
        uint8_t *out = xmalloc(cap);
        int rc = sc_seal(suite, key, nonce, aad, al, pt, pl, out, &outlen);
        ok(rc == 0 && outlen == inlen && memcmp(out, in, inlen) == 0,
           "%s seal gives ct||tag, pt %zu bytes, aad %zu bytes (line %d)", what, pl, al, line);
        free(out);
    }

    size_t cap = cl, outlen = cap;
    uint8_t *out = xmalloc(cap);
    memset(out, 0xa5, cap ? cap : 1);
    int rc = sc_open(suite, key, nonce, aad, al, in, inlen, out, &outlen);
    if (valid)
        ok(rc == 0 && outlen == pl && memcmp(out, pt, pl) == 0,
           "%s open gives pt, ct %zu bytes (line %d)", what, cl, line);
    else
        ok(rc != 0 && all_zero(out, cap),
           "%s open refuses invalid vector and wipes output, ct %zu bytes (line %d)", what, cl,
           line);
    free(out);
    free(in);
}

/* RFC 8439 ChaCha20-Poly1305 (boringssl.txt: RFC 7539 2.8.1 and BoringSSL's
 * vectors; openssl.txt: OpenSSL's evpciph.txt, incl. a forged tag marked
 * "Result = CIPHERFINAL_ERROR") */
static void kat_chacha_file(const char *rel, const char *kK, const char *kN, const char *kA,
                            const char *kP, const char *kC, const char *kT, size_t expect,
                            size_t expect_bad)
{
    vecfile vf;
    if (vec_open(&vf, 0, rel, "COUNT") < 0) return;
    size_t n = 0, bad = 0;
    aead_used = aead_skipped = 0;
    for (size_t i = 0; i < vf.n; i++) {
        const record *r = &vf.r[i];
        uint8_t *k, *iv, *a, *p, *c, *t;
        size_t kl = 0, nl = 0, al = 0, pl = 0, cl = 0, tl = 0;
        int valid = rec_get(r, "Result") == NULL;
        char what[160];
        if (rec_bytes(r, kK, &k, &kl) | rec_bytes(r, kN, &iv, &nl) | rec_bytes(r, kA, &a, &al) |
            rec_bytes(r, kP, &p, &pl) | rec_bytes(r, kC, &c, &cl) | rec_bytes(r, kT, &t, &tl)) {
            ok(0, "%s line %d: unreadable record", rel, r->line);
        } else {
            snprintf(what, sizeof what, "RFC 8439 ChaCha20-Poly1305 %s #%s", rel,
                     rec_get(r, "COUNT"));
            aead_vector(SC_SUITE_CHACHA20_POLY1305, what, r->line, k, kl, iv, nl, a, al, p, pl, c,
                        cl, t, tl, valid);
            bad += !valid;
        }
        free(k); free(iv); free(a); free(p); free(c); free(t);
        n++;
    }
    ok(n == expect && aead_used == expect && bad == expect_bad,
       "%s: %zu vectors read, %zu used (12-byte nonce, 16-byte tag), %zu invalid "
       "(expect %zu, all, %zu)", rel, n, aead_used, bad, expect, expect_bad);
    vec_free(&vf);
}

/* NIST CAVP GCMVS (SP 800-38D): only [Keylen = 128] [IVlen = 96]
 * [Taglen = 128] applies to SC_SUITE_AES128_GCM */
static void kat_gcm_file(const char *rel, size_t expect, size_t expect_fail)
{
    vecfile vf;
    if (vec_open(&vf, 0, rel, "Count") < 0) return;
    size_t n = 0, fails = 0;
    aead_used = aead_skipped = 0;
    for (size_t i = 0; i < vf.n; i++) {
        const record *r = &vf.r[i];
        const char *kl_ = rec_get(r, "@Keylen"), *ivl = rec_get(r, "@IVlen"),
                   *tgl = rec_get(r, "@Taglen");
        if (!kl_ || !ivl || !tgl || strcmp(kl_, "128") || strcmp(ivl, "96") || strcmp(tgl, "128"))
            continue;
        uint8_t *k, *iv, *a, *p = NULL, *c, *t;
        size_t kl = 0, nl = 0, al = 0, pl = 0, cl = 0, tl = 0;
        int valid = rec_get(r, "FAIL") == NULL;
        char what[160];
        int bad = rec_bytes(r, "Key", &k, &kl) | rec_bytes(r, "IV", &iv, &nl) |
                  rec_bytes(r, "AAD", &a, &al) | rec_bytes(r, "CT", &c, &cl) |
                  rec_bytes(r, "Tag", &t, &tl);
        if (valid) bad |= rec_bytes(r, "PT", &p, &pl);
        if (bad) {
            ok(0, "%s line %d: unreadable record", rel, r->line);
        } else {
            snprintf(what, sizeof what, "NIST GCM %s Count %s%s", rel, rec_get(r, "Count"),
                     valid ? "" : " (FAIL)");
            aead_vector(SC_SUITE_AES128_GCM, what, r->line, k, kl, iv, nl, a, al, p, pl, c, cl,
                        t, tl, valid);
            fails += !valid;
        }
        free(k); free(iv); free(a); free(p); free(c); free(t);
        n++;
    }
    ok(n == expect && aead_used == expect && fails == expect_fail,
       "%s: %zu vectors with 128-bit key, 96-bit IV, 128-bit tag, %zu used, %zu FAIL "
       "(expect %zu, all, %zu)", rel, n, aead_used, fails, expect, expect_fail);
    vec_free(&vf);
}

/* lib/crypto.c seals short AES-128-GCM messages without libtomcrypt's table
 * and long ones with it (GCM_SHORT, 4096 bytes of AAD + plaintext).  NIST's
 * vectors are all short, so these digests of OpenSSL's output (SHA-256 of
 * ciphertext || tag; key 00..0f, nonce a0..ab, AAD[i] = 5i+1, PT[i] = 7i+3,
 * bytes mod 256) pin both forms on either side of the boundary. */
static void kat_gcm_long(void)
{
    static const struct { size_t al, pl; const char *sha; } v[] = {
        {    13,     0, "a66716d5599753fd57e3bed834b4362e9e86b71ab9ded4cb6cdf5a5b80471345" },
        {    13,     1, "c8cc80f94f13c70711efe8952ef843cd67f1bb2e75c87948361116227fd38506" },
        {    13,    16, "f47e1e6d992f527052b0586b2e72465f0046fa8e0b93fa9a81a01ac55a2ba4fb" },
        {    13,   100, "d23c2c3595d61864f68848f355e03204ba39b601c01152792898b4d0e2ab2860" },
        {    13,  4083, "7cdbfcdd72a8e377a9c5559dd909dcebfa9cc5d61a4a8cdf0747127a100a7deb" },
        {    13,  4084, "677a792d328ea77b0986b83a22d9ccd0f500efc91e446524dea94a694d7c7a0c" },
        {     0,  4096, "93bd1f65c7a5d5b84e79a0109bfcb373aa930193d8d9abbb39d4e4bc34808a14" },
        {     0,  4097, "8cba1b89b33a5cacaea19af474223dde19fdb530ff4a865c885504793fca05ea" },
        {  5000,    10, "3aca003c590610fb4fd081a550e8bdec55e7da369fafe8ca1d61b4beebadbcbc" },
        {    13, 16384, "7241c47e047ef6b0093701232e6eb1dd84e5e2c71b688c78af0baaceb7230013" },
        {    13, 65539, "8ff199cd6dfae949a10a76844f222a3a9fef3ef061c5af21016522efaa80a280" },
    };
    uint8_t key[16], nonce[SC_NONCE_LEN], dg[SC_SHA256_LEN];
    char hex[2 * SC_SHA256_LEN + 1];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof nonce; i++) nonce[i] = (uint8_t)(0xa0 + i);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t al = v[i].al, pl = v[i].pl, cl = pl + 16, ol = pl;
        uint8_t *a = xmalloc(al), *p = xmalloc(pl), *c = xmalloc(cl), *o = xmalloc(pl);
        for (size_t j = 0; j < al; j++) a[j] = (uint8_t)(5 * j + 1);
        for (size_t j = 0; j < pl; j++) p[j] = (uint8_t)(7 * j + 3);
        int sealed = sc_seal(SC_SUITE_AES128_GCM, key, nonce, a, al, p, pl, c, &cl) == 0;
        sc_sha256(c, cl, dg);
        sc_hex_encode(dg, sizeof dg, hex);
        ok(sealed && cl == pl + 16 && strcmp(hex, v[i].sha) == 0,
           "AES-128-GCM, %zu bytes AAD, %zu plaintext: OpenSSL's ciphertext and tag", al, pl);
        ok(sc_open(SC_SUITE_AES128_GCM, key, nonce, a, al, c, cl, o, &ol) == 0 && ol == pl &&
           (pl == 0 || memcmp(o, p, pl) == 0),
           "AES-128-GCM, %zu bytes AAD, %zu plaintext: opens", al, pl);
        /* must-fail twins: the tag, the first ciphertext byte, the AAD */
        int refused = 0, tries = 0;
        for (int t = 0; t < 3; t++) {
            uint8_t *flip = t == 0 ? c + cl - 1 : t == 1 ? (pl ? c : NULL) : (al ? a : NULL);
            if (!flip) continue;
            tries++;
            *flip ^= 0x80;
            ol = pl;
            refused += sc_open(SC_SUITE_AES128_GCM, key, nonce, a, al, c, cl, o, &ol) != 0 &&
                       all_zero(o, pl);
            *flip ^= 0x80;
        }
        ok(tries && refused == tries, "AES-128-GCM, %zu bytes AAD, %zu plaintext: a flipped bit "
           "in tag, ciphertext or AAD is refused and the output wiped (%d of %d)", al, pl,
           refused, tries);
        free(a); free(p); free(c); free(o);
    }
}

/* ------------------------------------------------------------------------ */
/* NIST CAVP AESAVS (SP 800-38A) AES-256-CBC: GFSbox, KeySbox, VarKey, VarTxt,
 * MMT; [ENCRYPT] records are encrypted, [DECRYPT] records decrypted */

static void kat_aes256cbc_file(const char *rel, size_t expect)
{
    vecfile vf;
    if (vec_open(&vf, 0, rel, "COUNT") < 0) return;
    size_t n = 0;
    for (size_t i = 0; i < vf.n; i++) {
        const record *r = &vf.r[i];
        uint8_t *k = NULL, *iv = NULL, *p = NULL, *c = NULL, *out;
        size_t kl = 0, nl = 0, pl = 0, cl = 0;
        int enc = sect_is(r, "ENCRYPT");
        int good = rec_bytes(r, "KEY", &k, &kl) == 0 && rec_bytes(r, "IV", &iv, &nl) == 0 &&
                   rec_bytes(r, "PLAINTEXT", &p, &pl) == 0 &&
                   rec_bytes(r, "CIPHERTEXT", &c, &cl) == 0 && kl == 32 && nl == 16 && pl == cl &&
                   (enc || sect_is(r, "DECRYPT"));
        out = xmalloc(cl);
        good = good && sc_aes256_cbc(enc, k, iv, enc ? p : c, pl, out) == 0 &&
               memcmp(out, enc ? c : p, pl) == 0;
        ok(good, "NIST AES-256-CBC %s %s COUNT %s, %zu bytes (line %d)", rel,
           enc ? "encrypt" : "decrypt", rec_get(r, "COUNT"), pl, r->line);
        free(k); free(iv); free(p); free(c); free(out);
        n++;
    }
    ok(n == expect, "%s: %zu vectors read (expect %zu)", rel, n, expect);
    vec_free(&vf);
}

/* ------------------------------------------------------------------------ */
/* ECDSA (FIPS 186-3 CAVP files) */

static int curve_of(const char *name)
{
    return strcmp(name, "P-224") == 0 ? SC_P224 : strcmp(name, "P-256") == 0 ? SC_P256 :
           strcmp(name, "P-384") == 0 ? SC_P384 : SC_CURVE_NONE;
}

/* 04 || Qx || Qy, each padded to the curve size; -1 if a coordinate does not
 * fit (it is then >= 2^(8*size) > p) */
static int build_point(int curve, const record *r, const char *kx, const char *ky,
                       uint8_t out[SC_MAX_PUB], size_t *len)
{
    size_t nb = sc_curve_bytes(curve), xl = 0, yl = 0;
    uint8_t *x = NULL, *y = NULL;
    int rc = -1;
    if (rec_bytes(r, kx, &x, &xl) == 0 && rec_bytes(r, ky, &y, &yl) == 0) {
        out[0] = 0x04;
        if (put_fixed(out + 1, nb, x, xl) == 0 && put_fixed(out + 1 + nb, nb, y, yl) == 0) {
            *len = 1 + 2 * nb;
            rc = 0;
        }
    }
    free(x); free(y);
    return rc;
}

/* KeyPair.rsp: d -> Q = dG */
static void kat_keypair(void)
{
    static const char *curves[] = { "P-224", "P-256", "P-384" };
    vecfile vf;
    if (vec_open(&vf, 0, "asymmetric/ECDSA/FIPS_186-3/KeyPair.rsp", "d") < 0) return;
    for (size_t ci = 0; ci < sizeof curves / sizeof curves[0]; ci++) {
        int curve = curve_of(curves[ci]);
        size_t nb = sc_curve_bytes(curve), n = 0;
        for (size_t i = 0; i < vf.n; i++) {
            const record *r = &vf.r[i];
            if (!sect_is(r, curves[ci])) continue;
            uint8_t want[SC_MAX_PUB], got[SC_MAX_PUB], d[SC_MAX_SCALAR], d2[SC_MAX_SCALAR], *dr = NULL;
            size_t wl = 0, gl = sizeof got, dl = 0, d2l = sizeof d2;
            int good = build_point(curve, r, "Qx", "Qy", want, &wl) == 0 &&
                       rec_bytes(r, "d", &dr, &dl) == 0 && put_fixed(d, nb, dr, dl) == 0;
            sc_key *k = good ? sc_key_from_scalar(curve, d, nb) : NULL;
            ok(k && sc_key_is_private(k) && sc_key_curve(k) == curve &&
               sc_key_public(k, got, &gl) == 0 && gl == wl && memcmp(got, want, wl) == 0,
               "KeyPair [%s] d -> Q (line %d)", curves[ci], r->line);
            ok(k && sc_key_scalar(k, d2, &d2l) == 0 && d2l == nb && memcmp(d, d2, nb) == 0,
               "KeyPair [%s] sc_key_scalar gives d back (line %d)", curves[ci], r->line);
            sc_key_free(k);
            free(dr);
            n++;
        }
        ok(n == 10, "KeyPair.rsp [%s]: %zu key pairs read (expect 10)", curves[ci], n);
    }
    vec_free(&vf);
}

/* PKV.rsp: public key validation.  A coordinate too big for the curve size is
 * sent as its own bytes (a 66-byte point for P-256) and must be refused. */
static void kat_pkv(void)
{
    static const char *curves[] = { "P-224", "P-256", "P-384" };
    vecfile vf;
    if (vec_open(&vf, 0, "asymmetric/ECDSA/FIPS_186-3/PKV.rsp", "Qx") < 0) return;
    for (size_t ci = 0; ci < sizeof curves / sizeof curves[0]; ci++) {
        int curve = curve_of(curves[ci]);
        size_t n = 0, npass = 0;
        for (size_t i = 0; i < vf.n; i++) {
            const record *r = &vf.r[i];
            if (!sect_is(r, curves[ci])) continue;
            const char *res = rec_get(r, "Result");
            int expect = res && res[0] == 'P';
            uint8_t pub[SC_MAX_PUB], *big = NULL, *x = NULL, *y = NULL;
            const uint8_t *buf = pub;
            size_t len = 0, xl = 0, yl = 0;
            int fits = build_point(curve, r, "Qx", "Qy", pub, &len) == 0;
            if (!fits && rec_bytes(r, "Qx", &x, &xl) == 0 && rec_bytes(r, "Qy", &y, &yl) == 0) {
                len = 1 + xl + yl;
                big = xmalloc(len);
                big[0] = 0x04;
                memcpy(big + 1, x, xl);
                memcpy(big + 1 + xl, y, yl);
                buf = big;
            }
            int got = len > 0 && sc_point_check(curve, buf, len) == 0;
            sc_key *k = len > 0 ? sc_key_from_public(curve, buf, len) : NULL;
            ok(res && got == expect && (k != NULL) == expect,
               "PKV [%s] %s%s: sc_point_check and sc_key_from_public %s (line %d)", curves[ci],
               res ? res : "?", fits ? "" : ", coordinate wider than the curve",
               expect ? "accept" : "refuse", r->line);
            sc_key_free(k);
            free(big); free(x); free(y);
            n++;
            npass += expect;
        }
        ok(n == 12 && npass > 0 && npass < n,
           "PKV.rsp [%s]: %zu points read, %zu valid (expect 12, some of each)", curves[ci], n,
           npass);
    }
    vec_free(&vf);
}

/* r||s from R and S, each padded to the curve size; -1 if one does not fit */
static int build_sig(int curve, const record *r, uint8_t sig[SC_MAX_SIG], size_t *len)
{
    size_t nb = sc_curve_bytes(curve), rl = 0, sl = 0;
    uint8_t *R = NULL, *S = NULL;
    int rc = -1;
    if (rec_bytes(r, "R", &R, &rl) == 0 && rec_bytes(r, "S", &S, &sl) == 0 &&
        put_fixed(sig, nb, R, rl) == 0 && put_fixed(sig + nb, nb, S, sl) == 0) {
        *len = 2 * nb;
        rc = 0;
    }
    free(R); free(S);
    return rc;
}

/*
 * SigVer.rsp: Msg is hashed with SHA-256 (the only hash in the API), and
 * sc_verify must give exactly the P/F result.  [P-256,SHA-256] is the
 * protocol's case; [P-224,SHA-256] and [P-384,SHA-256] also run, as the API
 * takes them (P-224 checks the FIPS 186 truncation of a 256-bit digest to the
 * leftmost 224 bits).  Sections with other hashes cannot be run.
 */
static void kat_sigver(void)
{
    static const char *sects[] = { "P-224,SHA-256", "P-256,SHA-256", "P-384,SHA-256" };
    vecfile vf;
    if (vec_open(&vf, 0, "asymmetric/ECDSA/FIPS_186-3/SigVer.rsp", "Msg") < 0) return;
    for (size_t si = 0; si < sizeof sects / sizeof sects[0]; si++) {
        char cname[8];
        snprintf(cname, sizeof cname, "%.5s", sects[si]);
        int curve = curve_of(cname);
        size_t n = 0, npass = 0;
        for (size_t i = 0; i < vf.n; i++) {
            const record *r = &vf.r[i];
            if (!sect_is(r, sects[si])) continue;
            const char *res = rec_get(r, "Result");
            int expect = res && res[0] == 'P';
            uint8_t pub[SC_MAX_PUB], sig[SC_MAX_SIG], h[SC_SHA256_LEN], *msg = NULL;
            size_t pl = 0, sl = 0, ml = 0;
            sc_key *k = NULL;
            int got = 0, got2 = 0;
            if (rec_bytes(r, "Msg", &msg, &ml) == 0) {
                sc_sha256(msg, ml, h);
                if (build_point(curve, r, "Qx", "Qy", pub, &pl) == 0)
                    k = sc_key_from_public(curve, pub, pl);
                if (k && build_sig(curve, r, sig, &sl) == 0) {
                    got = sc_verify(k, h, sizeof h, sig, sl);
                    got2 = sc_verify_stepwise(k, h, sizeof h, sig, sl);
                }
            }
            ok(res && got == expect && got2 == expect,
               "SigVer [%s] %s: sc_verify gives %d, sc_verify_stepwise %d (line %d)", sects[si],
               res ? res : "?", got, got2, r->line);
            sc_key_free(k);
            free(msg);
            n++;
            npass += expect;
        }
        ok(n == 15 && npass > 0 && npass < n,
           "SigVer.rsp [%s]: %zu signatures read, %zu valid (expect 15, some of each)", sects[si],
           n, npass);
    }
    vec_free(&vf);
}

/* SigGen.txt (the SigGen.rsp records with their d and k): every (R, S) is
 * valid; d -> Q; and our own signature with d (random k) verifies under Q */
static void kat_siggen(void)
{
    static const char *sects[] = { "P-224,SHA-256", "P-256,SHA-256", "P-384,SHA-256" };
    vecfile vf;
    if (vec_open(&vf, 0, "asymmetric/ECDSA/FIPS_186-3/SigGen.txt", "Msg") < 0) return;
    for (size_t si = 0; si < sizeof sects / sizeof sects[0]; si++) {
        char cname[8];
        snprintf(cname, sizeof cname, "%.5s", sects[si]);
        int curve = curve_of(cname);
        size_t nb = sc_curve_bytes(curve), n = 0;
        for (size_t i = 0; i < vf.n; i++) {
            const record *r = &vf.r[i];
            if (!sect_is(r, sects[si])) continue;
            uint8_t pub[SC_MAX_PUB], got[SC_MAX_PUB], sig[SC_MAX_SIG], mine[SC_MAX_SIG];
            uint8_t h[SC_SHA256_LEN], d[SC_MAX_SCALAR], *msg = NULL, *dr = NULL;
            size_t pl = 0, gl = sizeof got, sl = 0, myl = sizeof mine, ml = 0, dl = 0;
            int readable = rec_bytes(r, "Msg", &msg, &ml) == 0 &&
                           rec_bytes(r, "d", &dr, &dl) == 0 && put_fixed(d, nb, dr, dl) == 0 &&
                           build_point(curve, r, "Qx", "Qy", pub, &pl) == 0 &&
                           build_sig(curve, r, sig, &sl) == 0;
            if (readable) sc_sha256(msg, ml, h);
            sc_key *pk = readable ? sc_key_from_public(curve, pub, pl) : NULL;
            sc_key *sk = readable ? sc_key_from_scalar(curve, d, nb) : NULL;
            ok(pk && sc_verify(pk, h, sizeof h, sig, sl) == 1,
               "SigGen [%s] published (R, S) verifies (line %d)", sects[si], r->line);
            ok(sk && sc_key_public(sk, got, &gl) == 0 && gl == pl && memcmp(got, pub, pl) == 0,
               "SigGen [%s] d -> Q (line %d)", sects[si], r->line);
            ok(sk && pk && sc_sign(sk, h, sizeof h, mine, &myl) == 0 && myl == 2 * nb &&
               sc_verify(pk, h, sizeof h, mine, myl) == 1,
               "SigGen [%s] sign with d, verify with Q (line %d)", sects[si], r->line);
            sc_key_free(pk);
            sc_key_free(sk);
            free(msg); free(dr);
            n++;
        }
        ok(n == 15, "SigGen.txt [%s]: %zu messages read (expect 15)", sects[si], n);
    }
    vec_free(&vf);
}

/* RFC 6979 A.2.5 (P-256) signatures, verify side only (t/data) */
static void kat_rfc6979(void)
{
    vecfile vf;
    sc_key *pk = NULL;
    if (vec_open(&vf, 1, "rfc6979-p256.txt", "x,Hash") < 0) return;
    size_t nsig = 0, nkey = 0;
    for (size_t i = 0; i < vf.n; i++) {
        const record *r = &vf.r[i];
        if (rec_get(r, "x")) {
            uint8_t pub[SC_MAX_PUB], got[SC_MAX_PUB], d[32], *dr = NULL;
            size_t pl = 0, gl = sizeof got, dl;
            int good = build_point(SC_P256, r, "Ux", "Uy", pub, &pl) == 0 &&
                       rec_bytes(r, "x", &dr, &dl) == 0 && put_fixed(d, 32, dr, dl) == 0;
            sc_key *sk = good ? sc_key_from_scalar(SC_P256, d, 32) : NULL;
            ok(sk && sc_key_public(sk, got, &gl) == 0 && gl == pl && memcmp(got, pub, pl) == 0,
               "RFC 6979 A.2.5 private key x gives public key U (line %d)", r->line);
            sc_key_free(sk);
            sc_key_free(pk);
            pk = good ? sc_key_from_public(SC_P256, pub, pl) : NULL;
            ok(pk != NULL, "RFC 6979 A.2.5 public key U accepted (line %d)", r->line);
            free(dr);
            nkey++;
            continue;
        }
        const char *hash = rec_get(r, "Hash");
        uint8_t *msg = NULL, *dg = NULL, h[SC_SHA256_LEN], sig[SC_MAX_SIG];
        size_t ml = 0, dgl = 0, sl = 0;
        const uint8_t *digest = NULL;
        int sha256 = hash && strcmp(hash, "SHA-256") == 0;
        int readable = rec_bytes(r, "Msg", &msg, &ml) == 0;
        uint8_t *R = NULL, *S = NULL;
        size_t rl = 0, sl_ = 0;
        if (rec_bytes(r, "r", &R, &rl) == 0 && rec_bytes(r, "s", &S, &sl_) == 0 &&
            put_fixed(sig, 32, R, rl) == 0 && put_fixed(sig + 32, 32, S, sl_) == 0)
            sl = 64;
        free(R); free(S);
        if (sha256) {
            sc_sha256(msg, ml, h);
            digest = h;
            dgl = sizeof h;
        } else if (rec_bytes(r, "Digest", &dg, &dgl) == 0) {
            digest = dg;
        }
        readable = readable && digest && sl == 64 && pk;
        ok(readable && sc_verify(pk, digest, dgl, sig, sl) == 1 &&
           sc_verify_stepwise(pk, digest, dgl, sig, sl) == 1,
           "RFC 6979 A.2.5 %s, message \"%.*s\": signature verifies (both ways) (line %d)",
           hash ? hash : "?", (int)ml, msg ? (const char *)msg : "", r->line);
        if (sha256)
            ok(readable && sc_verify_msg(pk, msg, ml, sig, sl) == 1,
               "RFC 6979 A.2.5 %s \"%.*s\": sc_verify_msg agrees (line %d)", hash, (int)ml,
               msg ? (const char *)msg : "", r->line);
        /* must-fail twins: digest bit 0 flipped (inside the leftmost 256
         * bits, so it changes e), and s changed by one */
        if (readable) {
            uint8_t *d2 = xmalloc(dgl), s2[SC_MAX_SIG];
            memcpy(d2, digest, dgl);
            d2[0] ^= 0x01;
            memcpy(s2, sig, sl);
            s2[sl - 1] ^= 0x01;
            ok(sc_verify(pk, d2, dgl, sig, sl) == 0 && sc_verify(pk, digest, dgl, s2, sl) == 0 &&
               sc_verify_stepwise(pk, d2, dgl, sig, sl) == 0 &&
               sc_verify_stepwise(pk, digest, dgl, s2, sl) == 0,
               "RFC 6979 A.2.5 %s: flipped digest bit / flipped s bit refused (line %d)", hash ? hash : "?",
               r->line);
            free(d2);
        } else {
            ok(0, "RFC 6979 A.2.5 record unreadable (line %d)", r->line);
        }
        free(msg); free(dg);
        nsig++;
    }
    ok(nkey == 1 && nsig == 6, "rfc6979-p256.txt: %zu key, %zu signatures read (expect 1, 6)",
       nkey, nsig);
    sc_key_free(pk);
    vec_free(&vf);
}

int main(void)
{
    if (sc_init() != 0) {
        ok(0, "sc_init");
        return tap_done();
    }
    printf("# vectors: %s, data: %s\n", vecdir(), tap_datadir());
    kat_hmac();
    kat_hkdf();
    kat_pbkdf2("pbkdf2-sha256.txt", SC_HASH_SHA256, 9);
    kat_pbkdf2("pbkdf2-sha1.txt", SC_HASH_SHA1, 7);
    kat_sha256_file("hashes/SHA2/SHA256ShortMsg.rsp", 65);
    kat_sha256_file("hashes/SHA2/SHA256LongMsg.rsp", 64);
    kat_chacha_file("ciphers/ChaCha20Poly1305/boringssl.txt", "KEY", "NONCE", "AD", "IN", "CT",
                    "TAG", 66, 0);
    kat_chacha_file("ciphers/ChaCha20Poly1305/openssl.txt", "Key", "IV", "AAD", "Plaintext",
                    "Ciphertext", "Tag", 5, 1);
    kat_gcm_file("ciphers/AES/GCM/gcmEncryptExtIV128.rsp", 375, 0);
    kat_gcm_file("ciphers/AES/GCM/gcmDecrypt128.rsp", 375, 196);
    kat_gcm_long();
    kat_aes256cbc_file("ciphers/AES/CBC/CBCGFSbox256.rsp", 10);
    kat_aes256cbc_file("ciphers/AES/CBC/CBCKeySbox256.rsp", 32);
    kat_aes256cbc_file("ciphers/AES/CBC/CBCVarKey256.rsp", 512);
    kat_aes256cbc_file("ciphers/AES/CBC/CBCVarTxt256.rsp", 256);
    kat_aes256cbc_file("ciphers/AES/CBC/CBCMMT256.rsp", 20);
    kat_keypair();
    kat_pkv();
    kat_sigver();
    kat_siggen();
    kat_rfc6979();
    return tap_done();
}
