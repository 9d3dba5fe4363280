/*
 * card/nfc.c - the SIMPP record on a MIFARE Classic 1K, through libnfc.
 * Paper 000 3.2.3: the MIFARE card carries account and password, and
 * "through card reader user can entry SIMPP".
 *
 * A MIFARE Classic card has no PIN and no retry counter: it only guards each
 * sector with two 48-bit keys, checked with NXP's Crypto1, which is broken
 * (keys can be recovered from a card or from a sniffed exchange in minutes).
 * So the PIN lives here, not on the card: sector keys and the record's
 * AEAD key are derived from it (lib/cardrec.c), a wrong PIN gives keys the
 * card refuses, and the record is encrypted and MACed so a card that was
 * read out or half-written yields nothing usable.  doc/CARDS.md says what
 * that does and does not protect.
 *
 * MIFARE commands (NXP MF1S50 data sheet, 9): AUTH 60/61 block key uid,
 * READ 30 block, WRITE A0 block data; the reader chip does Crypto1, libnfc's
 * transceive carries them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <nfc/nfc.h>

#include "card/card.h"
#include "crypto.h"
#include "util.h"

enum { MF_AUTH_A = 0x60, MF_AUTH_B = 0x61, MF_READ = 0x30, MF_WRITE = 0xA0 };
#define TIMEOUT_MS 1000
#define NCAND 3

static const uint8_t TRANSPORT[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
static const nfc_modulation MOD = { .nmt = NMT_ISO14443A, .nbr = NBR_106 };

struct mfc {
    nfc_context *ctx;
    nfc_device *dev;
    nfc_target t;
    uint8_t uid[10];
    size_t uidlen;
    char uidhex[21];
    char name[128];
    int reselected;             /* the one re-select after the card left the field */
    /* the last authentication that worked, to redo after a re-select */
    int authed;
    uint8_t auth[12];
};

/* a key candidate for a sector: which key, its bytes, what it is */
struct cand { uint8_t cmd; const uint8_t *key; const char *what; };

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int gone(int r)
{
    return r == NFC_ERFTRANS || r == NFC_ETIMEOUT || r == NFC_ETGRELEASED;
}

static int select_card(struct mfc *m, int with_uid)
{
    return nfc_initiator_select_passive_target(m->dev, MOD, with_uid ? m->uid : NULL, with_uid ? m->uidlen : 0,
                                               &m->t);
}

static int xfer(struct mfc *m, const uint8_t *tx, size_t n, uint8_t *rx, size_t cap)
{
    /* the key in an AUTH comes from the PIN: only its length is traced */
    card_trace(">", tx, n, tx[0] == MF_AUTH_A || tx[0] == MF_AUTH_B ? 2 : tx[0] == MF_WRITE ? 2 : n);
    int r = nfc_initiator_transceive_bytes(m->dev, tx, n, rx, cap, TIMEOUT_MS);
    if (r >= 0) card_trace("<", rx, (size_t)r, (size_t)r);
    else if (card_verbose) fprintf(stderr, "%s: < error %d (%s)\n", progname, r, nfc_strerror(m->dev));
    return r;
}

/* The card left the field: wait for it (the same UID) once, and redo the
 * last authentication so the command can be repeated. */
static int recover(struct mfc *m, const char *what)
{
    uint8_t rx[16];
    int64_t deadline = now_ms() + (int64_t)card_wait_s * 1000;
    m->reselected = 1;
    warnx("the card left the field during %s; waiting for it (once)", what);
    for (;;) {
        int r = select_card(m, 1);
        if (r > 0) break;
        if (r < 0 && !gone(r)) return card_fail(CARD_EIO, "%s: reader: %s", what, nfc_strerror(m->dev));
        if (now_ms() >= deadline)
            return card_fail(CARD_EIO, "the card left the field during %s and is not back after %d s",
                             what, card_wait_s);
        usleep(100 * 1000);
    }
    if (m->authed && xfer(m, m->auth, sizeof m->auth, rx, sizeof rx) < 0)
        return card_fail(CARD_EIO, "the card came back during %s but refused its key", what);
    warnx("the card is back");
    return CARD_OK;
}

/* one READ or WRITE, repeated once after the card comes back */
static int rw(struct mfc *m, const char *what, const uint8_t *tx, size_t n, uint8_t *rx, size_t cap, int want)
{
    int r = xfer(m, tx, n, rx, cap);
    if (r < 0 && gone(r) && !m->reselected) {
        int st = recover(m, what);
        if (st != CARD_OK) return st;
        r = xfer(m, tx, n, rx, cap);
    }
    if (r == want) return CARD_OK;
    if (r >= 0) return card_fail(CARD_EPROTO, "%s: the card answered %d bytes", what, r);
    if (gone(r)) return card_fail(CARD_EIO, "the card left the field during %s", what);
    if (r == NFC_EMFCAUTHFAIL) return card_fail(CARD_EPROTO, "%s: the card refused it (access bits?)", what);
    return card_fail(CARD_EIO, "%s: %s", what, nfc_strerror(m->dev));
}

