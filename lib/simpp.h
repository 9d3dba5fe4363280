/*
 * simpp.h - the SIMPP client-server handshakes as pure functions on bytes:
 * registration R1-R3 (paper 001, Fig. 5) and login S1-S3 (Fig. 6), made
 * sound as SPEC.md requires, and the encrypted client-server channel that
 * follows login.  No I/O here: the relay and the clients move the bytes
 * (base64 inside XMPP elements; doc/PROTOCOL.md has the wire).
 *
 * Every handshake message is bound to its session: the context hash c0
 * covers a label, the XMPP stream id the server chose (fresh per
 * connection) and the suite list the server advertised; each message's key
 * is derived from the running transcript.  So a message replayed into
 * another stream, a stripped suite list, or any changed byte fails to open.
 */
#ifndef SIMPP_SIMPP_H
#define SIMPP_SIMPP_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define SIMPP_NS        "urn:simpp:1"
#define SIMPP_V         1
#define SIMPP_NONCE     32
#define SIMPP_KEY       32          /* K_A, K_AS */
#define SIMPP_ID_MAX    1023        /* bare JID, bytes */
#define SIMPP_MSG_MAX   2048        /* any handshake message */

/* message types (second byte of every handshake message) */
enum { SIMPP_R1 = 0x01, SIMPP_R2 = 0x02, SIMPP_R3 = 0x03,
       SIMPP_S1 = 0x11, SIMPP_S2 = 0x12, SIMPP_S3 = 0x13 };

/* how the client holds its key: the relay's information-flow level */
enum simpp_mode { SIMPP_MODE_KEYFILE = 0, SIMPP_MODE_PASSWORD = 1, SIMPP_MODE_JAVACARD = 2,
                  SIMPP_MODE_MIFARE = 3, SIMPP_MODE_PKCS11 = 4 /* a key on a PKCS#11 token */ };
/* trust levels the relay records (paper 004) */
enum simpp_level { SIMPP_LEVEL_XMPP = 0, SIMPP_LEVEL_PASSWORD = 1, SIMPP_LEVEL_CARD = 2 };
int         simpp_mode_level(int mode);
const char *simpp_mode_name(int mode);
int         simpp_mode_from_name(const char *name);   /* -1 if unknown */
const char *simpp_level_name(int level);
/* "xmpp", "password", "card": the level, or -1 */
int simpp_level_from_name(const char *name);

enum simpp_err {
    SIMPP_OK = 0,
    SIMPP_EFORMAT = -1,     /* malformed message */
    SIMPP_EVERSION = -2,    /* unknown protocol version */
    SIMPP_ESUITE = -3,      /* suite not offered / not allowed */
    SIMPP_EAUTH = -4,       /* a MAC, tag, hash or signature did not check */
    SIMPP_EKEY = -5,        /* bad public key */
    SIMPP_ESTATE = -6,      /* message out of order */
    SIMPP_EINTERNAL = -7,
};
const char *simpp_strerror(int err);

/* What binds a handshake to one XMPP stream. */
struct simpp_ctx {
    const char *stream_id;          /* the id attribute of the server's stream header */
    const uint8_t *suites;          /* suites the server advertised, in its order */
    size_t nsuites;
};

/* K_A = HKDF(ECDH(KR, KU'), "simpp/1 K_A", ID || KU_A || KU_S): the master
 * key of paper Fig. 5.  The client computes it with (KR_A, KU_S), the server
 * with (KR_S, KU_A); both get the same bytes. */
int simpp_master_key(const sc_key *priv, const sc_key *peer, const char *id,
                     const sc_key *ku_a, const sc_key *ku_s, uint8_t ka[SIMPP_KEY]);

