/*
 * crypto.c - simpp's cryptographic core over libtomcrypt 1.18 + libtommath.
 *
 * This is the only file that talks to libtomcrypt.  The comments marked "trap N"
 * refer to the list of libtomcrypt 1.18 pitfalls in doc/CRYPTO.md.
 */
#include <errno.h>
#include <limits.h>
#include <sys/random.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <tomcrypt.h>

#include "crypto.h"

struct sc_key {
    ecc_key k;
    int curve;
    const struct sc_key_ops *ops;   /* external private key: k holds only the public point */
    void *ctx;
};

static int idx_aes = -1, idx_sha256 = -1, idx_sha1 = -1, idx_sprng = -1;

int sc_init(void)
{
    if (idx_sprng >= 0) return 0;
    ltc_mp = ltm_desc;                        /* trap 1: before any PK call */
    if (register_cipher(&aes_desc) < 0 || register_hash(&sha256_desc) < 0 ||
        register_hash(&sha1_desc) < 0 ||
        register_prng(&sprng_desc) < 0)
        return -1;
    idx_aes = find_cipher("aes");             /* trap 2: look up by index */
    idx_sha256 = find_hash("sha256");
    idx_sha1 = find_hash("sha1");
    idx_sprng = find_prng("sprng");
    if (idx_aes < 0 || idx_sha256 < 0 || idx_sha1 < 0 || idx_sprng < 0) return -1;
    return 0;
}

/* ---- memory ------------------------------------------------------------ */

void sc_zero(void *p, size_t n)
{
    if (p && n) explicit_bzero(p, n);         /* trap 13: clean stack is off */
}

int sc_ct_eq(const void *a, const void *b, size_t n)
{
    if (n == 0) return 1;
    if (!a || !b) return 0;
    return mem_neq(a, b, n) == 0;
}

/* libtomcrypt aborts on NULL buffers even of length 0 (ARGTYPE=0) */
static const unsigned char empty[1];
#define NZ(p) ((const unsigned char *)((p) ? (const void *)(p) : (const void *)empty))

/* ---- randomness -------------------------------------------------------- */

int sc_random(void *buf, size_t n)
{
    if (n == 0) return 0;
    if (!buf || sc_init() < 0) return -1;
    /* the kernel's RNG directly (no descriptor to open per call); libtomcrypt's
     * sprng (/dev/urandom) if getrandom(2) is not there */
    uint8_t *p = buf;
    size_t left = n;
    while (left) {
        ssize_t r = getrandom(p, left, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return sprng_read(p, left, NULL) == left ? 0 : -1;
        p += r;
        left -= (size_t)r;
    }
    return 0;
}

/* ---- hashing ----------------------------------------------------------- */

_Static_assert(sizeof(hash_state) <= sizeof(((sc_sha256_ctx *)0)->opaque),
               "sc_sha256_ctx too small for hash_state");

void sc_sha256_init(sc_sha256_ctx *c)
{
    sha256_init((hash_state *)c->opaque);
}

void sc_sha256_update(sc_sha256_ctx *c, const void *p, size_t n)
{
    if (n) sha256_process((hash_state *)c->opaque, p, n);
}

void sc_sha256_final(sc_sha256_ctx *c, uint8_t out[SC_SHA256_LEN])
{
    sha256_done((hash_state *)c->opaque, out);
    sc_zero(c, sizeof *c);
}

void sc_sha256(const void *p, size_t n, uint8_t out[SC_SHA256_LEN])
{
    sc_sha256_ctx c;
    sc_sha256_init(&c);
    sc_sha256_update(&c, p, n);
    sc_sha256_final(&c, out);
}

void sc_sha256_parts(uint8_t out[SC_SHA256_LEN], ...)
{
    sc_sha256_ctx c;
    va_list ap;
    const void *p;
    sc_sha256_init(&c);
    va_start(ap, out);
    while ((p = va_arg(ap, const void *)) != NULL) {
        size_t n = va_arg(ap, size_t);
        sc_sha256_update(&c, p, n);
    }
    va_end(ap);
    sc_sha256_final(&c, out);
}

int sc_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                   uint8_t out[SC_SHA256_LEN])
{
    unsigned long ol = SC_SHA256_LEN;
    unsigned char zero = 0;
    if (sc_init() < 0) return -1;
    /* HMAC pads the key with zeros, so an empty key equals one zero byte;
     * libtomcrypt refuses a zero-length key. */
    if (klen == 0) { key = &zero; klen = 1; }
    return hmac_memory(idx_sha256, key, klen, NZ(msg), mlen, out, &ol) == CRYPT_OK ? 0 : -1;
}

int sc_hkdf_sha256(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
                   const void *info, size_t infolen, void *out, size_t outlen)
{
    if (sc_init() < 0 || !out || outlen == 0 || outlen > 255 * SC_SHA256_LEN) return -1;
    /* RFC 5869 2.2: an absent salt is HashLen zeros */
    static const unsigned char zsalt[SC_SHA256_LEN];
    if (saltlen == 0) { salt = zsalt; saltlen = sizeof zsalt; }
    return hkdf(idx_sha256, salt, saltlen, NZ(info), infolen, NZ(ikm), ikmlen,
                out, outlen) == CRYPT_OK ? 0 : -1;
}

/* ---- SCRAM's hashes by id -------------------------------------------- */

static int hash_idx(int h)
{
    if (sc_init() < 0) return -1;
    return h == SC_HASH_SHA256 ? idx_sha256 : h == SC_HASH_SHA1 ? idx_sha1 : -1;
}

size_t sc_hash_len(int h)
{
    return h == SC_HASH_SHA256 ? SC_SHA256_LEN : h == SC_HASH_SHA1 ? 20 : 0;
}

int sc_hash(int h, const void *p, size_t n, uint8_t *out)
{
    unsigned long ol = SC_HASH_MAX_LEN;
    int i = hash_idx(h);
    return i >= 0 && hash_memory(i, NZ(p), n, out, &ol) == CRYPT_OK ? 0 : -1;
}

int sc_hmac(int h, const void *key, size_t klen, const void *msg, size_t mlen, uint8_t *out)
{
    unsigned long ol = SC_HASH_MAX_LEN;
    unsigned char zero = 0;
    int i = hash_idx(h);
    if (i < 0) return -1;
    if (klen == 0) { key = &zero; klen = 1; }      /* as sc_hmac_sha256 */
    return hmac_memory(i, key, klen, NZ(msg), mlen, out, &ol) == CRYPT_OK ? 0 : -1;
}