static int read_block(struct mfc *m, int blk, uint8_t out[16])
{
    char what[32];
    uint8_t tx[2] = { MF_READ, (uint8_t)blk };
    snprintf(what, sizeof what, "READ block %d", blk);
    return rw(m, what, tx, sizeof tx, out, 16, 16);
}

static int write_block(struct mfc *m, int blk, const uint8_t in[16])
{
    char what[32];
    uint8_t tx[18] = { MF_WRITE, (uint8_t)blk }, rx[4];
    memcpy(tx + 2, in, 16);
    snprintf(what, sizeof what, "WRITE block %d", blk);
    int st = rw(m, what, tx, sizeof tx, rx, sizeof rx, 0);
    sc_zero(tx, sizeof tx);
    return st;
}

/*
 * AUTH with one key.  CARD_OK; CARD_EPIN when the card refused the key
 * (it then halts: we select it again, as the data sheet's state machine
 * wants, so the next attempt can follow); CARD_EIO when it went away.
 */
static int authenticate(struct mfc *m, int sector, uint8_t cmd, const uint8_t key[6])
{
    uint8_t tx[12] = { cmd, (uint8_t)(sector * 4) }, rx[16];
    char what[48];
    memcpy(tx + 2, key, 6);
    memcpy(tx + 8, m->uid + m->uidlen - 4, 4);      /* the last 4 UID bytes (MF1S50 9.1) */
    snprintf(what, sizeof what, "AUTH sector %d", sector);
    m->authed = 0;
    int r = xfer(m, tx, sizeof tx, rx, sizeof rx);
    if (r < 0 && gone(r) && !m->reselected) {
        int st = recover(m, what);
        if (st != CARD_OK) { sc_zero(tx, sizeof tx); return st; }
        r = xfer(m, tx, sizeof tx, rx, sizeof rx);
    }
    if (r >= 0) {
        memcpy(m->auth, tx, sizeof tx);
        m->authed = 1;
        sc_zero(tx, sizeof tx);
        return CARD_OK;
    }
    sc_zero(tx, sizeof tx);
    if (r == NFC_EMFCAUTHFAIL) {
        if (select_card(m, 1) <= 0) return card_fail(CARD_EIO, "the card left the field after %s", what);
        return CARD_EPIN;
    }
    if (gone(r)) return card_fail(CARD_EIO, "the card left the field during %s", what);
    return card_fail(CARD_EIO, "%s: %s", what, nfc_strerror(m->dev));
}

/* which candidate opens the sector: its index, -1 for none, or -status */
static int probe(struct mfc *m, int sector, const struct cand *c, int n)
{
    for (int i = 0; i < n; i++) {
        if (!c[i].key) continue;
        int st = authenticate(m, sector, c[i].cmd, c[i].key);
        if (st == CARD_OK) return i;
        if (st != CARD_EPIN) return -st;
    }
    return -1;
}

int mfc_open(struct mfc **out, const char *connstring)
{
    struct mfc *m = calloc(1, sizeof *m);
    int st, r;
    *out = NULL;
    if (!m) return card_fail(CARD_EINTERNAL, "out of memory");
    /* libnfc prints its own errors on stderr, which would double ours ("no
     * reader: ..."); LIBNFC_LOG_LEVEL set by the user still wins */
    setenv("LIBNFC_LOG_LEVEL", "0", 0);
    nfc_init(&m->ctx);
    if (!m->ctx) {
        free(m);
        return card_fail(CARD_EINTERNAL, "unable to start libnfc");
    }
    /* connstring NULL: libnfc takes LIBNFC_DEVICE, else the device of
     * /etc/nfc/libnfc.conf or /etc/nfc/devices.d */
    m->dev = nfc_open(m->ctx, connstring);
    snprintf(m->name, sizeof m->name, "%s", connstring ? connstring
             : getenv("LIBNFC_DEVICE") ? getenv("LIBNFC_DEVICE") : "the libnfc default device");
    if (!m->dev) {
        st = card_fail(CARD_ENOREADER, "no reader: libnfc cannot open %s", m->name);
        goto fail;
    }
    if (nfc_initiator_init(m->dev) < 0) {
        st = card_fail(CARD_ENOREADER, "no reader: %s does not answer: %s", m->name, nfc_strerror(m->dev));
        goto fail;
    }
    /* without this a select waits for ever for a card to come */
    if (nfc_device_set_property_bool(m->dev, NP_INFINITE_SELECT, false) < 0) {
        st = card_fail(CARD_ENOREADER, "reader %s: %s", m->name, nfc_strerror(m->dev));
        goto fail;
    }
    r = select_card(m, 0);
    if (r == 0) {
        st = card_fail(CARD_ENOCARD, "no card on the reader %s", m->name);
        goto fail;
    }
    if (r < 0) {
        st = card_fail(CARD_EIO, "reader %s: %s", m->name, nfc_strerror(m->dev));
        goto fail;
    }
    const nfc_iso14443a_info *a = &m->t.nti.nai;
    /* SAK 08: MIFARE Classic 1K (NXP AN10833); 18 would be a 4K, 20 a
     * smart card speaking ISO 14443-4 */
    if ((a->btSak & 0x18) != 0x08 || a->szUidLen < 4 || a->szUidLen > sizeof m->uid) {
        st = card_fail(CARD_ENOTSIMPP, "not a SIMPP card: not a MIFARE Classic 1K (SAK %02X)", a->btSak);
        goto fail;
    }
    memcpy(m->uid, a->abtUid, a->szUidLen);
    m->uidlen = a->szUidLen;
    sc_hex_encode(m->uid, m->uidlen, m->uidhex);
    *out = m;
    return CARD_OK;
fail:
    mfc_close(m);
    return st;
}

