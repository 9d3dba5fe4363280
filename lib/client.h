/*
 * client.h - the client end of an XMPP stream to simpp-relayd, for
 * simpp-register, simpp-login and tests: open the stream, check the relay's
 * key against the pinned one, SIMPP registration R1-R3, SIMPP login S1-S3
 * over SASL, resource binding, and after login the SIMPP channel (every
 * stanza sealed in a <c/> frame).  Blocking I/O on two descriptors (the
 * UCSPI pair 6/7, a socket twice, or stdin/stdout).
 */
#ifndef SIMPP_CLIENT_H
#define SIMPP_CLIENT_H

#include <stddef.h>

#include "crypto.h"
#include "simpp.h"
#include "xmlstream.h"

struct cl_item;

struct client {
    int rfd, wfd;
    const char *domain;
    int verbose;                    /* the wire, one stanza a line, on stderr */
    int timeout_ms;                 /* for every wait; default 30000 */
    xs_stream *xs, *inner;
    struct simpp_chan *chan;
    char stream_id[1024];
    xs_node *features;
    sc_key *server_key;             /* KU_S as the relay announced it */
    uint8_t suites[8];
    size_t nsuites;
    int can_register;
    struct cl_item *head, *tail;    /* stanzas received, not yet taken */
    int closed;                     /* the relay closed the stream */
    int tampered;                   /* ... on a frame that failed, text in clear, bad XML */
    int sent_close;                 /* we sent </stream:stream> */
    char err[256];                  /* why the last call failed */
    char jid[1024];                 /* full JID once bound */
    /* TLS: CLIENT_TLS_AUTO uses STARTTLS when the relay offers it, _REQUIRE
     * fails without it, _OFF never starts it; the certificate is checked
     * against tls_ca (a PEM file) or the system's CA store, for domain */
    int tls_mode;
    const char *tls_ca;
    struct tls_ctx *tlsctx;
    struct tls_conn *tls;
    int tls_failed;                 /* the handshake failed: no proof of the name */
    int simpp;                      /* the server offers SIMPP (<simpp/>) */
    /* registration: XML put beside R3 (the proofs of a card level), and
     * the level the relay recorded with its note */
    const char *reg_extra;
    /* login only: client_login and client_xmpp_login stop at the new
     * stream's features, before binding (for a XEP-0198 resume) */
    int no_bind;
    char reg_level[16], reg_note[400];
};
/* CLIENT_TLS_DIRECT: TLS from the first byte (XEP-0368) */
enum { CLIENT_TLS_AUTO = 0, CLIENT_TLS_REQUIRE, CLIENT_TLS_OFF, CLIENT_TLS_DIRECT };

void client_init(struct client *c, int rfd, int wfd, const char *domain);
void client_free(struct client *c);

/* Open the stream and read the features (TLS first, as c->tls_mode says).
 * c->simpp tells whether the server speaks SIMPP; only then is
 * c->server_key set.  0 or -1 (c->err says why). */
int client_open(struct client *c);
/* Compare the relay's announced key with a pinned public key file (or a
 * fingerprint "SHA256:..." given instead of a file name); if the file does
 * not exist and tofu is set, write it (trust on first use).
 * 0 ok, else the exit code (sysexits.h) with c->err: EX_NOPERM the key
 * differs, EX_NOINPUT the file cannot be read, EX_DATAERR it is not a
 * public key, EX_CANTCREAT it cannot be written on first use. */
int client_pin(struct client *c, const char *pubfile, int tofu, int *wrote);

/* Send one stanza (serialised XML), sealed if the channel is up. */
int client_send(struct client *c, const char *xml, size_t len);
/* The next stanza, waiting at most timeout_ms (-1: c->timeout_ms); NULL on
 * timeout, close or error (c->err).  The caller frees it. */
