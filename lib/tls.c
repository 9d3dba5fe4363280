/*
 * tls.c - TLS through OpenSSL's libssl (see tls.h for the policy).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

struct tls_ctx {
    SSL_CTX *ctx;
    int server;
};

/* what an idle connection keeps beside OpenSSL's own: little.  The name
 * and the error text are allocated only by the connections that use them
 * (clients; a failure), not by each of a server's 10,000 idle sessions. */
struct tls_conn {
    SSL *ssl;
    int done;
    char *name;                 /* client: the name the certificate must carry */
    char *err;                  /* the last failure, NULL: none */
};

#define ERRCAP 400

/* TLS 1.2: forward secrecy and AEAD only; 1.3's suites are all of that kind.
 * ChaCha20-Poly1305 first, in both: of the AEADs it keeps the least state
 * per connection (an AES-256-GCM connection holds ~0.5 KB more, which 10,000
 * idle sessions feel), it is constant-time in software on every CPU, and it
 * is SIMPP's own default suite; then AES-128-GCM, then AES-256-GCM. */
#define CIPHERS12 "ECDHE+CHACHA20:ECDHE+AESGCM+AES128:ECDHE+AESGCM:!aNULL"
#define SUITES13  "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
#define GROUPS    "X25519:P-256:P-384"

static void errtext(char *err, size_t cap, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[120];
    if (!err || !cap) return;
    if (e) {
        ERR_error_string_n(e, buf, sizeof buf);
        /* "error:0A000086:SSL routines::certificate verify failed": the reason */
        const char *r = strrchr(buf, ':');
        snprintf(err, cap, "%s: %s", what, r && r[1] ? r + 1 : buf);
    } else
        snprintf(err, cap, "%s", what);
    ERR_clear_error();
}

