/*
 * crypto.h - the one cryptographic API of simpp.
 *
 * Every libtomcrypt/libtommath call in the project lives behind this header,
 * in lib/crypto.c.  The traps of libtomcrypt 1.18 listed in
 * doc/CRYPTO.md are handled here, so callers never meet them:
 *   - public points are validated (on curve, not infinity, x,y < p) on import;
 *   - signatures are fixed-width r||s, length checked, verify means stat == 1;
 *   - AEAD tags are recomputed and compared with sc_ct_eq, plaintext wiped on
 *     failure;
 *   - ECDH output goes through HKDF unless the caller asks for the raw
 *     x-coordinate (interop tests only).
 *
 * Return convention: 0 on success, -1 on failure, unless stated otherwise.
 */
#ifndef SIMPP_CRYPTO_H
#define SIMPP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define SC_SHA256_LEN   32
#define SC_MAX_SCALAR   48          /* P-384 */
#define SC_MAX_PUB      (1 + 2 * SC_MAX_SCALAR)   /* X9.63 uncompressed */
#define SC_MAX_SIG      (2 * SC_MAX_SCALAR)       /* r || s */
#define SC_NONCE_LEN    12          /* per-message nonce for every suite */
#define SC_MAX_KEY      48          /* largest suite key (CBC+HMAC: 16+32) */
#define SC_MAX_OVERHEAD (16 + 32)   /* CBC padding + HMAC-SHA256 tag */

/* Must be called once before anything else (sets ltc_mp, registers
 * ciphers/hashes/prngs).  Safe to call again. */
int sc_init(void);

/* ---- memory -------------------------------------------------------- */
void sc_zero(void *p, size_t n);                        /* not optimised away */
int  sc_ct_eq(const void *a, const void *b, size_t n);  /* 1 equal, 0 not; constant time */

/* ---- randomness (system RNG, fork-safe) ---------------------------- */
int sc_random(void *buf, size_t n);

/* ---- hashing, MAC, KDF --------------------------------------------- */
typedef struct { _Alignas(16) unsigned char opaque[512]; } sc_sha256_ctx;
void sc_sha256_init(sc_sha256_ctx *c);
void sc_sha256_update(sc_sha256_ctx *c, const void *p, size_t n);
void sc_sha256_final(sc_sha256_ctx *c, uint8_t out[SC_SHA256_LEN]);
void sc_sha256(const void *p, size_t n, uint8_t out[SC_SHA256_LEN]);
/* SHA-256 over (const void *ptr, size_t len) pairs, the list ended by a
 * NULL pointer: sc_sha256_parts(out, a, alen, b, blen, (void *)NULL) */
void sc_sha256_parts(uint8_t out[SC_SHA256_LEN], ...);

int sc_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                   uint8_t out[SC_SHA256_LEN]);
/* RFC 5869 with SHA-256; outlen <= 255*32 */
int sc_hkdf_sha256(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
                   const void *info, size_t infolen, void *out, size_t outlen);
/* PKCS#5 PBKDF2-HMAC-SHA256 (RFC 8018) */
/* The hashes SCRAM names (RFC 5802, RFC 7677): SHA-256, and SHA-1 because
 * every XMPP server must offer SCRAM-SHA-1 (RFC 6120 13.8).  SHA-1 serves
 * nothing else.  sc_hash_len(): the output length, 0 for an unknown id. */
enum { SC_HASH_SHA256 = 0, SC_HASH_SHA1 = 1 };
#define SC_HASH_MAX_LEN 32
size_t sc_hash_len(int h);
int sc_hash(int h, const void *p, size_t n, uint8_t *out);
int sc_hmac(int h, const void *key, size_t klen, const void *msg, size_t mlen, uint8_t *out);
int sc_pbkdf2(int h, const void *pw, size_t pwlen, const void *salt, size_t saltlen,
              unsigned long iterations, void *out, size_t outlen);
int sc_pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
                     unsigned long iterations, void *out, size_t outlen);

