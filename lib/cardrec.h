/*
 * cardrec.h - what SIMPP keeps on a smart card and how it is laid out
 * (paper 000, 3.2: an account and a password SIMPP generated, on a PIN-
 * protected Java Card or on a MIFARE Classic card).  doc/CARDS.md gives the
 * byte layouts.
 *
 * Pure code over lib/crypto.h: no card library is linked here, so this
 * module lives in libsimpp.a and is unit-tested (t/unit/cardrec.c).  The code
 * that talks to readers is in lib/card/, linked only into simpp-cardwrite and
 * simpp-cardread.
 *
 * Every function that fills a struct cardrec or a key set leaves secrets in
 * it: the caller wipes them with cardrec_wipe / sc_zero.
 */
#ifndef SIMPP_CARDREC_H
#define SIMPP_CARDREC_H

#include <stddef.h>
#include <stdint.h>

#define CARDREC_ACCOUNT_MAX  64
#define CARDREC_PASSWORD_MAX 64
#define CARDREC_PASSWORD_LEN 32     /* generated: base64 of 24 random bytes (192 bits) */

struct cardrec {
    char account[CARDREC_ACCOUNT_MAX + 1];
    char password[CARDREC_PASSWORD_MAX + 1];
};

enum {
    CARDREC_OK       = 0,
    CARDREC_EEMPTY   = -1,  /* nothing SIMPP wrote (blank blocks) */
    CARDREC_EVERSION = -2,  /* a SIMPP record of a version we do not know */
    CARDREC_ECORRUPT = -3,  /* bad layout, checksum or MAC: half-written or damaged */
    CARDREC_EINVAL   = -4,  /* the caller's record does not fit or is malformed */
};

/* 0 if account is a bare JID we can store: 3..64 printable ASCII, one '@'
 * with text on both sides, no '/' or space */
int  cardrec_check_account(const char *account);
/* a fresh random password, CARDREC_PASSWORD_LEN printable characters */
int  cardrec_new_password(char out[CARDREC_PASSWORD_LEN + 1]);
void cardrec_wipe(struct cardrec *r);

/* ---- Java Card: the blob behind GET DATA / PUT DATA 01 01 ------------
 *  "SIMPP" | 01 (version) | 01 len account | 02 len password |
 *  1F 08 first 8 bytes of SHA-256(all before)
 * The PIN guards the blob on the card; the checksum only catches a record
 * damaged or written by something else. */
#define CARDREC_JC_MAX 250          /* what the applet takes in one short APDU */
int cardrec_jc_encode(const struct cardrec *r, uint8_t *out, size_t cap, size_t *len);
int cardrec_jc_decode(const uint8_t *in, size_t len, struct cardrec *r);

/* ---- MIFARE Classic 1K: sectors 1-3, their 9 data blocks -------------
 *  0 "SIMP" | 4 version 01 | 5 suite 01 (ChaCha20-Poly1305) | 6 ct length |
 *  7 00 | 8 nonce(12) | 20 ciphertext || tag(16) | zero padding to 144
 * The AEAD's associated data is bytes 0..19 and the card's UID, so a record
 * torn by an interrupted write, copied to another card, or of another
 * version never opens. */
#define CARDREC_MFC_FIRST   1       /* first sector used */
#define CARDREC_MFC_SECTORS 3
#define CARDREC_MFC_LEN     (CARDREC_MFC_SECTORS * 3 * 16)
#define CARDREC_MFC_ROUNDS  100000  /* PBKDF2 rounds by default (doc/CARDS.md: why so few help little) */

struct cardrec_mfc_keys {
    uint8_t a[CARDREC_MFC_SECTORS][6];  /* key A per sector: reads */
    uint8_t b[CARDREC_MFC_SECTORS][6];  /* key B per sector: writes data and trailer */
    uint8_t rec[32];                    /* the record's AEAD key */
};

/* seed = PBKDF2-HMAC-SHA256(pin, "simpp-mifare-v1" || uid, rounds);
 * keys = HKDF-SHA256(seed) split as above.  Deterministic. */
int cardrec_mfc_derive(const void *pin, size_t pinlen, const uint8_t *uid, size_t uidlen,
                       unsigned long rounds, struct cardrec_mfc_keys *k);
int cardrec_mfc_seal(const struct cardrec_mfc_keys *k, const uint8_t *uid, size_t uidlen,
                     const struct cardrec *r, uint8_t out[CARDREC_MFC_LEN]);
int cardrec_mfc_open(const struct cardrec_mfc_keys *k, const uint8_t *uid, size_t uidlen,
                     const uint8_t in[CARDREC_MFC_LEN], struct cardrec *r);

/* Access bits (MF1S50 data sheet 8.7): cond[j] = C1<<2 | C2<<1 | C3 for
 * block j of a sector (j = 3 the trailer); out = trailer bytes 6..8. */
void cardrec_mfc_access_bits(const uint8_t cond[4], uint8_t out[3]);
/* 1 if trailer bytes 6..8 carry each bit and its complement as they must
 * (a card locks a sector whose access bits do not) */
int  cardrec_mfc_access_valid(const uint8_t t[16]);
/* a SIMPP trailer: key A | access bits (data: read A/B, write B; trailer:
 * keys and bits written with B only) | GPB 69 | key B */
void cardrec_mfc_trailer(const uint8_t a[6], const uint8_t b[6], uint8_t out[16]);

#endif