/* t->err = the text: allocated the first time (out of memory: no text) */
static void seterr(tls_conn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(tls_conn *t, const char *fmt, ...)
{
    va_list ap;
    if (!t->err && !(t->err = malloc(ERRCAP))) return;
    va_start(ap, fmt);
    vsnprintf(t->err, ERRCAP, fmt, ap);
    va_end(ap);
}

/* the chain is checked and its result kept (SSL_get_verify_result), but a
 * failure does not end the handshake: tls_peer_is() decides */
static int accept_any(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

static tls_ctx *ctx_new(int server, char *err, size_t errcap)
{
    tls_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    c->server = server;
    c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ctx || !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(c->ctx, CIPHERS12) || !SSL_CTX_set_ciphersuites(c->ctx, SUITES13) ||
        !SSL_CTX_set1_groups_list(c->ctx, GROUPS)) {
        errtext(err, errcap, "TLS set-up");
        tls_ctx_free(c);
        return NULL;
    }
    SSL_CTX_set_options(c->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
                                    SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* idle connections give their read and write buffers back (~34 KB each) */
    SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (server) {
        SSL_CTX_set_num_tickets(c->ctx, 0);
        SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
    }
    return c;
}

tls_ctx *tls_server_new(const char *certfile, const char *keyfile, const char *chainfile,
                        char *err, size_t errcap)
{
    tls_ctx *c;
    char what[600];
    ERR_clear_error();
    if (!certfile || !keyfile) {
        snprintf(err, errcap, "a certificate and a key file are both needed");
        return NULL;
    }
    if (!(c = ctx_new(1, err, errcap))) return NULL;
    snprintf(what, sizeof what, "certificate %s", certfile);
    if (SSL_CTX_use_certificate_chain_file(c->ctx, certfile) != 1) goto bad;
    snprintf(what, sizeof what, "key %s", keyfile);
    if (SSL_CTX_use_PrivateKey_file(c->ctx, keyfile, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            snprintf(err, errcap, "key %s does not match certificate %s", keyfile, certfile);
            ERR_clear_error();
            tls_ctx_free(c);
            return NULL;
        }
        goto bad;
    }
    snprintf(what, sizeof what, "key %s does not match certificate %s", keyfile, certfile);
    if (SSL_CTX_check_private_key(c->ctx) != 1) goto bad;
    if (chainfile) {
        BIO *b = BIO_new_file(chainfile, "r");
        X509 *x;
        int n = 0;
        snprintf(what, sizeof what, "chain %s", chainfile);
        if (!b) goto bad;
        while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
            if (SSL_CTX_add0_chain_cert(c->ctx, x) != 1) {
                X509_free(x);
                BIO_free(b);
                goto bad;
            }
            n++;
        }
        BIO_free(b);
        if (n == 0) goto bad;
        ERR_clear_error();                  /* the end of the file */
    }
    return c;
bad:
    errtext(err, errcap, what);
    tls_ctx_free(c);
    return NULL;
}

tls_ctx *tls_client_new(const char *cafile, int insecure, char *err, size_t errcap)
{
    tls_ctx *c;
    ERR_clear_error();
    if (!(c = ctx_new(0, err, errcap))) return NULL;
    if (insecure) {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
        return c;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (cafile ? SSL_CTX_load_verify_locations(c->ctx, cafile, NULL) != 1
               : SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        char what[600];
        snprintf(what, sizeof what, "CA certificates %s", cafile ? cafile : "(system store)");
        errtext(err, errcap, what);
        tls_ctx_free(c);
        return NULL;
    }
    return c;
}

int tls_ctx_ask_peer_cert(tls_ctx *c, const char *cafile, char *err, size_t errcap)
{
    ERR_clear_error();
    /* a peer without a certificate is not refused here: it may still prove
     * its name another way, which the caller decides */
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, accept_any);
    /* the peer is a server: its certificate is one for a server's name
     * (serverAuth), as XMPP servers use one certificate both ways */
    SSL_CTX_set_purpose(c->ctx, X509_PURPOSE_SSL_SERVER);
    if (cafile ? SSL_CTX_load_verify_locations(c->ctx, cafile, NULL) != 1
               : SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        char what[600];
        snprintf(what, sizeof what, "CA certificates %s", cafile ? cafile : "(system store)");
        errtext(err, errcap, what);
        return -1;
    }
    return 0;
}

int tls_ctx_show_cert(tls_ctx *c, const char *certfile, const char *keyfile, const char *chainfile,
                      char *err, size_t errcap)
{
    tls_ctx *t = tls_server_new(certfile, keyfile, chainfile, err, errcap);
    if (!t) return -1;
    /* the same certificate, key and chain, moved into the client context */
    int ok = SSL_CTX_use_certificate(c->ctx, SSL_CTX_get0_certificate(t->ctx)) == 1 &&
             SSL_CTX_use_PrivateKey(c->ctx, SSL_CTX_get0_privatekey(t->ctx)) == 1;
    STACK_OF(X509) *chain = NULL;
    if (ok && SSL_CTX_get0_chain_certs(t->ctx, &chain) == 1 && chain)
        ok = SSL_CTX_set1_chain(c->ctx, chain) == 1;
    tls_ctx_free(t);
    if (!ok) {
        errtext(err, errcap, "client certificate");
        return -1;
    }
    return 0;
}

int tls_peer_is(tls_conn *t, const char *name)
{
    X509 *x = SSL_get0_peer_certificate(t->ssl);
    int ok = t->done && x && SSL_get_verify_result(t->ssl) == X509_V_OK &&
             X509_check_host(x, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                             NULL) == 1;
    ERR_clear_error();
    return ok;
}

void tls_ctx_free(tls_ctx *c)
{
    if (!c) return;
    SSL_CTX_free(c->ctx);               /* connections keep their own reference */
    free(c);
}

static tls_conn *conn_new(tls_ctx *c, int rfd, int wfd)
{
    tls_conn *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (!(t->ssl = SSL_new(c->ctx)) ||
        (rfd == wfd ? SSL_set_fd(t->ssl, rfd) != 1 : SSL_set_rfd(t->ssl, rfd) != 1 || SSL_set_wfd(t->ssl, wfd) != 1)) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    return t;
}

tls_conn *tls_accept(tls_ctx *c, int fd)
{
    tls_conn *t = conn_new(c, fd, fd);
    if (t) SSL_set_accept_state(t->ssl);
    return t;
}

tls_conn *tls_connect(tls_ctx *c, int rfd, int wfd, const char *name)
{
    tls_conn *t = conn_new(c, rfd, wfd);
    if (!t) return NULL;
    if (!(t->name = strdup(name ? name : ""))) {
        tls_free(t);
        return NULL;
    }
    SSL_set_connect_state(t->ssl);
    if (name && *name) {
        /* SNI, and the name the certificate must hold: DNS-ID only, no
         * partial wildcards, never the subject's CN (RFC 6125 6.4) */
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
        if (SSL_set_tlsext_host_name(t->ssl, name) != 1 || SSL_set1_host(t->ssl, name) != 1) {
            tls_free(t);
            ERR_clear_error();
            return NULL;
        }
    }
    return t;
}

void tls_free(tls_conn *t)
{
    if (!t) return;
    SSL_free(t->ssl);
    free(t->name);
    free(t->err);
    free(t);
}

/* the result of an SSL call as TLS_*; the text of a failure in t->err */
static int result(tls_conn *t, int rc, const char *what)
{
    int e = SSL_get_error(t->ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (errno == EAGAIN || errno == EINTR) return TLS_WANT_READ;
            if (t->done && (errno == 0 || errno == ECONNRESET)) return TLS_CLOSED;
            seterr(t, "%s: %s", what, errno ? strerror(errno) : "the peer closed the connection");
            return TLS_ERR;
        }
        break;
    default:
        break;
    }
    long v = SSL_get_verify_result(t->ssl);
    if (!SSL_is_server(t->ssl) && v != X509_V_OK) {
        if (v == X509_V_ERR_HOSTNAME_MISMATCH)
            seterr(t, "certificate is not for %s", t->name ? t->name : "");
        else
            seterr(t, "certificate not trusted: %s", X509_verify_cert_error_string(v));
        ERR_clear_error();
    } else {
        char text[ERRCAP];
        errtext(text, sizeof text, what);
        seterr(t, "%s", text);
    }
    return TLS_ERR;
}

