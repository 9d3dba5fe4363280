/*
 * sasl.h - SASL for the relay: SCRAM-SHA-256 (RFC 5802, RFC 7677), server
 * and client side, and parsing of PLAIN (RFC 4616).
 *
 * The functions work on the raw SASL messages.  The XMPP layer base64-
 * decodes the character data of <auth/> and <response/> and encodes that of
 * <challenge/> and <success/> (RFC 6120 6.4); a failure there is
 * SASL_E_ENCODING.  Nothing here does I/O or blocks: between
 * scram_server_first() and scram_server_challenge() the caller may look the
 * user up asynchronously.
 *
 * Hashes: SCRAM-SHA-256 by default; SCRAM-SHA-1 through the *_hash()
 * constructors (SC_HASH_SHA1), because RFC 6120 13.8 makes it the one every
 * server must offer.  A credential is made for one hash and used with it.
 *
 * Channel binding (RFC 5802 6, RFC 5056): without scram_server_channel()
 * the server supports none: "p=" is refused with SASL_E_CB_UNSUPPORTED,
 * "n" and "y" accepted.  Inside TLS the caller names the bindings it has
 * (tls-exporter, RFC 9266; tls-unique and tls-server-end-point, RFC 5929):
 * a -PLUS exchange must then bind to one of them, and a plain exchange
 * whose client says "y" (it could bind but thinks the server cannot) is a
 * downgrade when -PLUS was offered: SASL_E_CB_DOWNGRADE.
 *
 * Passwords and SASLprep: RFC 5802 2.2 and RFC 7677 ask for SASLprep
 * (RFC 4013), whose successor is the PRECIS OpaqueString profile (RFC 8265
 * 4.2).  Only the refusing part is done here: a password must be valid UTF-8
 * (RFC 3629) with no control character (U+0000-U+001F, U+007F-U+009F), 1 to
 * SASL_MAX_PW octets.  No mapping or normalisation is applied, so a
 * non-ASCII password is used as the exact octets typed; a peer that does
 * normalise may then compute a different key for the same visible password.
 * Printable ASCII passwords are unchanged by SASLprep and OpaqueString, so
 * for them the result is identical.  Usernames are checked the same way
 * (valid UTF-8, no control characters, at most SASL_MAX_NAME octets) and are
 * otherwise passed through for the caller to compare.
 *
 * Errors: every function returns SASL_OK (0) or one of the negative
 * SASL_E_* codes below; sasl_condition() gives the RFC 6120 6.5 element to
 * send in <failure/>, sasl_strerror() a short text for the log.  Any error
 * from a scram_server_* or scram_client_* step is final: the object refuses
 * further steps (SASL_E_STATE) and only scram_*_free() remains.
 *
 * Threads: scram_server_secret() is meant for start-up, before any exchange
 * runs.  Everything else keeps its state in the object passed in.
 */
#ifndef SIMPP_SASL_H
#define SIMPP_SASL_H

#include <stddef.h>
#include <stdint.h>

/* ---- error codes ---------------------------------------------------- */
enum {
    SASL_OK               =   0,
    SASL_E_MALFORMED      =  -1,  /* syntax error                  malformed-request */
    SASL_E_AUTH           =  -2,  /* bad proof or unknown user     not-authorized */
    SASL_E_AUTHZID        =  -3,  /* authzid not the user          invalid-authzid */
    SASL_E_CB_UNSUPPORTED =  -4,  /* "p=" channel binding, no TLS  encryption-required */
    SASL_E_CB_MISMATCH    =  -5,  /* c= is not the gs2 header      malformed-request */
    SASL_E_NONCE          =  -6,  /* nonce changed or bad          malformed-request */
    SASL_E_EXTENSION      =  -7,  /* mandatory extension "m="      malformed-request */
    SASL_E_TOOLONG        =  -8,  /* message or field too long     malformed-request */
    SASL_E_ITER           =  -9,  /* iteration count out of range  malformed-request */
    SASL_E_PASSWORD       = -10,  /* password not acceptable       not-authorized */
    SASL_E_STATE          = -11,  /* step out of order / after err malformed-request */
    SASL_E_SPACE          = -12,  /* caller's output buffer small  temporary-auth-failure */
    SASL_E_INVAL          = -13,  /* bad argument or credential    temporary-auth-failure */
    SASL_E_INTERNAL       = -14,  /* RNG, crypto or memory failure temporary-auth-failure */
    SASL_E_SERVER_ERROR   = -15,  /* client: server sent "e="      not-authorized */
    SASL_E_SERVER_SIG     = -16,  /* client: server signature bad  not-authorized */
    /* not returned by this module; for the XMPP layer's own use */
    SASL_E_ENCODING       = -17,  /* bad base64 in the XML element incorrect-encoding */
    SASL_E_MECHANISM      = -18,  /* mechanism not offered         invalid-mechanism */
    SASL_E_ABORTED        = -19,  /* client sent <abort/>          aborted */
    SASL_E_CB_DOWNGRADE   = -20,  /* "y" where -PLUS was offered   not-authorized */
};

