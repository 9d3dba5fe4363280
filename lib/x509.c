/* x509.c - card certificates through OpenSSL's libcrypto.  See x509.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "x509.h"

#define XMPP_ADDR_OID "1.3.6.1.5.5.7.8.5"      /* id-on-xmppAddr */

static int say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

static void name_text(const X509_NAME *n, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    int l = 0;
    out[0] = 0;
    if (!b) return;
    if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) l = BIO_read(b, out, (int)cap - 1);
    out[l > 0 ? l : 0] = 0;
    BIO_free(b);
}

static void ident_of(X509 *x, struct x509_ident *id)
{
    struct tm tm;
    memset(id, 0, sizeof *id);
    name_text(X509_get_subject_name(x), id->subject, sizeof id->subject);
    name_text(X509_get_issuer_name(x), id->issuer, sizeof id->issuer);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    snprintf(id->serial, sizeof id->serial, "%s", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) id->not_after = (int64_t)timegm(&tm);
}

static X509 *from_der(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = len <= X509_DER_MAX ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (x && p != der + len) { X509_free(x); x = NULL; }   /* trailing bytes */
    return x;
}

int x509_describe(const uint8_t *der, size_t len, struct x509_ident *ident)
{
    X509 *x = from_der(der, len);
    if (!x) return -1;
    ident_of(x, ident);
    X509_free(x);
    return 0;
}

/* the leaf names jid as id-on-xmppAddr; else what it names, in seen */
static int names_jid(X509 *x, const char *jid, char *seen, size_t cap)
{
    GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int found = 0;
    size_t sn = 0;
    seen[0] = 0;
    for (int i = 0; g && i < sk_GENERAL_NAME_num(g) && !found; i++) {
        const GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
        char oid[64];
        if (n->type != GEN_OTHERNAME || OBJ_obj2txt(oid, sizeof oid, n->d.otherName->type_id, 1) <= 0 ||
            strcmp(oid, XMPP_ADDR_OID) || n->d.otherName->value->type != V_ASN1_UTF8STRING)
            continue;
        const ASN1_STRING *s = n->d.otherName->value->value.utf8string;
        size_t l = (size_t)ASN1_STRING_length(s);
        const char *d = (const char *)ASN1_STRING_get0_data(s);
        if (l == strlen(jid) && !memchr(d, 0, l) && strncasecmp(d, jid, l) == 0) found = 1;
        else if (sn + l + 3 < cap) sn += (size_t)snprintf(seen + sn, cap - sn, "%s%.*s", sn ? ", " : "", (int)l, d);
    }
    GENERAL_NAMES_free(g);
    return found;
}

int x509_check_card(const char *cafile, const char *crlfile, const uint8_t *const *der, const size_t *len,
                    size_t n, const uint8_t *spki, size_t spkilen, const char *jid, int64_t now,
                    struct x509_ident *ident, char *why, size_t whylen)
{
    X509 *leaf = NULL;
    STACK_OF(X509) *more = sk_X509_new_null();
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    unsigned char *pk = NULL;
    char seen[300];
    int r = -1, pl;
    if (!more || !st || !ctx) { say(why, whylen, "%s", "out of memory"); goto out; }
    if (n == 0 || n > X509_CHAIN_MAX) { say(why, whylen, "%s", "no certificate, or too many"); goto out; }
    for (size_t i = 0; i < n; i++) {
        X509 *x = from_der(der[i], len[i]);
        if (!x) { say(why, whylen, "%s", "a certificate that does not decode (DER X.509)"); goto out; }
        if (i == 0) leaf = x;
        else if (!sk_X509_push(more, x)) { X509_free(x); goto out; }
    }
    if (X509_STORE_load_file(st, cafile) != 1) { say(why, whylen, "the card CAs in %s do not load", cafile); goto out; }
    unsigned long flags = X509_V_FLAG_X509_STRICT;
    if (crlfile) {
        if (X509_STORE_load_file(st, crlfile) != 1) { say(why, whylen, "the CRLs in %s do not load", crlfile); goto out; }
        flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    }
    if (X509_STORE_CTX_init(ctx, st, leaf, more) != 1) { say(why, whylen, "%s", "out of memory"); goto out; }
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(vp, (time_t)now);
    X509_VERIFY_PARAM_set_flags(vp, flags);
    if (X509_verify_cert(ctx) != 1) {
        say(why, whylen, "certificate: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    if ((pl = i2d_PUBKEY(X509_get0_pubkey(leaf), &pk)) <= 0 || (size_t)pl != spkilen || memcmp(pk, spki, spkilen)) {
        say(why, whylen, "%s", "the certificate is for another key than the one registered");
        goto out;
    }
    if (!names_jid(leaf, jid, seen, sizeof seen)) {
        snprintf(why, whylen, "the certificate is for %s, not %s (subjectAltName id-on-xmppAddr)",
                 seen[0] ? seen : "no JID", jid);
        goto out;
    }
    ident_of(leaf, ident);
    r = 0;
out:
    OPENSSL_free(pk);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    X509_free(leaf);
    sk_X509_pop_free(more, X509_free);
    ERR_clear_error();
    return r;
}

int x509_read_pem(const char *path, uint8_t **der, size_t *len, size_t max, char *why, size_t whylen)
{
    BIO *b = BIO_new_file(path, "r");
    X509 *x;
    size_t n = 0;
    if (!b) return say(why, whylen, "unable to read %s", path);
    while (n < max && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        unsigned char *p = NULL;
        int l = i2d_X509(x, &p);
        X509_free(x);
        if (l <= 0 || l > X509_DER_MAX || !(der[n] = malloc((size_t)l))) { OPENSSL_free(p); break; }
        memcpy(der[n], p, (size_t)l);
        len[n++] = (size_t)l;
        OPENSSL_free(p);
    }
    BIO_free(b);
    ERR_clear_error();
    if (n == 0) return say(why, whylen, "%s: no PEM certificate in it", path);
    return (int)n;
}