/*
 * PBKDF2 (RFC 8018 5.2) with HMAC (RFC 2104) over libtomcrypt's hash
 * primitives.  The key is the password, the same in every round: its inner
 * and outer states (the hash after the key block XOR ipad / opad) are made
 * once per derivation and copied into each round, so a round costs two
 * hashes of one short block each instead of four, plus the key set-up,
 * that an HMAC keyed afresh every round costs (pkcs_5_alg2 does that).
 */
static int pbkdf2(int i, const uint8_t *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                  unsigned long iterations, uint8_t *out, size_t outlen)
{
    const struct ltc_hash_descriptor *d = &hash_descriptor[i];
    unsigned long hl = d->hashsize, bl = d->blocksize;
    uint8_t pad[128], u[MAXBLOCKSIZE], t[MAXBLOCKSIZE], ctr[4];
    hash_state inner, outer, s;
    int rc = -1;
    if (bl > sizeof pad || hl > sizeof u) return -1;
    memset(pad, 0, sizeof pad);
    if (pwlen > bl) {                       /* a long key is its hash (RFC 2104 2) */
        if (d->init(&s) != CRYPT_OK || d->process(&s, pw, (unsigned long)pwlen) != CRYPT_OK ||
            d->done(&s, pad) != CRYPT_OK)
            goto out;
    } else
        memcpy(pad, pw, pwlen);
    for (unsigned long k = 0; k < bl; k++) pad[k] ^= 0x36;
    if (d->init(&inner) != CRYPT_OK || d->process(&inner, pad, bl) != CRYPT_OK) goto out;
    for (unsigned long k = 0; k < bl; k++) pad[k] ^= 0x36 ^ 0x5c;
    if (d->init(&outer) != CRYPT_OK || d->process(&outer, pad, bl) != CRYPT_OK) goto out;
    for (uint32_t block = 1; outlen > 0; block++) {
        size_t n = outlen < hl ? outlen : hl;
        ctr[0] = (uint8_t)(block >> 24); ctr[1] = (uint8_t)(block >> 16);
        ctr[2] = (uint8_t)(block >> 8); ctr[3] = (uint8_t)block;
        /* U_1 = PRF(P, S || INT(i)) */
        s = inner;
        if (d->process(&s, salt, (unsigned long)saltlen) != CRYPT_OK || d->process(&s, ctr, 4) != CRYPT_OK ||
            d->done(&s, u) != CRYPT_OK)
            goto out;
        s = outer;
        if (d->process(&s, u, hl) != CRYPT_OK || d->done(&s, u) != CRYPT_OK) goto out;
        memcpy(t, u, hl);
        /* U_j = PRF(P, U_{j-1}); T = U_1 ^ ... ^ U_c */
        for (unsigned long r = 1; r < iterations; r++) {
            s = inner;
            if (d->process(&s, u, hl) != CRYPT_OK || d->done(&s, u) != CRYPT_OK) goto out;
            s = outer;
            if (d->process(&s, u, hl) != CRYPT_OK || d->done(&s, u) != CRYPT_OK) goto out;
            for (unsigned long k = 0; k < hl; k++) t[k] ^= u[k];
        }
        memcpy(out, t, n);
        out += n;
        outlen -= n;
    }
    rc = 0;
out:
    sc_zero(pad, sizeof pad);
    sc_zero(u, sizeof u);
    sc_zero(t, sizeof t);
    sc_zero(&inner, sizeof inner);
    sc_zero(&outer, sizeof outer);
    sc_zero(&s, sizeof s);
    return rc;
}

int sc_pbkdf2(int h, const void *pw, size_t pwlen, const void *salt, size_t saltlen,
              unsigned long iterations, void *out, size_t outlen)
{
    int i = hash_idx(h);
    /* RFC 8018: dkLen at most (2^32 - 1) * hLen; far more than any caller */
    if (i < 0 || !out || outlen == 0 || outlen > (1u << 20) || iterations == 0 || iterations > INT_MAX ||
        pwlen == 0)
        return -1;
    return pbkdf2(i, pw, pwlen, NZ(salt), saltlen, iterations, out, outlen);
}

int sc_pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
                     unsigned long iterations, void *out, size_t outlen)
{
    return sc_pbkdf2(SC_HASH_SHA256, pw, pwlen, salt, saltlen, iterations, out, outlen);
}

/* ---- symmetric suites -------------------------------------------------- */

const char *sc_suite_name(int suite)
{
    switch (suite) {
    case SC_SUITE_CHACHA20_POLY1305: return "chacha20-poly1305";
    case SC_SUITE_AES128_GCM:        return "aes128-gcm";
    case SC_SUITE_AES128_CBC_HMAC:   return "aes128-cbc-hmac-sha256";
    }
    return NULL;
}

int sc_suite_from_name(const char *name)
{
    for (int s = SC_SUITE_CHACHA20_POLY1305; s <= SC_SUITE_AES128_CBC_HMAC; s++)
        if (name && strcmp(name, sc_suite_name(s)) == 0) return s;
    return SC_SUITE_NONE;
}

size_t sc_suite_keylen(int suite)
{
    switch (suite) {
    case SC_SUITE_CHACHA20_POLY1305: return 32;
    case SC_SUITE_AES128_GCM:        return 16;
    case SC_SUITE_AES128_CBC_HMAC:   return 16 + 32;
    }
    return 0;
}

size_t sc_suite_overhead(int suite, size_t ptlen)
{
    switch (suite) {
    case SC_SUITE_CHACHA20_POLY1305:
    case SC_SUITE_AES128_GCM:        return 16;
    case SC_SUITE_AES128_CBC_HMAC:   return (16 - ptlen % 16) + 32;
    }
    return 0;
}

