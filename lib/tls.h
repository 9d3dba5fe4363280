/*
 * tls.h - TLS for XMPP streams: the one door to OpenSSL's libssl.  Nothing
 * else in simpp includes an OpenSSL header; only the programs that speak
 * TLS (simpp-relayd, and the clients when they meet an ordinary server)
 * link it.  SIMPP's own cryptography stays in lib/crypto (libtomcrypt):
 * this module carries streams, checks certificates and names, and gives
 * the channel-binding values SCRAM-*-PLUS needs.
 *
 * Policy, fixed here rather than configured: TLS 1.2 and 1.3 only; in 1.2
 * only ECDHE with AEAD ciphers; the server's cipher preference
 * (ChaCha20-Poly1305, then AES-128-GCM, then AES-256-GCM); no
 * compression, no renegotiation, no session tickets kept across a reload
 * of the certificate; buffers released while a connection is idle
 * (SSL_MODE_RELEASE_BUFFERS), so an idle TLS session stays small.
 *
 * I/O is non-blocking on the socket given: every call that would block
 * returns TLS_WANT_READ or TLS_WANT_WRITE and is called again when the
 * socket is ready.  Errors: a short text in tls_error() for the log.
 */
#ifndef SIMPP_TLS_H
#define SIMPP_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    TLS_OK         =  0,
    TLS_ERR        = -1,    /* the connection is unusable: tls_error() */
    TLS_WANT_READ  = -2,
    TLS_WANT_WRITE = -3,
    TLS_CLOSED     = -4,    /* the peer closed (close_notify or EOF) */
};

typedef struct tls_ctx tls_ctx;
typedef struct tls_conn tls_conn;

/*
 * A server context from PEM files: the certificate (optionally followed by
 * its chain), the private key, and an optional separate chain file (NULL).
 * On failure NULL and a reason in err.
 */
tls_ctx *tls_server_new(const char *certfile, const char *keyfile, const char *chainfile,
                        char *err, size_t errcap);

/*
 * A client context: peers are checked against cafile (PEM), or the system's
 * CA store when cafile is NULL.  insecure: no check at all (tests of what a
 * server does with a client; never the default of a program).
 */
tls_ctx *tls_client_new(const char *cafile, int insecure, char *err, size_t errcap);

/*
 * Server-to-server: a server context that asks the peer for a certificate
 * (and goes on without one) and checks what it gets against cafile (NULL:
 * the system's store); a client context that shows our own certificate.
 * 0 or -1 with a reason in err.
 */
int tls_ctx_ask_peer_cert(tls_ctx *c, const char *cafile, char *err, size_t errcap);
int tls_ctx_show_cert(tls_ctx *c, const char *certfile, const char *keyfile, const char *chainfile,
                      char *err, size_t errcap);
/* After the handshake: the peer showed a certificate that chains to a
 * trusted CA, is valid now, and names name (a DNS-ID, RFC 6125).  1 or 0. */
int tls_peer_is(tls_conn *t, const char *name);

/* Contexts are counted: each connection holds its own reference, so a
 * context replaced on reload lives until its last connection goes. */
void tls_ctx_free(tls_ctx *c);

/* One connection over a connected socket; the server side waits for the
 * peer's hello, the client side sends SNI for name and checks the
 * certificate against it (RFC 6125: DNS-ID, no CN fallback).  NULL: memory. */
tls_conn *tls_accept(tls_ctx *c, int fd);
tls_conn *tls_connect(tls_ctx *c, int rfd, int wfd, const char *name);   /* rfd == wfd: a socket */
void tls_free(tls_conn *t);          /* no close_notify: see tls_close() */

/* Drive the handshake: TLS_OK once done, else as the I/O calls. */
int tls_handshake(tls_conn *t);
int tls_done(const tls_conn *t);     /* handshake finished */

/* Up to n bytes: the count, or TLS_WANT_*, TLS_CLOSED, TLS_ERR. */
ssize_t tls_read(tls_conn *t, void *buf, size_t n);
/* Up to n bytes written (partial writes allowed; the buffer may move
 * between calls): the count, or TLS_WANT_*, TLS_ERR. */
ssize_t tls_write(tls_conn *t, const void *buf, size_t n);
/* bytes already decrypted and waiting inside the connection */
size_t tls_pending(const tls_conn *t);
/* send close_notify, without waiting for the peer's */
void tls_close(tls_conn *t);

/* what went wrong last, for the log and for the user ("certificate has
 * expired", "certificate is not for NAME", ...) */
const char *tls_error(const tls_conn *t);
/* "TLSv1.3", "TLS_AES_256_GCM_SHA384" */
const char *tls_version(const tls_conn *t);
const char *tls_cipher(const tls_conn *t);

/*
 * Channel bindings, after the handshake.  tls-exporter (RFC 9266): 32 bytes
 * of the exporter with label "EXPORTER-Channel-Binding" and no context;
 * only offered under TLS 1.3 (or 1.2 with the extended master secret).
 * tls-server-end-point (RFC 5929 4.1): the hash of the server's certificate
 * with its signature's hash (SHA-256 for MD5 and SHA-1).  Return the
 * length, or -1 when the binding is not available on this connection.
 */
#define TLS_CB_MAX 64
int tls_cb_exporter(tls_conn *t, uint8_t out[TLS_CB_MAX]);
/* tls-unique (RFC 5929 3.1): the first Finished message; TLS 1.2 only (it
 * is not defined for 1.3, RFC 9266) and never on a resumed session */
int tls_cb_unique(tls_conn *t, uint8_t out[TLS_CB_MAX]);
int tls_cb_endpoint(tls_conn *t, uint8_t out[TLS_CB_MAX]);

#endif