/* ---- symmetric suites ---------------------------------------------- */
/* Wire numbers; never reuse one. */
enum sc_suite {
    SC_SUITE_NONE               = 0,
    SC_SUITE_CHACHA20_POLY1305  = 1,   /* default: RFC 8439, SHA-256 */
    SC_SUITE_AES128_GCM         = 2,   /* NIST SP 800-38D, SHA-256 */
    SC_SUITE_AES128_CBC_HMAC    = 3,   /* the paper's: AES-128-CBC + HMAC-SHA256, encrypt-then-MAC */
};
const char *sc_suite_name(int suite);       /* NULL if unknown */
int    sc_suite_from_name(const char *name);/* SC_SUITE_NONE if unknown */
size_t sc_suite_keylen(int suite);          /* 0 if unknown */
/* bytes added to the plaintext by sc_seal: tag (+ padding for CBC, at most) */
size_t sc_suite_overhead(int suite, size_t ptlen);

/*
 * Seal: out = ciphertext || tag (CBC: ciphertext(PKCS#7) || HMAC-SHA256).
 * out must hold ptlen + sc_suite_overhead(suite, ptlen).  nonce must never
 * repeat under one key (callers use a sequence number).  For the CBC suite the
 * IV is AES_Kenc(nonce || 0^4) (SP 800-38A, Appendix C), MAC covers
 * aad_len(8, big-endian) || aad || nonce || ciphertext.
 */
int sc_seal(int suite, const uint8_t *key, const uint8_t nonce[SC_NONCE_LEN],
            const void *aad, size_t aadlen, const void *pt, size_t ptlen,
            uint8_t *out, size_t *outlen);
/* Open: returns 0 and the plaintext (at most inlen bytes) if the tag checks,
 * -1 otherwise (out is wiped). */
int sc_open(int suite, const uint8_t *key, const uint8_t nonce[SC_NONCE_LEN],
            const void *aad, size_t aadlen, const uint8_t *in, size_t inlen,
            uint8_t *out, size_t *outlen);

/* Raw AES-256-CBC without padding (len a multiple of 16), for PBES2 key
 * files only (RFC 8018 6.2; keyfile.c).  Protocol messages use sc_seal. */
int sc_aes256_cbc(int encrypt, const uint8_t key[32], const uint8_t iv[16],
                  const uint8_t *in, size_t len, uint8_t *out);

/* ---- elliptic curves ----------------------------------------------- */
enum sc_curve { SC_CURVE_NONE = 0, SC_P224 = 224, SC_P256 = 256, SC_P384 = 384 };
int         sc_curve_from_name(const char *name);   /* "P-256", "p256", "prime256v1", "secp384r1"... */
const char *sc_curve_name(int curve);               /* "P-256" */
size_t      sc_curve_bytes(int curve);              /* 28, 32, 48 */

typedef struct sc_key sc_key;                       /* opaque */

sc_key *sc_key_generate(int curve);
/* d: big-endian scalar of sc_curve_bytes(curve) bytes; must be in [1, n-1] */
sc_key *sc_key_from_scalar(int curve, const uint8_t *d, size_t dlen);
/*
 * The paper's KR_A = h(pw_A), made slow and salted: seed = PBKDF2-HMAC-SHA256
 * (pw, "simpp-key-v1" || salt, iterations); the scalar is HKDF-expanded from
 * the seed with a counter until it falls in [1, n-1].  Deterministic.
 */
sc_key *sc_key_from_password(int curve, const void *pw, size_t pwlen,
                             const void *salt, size_t saltlen, unsigned long iterations);
/*
 * The two halves of a key pair as they are stored together (PKCS#8 keeps
 * both): d must lie in [1, n-1] and pub is fully validated, but d.G is not
 * computed, so nothing here proves that pub is d's.  Only for a key that
 * another program has just read and checked, and hands over (simpp-login
 * to simpp-session: kf_parse_handed); anything read from a file takes
 * sc_key_from_scalar and compares.
 */
sc_key *sc_key_from_pair(int curve, const uint8_t *d, size_t dlen, const uint8_t *pub, size_t publen);
/* public key from X9.63 uncompressed 04||X||Y, fully validated */
sc_key *sc_key_from_public(int curve, const uint8_t *pub, size_t publen);
void    sc_key_free(sc_key *k);                     /* wipes the scalar */