xs_node *client_next(struct client *c, int timeout_ms);
/* Read what is available without waiting and queue it; -1 on close/error. */
int client_pump(struct client *c);
int client_pending(const struct client *c);

/* R1-R3 */
int client_register(struct client *c, const char *jid, const sc_key *kr, int suite, int mode);
/* S1-S3, stream restart, channel, resource binding; c->jid is the full JID */
int client_login(struct client *c, const char *jid, const sc_key *kr, int suite, int mode,
                 const char *resource);
/* K_A = KR_A . KU_S, the master key of S1-S3 for this relay (c->server_key) */
int client_master_key(struct client *c, const char *jid, const sc_key *kr, uint8_t ka[SIMPP_KEY]);
/* client_login with K_A already derived: a login again needs no private key */
int client_login_ka(struct client *c, const char *jid, const uint8_t ka[SIMPP_KEY], int suite, int mode,
                    const char *resource);
/* RFC 6120 7 resource binding (after a login with c->no_bind) */
int client_bind(struct client *c, const char *resource);
/* An ordinary XMPP login (a server without SIMPP, or when asked): SASL
 * with the server's password, SCRAM-SHA-256/-1 and their -PLUS variants
 * bound to the TLS channel, PLAIN only inside TLS (mech NULL: the best
 * offered, else exactly that one), then resource binding. */
int client_xmpp_login(struct client *c, const char *jid, const char *pw, size_t pwlen, const char *mech,
                      const char *resource);
/* Publish the user's SIMPP key, signed, in the account's PEP (node
 * urn:simpp:1:key, lib/pepkey.h) with the access model given ("presence",
 * "open"); a node made earlier with another model is reconfigured. */
int client_pep_publish(struct client *c, const char *jid, const sc_key *kr, const char *access, int64_t now);
/* The SIMPP key jid published (checked: its JID, its signature unless
 * need_sig is 0); NULL with c->err */
sc_key *client_pep_fetch(struct client *c, const char *jid, int need_sig, int64_t *when);
/* send </stream:stream> (once) without waiting */
void client_send_close(struct client *c);
/* close the stream politely: send the close, wait briefly for the relay's */
void client_close(struct client *c);

/* Where the relay is: "host[:port]" connects (both fds are the socket);
 * NULL uses fds 6/7 when open (UCSPI: tcpclient, socat), else 0/1 when
 * allow_stdio.  0 or -1 with err. */
int client_connect(const char *hostport, int allow_stdio, int *rfd, int *wfd, char *err, size_t errlen);
/* The same, and with no address and no fds 6/7 the domain's DNS SRV
 * records (lib/srv.h), else domain:5222; *direct says whether the target
 * wants TLS from the first byte.  stdin/stdout (allow_stdio) only when
 * stdin is a socket. */
int client_connect_to(const char *hostport, const char *domain, int allow_stdio, int *rfd, int *wfd, int *direct,
                      char *err, size_t errlen);
/* A new connection to where client_connect_to went the first time: host:port,
 * else the domain's SRV records (never fds 6/7 or stdin/stdout) */
int client_reconnect(const char *hostport, const char *domain, int *fd, int *direct, char *err, size_t errlen);
/* The user's key: a key file (its passphrase from passfd or the terminal),
 * or with frompw the paper's KR = h(pw) (simpp-keygen -p): the password
 * from pwfd or the terminal, the JID's bare form as the salt. */
sc_key *client_key(const char *keyfile, int passfd, int frompw, int pwfd, const char *jid,
                   unsigned long rounds, int curve, char *err, size_t errlen, int *code);
/* (on failure *code is the exit code: EX_NOINPUT the key file cannot be
 * read, EX_NOPERM a wrong passphrase, EX_USAGE no terminal to ask on,
 * EX_IOERR the secret cannot be read, EX_DATAERR not a key, an empty
 * password) */

/* the first suite the relay offers that the caller accepts (0 = any) */
int client_pick_suite(const struct client *c, int want);

#endif