static int chacha_run(int enc, const uint8_t *key, const uint8_t *nonce, const void *aad,
                      size_t aadlen, const uint8_t *in, size_t len, uint8_t *out,
                      uint8_t tag[16])
{
    chacha20poly1305_state st;
    unsigned long tl = 16;
    int ok = chacha20poly1305_init(&st, key, 32) == CRYPT_OK &&
             chacha20poly1305_setiv(&st, nonce, SC_NONCE_LEN) == CRYPT_OK &&
             (aadlen == 0 || chacha20poly1305_add_aad(&st, aad, aadlen) == CRYPT_OK) &&
             (len == 0 || (enc ? chacha20poly1305_encrypt(&st, in, len, out)
                               : chacha20poly1305_decrypt(&st, in, len, out)) == CRYPT_OK) &&
             chacha20poly1305_done(&st, tag, &tl) == CRYPT_OK && tl == 16;
    sc_zero(&st, sizeof st);
    return ok ? 0 : -1;
}

/*
 * AES-128-GCM comes in two forms that compute the same function (SP 800-38D).
 * libtomcrypt's gcm_init builds a 64 KiB table from H before the first byte
 * (about 60 us), which pays off only over long messages; but most keys here
 * seal one short message (every e2e frame has its own key from the ratchet).
 * Up to GCM_SHORT bytes, then, the same algorithm is run from libtomcrypt's
 * parts without the table: GHASH by gcm_gf_mult, one multiplication per
 * block, and the counter blocks by aes_ecb_encrypt.  Above it libtomcrypt's
 * gcm_*: the table's speed per block (about 6 us a KiB against 16) wins its
 * set-up back from about 6 KiB on.  Both forms are checked against NIST's
 * vectors and OpenSSL's output on either side of the boundary
 * (t/unit/crypto_kat.c).
 */
#define GCM_SHORT 4096