/* RFC 6120 6.5 condition name for err (< 0); NULL for err >= 0.  An unknown
 * negative code gives "not-authorized". */
const char *sasl_condition(int err);
/* one-line description for logs (never NULL) */
const char *sasl_strerror(int err);

/* ---- limits --------------------------------------------------------- */
#define SASL_MAX_NAME     1023    /* octets of a decoded user/authcid; RFC 7622 3.3.1 */
#define SASL_MAX_AUTHZID  2047    /* octets of an authzid: bare JID, RFC 7622 3.2-3.3 */
#define SASL_MAX_PW       1024    /* octets of a password */
#define SASL_PLAIN_MAX    (SASL_MAX_AUTHZID + SASL_MAX_NAME + SASL_MAX_PW + 2)
#define SCRAM_MAX_MSG     16384   /* any SCRAM message, either direction */
#define SCRAM_MAX_NONCE   256     /* printable characters of the client nonce */
#define SCRAM_OUT_MAX     SCRAM_MAX_MSG   /* always enough for any out buffer */
#define SCRAM_SALT_LEN    16
#define SCRAM_ITER_MIN    4096    /* RFC 7677 4: at least 4096 */
#define SCRAM_ITER_MAX    10000000UL
#define SCRAM_ITER_DEFAULT 10000UL

/*
 * Refusing part of SASLprep/OpaqueString (see above): SASL_OK, or
 * SASL_E_PASSWORD (empty, bad UTF-8, control character) or SASL_E_TOOLONG.
 */
int sasl_password_check(const char *pw, size_t len);

/* ---- stored credentials (RFC 5802 3) -------------------------------- */
struct scram_cred {
    uint8_t       salt[SCRAM_SALT_LEN];
    unsigned long iter;
    uint8_t       stored_key[32];     /* H(ClientKey) */
    uint8_t       server_key[32];     /* HMAC(SaltedPassword, "Server Key") */
    int           hash;               /* SC_HASH_SHA256 (0) or SC_HASH_SHA1: 20 octets */
};

/* New credentials with a random salt; iter in [SCRAM_ITER_MIN,
 * SCRAM_ITER_MAX].  The password itself is not kept. */
int scram_make_cred(const char *pw, size_t pwlen, unsigned long iter, struct scram_cred *out);
/* The same with a given salt (re-deriving, test vectors). */
int scram_make_cred_salt(const char *pw, size_t pwlen, const uint8_t salt[SCRAM_SALT_LEN],
                         unsigned long iter, struct scram_cred *out);
/* ... and for a given hash (SC_HASH_SHA256 or SC_HASH_SHA1) */
int scram_make_cred_hash(int hash, const char *pw, size_t pwlen,
                         const uint8_t salt[SCRAM_SALT_LEN], unsigned long iter,
                         struct scram_cred *out);

/* ---- server --------------------------------------------------------- */
typedef struct scram_server scram_server;

/*
 * Secret used to derive the fake salt shown for an unknown user, so that
 * the challenge does not reveal whether the user exists, and the iteration
 * count shown with it (0: SCRAM_ITER_DEFAULT).  The fake salt is HMAC-SHA256(secret,
 * label || user), truncated to SCRAM_SALT_LEN, so it is the same on every
 * attempt.  Set it at start-up from persistent configuration (at least 16
 * octets) and make fake_iter the count real credentials are made with: if it
 * is never set a random per-process secret is used, and the fake salt then
 * changes when the relay restarts while real salts do not.
 */
int scram_server_secret(const void *secret, size_t len, unsigned long fake_iter);

scram_server *scram_server_new(void);              /* NULL: out of memory */
scram_server *scram_server_new_hash(int hash);     /* NULL: memory or unknown hash */

/* A channel binding: its name ("tls-exporter", "tls-server-end-point") and
 * data (at most SCRAM_CB_MAX octets). */
#define SCRAM_CB_MAX 64
struct scram_cb { const char *name; const uint8_t *data; size_t len; };
/*
 * Before scram_server_first(): the exchange runs inside TLS with these
 * bindings (n of them, at most 2).  plus: the mechanism is a -PLUS one, so
 * the client must bind to one of them.  offered: -PLUS mechanisms were
 * offered on this stream, so a client's "y" is a downgrade.
 */
