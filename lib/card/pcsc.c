/*
 * card/pcsc.c - the SIMPP applet on a contact card, through libpcsclite and
 * pcscd.  Paper 000 3.2.2: "User has to enter Java Card's PIN code to get
 * password"; the card keeps the account and the password SIMPP generated
 * behind a PIN with a retry counter.  Commands are ISO/IEC 7816-4 (section
 * numbers below are of its 2013 edition); doc/CARDS.md lists them with
 * their status words.
 *
 * A card may be reset (another program, the reader) or pulled out while we
 * talk to it.  We then reconnect once: wait up to card_wait_s for a card,
 * SELECT again, VERIFY again with the PIN in force (the card forgot it:
 * security state is volatile, 7816-4 5.4), and repeat the command that
 * failed.  A second loss is an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <winscard.h>

#include "apdu.h"
#include "card/card.h"
#include "crypto.h"
#include "util.h"

const uint8_t JC_AID[7] = { 0xF0, 'S', 'I', 'M', 'P', 'P', 0x01 };

enum {
    INS_SELECT = 0xA4, INS_VERIFY = 0x20, INS_CHANGE = 0x24, INS_RESET_RC = 0x2C,
    INS_GET_DATA = 0xCA, INS_PUT_DATA = 0xDA,
};
#define PIN_REF        0x81     /* P2: specific reference data, PIN number 1 (7816-4 11.5.6) */
#define TAG_P1         0x01     /* GET/PUT DATA P1-P2 = 01 01: the SIMPP record */
#define TAG_P2         0x01
#define LCS_OPERATIONAL 0x05    /* 7816-4 5.3.3.2: life cycle "operational, activated" */
#define SECRET_DATA    1        /* trace: hide the command data (a PIN) */
#define SECRET_RESP    2        /* trace: hide the answer's data (the record) */

struct jc {
    SCARDCONTEXT ctx;
    SCARDHANDLE h;
    DWORD proto;
    int ctx_ok, connected, want_tx, in_tx, reconnected;
    uint8_t lcs;
    uint8_t atr[33];
    DWORD atrlen;
    char reader[256];
    /* the PIN the card accepted in this session, to VERIFY again after a
     * reset; and during a PIN change the new one, in case the card took it
     * before it went away.  Wiped in jc_close. */
    char pin[JC_PIN_MAX + 1];
    size_t pinlen;
    char alt[JC_PIN_MAX + 1];
    size_t altlen;
};

/* pcsc-lite hands some codes back sign-extended (0xFFFFFFFF80100016 for
 * SCARD_E_NOT_TRANSACTED): keep them as the 32-bit values the headers name */
static LONG norm(LONG rv)
{
    return (LONG)(uint32_t)rv;
}

