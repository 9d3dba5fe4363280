/*
 * apdu.h - what a contact card answers (ISO/IEC 7816-3 and -4, section
 * numbers of the 2013 edition of -4), as pure functions on bytes, so that
 * lib/card/pcsc.c's handling of a hostile or broken card can be fuzzed
 * without a card (fuzz/apdu.c).
 *
 * One command may take several rounds on T=0: "61 xx" says xx more bytes
 * wait for GET RESPONSE (5.3.4), "6C xx" says "send the command again with
 * Le = xx".  apdu_answer takes the card's answer to one round and says what
 * to send next, gathering the answer's data.
 */
#ifndef SIMPP_APDU_H
#define SIMPP_APDU_H

#include <stddef.h>
#include <stdint.h>

#define APDU_MAX    (5 + 255 + 1)   /* a short APDU: header, Lc, data, Le */
#define APDU_ROUNDS 16              /* rounds one command may take */

enum apdu_next {
    APDU_DONE = 0,                  /* a final status word is in sw */
    APDU_GETRESP = 1,               /* send cmd (now GET RESPONSE): no secret in it */
    APDU_RESEND = 2,                /* send cmd again, its Le changed */
    APDU_ELOST = -1,                /* no status word: the card went away mid-command */
    APDU_EROUNDS = -2,              /* more than APDU_ROUNDS rounds */
};

struct apdu_rx {
    uint8_t *out;                   /* the answer's data, gathered over the rounds */
    size_t cap, n;
    unsigned sw;                    /* the final status word (0 until there is one) */
    int rounds;
};
void apdu_rx_init(struct apdu_rx *a, uint8_t *out, size_t cap);
/* rx: the card's answer to cmd (data || SW1 SW2).  Data beyond cap gives
 * sw 67 00 (wrong length) and APDU_DONE.  cmd (APDU_MAX bytes, *cn of them
 * in use) is rewritten for the next round. */
int apdu_answer(struct apdu_rx *a, const uint8_t *rx, size_t rl, uint8_t *cmd, size_t *cn);

/* the life cycle status byte (tag 8A, 5.3.3.2) of an FCI template (tag 6F,
 * 7.4.1) answered to SELECT; 0 if there is none or the template is broken */
unsigned apdu_fci_lcs(const uint8_t *fci, size_t n);

#endif