/*
 * A private key held elsewhere (a PKCS#11 token, a key agent): the public
 * point is here, the scalar never is.  sc_sign and sc_ecdh_raw/_hkdf call
 * ops; everything else treats it as a private key, except sc_key_scalar,
 * which refuses it (so it can never be written to a file).
 *   sign: ECDSA over the digest as given, r||s of 2 * curve bytes;
 *   ecdh: the x-coordinate of d * peer (peer: X9.63 uncompressed, already
 *         validated), curve bytes;
 *   free: called by sc_key_free (may be NULL).
 * A signature from ops is verified against the public key before it is
 * returned, so a faulty token cannot hand out a bad one.  The key takes
 * ownership of ctx.
 */
struct sc_key_ops {
    int  (*sign)(void *ctx, const uint8_t *digest, size_t dlen, uint8_t *sig, size_t *siglen);
    int  (*ecdh)(void *ctx, const uint8_t *peer, size_t peerlen, uint8_t *x, size_t *xlen);
    void (*free)(void *ctx);
};
sc_key *sc_key_external(int curve, const uint8_t *pub, size_t publen,
                        const struct sc_key_ops *ops, void *ctx);
/* 1 if k's private operations run outside this process's memory */
int     sc_key_is_external(const sc_key *k);

int  sc_key_curve(const sc_key *k);
int  sc_key_is_private(const sc_key *k);
/* X9.63 uncompressed point; *len in: capacity, out: used */
int  sc_key_public(const sc_key *k, uint8_t *out, size_t *len);
/* big-endian scalar, curve-size bytes; fails on a public key */
int  sc_key_scalar(const sc_key *k, uint8_t *out, size_t *len);

/* Validate a public point without building a key (0 valid) */
int  sc_point_check(int curve, const uint8_t *pub, size_t publen);

/* Raw ECDH x-coordinate (curve-size bytes).  Only for interop tests: use
 * sc_ecdh_hkdf for keys. */
int  sc_ecdh_raw(const sc_key *priv, const sc_key *pub, uint8_t *out, size_t *len);
/* key = HKDF-SHA256(salt, ECDH-x, info) */
int  sc_ecdh_hkdf(const sc_key *priv, const sc_key *pub, const void *salt, size_t saltlen,
                  const void *info, size_t infolen, void *out, size_t outlen);

/* ECDSA over a message digest (any length; SHA-256 for P-224/P-256,
 * SHA-384-equivalent truncation rules of FIPS 186 apply inside).  Signature
 * is fixed-width r||s, 2*sc_curve_bytes. */
int  sc_sign(const sc_key *priv, const uint8_t *digest, size_t dlen, uint8_t *sig, size_t *siglen);
/* 1 if valid, 0 otherwise (any error, wrong length, r/s out of range) */
int  sc_verify(const sc_key *pub, const uint8_t *digest, size_t dlen, const uint8_t *sig, size_t siglen);
/* The same verdict computed without Shamir's trick: u1.G and u2.Q apart,
 * summed in affine coordinates (about three times slower).  sc_verify uses
 * it where libtomcrypt's own verification fails on a signature's edge case;
 * the tests run every vector through both. */
int  sc_verify_stepwise(const sc_key *pub, const uint8_t *digest, size_t dlen, const uint8_t *sig,
                        size_t siglen);
/* convenience: sign/verify SHA-256(msg) */
int  sc_sign_msg(const sc_key *priv, const void *msg, size_t mlen, uint8_t *sig, size_t *siglen);
int  sc_verify_msg(const sc_key *pub, const void *msg, size_t mlen, const uint8_t *sig, size_t siglen);

/* ---- encodings ----------------------------------------------------- */
/* strict base64 (RFC 4648, padding required, no junk); *outlen capacity in/used out */
int sc_b64_encode(const void *in, size_t inlen, char *out, size_t *outlen);
int sc_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t *outlen);
/* lower-case hex; decode accepts either case, no separators */
void sc_hex_encode(const void *in, size_t inlen, char *out);   /* out: 2*inlen+1 */
int  sc_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t *outlen);

#endif
