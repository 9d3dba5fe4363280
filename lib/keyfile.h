/*
 * keyfile.h - EC keys in the formats other tools read:
 *   private: PKCS#8 PEM "PRIVATE KEY" (RFC 5208/5915), or PBES2-encrypted
 *            "ENCRYPTED PRIVATE KEY" (RFC 8018: PBKDF2-HMAC-SHA256 +
 *            AES-256-CBC, what `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes);
 *            SEC1 "EC PRIVATE KEY" is read too.
 *   public:  SPKI PEM "PUBLIC KEY" (RFC 5480).
 *   fingerprint: "SHA256:" + unpadded base64 of SHA-256(SPKI DER), the form
 *            `openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary |
 *            base64` gives (less the '=').
 */
#ifndef SIMPP_KEYFILE_H
#define SIMPP_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define KF_FPR_LEN 51           /* "SHA256:" + 43 + NUL */
#define KF_DEFAULT_ITER 600000UL /* PBKDF2-HMAC-SHA256 rounds for passphrases */

enum kf_err {
    KF_OK = 0, KF_ESYS,         /* errno says why */
    KF_EFORMAT,                 /* not PEM / not the DER we expect */
    KF_ECURVE,                  /* a curve we do not support */
    KF_EPOINT,                  /* public point invalid */
    KF_ENEEDPASS,               /* encrypted: a passphrase is needed */
    KF_EPASS,                   /* wrong passphrase (or corrupt file) */
    KF_EALGO,                   /* encryption scheme we do not support */
    KF_EMISMATCH,               /* stored public key does not match the private */
    KF_ENOTPRIV,                /* a public key where a private one is due */
};
extern int kf_errno;
const char *kf_strerror(int e);

int     kf_spki_der(const sc_key *k, uint8_t *out, size_t *len);
sc_key *kf_spki_parse(const uint8_t *der, size_t len);
int     kf_pkcs8_der(const sc_key *k, uint8_t *out, size_t *len);
sc_key *kf_pkcs8_parse(const uint8_t *der, size_t len);
int     kf_fingerprint(const sc_key *k, char out[KF_FPR_LEN]);

/* PEM (RFC 7468) around DER, 64 columns (malloc'd, NUL-terminated) */
char   *kf_pem_encode(const char *label, const uint8_t *der, size_t len);
/* the DER of the first PEM block of a key form kf_parse reads; its label
 * (a static string), or NULL */
const char *kf_pem_decode(const char *text, size_t len, uint8_t *der, size_t *dlen);

/* PEM text of the public key (malloc'd, NUL-terminated) */
char   *kf_public_pem(const sc_key *k);
/* PEM text of the private key, encrypted when pass is given (malloc'd; the
 * caller wipes and frees it) */
char   *kf_private_pem(const sc_key *k, const char *pass, size_t passlen, unsigned long iter);

/* files: private 0600, public 0644, atomic, no overwrite unless force */
int     kf_write_private(const char *path, const sc_key *k, const char *pass, size_t passlen,
                         unsigned long iter, int force);
int     kf_write_public(const char *path, const sc_key *k, int force);

/* Parse PEM text holding any of the key forms above.  A private key needs
 * pass when encrypted (KF_ENEEDPASS otherwise).  want_private refuses a
 * public key. */
sc_key *kf_parse(const char *text, size_t len, const char *pass, size_t passlen,
                 int want_private);
/*
 * A private key handed over by the program that read and checked it a
 * moment before (simpp-login to simpp-session, on $SIMPP_KEYFD): an
 * unencrypted PKCS#8 "PRIVATE KEY" with its public key, which is taken as
 * it is once validated (on the curve), without the d.G that kf_parse
 * spends to prove the two belong together.  Anything else is refused.
 */
sc_key *kf_parse_handed(const char *text, size_t len);
/* Returns 1 if the PEM text is an encrypted private key. */
int     kf_is_encrypted(const char *text);
sc_key *kf_read(const char *path, const char *pass, size_t passlen, int want_private);

#endif
