/*
 * card/card.h - talking to the cards: a Java-Card-style SIMPP applet over
 * PC/SC (pcsc.c: libpcsclite -> pcscd) and a MIFARE Classic 1K over libnfc
 * (nfc.c).  Paper 000 3.2: the two card login modes.
 *
 * This directory is compiled only into simpp-cardwrite and simpp-cardread,
 * the only programs that link libpcsclite and libnfc (the Makefile's
 * "lib/ *.c" wildcard, hence libsimpp.a, does not reach lib/card/).  The record
 * layouts are in lib/cardrec.h, which needs no card library.
 *
 * Every function returns CARD_OK or one of the statuses below and leaves a
 * one-line reason in card_errmsg.  The statuses are the programs' exit codes
 * (sysexits.h), one per condition a user must tell apart.
 */
#ifndef SIMPP_CARD_H
#define SIMPP_CARD_H

#include <stddef.h>
#include <stdint.h>
#include <sysexits.h>

#include "cardrec.h"

enum card_status {
    CARD_OK        = 0,
    CARD_ECORRUPT  = EX_DATAERR,     /* 65 record corrupt, half-written, unknown version */
    CARD_ENOTSIMPP = EX_NOINPUT,     /* 66 not a SIMPP card, or a blank one */
    CARD_EBLOCKED  = EX_NOUSER,      /* 67 PIN (or PUK) retry counter exhausted */
    CARD_ENOREADER = EX_UNAVAILABLE, /* 69 no reader, no pcscd, libnfc device not there */
    CARD_EINTERNAL = EX_SOFTWARE,    /* 70 */
    CARD_EEXISTS   = EX_CANTCREAT,   /* 73 already provisioned (no -f) */
    CARD_EIO       = EX_IOERR,       /* 74 card gone mid-session and not back after one reconnect */
    CARD_ENOCARD   = EX_TEMPFAIL,    /* 75 no card in the reader: try again later */
    CARD_EPROTO    = EX_PROTOCOL,    /* 76 the card answered something unexpected */
    CARD_EPIN      = EX_NOPERM,      /* 77 wrong PIN (Java Card: card_tries left) / sector key refused */
};

extern char card_errmsg[256];
extern int  card_tries;         /* after CARD_EPIN from a Java Card: tries left */
extern int  card_verbose;       /* trace commands on stderr; PINs shown as their length only */
extern int  card_wait_s;        /* how long a card pulled out mid-session may take to come back */

/* The options simpp-cardread and simpp-cardwrite share (-v -t -r -P -K -w
 * -F, in their man pages).  card_opt takes one of them from getopt and
 * returns 1, dying on a bad value; 0 means the option is not one of these.
 * -v and -w set card_verbose and card_wait_s. */
#define CARD_OPTS "vt:r:P:K:w:F:"
struct card_opts {
    int mifare;                 /* -t mifare (else javacard) */
    const char *reader;         /* -r */
    int pinfd;                  /* -P, -1: the terminal */
    unsigned long rounds;       /* -K */
    int pwfd;                   /* -F, 9 */
};
void card_opts_init(struct card_opts *o);
int  card_opt(struct card_opts *o, int opt, const char *arg);

int  card_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void card_trace(const char *dir, const uint8_t *p, size_t n, size_t secret_from);

/* A PIN (or PUK) from fd, or from the terminal (twice if confirm); min..max
 * characters.  Returns CARD_OK or an exit status with card_errmsg set; buf
 * is wiped on failure, else the caller wipes it. */
int  card_read_pin(int fd, const char *what, int confirm, size_t min, size_t max, char *buf, size_t cap,
                   size_t *len);
/* Chain-load: prog runs with r's password and a newline on a pipe at fd
 * pwfd, and SIMPP_CARD_ACCOUNT, SIMPP_CARD_TYPE, SIMPP_CARD_ID and
 * SIMPP_CARD_PWFD in its environment.  Wipes the password; never returns. */
_Noreturn void card_chain(char **prog, int pwfd, struct cardrec *r, const char *type, const char *card);

/* ---- Java Card over PC/SC --------------------------------------------- */
#define JC_PIN_MIN 4
#define JC_PIN_MAX 16
#define JC_PUK_LEN 8
extern const uint8_t JC_AID[7];     /* F0 53 49 4D 50 50 01: proprietary RID, "SIMPP", v1 */

struct jc;
/* connect to reader (a name or a prefix; NULL: the first reader holding a
 * card) and SELECT the applet */
int  jc_open(struct jc **out, const char *reader);
const char *jc_reader(const struct jc *j);
int  jc_provisioned(const struct jc *j);            /* the FCI's life cycle: a record was written */
/* VERIFY with no data (ISO 7816-4 11.5.6): tries left, no try spent;
 * CARD_EBLOCKED when there are none */
int  jc_tries(struct jc *j, int *tries);
int  jc_read(struct jc *j, const char *pin, size_t pinlen, struct cardrec *r);

struct jc_write {
    const char *cur;  size_t curlen;    /* the PIN in force, or with unblock the PUK */
    const char *npin; size_t npinlen;   /* the new PIN; NULL keeps the PIN */
    int unblock;                        /* RESET RETRY COUNTER with the PUK, then npin */
};
/* set the PIN as asked, then PUT DATA the record (NULL: the PIN only) and
 * read it back */
int  jc_write(struct jc *j, const struct jc_write *w, const struct cardrec *r);
void jc_close(struct jc *j);

/* ---- MIFARE Classic 1K over libnfc ------------------------------------ */
#define MFC_PIN_MIN 4
#define MFC_PIN_MAX 64

struct mfc;
/* connstring NULL: LIBNFC_DEVICE, else libnfc.conf's device */
int  mfc_open(struct mfc **out, const char *connstring);
const char *mfc_uid(const struct mfc *m);           /* hex */
/* *prov = 1 if a SIMPP sector no longer opens with the transport key */
int  mfc_provisioned(struct mfc *m, int *prov);
int  mfc_read(struct mfc *m, const char *pin, size_t pinlen, unsigned long rounds, struct cardrec *r);
/* write r under keys from npin.  The sectors may hold the transport keys,
 * keys from opin (if given) or from npin (an earlier interrupted run). */
int  mfc_write(struct mfc *m, const char *opin, size_t opinlen, const char *npin, size_t npinlen,
               unsigned long rounds, const struct cardrec *r);
void mfc_close(struct mfc *m);

#endif