static int lost(LONG rv)
{
    return rv == SCARD_W_REMOVED_CARD || rv == SCARD_W_RESET_CARD || rv == SCARD_E_NO_SMARTCARD ||
           rv == SCARD_W_UNPOWERED_CARD || rv == SCARD_W_UNRESPONSIVE_CARD ||
           rv == SCARD_E_COMM_DATA_LOST || rv == SCARD_E_NOT_TRANSACTED ||
           rv == SCARD_E_READER_UNAVAILABLE;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *sw_text(unsigned sw)
{
    switch (sw) {
    case 0x6700: return "wrong length";
    case 0x6982: return "security status not satisfied";
    case 0x6983: return "authentication method blocked";
    case 0x6985: return "conditions of use not satisfied";
    case 0x6A80: return "incorrect data";
    case 0x6A82: return "application not found";
    case 0x6A86: return "incorrect P1-P2";
    case 0x6A88: return "referenced data not found";
    case 0x6D00: return "instruction not supported";
    case 0x6E00: return "class not supported";
    default: return "unexpected status";
    }
}

static int unexpected(unsigned sw, const char *what)
{
    return card_fail(CARD_EPROTO, "the card answered %s with %02X %02X (%s)", what, sw >> 8, sw & 0xFF,
                     sw_text(sw));
}

/*
 * One command, and for T=0 the rounds 7816-3/-4 ask for (lib/apdu.c: 61 xx
 * and GET RESPONSE, 6C xx and the command again with another Le).  Answer
 * data accumulates in out.
 */
static LONG transmit(struct jc *j, const uint8_t *apdu, size_t n, int secret, uint8_t *out, size_t cap,
                     size_t *outlen, unsigned *sw)
{
    uint8_t cmd[APDU_MAX], rx[258];
    size_t cn = n;
    LONG rv = SCARD_S_SUCCESS;
    const SCARD_IO_REQUEST *pci = j->proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
    struct apdu_rx a;
    apdu_rx_init(&a, out, cap);
    memcpy(cmd, apdu, n);
    for (;;) {
        DWORD rl = sizeof rx;
        card_trace(">", cmd, cn, secret & SECRET_DATA ? 5 : cn);
        rv = norm(SCardTransmit(j->h, pci, cmd, (DWORD)cn, NULL, rx, &rl));
        if (rv != SCARD_S_SUCCESS) break;
        if (secret & SECRET_RESP && rl > 2 && card_verbose)
            fprintf(stderr, "%s: < <%lu secret bytes> %02X %02X\n", progname, (unsigned long)(rl - 2),
                    rx[rl - 2], rx[rl - 1]);
        else
            card_trace("<", rx, rl, rl);
        int next = apdu_answer(&a, rx, rl, cmd, &cn);
        if (next == APDU_GETRESP) secret &= ~SECRET_DATA;
        if (next == APDU_GETRESP || next == APDU_RESEND) continue;
        /* no status word at all: the card went away mid-command (vpcd
         * answers so when its card hangs up) */
        if (next == APDU_ELOST) rv = SCARD_E_COMM_DATA_LOST;
        break;                          /* done, or rounds without end: sw 0, unexpected */
    }
    *outlen = a.n;
    *sw = a.sw;
    sc_zero(cmd, sizeof cmd);
    sc_zero(rx, sizeof rx);
    return rv;
}

static LONG select_applet(struct jc *j, unsigned *sw)
{
    /* SELECT by DF name, first occurrence, return FCI (7816-4 11.2.2) */
    uint8_t apdu[5 + sizeof JC_AID + 1] = { 0x00, INS_SELECT, 0x04, 0x00, sizeof JC_AID };
    uint8_t fci[256];
    size_t n;
    memcpy(apdu + 5, JC_AID, sizeof JC_AID);
    apdu[sizeof apdu - 1] = 0x00;
    LONG rv = transmit(j, apdu, sizeof apdu, 0, fci, sizeof fci, &n, sw);
    if (rv != SCARD_S_SUCCESS) return rv;
    /* FCI template 6F: the life cycle status byte (tag 8A, 7816-4 5.3.3.2)
     * says whether a record was ever written, without a PIN */
    j->lcs = *sw == 0x9000 ? (uint8_t)apdu_fci_lcs(fci, n) : 0;
    return 0;
}

static LONG verify_raw(struct jc *j, const char *pin, size_t len, unsigned *sw)
{
    uint8_t apdu[5 + JC_PIN_MAX] = { 0x00, INS_VERIFY, 0x00, PIN_REF, (uint8_t)len };
    uint8_t none[2];
    size_t n;
    if (len > JC_PIN_MAX) return SCARD_E_INVALID_PARAMETER;
    memcpy(apdu + 5, pin, len);
    LONG rv = transmit(j, apdu, 5 + len, SECRET_DATA, none, sizeof none, &n, sw);
    sc_zero(apdu, sizeof apdu);
    return rv;
}

static int connect_reader(struct jc *j, LONG *rvp)
{
    LONG rv = norm(SCardConnect(j->ctx, j->reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                                &j->h, &j->proto));
    *rvp = rv;
    if (rv != SCARD_S_SUCCESS) return -1;
    j->connected = 1;
    return 0;
}

static void card_atr(struct jc *j, uint8_t *atr, DWORD *len)
{
    char name[256];
    DWORD nl = sizeof name, state, proto;
    *len = 33;
    if (SCardStatus(j->h, name, &nl, &state, &proto, atr, len) != SCARD_S_SUCCESS) *len = 0;
}

/* Connect again and bring the card back to where it was: the same card,
 * our transaction, the applet selected, the PIN verified.  0 done; -1 the
 * card is not (yet) there; else a status. */
static int reattach(struct jc *j, const char *what)
{
    LONG rv;
    unsigned sw;
    uint8_t atr[33];
    DWORD al;
    if (j->connected) SCardDisconnect(j->h, SCARD_LEAVE_CARD);
    j->connected = j->in_tx = 0;
    if (connect_reader(j, &rv) < 0) {
        if (lost(rv)) return -1;
        return card_fail(CARD_EIO, "card lost during %s; reconnecting: %s", what, pcsc_stringify_error(rv));
    }
    card_atr(j, atr, &al);
    if (!al) return -1;
    /* a stranger's card must not see our PIN */
    if (al != j->atrlen || !sc_ct_eq(atr, j->atr, al))
        return card_fail(CARD_EIO, "another card was inserted during %s", what);
    if (j->want_tx) {
        if ((rv = norm(SCardBeginTransaction(j->h))) != SCARD_S_SUCCESS)
            return lost(rv) ? -1 : card_fail(CARD_EIO, "unable to lock the card: %s", pcsc_stringify_error(rv));
        j->in_tx = 1;
    }
    if ((rv = select_applet(j, &sw)) != 0)
        return lost(rv) ? -1 : card_fail(CARD_EIO, "SELECT: %s", pcsc_stringify_error(rv));
    if (sw != 0x9000) return unexpected(sw, "SELECT");
    if (!j->pinlen) return 0;
    if ((rv = verify_raw(j, j->pin, j->pinlen, &sw)) != 0)
        return lost(rv) ? -1 : card_fail(CARD_EIO, "VERIFY: %s", pcsc_stringify_error(rv));
    if (sw != 0x9000 && j->altlen && (sw & 0xFFF0) == 0x63C0) {
        /* the PIN change had gone through before the card went away */
        if ((rv = verify_raw(j, j->alt, j->altlen, &sw)) != 0)
            return lost(rv) ? -1 : card_fail(CARD_EIO, "VERIFY: %s", pcsc_stringify_error(rv));
        if (sw == 0x9000) {
            memcpy(j->pin, j->alt, sizeof j->pin);
            j->pinlen = j->altlen;
        }
    }
    if (sw != 0x9000)
        return card_fail(CARD_EIO, "after reconnecting, the card refused the PIN (%02X %02X)", sw >> 8, sw & 0xFF);
    return 0;
}

/* The card was reset or pulled out during `what`: get it back, once. */
static int recover(struct jc *j, const char *what, LONG why)
{
    int64_t deadline = now_ms() + (int64_t)card_wait_s * 1000;
    j->reconnected = 1;
    warnx("the card was %s during %s; reconnecting (once)",
          why == SCARD_W_RESET_CARD ? "reset (by another program?)" : "removed", what);
    for (;;) {
        int st = reattach(j, what);
        if (st > 0) return st;
        if (st == 0) break;
        if (now_ms() >= deadline)
            return card_fail(CARD_EIO, "the card was removed during %s and is not back after %d s", what,
                             card_wait_s);
        usleep(100 * 1000);
    }
    warnx("reconnected to the card in %s", j->reader);
    return CARD_OK;
}

/* one command to the selected applet, with the reconnect */
static int command(struct jc *j, const char *what, uint8_t ins, uint8_t p1, uint8_t p2, const void *data,
                   size_t dlen, int le, int secret, uint8_t *out, size_t cap, size_t *outlen, unsigned *sw)
{
    uint8_t apdu[5 + 255 + 1] = { 0x00, ins, p1, p2 };
    size_t n = 4, ol;
    uint8_t scratch[2];
    int st = CARD_OK;
    if (dlen > 255) return card_fail(CARD_EINTERNAL, "%s: command too long", what);
    if (dlen) {
        apdu[n++] = (uint8_t)dlen;
        memcpy(apdu + n, data, dlen);
        n += dlen;
    }
    if (le) apdu[n++] = 0x00;           /* Le = 00: up to 256 bytes */
    if (!out) { out = scratch; cap = sizeof scratch; }
    if (!outlen) outlen = &ol;
    LONG rv = transmit(j, apdu, n, secret, out, cap, outlen, sw);
    if (rv != SCARD_S_SUCCESS && lost(rv) && !j->reconnected) {
        if ((st = recover(j, what, rv)) == CARD_OK) rv = transmit(j, apdu, n, secret, out, cap, outlen, sw);
    }
    sc_zero(apdu, sizeof apdu);
    if (st != CARD_OK) return st;
    if (rv != SCARD_S_SUCCESS) {
        if (lost(rv))
            return card_fail(CARD_EIO, "the card was %s during %s", rv == SCARD_W_RESET_CARD ? "reset" : "removed",
                             what);
        return card_fail(CARD_EIO, "%s: %s", what, pcsc_stringify_error(rv));
    }
    return CARD_OK;
}

static int pin_status(unsigned sw, const char *what)
{
    if (sw == 0x9000) return CARD_OK;
    if ((sw & 0xFFF0) == 0x63C0) {      /* 7816-4 table 6: counter in the low nibble */
        card_tries = (int)(sw & 0xF);
        if (card_tries == 0)
            return card_fail(CARD_EBLOCKED, "wrong %s, and that was the last try: the card is now blocked", what);
        return card_fail(CARD_EPIN, "wrong %s: %d tr%s left before the card blocks", what, card_tries,
                         card_tries == 1 ? "y" : "ies");
    }
    if (sw == 0x6983) {
        card_tries = 0;
        if (!strcmp(what, "PUK")) return card_fail(CARD_EBLOCKED, "card blocked: the PUK is blocked too");
        return card_fail(CARD_EBLOCKED, "card blocked: no PIN tries left (unblock it with "
                                        "simpp-cardwrite -u and the PUK)");
    }
    if (sw == 0x6700 || sw == 0x6A80) return card_fail(CARD_EPIN, "the card refused the %s's length", what);
    return unexpected(sw, what);
}

static int begin(struct jc *j)
{
    unsigned sw;
    LONG rv;
    j->want_tx = 1;
    /* SELECT, VERIFY and GET/PUT DATA in one transaction: no other program
     * can slip a command in between (PC/SC part 5, SCardBeginTransaction) */
    rv = norm(SCardBeginTransaction(j->h));
    if (rv != SCARD_S_SUCCESS && lost(rv) && !j->reconnected) {
        int st = recover(j, "the start of a transaction", rv);
        if (st != CARD_OK) return st;
        rv = j->in_tx ? SCARD_S_SUCCESS : norm(SCardBeginTransaction(j->h));
    }
    if (rv != SCARD_S_SUCCESS) return card_fail(CARD_EIO, "unable to lock the card: %s", pcsc_stringify_error(rv));
    j->in_tx = 1;
    /* another program may have selected something else since jc_open */
    int st = command(j, "SELECT", INS_SELECT, 0x04, 0x0C, JC_AID, sizeof JC_AID, 0, 0, NULL, 0, NULL, &sw);
    if (st != CARD_OK) return st;
    if (sw == 0x6A82) return card_fail(CARD_ENOTSIMPP, "not a SIMPP card: the applet is gone");
    return sw == 0x9000 ? CARD_OK : unexpected(sw, "SELECT");
}

static void end(struct jc *j)
{
    /* reset the card as we let it go: the PIN we verified must not stay
     * usable by the next program that talks to it */
    if (j->in_tx) SCardEndTransaction(j->h, SCARD_RESET_CARD);
    j->in_tx = j->want_tx = 0;
}

static int verify(struct jc *j, const char *pin, size_t len)
{
    unsigned sw;
    if (len < JC_PIN_MIN || len > JC_PIN_MAX)
        return card_fail(CARD_EPIN, "a PIN has %d to %d characters", JC_PIN_MIN, JC_PIN_MAX);
    int st = command(j, "VERIFY", INS_VERIFY, 0x00, PIN_REF, pin, len, 0, SECRET_DATA, NULL, 0, NULL, &sw);
    if (st != CARD_OK || (st = pin_status(sw, "PIN")) != CARD_OK) return st;
    memcpy(j->pin, pin, len);
    j->pin[len] = 0;
    j->pinlen = len;
    return CARD_OK;
}

int jc_open(struct jc **out, const char *reader)
{
    struct jc *j = calloc(1, sizeof *j);
    char *list = NULL;
    DWORD len = SCARD_AUTOALLOCATE;
    LONG rv;
    unsigned sw;
    int st;
    *out = NULL;
    if (!j) return card_fail(CARD_EINTERNAL, "out of memory");
    rv = norm(SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &j->ctx));
    if (rv != SCARD_S_SUCCESS) {
        free(j);
        if (rv == SCARD_E_NO_SERVICE)
            return card_fail(CARD_ENOREADER, "no reader: the PC/SC service (pcscd) is not running");
        return card_fail(CARD_ENOREADER, "no reader: PC/SC: %s", pcsc_stringify_error(rv));
    }
    j->ctx_ok = 1;
    rv = norm(SCardListReaders(j->ctx, NULL, (LPSTR)&list, &len));
    if (rv == SCARD_E_NO_READERS_AVAILABLE) {
        st = card_fail(CARD_ENOREADER, "no reader: pcscd knows of no smart-card reader");
        goto fail;
    }
    if (rv != SCARD_S_SUCCESS) {
        st = card_fail(CARD_ENOREADER, "no reader: listing readers: %s", pcsc_stringify_error(rv));
        goto fail;
    }
    /* a multi-string: names, each NUL-terminated, then an empty one */
    for (const char *p = list; *p && !j->reader[0]; p += strlen(p) + 1) {
        if (reader) {
            if (!strncmp(p, reader, strlen(reader))) snprintf(j->reader, sizeof j->reader, "%s", p);
            continue;
        }
        SCARD_READERSTATE rs = { .szReader = p, .dwCurrentState = SCARD_STATE_UNAWARE };
        if (SCardGetStatusChange(j->ctx, 0, &rs, 1) == SCARD_S_SUCCESS && (rs.dwEventState & SCARD_STATE_PRESENT))
            snprintf(j->reader, sizeof j->reader, "%s", p);
    }
    if (!j->reader[0]) {
        st = reader ? card_fail(CARD_ENOREADER, "no reader named %s", reader)
                    : card_fail(CARD_ENOCARD, "no card in any reader (%s%s)", list,
                                list[strlen(list) + 1] ? ", ..." : "");
        goto fail;
    }
    if (connect_reader(j, &rv) < 0) {
        if (rv == SCARD_E_NO_SMARTCARD || rv == SCARD_W_REMOVED_CARD)
            st = card_fail(CARD_ENOCARD, "no card in %s", j->reader);
        else if (rv == SCARD_W_UNRESPONSIVE_CARD || rv == SCARD_W_UNPOWERED_CARD || rv == SCARD_W_UNSUPPORTED_CARD)
            st = card_fail(CARD_EPROTO, "the card in %s does not answer: %s", j->reader, pcsc_stringify_error(rv));
        else
            st = card_fail(CARD_ENOREADER, "unable to connect to %s: %s", j->reader, pcsc_stringify_error(rv));
        goto fail;
    }
    card_atr(j, j->atr, &j->atrlen);
    rv = select_applet(j, &sw);
    if (rv != SCARD_S_SUCCESS) {
        st = lost(rv) ? card_fail(CARD_ENOCARD, "no card in %s (it went away)", j->reader)
                      : card_fail(CARD_EIO, "SELECT: %s", pcsc_stringify_error(rv));
        goto fail;
    }
    if (sw == 0x6A82) {
        st = card_fail(CARD_ENOTSIMPP, "not a SIMPP card: the card in %s has no SIMPP application", j->reader);
        goto fail;
    }
    if (sw != 0x9000) {
        st = unexpected(sw, "SELECT");
        goto fail;
    }
    SCardFreeMemory(j->ctx, list);
    *out = j;
    return CARD_OK;
fail:
    if (list) SCardFreeMemory(j->ctx, list);
    jc_close(j);
    return st;
}