int tls_handshake(tls_conn *t)
{
    int rc;
    if (t->done) return TLS_OK;
    ERR_clear_error();
    errno = 0;
    rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->done = 1;
        return TLS_OK;
    }
    rc = result(t, rc, "handshake");
    if (rc == TLS_CLOSED) {
        seterr(t, "handshake: closed by the peer");
        return TLS_ERR;
    }
    return rc;
}

int tls_done(const tls_conn *t)
{
    return t->done;
}

ssize_t tls_read(tls_conn *t, void *buf, size_t n)
{
    size_t got = 0;
    ERR_clear_error();
    errno = 0;
    if (SSL_read_ex(t->ssl, buf, n, &got) == 1) return (ssize_t)got;
    return result(t, 0, "read");
}

ssize_t tls_write(tls_conn *t, const void *buf, size_t n)
{
    size_t put = 0;
    if (n == 0) return 0;
    ERR_clear_error();
    errno = 0;
    if (SSL_write_ex(t->ssl, buf, n, &put) == 1) return (ssize_t)put;
    int r = result(t, 0, "write");
    return r == TLS_CLOSED ? TLS_ERR : r;
}

size_t tls_pending(const tls_conn *t)
{
    int n = SSL_pending(t->ssl);
    return n > 0 ? (size_t)n : 0;
}

void tls_close(tls_conn *t)
{
    if (!t || !t->done) return;
    ERR_clear_error();
    SSL_shutdown(t->ssl);               /* one try; a full socket just loses it */
    ERR_clear_error();
}

const char *tls_error(const tls_conn *t)
{
    return t->err && t->err[0] ? t->err : "no error";
}

const char *tls_version(const tls_conn *t)
{
    return SSL_get_version(t->ssl);
}

const char *tls_cipher(const tls_conn *t)
{
    return SSL_get_cipher_name(t->ssl);
}

int tls_cb_exporter(tls_conn *t, uint8_t out[TLS_CB_MAX])
{
    static const char label[] = "EXPORTER-Channel-Binding";
    if (!t->done) return -1;
    /* RFC 9266 3: under TLS 1.2 only with the extended master secret */
    if (SSL_version(t->ssl) < TLS1_3_VERSION && SSL_get_extms_support(t->ssl) != 1) return -1;
    if (SSL_export_keying_material(t->ssl, out, 32, label, sizeof label - 1, NULL, 0, 0) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 32;
}

int tls_cb_unique(tls_conn *t, uint8_t out[TLS_CB_MAX])
{
    size_t n;
    if (!t->done || SSL_version(t->ssl) != TLS1_2_VERSION || SSL_session_reused(t->ssl)) return -1;
    /* the client's Finished opened a full handshake */
    n = SSL_is_server(t->ssl) ? SSL_get_peer_finished(t->ssl, out, TLS_CB_MAX)
                              : SSL_get_finished(t->ssl, out, TLS_CB_MAX);
    return n > 0 && n <= TLS_CB_MAX ? (int)n : -1;
}

int tls_cb_endpoint(tls_conn *t, uint8_t out[TLS_CB_MAX])
{
    X509 *x = SSL_is_server(t->ssl) ? SSL_get_certificate(t->ssl) : SSL_get0_peer_certificate(t->ssl);
    int md = NID_undef;
    unsigned int len = 0;
    const EVP_MD *h;
    if (!t->done || !x || !X509_get_signature_info(x, &md, NULL, NULL, NULL)) return -1;
    /* RFC 5929 4.1: the certificate's own signature hash, SHA-256 for MD5/SHA-1 */
    if (md == NID_md5 || md == NID_sha1) md = NID_sha256;
    if (md == NID_undef || !(h = EVP_get_digestbynid(md)) || EVP_MD_get_size(h) > TLS_CB_MAX ||
        X509_digest(x, h, out, &len) != 1) {
        ERR_clear_error();
        return -1;
    }
    return (int)len;
}
