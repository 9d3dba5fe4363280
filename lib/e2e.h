/*
 * e2e.h - the client-client layer of SIMPP (paper 001 Fig. 7, C1-C7) made
 * sound, and pager mode for offline peers (paper 003), as pure functions on
 * bytes.  simpp-session moves them inside XMPP <message/> stanzas
 * (doc/PROTOCOL.md, "Client to client").
 *
 *   C1/C2  each peer's long-term key KU from the relay, pinned on first use
 *   C3     A -> B: suites offered, N_A, X = x.G, both identities, signed by A
 *   C4     B -> A: suite chosen, N_B, Y = y.G, h(C3), signed by B
 *   C5     K_AB = HKDF(h(C3||C4), ECDH(x, Y)) -> one chain key per direction;
 *          A confirms with a FIN frame carrying h(C3||C4)
 *   C6/C7  frames: a fresh message key per frame from a hash ratchet (the
 *          old chain key is erased: forward secrecy within a session; a new
 *          C3/C4 replaces the session for a DH rekey), sequence numbers,
 *          a transcript hash per direction
 *
 * Pager mode: a message to an offline peer is signed by the sender and
 * encrypted to the peer's long-term key with an ephemeral-static ECDH; the
 * relay only stores it.
 */
#ifndef SIMPP_E2E_H
#define SIMPP_E2E_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define E2E_NS       "urn:simpp:e2e:1"
#define E2E_MSG_MAX  2048           /* a handshake message */
#define E2E_SID      16
#define E2E_ID_MAX   1023

enum { E2E_C3 = 0x21, E2E_C4 = 0x22, E2E_PAGER = 0x31 };

/* payload types inside frames */
enum e2e_type {
    E2E_TEXT = 1,       /* a chat line: UTF-8 */
    E2E_ACK = 2,        /* u64 id acknowledged || the receiver's transcript (32) */
    E2E_FIN = 3,        /* key confirmation: h(C3 || C4) */
    E2E_BYE = 4,        /* u64 frames sent before this || sender's transcript (32) */
    E2E_FILE_OFFER = 5, /* u64 size || sha256 (32) || name */
    E2E_FILE_CHUNK = 6, /* u64 offset || bytes */
    E2E_FILE_DONE = 7,  /* the receiver's verdict: u8 ok || name */
    E2E_VIDEO = 8,      /* video invitation / answer: opaque to this layer */
};

enum e2e_err {
    E2E_OK = 0, E2E_EFORMAT = -1, E2E_EVERSION = -2, E2E_ESUITE = -3, E2E_EAUTH = -4,
    E2E_EKEY = -5, E2E_ESTATE = -6, E2E_EREPLAY = -7, E2E_EINTERNAL = -8, E2E_EPARTY = -9,
};
const char *e2e_strerror(int err);

/* a running session (after C4) */
struct e2e_sess {
    int suite, initiator, confirmed;
    uint8_t sid[E2E_SID];
    uint8_t th[SC_SHA256_LEN];              /* h(C3 || C4) */
    uint8_t ck_send[32], ck_recv[32];       /* chain keys: erased as they advance */
    uint64_t sseq, rseq;                    /* next frame number each way */
    uint8_t t_send[SC_SHA256_LEN], t_recv[SC_SHA256_LEN];  /* transcripts */
    uint8_t exporter[32];                   /* for keys of other channels (video) */
};

/* handshake state between C3 and C4 */
struct e2e_hs {
    int state, curve;
    char me[E2E_ID_MAX + 1], peer[E2E_ID_MAX + 1];
    sc_key *eph;                            /* x (or y): erased after C5 */
    uint8_t h3[SC_SHA256_LEN];
    uint8_t c3[E2E_MSG_MAX];
    size_t c3len;
};

/* A: C3.  suites: offered, in preference order. */
int e2e_c3_make(struct e2e_hs *hs, const char *me, const char *peer, const sc_key *my_lt,
                const uint8_t *suites, size_t nsuites, uint8_t *out, size_t *outlen);
