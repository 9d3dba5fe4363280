/*
 * card.h - levels the relay grants rather than takes on a client's word.
 * A registration in a card mode (javacard, mifare, pkcs11) is recorded at
 * level card only with a proof the operator trusts, sent beside R3:
 *   <cert/>       the X.509 chain of the key (leaf first, DER in base64),
 *                 checked against the card CAs and CRLs (card_ca, card_crl;
 *                 lib/x509.h says what "good" means);
 *   <provision/>  the proof of a one-time token the operator issued for this
 *                 JID (simpp-relayd provision; lib/provision.h).
 * Without one it is recorded at level password; a proof that fails refuses
 * the registration with the reason.  At each login a certificate on record
 * is checked again (expired, revoked since): if it fails, that session runs
 * at level password.
 */
#ifndef SIMPP_RELAY_CARD_H
#define SIMPP_RELAY_CARD_H

#include "relay/conn.h"

struct card_grant {
    int level;                  /* what to record */
    int provisioned;            /* a provisioning token was spent */
    struct store_cert cert;     /* chainlen 0: no certificate */
    char note[400];             /* what the client is told beside the level */
};

/* What registering reg->id (mode, key) earns with the proofs in <register/>:
 * 0 and g filled, or -1 with why (the registration is refused). */
int card_grant(struct relay *r, const struct simpp_reg *reg, const char *stream_id, const xs_node *regel,
               struct card_grant *g, char *why, size_t whylen);
/* After the account was stored: record the certificate, spend the token.
 * 0, or -1 (a token spent meanwhile: the registration is undone). */
int card_commit(struct relay *r, struct card_grant *g, const char *jid);
/* The level a login at `level` keeps: a card account whose certificate no
 * longer checks drops to password (logged with the reason). */
int card_level_at_login(struct relay *r, const struct store_user *u, int level);

#endif