const char *jc_reader(const struct jc *j) { return j->reader; }

int jc_provisioned(const struct jc *j) { return j->lcs == LCS_OPERATIONAL; }

int jc_tries(struct jc *j, int *tries)
{
    unsigned sw;
    int st = command(j, "VERIFY", INS_VERIFY, 0x00, PIN_REF, NULL, 0, 0, 0, NULL, 0, NULL, &sw);
    if (st != CARD_OK) return st;
    *tries = -1;
    if ((sw & 0xFFF0) == 0x63C0 && (sw & 0xF)) { *tries = (int)(sw & 0xF); return CARD_OK; }
    if (sw == 0x9000) return CARD_OK;
    if (sw == 0x63C0) sw = 0x6983;
    return pin_status(sw, "PIN");
}

int jc_read(struct jc *j, const char *pin, size_t pinlen, struct cardrec *r)
{
    uint8_t blob[256];
    size_t n = 0;
    unsigned sw;
    int st;
    cardrec_wipe(r);
    if ((st = begin(j)) != CARD_OK || (st = verify(j, pin, pinlen)) != CARD_OK) goto done;
    st = command(j, "GET DATA", INS_GET_DATA, TAG_P1, TAG_P2, NULL, 0, 1, SECRET_RESP, blob, sizeof blob, &n, &sw);
    if (st != CARD_OK) goto done;
    if (sw == 0x6A88) {
        st = card_fail(CARD_ENOTSIMPP, "the card holds no SIMPP record: it was never provisioned");
        goto done;
    }
    if (sw != 0x9000) {
        st = unexpected(sw, "GET DATA");
        goto done;
    }
    int e = cardrec_jc_decode(blob, n, r);
    if (e == CARDREC_EVERSION)
        st = card_fail(CARD_ECORRUPT, "record corrupt: a SIMPP record of version %u, which this program "
                                      "does not read", n > 5 ? blob[5] : 0);
    else if (e < 0)
        st = card_fail(CARD_ECORRUPT, "record corrupt: the card's SIMPP record fails its checks");
done:
    end(j);
    sc_zero(blob, sizeof blob);
    if (st != CARD_OK) cardrec_wipe(r);
    return st;
}