/* read who C3 claims to be from and to (before any key is known) */
int e2e_c3_parties(const uint8_t *c3, size_t len, char *from, size_t fcap, char *to, size_t tcap);
/* B: verify C3 with A's pinned key, choose a suite (first offered that is
 * allowed), answer C4, and the session is set (not confirmed until FIN). */
int e2e_c3_accept(const char *me, const char *peer, const sc_key *my_lt, const sc_key *peer_lt,
                  unsigned allowed, const uint8_t *c3, size_t len, uint8_t *c4, size_t *c4len,
                  struct e2e_sess *s);
/* A: verify C4 with B's pinned key; the session is set and confirmed on A's
 * side; A then sends E2E_FIN carrying s->th (e2e_fin_payload). */
int e2e_c4_accept(struct e2e_hs *hs, const sc_key *peer_lt, const uint8_t *c4, size_t len,
                  struct e2e_sess *s);
void e2e_hs_wipe(struct e2e_hs *hs);
/*
 * The same two steps with an ephemeral key pair made ahead of time
 * (sc_key_generate while the program had nothing else to do), so that its
 * generation is not on the path from C1/C2 to the session.  A spare on the
 * handshake's curve is taken: *spare becomes NULL, and the key is erased
 * after C5 exactly as one made inside would be.  Any other spare (NULL, a
 * public key, another curve) is left where it is and a key is made here.
 * e2e_c3_accept_spare takes it only once C3 has checked, so a forged C3
 * cannot use it up.  A spare must never have been used for anything else.
 */
int e2e_c3_make_spare(struct e2e_hs *hs, const char *me, const char *peer, const sc_key *my_lt,
                      const uint8_t *suites, size_t nsuites, uint8_t *out, size_t *outlen,
                      sc_key **spare);
int e2e_c3_accept_spare(const char *me, const char *peer, const sc_key *my_lt, const sc_key *peer_lt,
                        unsigned allowed, const uint8_t *c3, size_t len, uint8_t *c4, size_t *c4len,
                        struct e2e_sess *s, sc_key **spare);

/* Frames: pt = type(1) || id(8) || data.  Seal advances the send ratchet. */
int e2e_seal(struct e2e_sess *s, int type, uint64_t id, const void *data, size_t dlen,
             uint8_t *out, size_t *outlen, uint64_t *seq);
/*
 * Open frame seq.  seq < next expected: a replay (E2E_EREPLAY).  seq > next:
 * frames were dropped or withheld; the ratchet skips them (their keys are
 * erased) and *skipped says how many.  The payload is split into type, id,
 * data (pointing into out).
 */
int e2e_open(struct e2e_sess *s, uint64_t seq, const uint8_t *in, size_t len, uint8_t *out,
             size_t *outlen, int *type, uint64_t *id, const uint8_t **data, size_t *dlen,
             uint64_t *skipped);
/* h(t_A->B || t_B->A): the same number on both sides iff both saw the same
 * conversation */
void e2e_transcript(const struct e2e_sess *s, uint8_t out[SC_SHA256_LEN]);
void e2e_sess_wipe(struct e2e_sess *s);
/* a key for another channel of this session (RFC 5705 in spirit):
 * HKDF(exporter, label || context) */
int e2e_export(const struct e2e_sess *s, const char *label, const void *ctx, size_t ctxlen,
               uint8_t *out, size_t outlen);

/* Pager mode (paper 003): signed, then encrypted to the peer's key. */
int e2e_pager_seal(const sc_key *my_lt, const char *me, const sc_key *peer_lt, const char *peer,
                   const uint8_t id[16], int64_t ts, const void *text, size_t tlen,
                   uint8_t *out, size_t *outlen);
int e2e_pager_open(const sc_key *my_lt, const char *me, const sc_key *peer_lt, const char *peer,
                   const uint8_t *in, size_t len, uint8_t id[16], int64_t *ts,
                   uint8_t *text, size_t *tlen);
/* who a pager message claims to be from (to find the key to check it with) */
int e2e_pager_from(const uint8_t *in, size_t len, char *from, size_t cap);

/* 60 digits in 12 groups of 5 that two people compare (same on both sides) */
int e2e_safety_number(const sc_key *a, const sc_key *b, char out[80]);

#endif