/* Y = (Y ^ X_i) . H over the 16-byte blocks of p, the last one zero-padded */
static void ghash(const uint8_t h[16], uint8_t y[16], const uint8_t *p, size_t n)
{
    uint8_t t[16];
    while (n) {
        size_t k = n < 16 ? n : 16;
        for (size_t i = 0; i < k; i++) y[i] ^= p[i];
        gcm_gf_mult(h, y, t);
        memcpy(y, t, 16);
        p += k;
        n -= k;
    }
    sc_zero(t, sizeof t);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static int gcm_short(int enc, const uint8_t *key, const uint8_t *nonce, const void *aad,
                     size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
    symmetric_key sk;
    uint8_t h[16] = { 0 }, y[16] = { 0 }, cb[16], ks[16], lens[16];
    int ok = aes_setup(key, 16, 0, &sk) == CRYPT_OK && aes_ecb_encrypt(h, h, &sk) == CRYPT_OK;
    /* GHASH_H(A || 0^v || C || 0^u || [len(A)]64 || [len(C)]64); the
     * ciphertext is hashed before decryption, so in may be out */
    if (ok) ghash(h, y, aad, aadlen);
    if (ok && !enc) ghash(h, y, in, len);
    memcpy(cb, nonce, SC_NONCE_LEN);                 /* J0 = IV || 0^31 || 1 */
    for (size_t off = 0; ok && off < len; off += 16) {
        size_t k = len - off < 16 ? len - off : 16;
        put_be(cb + 12, (uint32_t)(2 + off / 16), 4);  /* inc32 from J0 + 1 */
        ok = aes_ecb_encrypt(cb, ks, &sk) == CRYPT_OK;
        for (size_t i = 0; ok && i < k; i++) out[off + i] = in[off + i] ^ ks[i];
    }
    if (ok && enc) ghash(h, y, out, len);
    put_be(lens, (uint64_t)aadlen * 8, 8);
    put_be(lens + 8, (uint64_t)len * 8, 8);
    if (ok) ghash(h, y, lens, 16);
    put_be(cb + 12, 1, 4);
    ok = ok && aes_ecb_encrypt(cb, ks, &sk) == CRYPT_OK;      /* T = E_K(J0) ^ S */
    for (int i = 0; ok && i < 16; i++) tag[i] = ks[i] ^ y[i];
    aes_done(&sk);
    sc_zero(&sk, sizeof sk);
    sc_zero(h, sizeof h);
    sc_zero(y, sizeof y);
    sc_zero(ks, sizeof ks);
    return ok ? 0 : -1;
}

static int gcm_run(int enc, const uint8_t *key, const uint8_t *nonce, const void *aad,
                   size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
    if (len + aadlen <= GCM_SHORT)
        return gcm_short(enc, key, nonce, aad, aadlen, in, len, out, tag);
    /* 64 KiB of key-dependent tables: heap, and wiped */
    gcm_state *g = malloc(sizeof *g);
    unsigned long tl = 16;
    if (!g) return -1;
    int ok = gcm_init(g, idx_aes, key, 16) == CRYPT_OK &&
             gcm_add_iv(g, nonce, SC_NONCE_LEN) == CRYPT_OK &&
             gcm_add_aad(g, NZ(aad), aadlen) == CRYPT_OK &&
             (len == 0 || gcm_process(g, (unsigned char *)(enc ? in : out),
                                      len, (unsigned char *)(enc ? out : in),
                                      enc ? GCM_ENCRYPT : GCM_DECRYPT) == CRYPT_OK) &&
             gcm_done(g, tag, &tl) == CRYPT_OK && tl == 16;
    sc_zero(g, sizeof *g);
    free(g);
    return ok ? 0 : -1;
}

/* AES-128-CBC + HMAC-SHA256, encrypt-then-MAC (the paper's suite, made sound).
 * MAC input: u64be(aadlen) || aad || nonce || ciphertext. */
static int cbc_mac(const uint8_t *mkey, const uint8_t *nonce, const void *aad, size_t aadlen,
                   const uint8_t *ct, size_t ctlen, uint8_t mac[SC_SHA256_LEN])
{
    hmac_state h;
    unsigned long ml = SC_SHA256_LEN;
    uint8_t alen[8];
    for (int i = 0; i < 8; i++) alen[i] = (uint8_t)((uint64_t)aadlen >> (56 - 8 * i));
    int ok = hmac_init(&h, idx_sha256, mkey, 32) == CRYPT_OK &&
             hmac_process(&h, alen, 8) == CRYPT_OK &&
             (aadlen == 0 || hmac_process(&h, aad, aadlen) == CRYPT_OK) &&
             hmac_process(&h, nonce, SC_NONCE_LEN) == CRYPT_OK &&
             (ctlen == 0 || hmac_process(&h, ct, ctlen) == CRYPT_OK) &&
             hmac_done(&h, mac, &ml) == CRYPT_OK;
    sc_zero(&h, sizeof h);
    return ok ? 0 : -1;
}

static int cbc_start_iv(const uint8_t *ekey, const uint8_t *nonce, symmetric_CBC *cbc)
{
    /* IV = AES_K(nonce || 0^32): an unpredictable IV from a unique nonce
     * (NIST SP 800-38A, Appendix C), so no IV travels on the wire. */
    symmetric_key sk;
    uint8_t blk[16] = { 0 }, iv[16];
    memcpy(blk, nonce, SC_NONCE_LEN);
    int ok = aes_setup(ekey, 16, 0, &sk) == CRYPT_OK &&
             aes_ecb_encrypt(blk, iv, &sk) == CRYPT_OK &&
             cbc_start(idx_aes, iv, ekey, 16, 0, cbc) == CRYPT_OK;
    aes_done(&sk);
    sc_zero(&sk, sizeof sk);
    sc_zero(iv, sizeof iv);
    return ok ? 0 : -1;
}

int sc_seal(int suite, const uint8_t *key, const uint8_t nonce[SC_NONCE_LEN],
            const void *aad, size_t aadlen, const void *pt, size_t ptlen,
            uint8_t *out, size_t *outlen)
{
    if (sc_init() < 0 || !key || !nonce || !out || !outlen || (ptlen && !pt) ||
        (aadlen && !aad) || ptlen > ((size_t)1 << 36) - 32)   /* GCM's limit, SP 800-38D */
        return -1;
    size_t need = ptlen + sc_suite_overhead(suite, ptlen);
    if (need == ptlen || *outlen < need) return -1;
    int r = -1;
    if (suite == SC_SUITE_CHACHA20_POLY1305)
        r = chacha_run(1, key, nonce, aad, aadlen, pt, ptlen, out, out + ptlen);
    else if (suite == SC_SUITE_AES128_GCM)
        r = gcm_run(1, key, nonce, aad, aadlen, pt, ptlen, out, out + ptlen);
    else if (suite == SC_SUITE_AES128_CBC_HMAC) {
        symmetric_CBC cbc;
        size_t pad = 16 - ptlen % 16, ctlen = ptlen + pad;
        if (ptlen) memmove(out, pt, ptlen);
        memset(out + ptlen, (int)pad, pad);                 /* PKCS#7 */
        if (cbc_start_iv(key, nonce, &cbc) == 0) {
            r = cbc_encrypt(out, out, ctlen, &cbc) == CRYPT_OK ? 0 : -1;
            cbc_done(&cbc);
            sc_zero(&cbc, sizeof cbc);
            if (r == 0) r = cbc_mac(key + 16, nonce, aad, aadlen, out, ctlen, out + ctlen);
        }
    }
    if (r < 0) {
        sc_zero(out, need);
        return -1;
    }
    *outlen = need;
    return 0;
}

int sc_open(int suite, const uint8_t *key, const uint8_t nonce[SC_NONCE_LEN],
            const void *aad, size_t aadlen, const uint8_t *in, size_t inlen,
            uint8_t *out, size_t *outlen)
{
    uint8_t tag[SC_SHA256_LEN];
    int r = -1;
    size_t len = 0;
    if (sc_init() < 0 || !key || !nonce || !in || !out || !outlen || (aadlen && !aad))
        return -1;
    if (suite == SC_SUITE_CHACHA20_POLY1305 || suite == SC_SUITE_AES128_GCM) {
        if (inlen < 16 || *outlen < inlen - 16) return -1;
        len = inlen - 16;
        /* trap 9: the one-call decrypt of 1.18 does not check the tag, so
         * compute it into our own buffer and compare in constant time */
        r = (suite == SC_SUITE_CHACHA20_POLY1305 ? chacha_run : gcm_run)
                (0, key, nonce, aad, aadlen, in, len, out, tag);
        if (r == 0 && !sc_ct_eq(tag, in + len, 16)) r = -1;
    } else if (suite == SC_SUITE_AES128_CBC_HMAC) {
        if (inlen < 16 + 32 || (inlen - 32) % 16 || *outlen < inlen - 32) return -1;
        size_t ctlen = inlen - 32;
        /* encrypt-then-MAC: authenticate before touching the ciphertext */
        if (cbc_mac(key + 16, nonce, aad, aadlen, in, ctlen, tag) == 0 &&
            sc_ct_eq(tag, in + ctlen, 32)) {
            symmetric_CBC cbc;
            if (cbc_start_iv(key, nonce, &cbc) == 0) {
                if (cbc_decrypt(in, out, ctlen, &cbc) == CRYPT_OK) {
                    /* padding is authenticated, but check it all anyway */
                    unsigned pad = out[ctlen - 1], bad = pad == 0 || pad > 16;
                    for (unsigned i = 1; i <= 16 && !bad; i++)
                        if (i <= pad && out[ctlen - i] != pad) bad = 1;
                    if (!bad) { r = 0; len = ctlen - pad; }
                }
                cbc_done(&cbc);
                sc_zero(&cbc, sizeof cbc);
            }
        }
        if (r < 0) len = ctlen;
    } else
        return -1;
    sc_zero(tag, sizeof tag);
    if (r < 0) {
        sc_zero(out, len);
        return -1;
    }
    *outlen = len;
    return 0;
}

int sc_aes256_cbc(int encrypt, const uint8_t key[32], const uint8_t iv[16],
                  const uint8_t *in, size_t len, uint8_t *out)
{
    symmetric_CBC cbc;
    if (sc_init() < 0 || !key || !iv || !in || !out || len == 0 || len % 16) return -1;
    if (cbc_start(idx_aes, iv, key, 32, 0, &cbc) != CRYPT_OK) return -1;
    int r = (encrypt ? cbc_encrypt(in, out, len, &cbc) : cbc_decrypt(in, out, len, &cbc));
    cbc_done(&cbc);
    sc_zero(&cbc, sizeof cbc);
    return r == CRYPT_OK ? 0 : -1;
}

/* ---- elliptic curves --------------------------------------------------- */

int sc_curve_from_name(const char *n)
{
    static const struct { const char *name; int curve; } names[] = {
        { "P-224", SC_P224 }, { "p224", SC_P224 }, { "secp224r1", SC_P224 },
        { "P-256", SC_P256 }, { "p256", SC_P256 }, { "prime256v1", SC_P256 },
        { "secp256r1", SC_P256 },
        { "P-384", SC_P384 }, { "p384", SC_P384 }, { "secp384r1", SC_P384 },
    };
    for (size_t i = 0; n && i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(n, names[i].name) == 0) return names[i].curve;
    return SC_CURVE_NONE;
}

const char *sc_curve_name(int curve)
{
    switch (curve) {
    case SC_P224: return "P-224";
    case SC_P256: return "P-256";
    case SC_P384: return "P-384";
    }
    return NULL;
}

size_t sc_curve_bytes(int curve)
{
    switch (curve) {
    case SC_P224: return 28;
    case SC_P256: return 32;
    case SC_P384: return 48;
    }
    return 0;
}

/* trap 4: pin the curve by its parameter set, never let it be guessed */
static int curve_set(int curve)
{
    const char *want = curve == SC_P224 ? "ECC-224" : curve == SC_P256 ? "ECC-256" :
                       curve == SC_P384 ? "ECC-384" : NULL;
    if (!want || sc_init() < 0) return -1;
    for (int i = 0; ltc_ecc_sets[i].size; i++)
        if (strcmp(ltc_ecc_sets[i].name, want) == 0) return i;
    return -1;
}

static sc_key *key_new(int curve, int *set)
{
    *set = curve_set(curve);
    if (*set < 0) return NULL;
    sc_key *k = calloc(1, sizeof *k);
    if (k) k->curve = curve;
    return k;
}

void sc_key_free(sc_key *k)
{
    if (!k) return;
    if (k->ops && k->ops->free) k->ops->free(k->ctx);
    if (k->k.pubkey.x) ecc_free(&k->k);     /* libtommath clears digits on free */
    sc_zero(k, sizeof *k);
    free(k);
}

sc_key *sc_key_generate(int curve)
{
    int set;
    sc_key *k = key_new(curve, &set);
    if (!k) return NULL;
    if (ecc_make_key_ex(NULL, idx_sprng, &k->k, &ltc_ecc_sets[set]) != CRYPT_OK) {
        free(k);
        return NULL;
    }
    return k;
}

/* read a curve constant given in hex */
static int hexnum(void *n, const char *hex)
{
    return ltc_mp.read_radix(n, hex, 16) == CRYPT_OK ? 0 : -1;
}

sc_key *sc_key_from_scalar(int curve, const uint8_t *d, size_t dlen)
{
    int set;
    void *order = NULL, *prime = NULL;
    ecc_point *g = NULL;
    if (!d || dlen != sc_curve_bytes(curve)) return NULL;
    sc_key *k = key_new(curve, &set);
    if (!k) return NULL;
    const ltc_ecc_set_type *dp = &ltc_ecc_sets[set];
    k->k.type = PK_PRIVATE;
    k->k.idx = set;
    k->k.dp = dp;
    if (ltc_init_multi(&k->k.pubkey.x, &k->k.pubkey.y, &k->k.pubkey.z, &k->k.k,
                       &order, &prime, NULL) != CRYPT_OK) {
        free(k);
        return NULL;
    }
    int ok = 0;
    if (ltc_mp.unsigned_read(k->k.k, (unsigned char *)d, dlen) == CRYPT_OK &&
        hexnum(order, dp->order) == 0 && hexnum(prime, dp->prime) == 0 &&
        /* the scalar must lie in [1, n-1] */
        ltc_mp.compare_d(k->k.k, 0) == LTC_MP_GT && ltc_mp.compare(k->k.k, order) == LTC_MP_LT &&
        (g = ltc_ecc_new_point()) != NULL &&
        hexnum(g->x, dp->Gx) == 0 && hexnum(g->y, dp->Gy) == 0 &&
        ltc_mp.set_int(g->z, 1) == CRYPT_OK &&
        /* Debian builds LTC_ECC_TIMING_RESISTANT: a Montgomery-ladder mulmod */
        ltc_ecc_mulmod(k->k.k, g, &k->k.pubkey, prime, 1) == CRYPT_OK)
        ok = 1;
    if (g) ltc_ecc_del_point(g);
    ltc_deinit_multi(order, prime, NULL);
    if (!ok) {
        sc_key_free(k);
        return NULL;
    }
    return k;
}

sc_key *sc_key_from_pair(int curve, const uint8_t *d, size_t dlen, const uint8_t *pub, size_t publen)
{
    int set;
    void *order = NULL;
    size_t nb = sc_curve_bytes(curve);
    if (!d || dlen != nb || sc_point_check(curve, pub, publen) < 0) return NULL;
    sc_key *k = key_new(curve, &set);
    if (!k) return NULL;
    k->k.type = PK_PRIVATE;
    k->k.idx = set;
    k->k.dp = &ltc_ecc_sets[set];
    if (ltc_init_multi(&k->k.pubkey.x, &k->k.pubkey.y, &k->k.pubkey.z, &k->k.k, &order, NULL) != CRYPT_OK) {
        free(k);
        return NULL;
    }
    int ok = ltc_mp.unsigned_read(k->k.k, (unsigned char *)d, dlen) == CRYPT_OK &&
             hexnum(order, k->k.dp->order) == 0 &&
             ltc_mp.compare_d(k->k.k, 0) == LTC_MP_GT && ltc_mp.compare(k->k.k, order) == LTC_MP_LT &&
             ltc_mp.unsigned_read(k->k.pubkey.x, (unsigned char *)pub + 1, nb) == CRYPT_OK &&
             ltc_mp.unsigned_read(k->k.pubkey.y, (unsigned char *)pub + 1 + nb, nb) == CRYPT_OK &&
             ltc_mp.set_int(k->k.pubkey.z, 1) == CRYPT_OK;
    ltc_deinit_multi(order, NULL);
    if (!ok) {
        sc_key_free(k);
        return NULL;
    }
    return k;
}

sc_key *sc_key_from_password(int curve, const void *pw, size_t pwlen,
                             const void *salt, size_t saltlen, unsigned long iterations)
{
    static const char label[] = "simpp-key-v1";
    size_t nb = sc_curve_bytes(curve);
    uint8_t seed[SC_SHA256_LEN], d[SC_MAX_SCALAR], *s;
    sc_key *k = NULL;
    if (!nb || !pw || pwlen == 0 || iterations == 0 || (saltlen && !salt)) return NULL;
    if (!(s = malloc(sizeof label - 1 + saltlen + 1))) return NULL;
    memcpy(s, label, sizeof label - 1);
    if (saltlen) memcpy(s + sizeof label - 1, salt, saltlen);
    if (sc_pbkdf2_sha256(pw, pwlen, s, sizeof label - 1 + saltlen, iterations,
                         seed, sizeof seed) == 0) {
        /* rejection sampling: a candidate outside [1, n-1] is simply skipped
         * (probability ~2^-32 for P-256), so the scalar is uniform */
        for (uint8_t ctr = 0; !k && ctr < 64; ctr++) {
            uint8_t info[sizeof label + 2];
            memcpy(info, label, sizeof label - 1);
            info[sizeof label - 1] = (uint8_t)(curve >> 8);
            info[sizeof label] = (uint8_t)curve;
            info[sizeof label + 1] = ctr;
            if (sc_hkdf_sha256(NULL, 0, seed, sizeof seed, info, sizeof info, d, nb) < 0) break;
            k = sc_key_from_scalar(curve, d, nb);
        }
    }
    sc_zero(seed, sizeof seed);
    sc_zero(d, sizeof d);
    free(s);
    return k;
}

int sc_point_check(int curve, const uint8_t *pub, size_t publen)
{
    int set = curve_set(curve);
    size_t nb = sc_curve_bytes(curve);
    void *x, *y, *p, *b, *l, *r, *t;
    /* trap 3: X9.63 import checks nothing.  Only the uncompressed form is
     * accepted (hybrid 06/07 and compressed 02/03 are refused). */
    if (set < 0 || !pub || publen != 1 + 2 * nb || pub[0] != 0x04) return -1;
    if (ltc_init_multi(&x, &y, &p, &b, &l, &r, &t, NULL) != CRYPT_OK) return -1;
    const ltc_ecc_set_type *dp = &ltc_ecc_sets[set];
    int ok = ltc_mp.unsigned_read(x, (unsigned char *)pub + 1, nb) == CRYPT_OK &&
             ltc_mp.unsigned_read(y, (unsigned char *)pub + 1 + nb, nb) == CRYPT_OK &&
             hexnum(p, dp->prime) == 0 && hexnum(b, dp->B) == 0 &&
             ltc_mp.compare(x, p) == LTC_MP_LT && ltc_mp.compare(y, p) == LTC_MP_LT &&
             /* y^2 == x^3 - 3x + b (mod p); cofactor 1, so on-curve suffices,
              * and (0,0) - the usual stand-in for infinity - is not on it */
             ltc_mp.sqrmod(y, p, l) == CRYPT_OK &&
             ltc_mp.sqrmod(x, p, r) == CRYPT_OK &&
             ltc_mp.mulmod(r, x, p, r) == CRYPT_OK &&
             ltc_mp.muli(x, 3, t) == CRYPT_OK &&
             ltc_mp.submod(r, t, p, r) == CRYPT_OK &&
             ltc_mp.addmod(r, b, p, r) == CRYPT_OK &&
             ltc_mp.compare(l, r) == LTC_MP_EQ;
    ltc_deinit_multi(x, y, p, b, l, r, t, NULL);
    return ok ? 0 : -1;
}

sc_key *sc_key_from_public(int curve, const uint8_t *pub, size_t publen)
{
    int set;
    if (sc_point_check(curve, pub, publen) < 0) return NULL;
    sc_key *k = key_new(curve, &set);
    if (!k) return NULL;
    if (ecc_ansi_x963_import_ex(pub, publen, &k->k, (ltc_ecc_set_type *)&ltc_ecc_sets[set])
        != CRYPT_OK) {
        free(k);
        return NULL;
    }
    return k;
}

sc_key *sc_key_external(int curve, const uint8_t *pub, size_t publen,
                        const struct sc_key_ops *ops, void *ctx)
{
    sc_key *k;
    if (!ops || !ops->sign || !ops->ecdh || !(k = sc_key_from_public(curve, pub, publen))) return NULL;
    k->ops = ops;
    k->ctx = ctx;
    return k;
}

int sc_key_is_external(const sc_key *k) { return k && k->ops; }
int sc_key_curve(const sc_key *k) { return k ? k->curve : SC_CURVE_NONE; }
int sc_key_is_private(const sc_key *k) { return k && (k->ops || k->k.type == PK_PRIVATE); }

int sc_key_public(const sc_key *k, uint8_t *out, size_t *len)
{
    unsigned long ol;
    if (!k || !out || !len) return -1;
    ol = *len;
    if (ol < 1 + 2 * sc_curve_bytes(k->curve)) return -1;
    if (ecc_ansi_x963_export((ecc_key *)&k->k, out, &ol) != CRYPT_OK) return -1;
    *len = ol;
    return 0;
}

/* big number to fixed-width big-endian */
static int fixed_write(void *n, uint8_t *out, size_t width)
{
    unsigned long sz = ltc_mp.unsigned_size(n);
    if (sz > width) return -1;
    memset(out, 0, width - sz);
    return ltc_mp.unsigned_write(n, out + width - sz) == CRYPT_OK ? 0 : -1;
}

int sc_key_scalar(const sc_key *k, uint8_t *out, size_t *len)
{
    size_t nb;
    if (!sc_key_is_private(k) || k->ops || !out || !len) return -1;
    nb = sc_curve_bytes(k->curve);
    if (*len < nb || fixed_write(k->k.k, out, nb) < 0) return -1;
    *len = nb;
    return 0;
}

int sc_ecdh_raw(const sc_key *priv, const sc_key *pub, uint8_t *out, size_t *len)
{
    unsigned long ol;
    if (!sc_key_is_private(priv) || !pub || !out || !len || priv->curve != pub->curve)
        return -1;
    ol = *len;
    if (ol < sc_curve_bytes(priv->curve)) return -1;
    if (priv->ops) {
        uint8_t p[SC_MAX_PUB];
        size_t pl = sizeof p, xl = ol;
        /* the peer's point was validated when its key was made */
        if (sc_key_public(pub, p, &pl) < 0 || priv->ops->ecdh(priv->ctx, p, pl, out, &xl) < 0 ||
            xl != sc_curve_bytes(priv->curve))
            return -1;
        *len = xl;
        return 0;
    }
    /* trap 5: this is the bare x-coordinate; keys come from sc_ecdh_hkdf */
    if (ecc_shared_secret((ecc_key *)&priv->k, (ecc_key *)&pub->k, out, &ol) != CRYPT_OK)
        return -1;
    *len = ol;
    return 0;
}

int sc_ecdh_hkdf(const sc_key *priv, const sc_key *pub, const void *salt, size_t saltlen,
                 const void *info, size_t infolen, void *out, size_t outlen)
{
    uint8_t z[SC_MAX_SCALAR];
    size_t zl = sizeof z;
    int r = sc_ecdh_raw(priv, pub, z, &zl);
    if (r == 0) r = sc_hkdf_sha256(salt, saltlen, z, zl, info, infolen, out, outlen);
    sc_zero(z, sizeof z);
    return r;
}

int sc_sign(const sc_key *priv, const uint8_t *digest, size_t dlen, uint8_t *sig, size_t *siglen)
{
    unsigned long ol;
    size_t nb;
    if (!sc_key_is_private(priv) || !digest || dlen == 0 || !sig || !siglen) return -1;
    nb = sc_curve_bytes(priv->curve);
    if (*siglen < 2 * nb) return -1;
    ol = *siglen;
    if (priv->ops) {
        size_t sl = 2 * nb;
        /* a token's answer is checked like any other signature */
        if (priv->ops->sign(priv->ctx, digest, dlen, sig, &sl) < 0 || sl != 2 * nb ||
            !sc_verify(priv, digest, dlen, sig, sl))
            return -1;
        *siglen = sl;
        return 0;
    }
    /* trap 6: fixed-width r||s; trap 8: k comes from the system RNG */
    if (ecc_sign_hash_rfc7518(digest, dlen, sig, &ol, NULL, idx_sprng, (ecc_key *)&priv->k)
        != CRYPT_OK || ol != 2 * nb)
        return -1;
    *siglen = ol;
    return 0;
}

/* r and s each in [1, n-1] */
static int sig_range_ok(const sc_key *k, const uint8_t *sig, size_t nb)
{
    void *r, *s, *n;
    if (ltc_init_multi(&r, &s, &n, NULL) != CRYPT_OK) return 0;
    int ok = ltc_mp.unsigned_read(r, (unsigned char *)sig, nb) == CRYPT_OK &&
             ltc_mp.unsigned_read(s, (unsigned char *)sig + nb, nb) == CRYPT_OK &&
             hexnum(n, k->k.dp->order) == 0 &&
             ltc_mp.compare_d(r, 0) == LTC_MP_GT && ltc_mp.compare(r, n) == LTC_MP_LT &&
             ltc_mp.compare_d(s, 0) == LTC_MP_GT && ltc_mp.compare(s, n) == LTC_MP_LT;
    ltc_deinit_multi(r, s, n, NULL);
    return ok;
}

/* R = k.P in affine coordinates (z = 1); k in [1, n-1] and P of prime order
 * n, so no step of the ladder meets the point at infinity */
static int mul_affine(void *k, void *px, void *py, void *prime, ecc_point *R)
{
    ecc_point *P = ltc_ecc_new_point();
    int ok = P && ltc_mp.copy(px, P->x) == CRYPT_OK && ltc_mp.copy(py, P->y) == CRYPT_OK &&
             ltc_mp.set_int(P->z, 1) == CRYPT_OK &&
             ltc_ecc_mulmod(k, P, R, prime, 1) == CRYPT_OK;
    if (P) ltc_ecc_del_point(P);
    return ok ? 0 : -1;
}

/*
 * x(A + B) in affine coordinates on y^2 = x^3 - 3x + b, the cases Shamir's
 * trick gets wrong handled: A = B (a doubling), A = -B (infinity: returns
 * 1 and x is not set).  A == NULL is the point at infinity.  0 on success.
 */
static int add_affine_x(const ecc_point *A, const ecc_point *B, void *prime, void *x)
{
    void *l, *t, *u;
    int inf = 0, ok;
    if (!A) return ltc_mp.copy(B->x, x) == CRYPT_OK ? 0 : -1;
    if (ltc_init_multi(&l, &t, &u, NULL) != CRYPT_OK) return -1;
    if (ltc_mp.compare(A->x, B->x) == LTC_MP_EQ) {
        if (ltc_mp.compare(A->y, B->y) != LTC_MP_EQ || ltc_mp.compare_d(A->y, 0) == LTC_MP_EQ) {
            inf = 1;                        /* B = -A */
            ok = 1;
        } else                              /* B = A: l = (3x^2 - 3) / 2y */
            ok = ltc_mp.sqrmod(A->x, prime, t) == CRYPT_OK &&
                 ltc_mp.set_int(u, 1) == CRYPT_OK &&
                 ltc_mp.submod(t, u, prime, t) == CRYPT_OK &&
                 ltc_mp.muli(t, 3, t) == CRYPT_OK &&
                 ltc_mp.addmod(A->y, A->y, prime, u) == CRYPT_OK &&
                 ltc_mp.invmod(u, prime, u) == CRYPT_OK &&
                 ltc_mp.mulmod(t, u, prime, l) == CRYPT_OK;
    } else                                  /* l = (yB - yA) / (xB - xA) */
        ok = ltc_mp.submod(B->y, A->y, prime, t) == CRYPT_OK &&
             ltc_mp.submod(B->x, A->x, prime, u) == CRYPT_OK &&
             ltc_mp.invmod(u, prime, u) == CRYPT_OK &&
             ltc_mp.mulmod(t, u, prime, l) == CRYPT_OK;
    /* x = l^2 - xA - xB */
    if (ok && !inf)
        ok = ltc_mp.sqrmod(l, prime, t) == CRYPT_OK &&
             ltc_mp.submod(t, A->x, prime, t) == CRYPT_OK &&
             ltc_mp.submod(t, B->x, prime, x) == CRYPT_OK;
    ltc_deinit_multi(l, t, u, NULL);
    return !ok ? -1 : inf;
}

/*
 * ECDSA verification (FIPS 186-4 6.4) one step at a time: u1.G and u2.Q each
 * on its own, then their sum.  libtomcrypt 1.18's ecc_verify_hash adds with
 * Shamir's trick in Jacobian coordinates, whose addition does not detect
 * equal points given with different z: on some valid signatures an
 * intermediate sum becomes the point at infinity and the call fails with
 * CRYPT_INVALID_ARG (Wycheproof "EdgeCaseShamirMultiplication",
 * "ArithmeticError").  The signature has already passed the length and
 * range checks of sc_verify.
 */
static int verify_stepwise(const sc_key *pub, const uint8_t *digest, size_t dlen,
                           const uint8_t *sig, size_t nb)
{
    void *r, *s, *e, *w, *u1, *u2, *n, *p, *gx, *gy, *x;
    ecc_point *A = NULL, *B = NULL;
    const ltc_ecc_set_type *dp = pub->k.dp;
    int valid = 0;
    if (ltc_init_multi(&r, &s, &e, &w, &u1, &u2, &n, &p, &gx, &gy, &x, NULL) != CRYPT_OK)
        return 0;
    /* e: the leftmost bits of the digest, as many as n has (every curve here
     * has a whole number of bytes) */
    int ok = ltc_mp.unsigned_read(r, (unsigned char *)sig, nb) == CRYPT_OK &&
             ltc_mp.unsigned_read(s, (unsigned char *)sig + nb, nb) == CRYPT_OK &&
             ltc_mp.unsigned_read(e, (unsigned char *)digest, dlen < nb ? dlen : nb) == CRYPT_OK &&
             hexnum(n, dp->order) == 0 && hexnum(p, dp->prime) == 0 &&
             hexnum(gx, dp->Gx) == 0 && hexnum(gy, dp->Gy) == 0 &&
             ltc_mp.invmod(s, n, w) == CRYPT_OK &&
             ltc_mp.mulmod(e, w, n, u1) == CRYPT_OK &&
             ltc_mp.mulmod(r, w, n, u2) == CRYPT_OK &&
             (B = ltc_ecc_new_point()) != NULL &&
             mul_affine(u2, pub->k.pubkey.x, pub->k.pubkey.y, p, B) == 0;
    /* u1 = 0 when e = 0 (mod n): u1.G is the point at infinity */
    if (ok && ltc_mp.compare_d(u1, 0) != LTC_MP_EQ)
        ok = (A = ltc_ecc_new_point()) != NULL && mul_affine(u1, gx, gy, p, A) == 0;
    /* valid iff the sum is not infinity and x(sum) mod n == r */
    if (ok && add_affine_x(A, B, p, x) == 0 &&
        ltc_mp.mpdiv(x, n, NULL, x) == CRYPT_OK && ltc_mp.compare(x, r) == LTC_MP_EQ)
        valid = 1;
    if (A) ltc_ecc_del_point(A);
    if (B) ltc_ecc_del_point(B);
    ltc_deinit_multi(r, s, e, w, u1, u2, n, p, gx, gy, x, NULL);
    return valid;
}

/* the length and range checks both verifiers start with */
static int sig_shape_ok(const sc_key *pub, const uint8_t *digest, size_t dlen,
                        const uint8_t *sig, size_t siglen)
{
    size_t nb;
    if (!pub || !digest || dlen == 0 || !sig) return 0;
    nb = sc_curve_bytes(pub->curve);
    /* trap 6: 1.18 accepts wrong-size signatures */
    return siglen == 2 * nb && sig_range_ok(pub, sig, nb);
}

int sc_verify(const sc_key *pub, const uint8_t *digest, size_t dlen, const uint8_t *sig,
              size_t siglen)
{
    int stat = 0;
    if (!sig_shape_ok(pub, digest, dlen, sig, siglen)) return 0;
    /* trap 7: success is stat == 1.  An error is libtomcrypt's, not the
     * signature's verdict: the stepwise computation then decides. */
    if (ecc_verify_hash_rfc7518(sig, siglen, digest, dlen, &stat, (ecc_key *)&pub->k)
        != CRYPT_OK)
        return verify_stepwise(pub, digest, dlen, sig, siglen / 2);
    return stat == 1;
}

int sc_verify_stepwise(const sc_key *pub, const uint8_t *digest, size_t dlen, const uint8_t *sig,
                       size_t siglen)
{
    if (!sig_shape_ok(pub, digest, dlen, sig, siglen)) return 0;
    return verify_stepwise(pub, digest, dlen, sig, siglen / 2);
}

int sc_sign_msg(const sc_key *priv, const void *msg, size_t mlen, uint8_t *sig, size_t *siglen)
{
    uint8_t h[SC_SHA256_LEN];
    sc_sha256(msg, mlen, h);
    return sc_sign(priv, h, sizeof h, sig, siglen);
}

int sc_verify_msg(const sc_key *pub, const void *msg, size_t mlen, const uint8_t *sig,
                  size_t siglen)
{
    uint8_t h[SC_SHA256_LEN];
    sc_sha256(msg, mlen, h);
    return sc_verify(pub, h, sizeof h, sig, siglen);
}

/* ---- encodings --------------------------------------------------------- */

int sc_b64_encode(const void *in, size_t inlen, char *out, size_t *outlen)
{
    unsigned long ol;
    if (!out || !outlen || (inlen && !in)) return -1;
    if (*outlen < 4 * ((inlen + 2) / 3) + 1) return -1;
    ol = *outlen;
    if (base64_encode(NZ(in), inlen, (unsigned char *)out, &ol) != CRYPT_OK) return -1;
    *outlen = ol;
    return 0;
}

int sc_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t *outlen)
{
    unsigned long ol;
    if (!in || !out || !outlen) return -1;
    /* trap 12: strict decoding, and padding is required (RFC 4648 3.2) */
    if (inlen % 4) return -1;
    if (inlen == 0) { *outlen = 0; return 0; }
    /* RFC 4648 4: '=' only pads the final quantum, so at most the last two
     * characters; base64_strict_decode takes "====" and "Zm9v====" */
    for (size_t i = 0; i + 2 < inlen; i++)
        if (in[i] == '=') return -1;
    ol = *outlen;
    if (base64_strict_decode((const unsigned char *)in, inlen, out, &ol) != CRYPT_OK) return -1;
    *outlen = ol;
    return 0;
}

void sc_hex_encode(const void *in, size_t inlen, char *out)
{
    static const char d[] = "0123456789abcdef";
    const uint8_t *p = in;
    for (size_t i = 0; i < inlen; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * inlen] = 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sc_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t *outlen)
{
    if (!in || !out || !outlen || inlen % 2 || *outlen < inlen / 2) return -1;
    for (size_t i = 0; i < inlen; i += 2) {
        int hi = hexval((unsigned char)in[i]), lo = hexval((unsigned char)in[i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *outlen = inlen / 2;
    return 0;
}

/* crypto.c: complete */