int jc_write(struct jc *j, const struct jc_write *w, const struct cardrec *r)
{
    uint8_t blob[CARDREC_JC_MAX], back[256];
    size_t n = 0, bn = 0;
    unsigned sw;
    int st;
    if (w->npin && (w->npinlen < JC_PIN_MIN || w->npinlen > JC_PIN_MAX))
        return card_fail(CARD_EPIN, "a PIN has %d to %d characters", JC_PIN_MIN, JC_PIN_MAX);
    if (r && cardrec_jc_encode(r, blob, sizeof blob, &n) < 0)
        return card_fail(CARD_EINTERNAL, "the record does not fit on the card");
    if ((st = begin(j)) != CARD_OK) goto done;
    if (w->unblock) {
        /* RESET RETRY COUNTER, P1 = 00: resetting code (the PUK) followed
         * by the new reference data (7816-4 11.5.10) */
        uint8_t data[JC_PUK_LEN + JC_PIN_MAX];
        if (w->curlen != JC_PUK_LEN || !w->npin) {
            st = card_fail(CARD_EPIN, "a PUK has %d characters, and a new PIN is needed", JC_PUK_LEN);
            goto done;
        }
        memcpy(data, w->cur, JC_PUK_LEN);
        memcpy(data + JC_PUK_LEN, w->npin, w->npinlen);
        st = command(j, "RESET RETRY COUNTER", INS_RESET_RC, 0x00, PIN_REF, data, JC_PUK_LEN + w->npinlen, 0,
                     SECRET_DATA, NULL, 0, NULL, &sw);
        sc_zero(data, sizeof data);
        if (st != CARD_OK || (st = pin_status(sw, "PUK")) != CARD_OK) goto done;
        if ((st = verify(j, w->npin, w->npinlen)) != CARD_OK) goto done;
    } else {
        if ((st = verify(j, w->cur, w->curlen)) != CARD_OK) goto done;
        if (w->npin) {
            /* paper 000 3.2.2: "user must reset PIN code of Java card".
             * CHANGE REFERENCE DATA, P1 = 01: new reference data only, the
             * old one was just verified (7816-4 11.5.7) */
            memcpy(j->alt, w->npin, w->npinlen);
            j->altlen = w->npinlen;
            st = command(j, "CHANGE REFERENCE DATA", INS_CHANGE, 0x01, PIN_REF, w->npin, w->npinlen, 0,
                         SECRET_DATA, NULL, 0, NULL, &sw);
            sc_zero(j->alt, sizeof j->alt);
            j->altlen = 0;
            if (st != CARD_OK) goto done;
            if (sw != 0x9000) { st = unexpected(sw, "CHANGE REFERENCE DATA"); goto done; }
            memcpy(j->pin, w->npin, w->npinlen);
            j->pin[w->npinlen] = 0;
            j->pinlen = w->npinlen;
        }
    }
    if (!r) goto done;
    st = command(j, "PUT DATA", INS_PUT_DATA, TAG_P1, TAG_P2, blob, n, 0, SECRET_DATA, NULL, 0, NULL, &sw);
    if (st != CARD_OK) goto done;
    if (sw != 0x9000) { st = unexpected(sw, "PUT DATA"); goto done; }
    /* read it back: what the card holds is what login will use */
    st = command(j, "GET DATA", INS_GET_DATA, TAG_P1, TAG_P2, NULL, 0, 1, SECRET_RESP, back, sizeof back, &bn, &sw);
    if (st != CARD_OK) goto done;
    if (sw != 0x9000 || bn != n || !sc_ct_eq(back, blob, n))
        st = card_fail(CARD_EIO, "the record read back from the card differs from what was written");
done:
    end(j);
    sc_zero(blob, sizeof blob);
    sc_zero(back, sizeof back);
    return st;
}

void jc_close(struct jc *j)
{
    if (!j) return;
    if (j->in_tx) SCardEndTransaction(j->h, SCARD_RESET_CARD);
    if (j->connected) SCardDisconnect(j->h, SCARD_LEAVE_CARD);
    if (j->ctx_ok) SCardReleaseContext(j->ctx);
    sc_zero(j, sizeof *j);
    free(j);
}