const char *mfc_uid(const struct mfc *m) { return m->uidhex; }

int mfc_provisioned(struct mfc *m, int *prov)
{
    const struct cand transport = { MF_AUTH_A, TRANSPORT, "transport" };
    *prov = 0;
    for (int s = 0; s < CARDREC_MFC_SECTORS; s++) {
        int i = probe(m, CARDREC_MFC_FIRST + s, &transport, 1);
        if (i < -1) return -i;
        if (i < 0) *prov = 1;
    }
    return CARD_OK;
}

static int read_image(struct mfc *m, const struct cardrec_mfc_keys *k, uint8_t img[CARDREC_MFC_LEN])
{
    const struct cand transport = { MF_AUTH_A, TRANSPORT, "transport" };
    for (int s = 0; s < CARDREC_MFC_SECTORS; s++) {
        int sector = CARDREC_MFC_FIRST + s, st = authenticate(m, sector, MF_AUTH_A, k->a[s]);
        if (st == CARD_EPIN) {
            /* Tell a wrong PIN from a card that is blank or was torn
             * mid-write: does the sector still take the transport key? */
            int i = probe(m, sector, &transport, 1);
            if (i < -1) return -i;
            if (s > 0)
                return card_fail(CARD_ECORRUPT, "record corrupt: sector %d does not open with this PIN's keys "
                                 "although sector %d does (a write was interrupted?)", sector, CARDREC_MFC_FIRST);
            if (i < 0)
                return card_fail(CARD_EPIN, "wrong PIN: the card refused the sector key derived from it "
                                 "(or SIMPP did not write this card)");
            uint8_t b[16], zero = 0;
            if ((st = read_block(m, sector * 4, b)) != CARD_OK) return st;
            for (int j = 0; j < 16; j++) zero |= b[j];
            if (!zero) return card_fail(CARD_ENOTSIMPP, "not a SIMPP card: a blank card (transport keys)");
            return card_fail(CARD_ECORRUPT, "record corrupt: sector %d still has its transport key "
                             "(a write was interrupted?)", sector);
        }
        if (st != CARD_OK) return st;
        for (int j = 0; j < 3; j++)
            if ((st = read_block(m, sector * 4 + j, img + (s * 3 + j) * 16)) != CARD_OK) return st;
    }
    return CARD_OK;
}

int mfc_read(struct mfc *m, const char *pin, size_t pinlen, unsigned long rounds, struct cardrec *r)
{
    struct cardrec_mfc_keys k;
    uint8_t img[CARDREC_MFC_LEN];
    int st;
    cardrec_wipe(r);
    if (pinlen < MFC_PIN_MIN || pinlen > MFC_PIN_MAX)
        return card_fail(CARD_EPIN, "a PIN has %d to %d characters", MFC_PIN_MIN, MFC_PIN_MAX);
    if (cardrec_mfc_derive(pin, pinlen, m->uid, m->uidlen, rounds, &k) < 0)
        return card_fail(CARD_EINTERNAL, "unable to derive the card keys");
    if ((st = read_image(m, &k, img)) == CARD_OK) {
        int e = cardrec_mfc_open(&k, m->uid, m->uidlen, img, r);
        if (e == CARDREC_EVERSION)
            st = card_fail(CARD_ECORRUPT, "record corrupt: a SIMPP record of version %u, which this "
                                          "program does not read", img[4]);
        else if (e == CARDREC_EEMPTY)
            st = card_fail(CARD_ECORRUPT, "record corrupt: the sectors open with this PIN but hold no record");
        else if (e < 0)
            st = card_fail(CARD_ECORRUPT, "record corrupt: its MAC does not check (half-written or altered)");
    }
    sc_zero(&k, sizeof k);
    sc_zero(img, sizeof img);
    if (st != CARD_OK) cardrec_wipe(r);
    return st;
}

