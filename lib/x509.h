/*
 * x509.h - X.509 certificates for card levels: the one door to OpenSSL's
 * libcrypto for certificates, beside lib/tls (which carries streams).  The
 * relay checks a card's certificate chain with it; clients read a chain from
 * a PEM file and describe a peer's certificate.  Nothing here is parsed by
 * hand: OpenSSL decodes, verifies the path (signatures, validity at a given
 * time, CRLs) and reads the subjectAltName.
 *
 * A card certificate is good for a key and a JID when:
 *   - the chain (leaf first, then intermediates) leads to one of the CA
 *     certificates in cafile, every certificate valid at `now`;
 *   - with a CRL file, no certificate of the path is revoked (each issuer's
 *     CRL must be there: a missing CRL fails);
 *   - the leaf's public key is the registered key (SubjectPublicKeyInfo
 *     compared as DER);
 *   - the leaf's subjectAltName holds the bare JID as id-on-xmppAddr
 *     (1.3.6.1.5.5.7.8.5, UTF8String; RFC 6120 13.7.1.4), case-insensitively.
 */
#ifndef SIMPP_X509_H
#define SIMPP_X509_H

#include <stddef.h>
#include <stdint.h>

#define X509_CHAIN_MAX 4                /* certificates in a presented chain */
#define X509_DER_MAX   4096             /* bytes of one certificate */

struct x509_ident {
    char subject[256], issuer[256];     /* RFC 2253 */
    char serial[80];                    /* hex */
    int64_t not_after;                  /* seconds since the epoch */
};

/* 0 when good (ident filled), -1 with the reason in why */
int x509_check_card(const char *cafile, const char *crlfile, const uint8_t *const *der, const size_t *len,
                    size_t n, const uint8_t *spki, size_t spkilen, const char *jid, int64_t now,
                    struct x509_ident *ident, char *why, size_t whylen);

/* the certificates of a PEM file, as DER, at most max (malloc'd each); the
 * number, or -1 with why */
int x509_read_pem(const char *path, uint8_t **der, size_t *len, size_t max, char *why, size_t whylen);

/* subject, issuer, serial and expiry of one certificate; 0 or -1 */
int x509_describe(const uint8_t *der, size_t len, struct x509_ident *ident);

#endif