/* ---- registration ---------------------------------------------------- */
struct simpp_reg {
    int suite, mode, state;
    char id[SIMPP_ID_MAX + 1];
    uint8_t pub[SC_MAX_PUB];        /* KU_A, X9.63 */
    size_t publen;
    int curve;
    uint8_t ka[SIMPP_KEY];          /* K_A */
    uint8_t t[SC_SHA256_LEN];       /* transcript */
    uint8_t rs[SIMPP_NONCE];        /* R_S */
};
/* client: R1 = ID_A, KU_A (+ suite, mode, nonce) */
int simpp_r1_make(struct simpp_reg *r, const struct simpp_ctx *c, const char *id,
                  const sc_key *kr_a, const sc_key *ku_s, int suite, int mode,
                  uint8_t *out, size_t *outlen);
/* server: check R1, derive K_A, answer R2 = {R_S, h(ID_A, KU_A)}K_A */
int simpp_r1_accept(struct simpp_reg *r, const struct simpp_ctx *c, const sc_key *kr_s,
                    const uint8_t *r1, size_t r1len, uint8_t *out, size_t *outlen);
/* client: check R2, answer R3 = [R_S]KR_A */
int simpp_r2_answer(struct simpp_reg *r, const sc_key *kr_a, const uint8_t *r2, size_t r2len,
                    uint8_t *out, size_t *outlen);
/* server: check R3; on SIMPP_OK the caller stores r->id, r->pub, r->ka */
int simpp_r3_verify(struct simpp_reg *r, const uint8_t *r3, size_t r3len);

/* ---- login ------------------------------------------------------------- */
struct simpp_login {
    int suite, mode, state;
    char id[SIMPP_ID_MAX + 1];
    uint8_t ka[SIMPP_KEY], kas[SIMPP_KEY];
    uint8_t rs[SIMPP_NONCE];
    uint8_t t[SC_SHA256_LEN];
    uint8_t c2s[SC_MAX_KEY], s2c[SC_MAX_KEY];   /* channel keys after S3 */
};
/* client: S1 = ID_A, {K_AS}K_A */
int simpp_s1_make(struct simpp_login *l, const struct simpp_ctx *c, const char *id,
                  const uint8_t ka[SIMPP_KEY], int suite, int mode, uint8_t *out, size_t *outlen);
/* server: read the ID from S1 (to look up K_A) without trusting anything */
int simpp_s1_id(const uint8_t *s1, size_t len, char *id, size_t idcap);
/* server: open S1 with K_A, answer S2 = {R_S, h(ID_A, K_AS)}K_A.
 * allowed: bit (1 << suite) set for each suite the server's policy allows. */
int simpp_s1_accept(struct simpp_login *l, const struct simpp_ctx *c, const uint8_t ka[SIMPP_KEY],
                    unsigned allowed, const uint8_t *s1, size_t len, uint8_t *out, size_t *outlen);
/* client: check S2, answer S3 = {h(R_S)}K_AS; channel keys are set */
int simpp_s2_answer(struct simpp_login *l, const uint8_t *s2, size_t len, uint8_t *out,
                    size_t *outlen);
/* server: check S3; channel keys are set */
int simpp_s3_verify(struct simpp_login *l, const uint8_t *s3, size_t len);
void simpp_login_wipe(struct simpp_login *l);
void simpp_reg_wipe(struct simpp_reg *r);

/* ---- the channel after login ------------------------------------------- */
struct simpp_chan {
    int suite;
    uint8_t ksend[SC_MAX_KEY], krecv[SC_MAX_KEY];
    uint64_t sseq, rseq;            /* next sequence number each way */
};
/* server = 1 on the relay's side (sends with s2c) */
void simpp_chan_init(struct simpp_chan *ch, const struct simpp_login *l, int server);
/* seal the next frame; *seq gets its sequence number */
int simpp_chan_seal(struct simpp_chan *ch, const void *pt, size_t len, uint8_t *out,
                    size_t *outlen, uint64_t *seq);
/* open a frame; seq must be the next expected one (replay, reordering and
 * gaps are refused) */
int simpp_chan_open(struct simpp_chan *ch, uint64_t seq, const uint8_t *in, size_t len,
                    uint8_t *out, size_t *outlen);
void simpp_chan_wipe(struct simpp_chan *ch);

#endif