int mfc_write(struct mfc *m, const char *opin, size_t opinlen, const char *npin, size_t npinlen,
              unsigned long rounds, const struct cardrec *r)
{
    struct cardrec_mfc_keys nk, okeys;
    uint8_t img[CARDREC_MFC_LEN], back[CARDREC_MFC_LEN], trailer[16];
    int which[CARDREC_MFC_SECTORS], st = CARD_OK;
    struct cardrec check;
    if (npinlen < MFC_PIN_MIN || npinlen > MFC_PIN_MAX || (opin && (opinlen < MFC_PIN_MIN || opinlen > MFC_PIN_MAX)))
        return card_fail(CARD_EPIN, "a PIN has %d to %d characters", MFC_PIN_MIN, MFC_PIN_MAX);
    memset(&okeys, 0, sizeof okeys);
    if (cardrec_mfc_derive(npin, npinlen, m->uid, m->uidlen, rounds, &nk) < 0 ||
        (opin && cardrec_mfc_derive(opin, opinlen, m->uid, m->uidlen, rounds, &okeys) < 0)) {
        st = card_fail(CARD_EINTERNAL, "unable to derive the card keys");
        goto done;
    }
    if (cardrec_mfc_seal(&nk, m->uid, m->uidlen, r, img) < 0) {
        st = card_fail(CARD_EINTERNAL, "the record does not fit on the card");
        goto done;
    }
    /* First find, for every sector, a key that lets us write it: the
     * transport key A of a new card, key B from the current PIN, or key B
     * from the new PIN (an earlier run that was interrupted).  Nothing is
     * written before all three sectors are known to open. */
    for (int s = 0; s < CARDREC_MFC_SECTORS; s++) {
        struct cand c[NCAND] = { { MF_AUTH_A, TRANSPORT, "transport" },
                                 { MF_AUTH_B, opin ? okeys.b[s] : NULL, "current" },
                                 { MF_AUTH_B, nk.b[s], "new" } };
        which[s] = probe(m, CARDREC_MFC_FIRST + s, c, NCAND);
        if (which[s] < -1) { st = -which[s]; goto done; }
        if (which[s] < 0) {
            st = opin ? card_fail(CARD_EPIN, "wrong PIN: sector %d refused the keys from the current PIN",
                                  CARDREC_MFC_FIRST + s)
                      : card_fail(CARD_EEXISTS, "the card is provisioned (sector %d has other keys): "
                                  "give its current PIN with -f", CARDREC_MFC_FIRST + s);
            goto done;
        }
    }
    /* Then sector by sector: data blocks, then the trailer with the new
     * keys and access bits (MF1S50 8.7).  Were the card pulled away in
     * between, the record's MAC, not the order, keeps a torn record out. */
    for (int s = 0; s < CARDREC_MFC_SECTORS && st == CARD_OK; s++) {
        int sector = CARDREC_MFC_FIRST + s;
        const uint8_t *key = which[s] == 0 ? TRANSPORT : which[s] == 1 ? okeys.b[s] : nk.b[s];
        if ((st = authenticate(m, sector, which[s] == 0 ? MF_AUTH_A : MF_AUTH_B, key)) != CARD_OK) {
            if (st == CARD_EPIN) st = card_fail(CARD_EIO, "sector %d refused a key it took a moment ago", sector);
            break;
        }
        for (int j = 0; j < 3 && st == CARD_OK; j++)
            st = write_block(m, sector * 4 + j, img + (s * 3 + j) * 16);
        cardrec_mfc_trailer(nk.a[s], nk.b[s], trailer);
        if (st == CARD_OK) st = write_block(m, sector * 4 + 3, trailer);
    }
    if (st != CARD_OK) goto done;
    /* read it back with the reading keys, and open it */
    if ((st = read_image(m, &nk, back)) != CARD_OK) goto done;
    if (!sc_ct_eq(back, img, sizeof img) || cardrec_mfc_open(&nk, m->uid, m->uidlen, back, &check) < 0)
        st = card_fail(CARD_EIO, "the record read back from the card differs from what was written");
    cardrec_wipe(&check);
done:
    sc_zero(&nk, sizeof nk);
    sc_zero(&okeys, sizeof okeys);
    sc_zero(img, sizeof img);
    sc_zero(back, sizeof back);
    sc_zero(trailer, sizeof trailer);
    return st;
}

void mfc_close(struct mfc *m)
{
    if (!m) return;
    if (m->dev) {
        nfc_initiator_deselect_target(m->dev);
        nfc_close(m->dev);
    }
    if (m->ctx) nfc_exit(m->ctx);
    sc_zero(m, sizeof *m);
    free(m);
}