int scram_server_channel(scram_server *s, int plus, int offered, const struct scram_cb *cb,
                         size_t n);
/* up to 3 bindings: tls-exporter, tls-unique, tls-server-end-point */
#define SCRAM_CB_NMAX 3
void          scram_server_free(scram_server *s);  /* wipes; NULL is fine */

/*
 * Step 1: parse client-first-message (RFC 5802 5.1, 7).  On success the
 * decoded username is in user_out (NUL-terminated, usercap should be at
 * least SASL_MAX_NAME + 1).
 *
 * authzid (RFC 5802 5.1 "a=", RFC 6120 6.3.8): absent or equal to the user
 * is accepted, and authzid_out (if not NULL) gets "".  A bare JID whose
 * localpart is the user ("user@domain") is accepted only when authzid_out is
 * not NULL: it is copied there and the caller must check the domain is its
 * own (or refuse with SASL_E_AUTHZID).  Anything else is SASL_E_AUTHZID.
 */
int scram_server_first(scram_server *s, const char *client_first, size_t len,
                       char *authzid_out, size_t authzcap, char *user_out, size_t usercap);

/*
 * Step 2: server-first-message into out (NUL-terminated; *outlen: capacity
 * in, length without the NUL out).  cred is the user's credential, or NULL
 * if there is no such user: the challenge then looks the same (fake salt,
 * see scram_server_secret) and scram_server_final() fails with SASL_E_AUTH,
 * as for a wrong password.  The credential is copied.
 */
int scram_server_challenge(scram_server *s, const struct scram_cred *cred,
                           char *out, size_t *outlen);

/*
 * Step 3: check client-final-message (RFC 5802 3, 5.1) and, if the proof is
 * right, put server-final-message "v=..." into out (as above); send it with
 * <success/> (RFC 6120 6.4.6).  SASL_E_AUTH for a wrong password or an
 * unknown user.
 */
int scram_server_final(scram_server *s, const char *client_final, size_t len,
                       char *out, size_t *outlen);

/* Test hook: use snonce (printable, no ',', 1..SCRAM_MAX_NONCE characters)
 * instead of a random server nonce.  Before scram_server_challenge() only. */
int scram_server_test_nonce(scram_server *s, const char *snonce);

/* ---- client --------------------------------------------------------- */
typedef struct scram_client scram_client;

/* NULL with errno EINVAL (bad user or password, see above) or ENOMEM. */
scram_client *scram_client_new(const char *user, const char *pw, size_t pwlen);
scram_client *scram_client_new_hash(int hash, const char *user, const char *pw, size_t pwlen);
/* Before scram_client_first(): bind to this channel (a -PLUS mechanism);
 * name as for struct scram_cb. */
int scram_client_channel(scram_client *c, const char *name, const uint8_t *data, size_t len);
void          scram_client_free(scram_client *c);  /* wipes; NULL is fine */

/* client-first-message "n,,n=user,r=nonce", or "p=NAME,,..." when bound */
int scram_client_first(scram_client *c, char *out, size_t *outlen);
/* parse server-first-message, produce client-final-message.  Refuses an
 * iteration count outside [SCRAM_ITER_MIN, SCRAM_ITER_MAX] (SASL_E_ITER). */
int scram_client_final(scram_client *c, const char *server_first, size_t len,
                       char *out, size_t *outlen);
/* check server-final-message: SASL_OK when the server proved it knows the
 * ServerKey (RFC 5802 3). */
int scram_client_verify(scram_client *c, const char *server_final, size_t len);

/* Test hook: fixed client nonce (as scram_server_test_nonce), before
 * scram_client_first() only. */
int scram_client_test_nonce(scram_client *c, const char *cnonce);

/* ---- PLAIN (RFC 4616 2) --------------------------------------------- */
/*
 * message = [authzid] NUL authcid NUL passwd.  Exactly two NULs; authcid
 * and passwd non-empty; all three valid UTF-8; authcid and authzid without
 * control characters, passwd as sasl_password_check().  Each output is
 * NUL-terminated and must fit its buffer (RFC 4616 2: at least 256 octets
 * each), else SASL_E_TOOLONG.  authzid follows the rule of
 * scram_server_first() (authzid may be NULL).  *pwlen is the password
 * length.  On error the outputs are wiped.
 *
 * RFC 4616 5: PLAIN shows the password to anyone on the
 * path; do not offer it on a stream without TLS.
 */
int sasl_plain_parse(const uint8_t *msg, size_t len, char *authzid, size_t authzcap,
                     char *user, size_t usercap, char *pw, size_t pwcap, size_t *pwlen);

#endif
