/* apdu.c - the rounds of one card command (lib/apdu.c): 61 xx and GET
 * RESPONSE, 6C xx and the command again, data gathered across rounds, a
 * card that never ends or answers too much, and the FCI's life cycle byte. */
#include <string.h>

#include "apdu.h"
#include "tap.h"

static size_t set(uint8_t *cmd, const char *bytes, size_t n)
{
    memcpy(cmd, bytes, n);
    return n;
}

static void test_rounds(void)
{
    uint8_t out[300], cmd[APDU_MAX];
    struct apdu_rx a;
    size_t cn;

    apdu_rx_init(&a, out, sizeof out);
    cn = set(cmd, "\x00\xCA\x01\x01\x00", 5);
    ok(apdu_answer(&a, (const uint8_t *)"\x90\x00", 2, cmd, &cn) == APDU_DONE && a.sw == 0x9000 && a.n == 0,
       "90 00 alone: done, no data");

    apdu_rx_init(&a, out, sizeof out);
    cn = set(cmd, "\x00\xCA\x01\x01\x00", 5);
    ok(apdu_answer(&a, (const uint8_t *)"\x61\x30", 2, cmd, &cn) == APDU_GETRESP && cn == 5
       && !memcmp(cmd, "\x00\xC0\x00\x00\x30", 5), "61 30: GET RESPONSE with Le 30");
    ok(apdu_answer(&a, (const uint8_t *)"ABCD\x61\x2C", 6, cmd, &cn) == APDU_GETRESP && a.n == 4
       && cmd[4] == 0x2C, "a piece and 61 2C: kept, and GET RESPONSE again");
    ok(apdu_answer(&a, (const uint8_t *)"EFG\x90\x00", 5, cmd, &cn) == APDU_DONE && a.sw == 0x9000 && a.n == 7
       && !memcmp(out, "ABCDEFG", 7), "the last piece: the data in order, 90 00");

    apdu_rx_init(&a, out, sizeof out);
    cn = set(cmd, "\x00\xCA\x01\x01\x00", 5);
    ok(apdu_answer(&a, (const uint8_t *)"\x6C\x43", 2, cmd, &cn) == APDU_RESEND && cn == 5
       && !memcmp(cmd, "\x00\xCA\x01\x01\x43", 5), "6C 43 to a case 2 command: sent again with Le 43");
    apdu_rx_init(&a, out, sizeof out);
    cn = set(cmd, "\x00\xA4\x04\x00\x02\xF0\x53\x00", 8);
    ok(apdu_answer(&a, (const uint8_t *)"\x6C\x0E", 2, cmd, &cn) == APDU_RESEND && cn == 8 && cmd[7] == 0x0E
       && cmd[4] == 0x02, "6C 0E to a case 4 command: Le replaced, Lc and data kept");
    apdu_rx_init(&a, out, sizeof out);
    cn = set(cmd, "\x00\x20\x00\x81", 4);
    ok(apdu_answer(&a, (const uint8_t *)"\x6C\x05", 2, cmd, &cn) == APDU_DONE && a.sw == 0x6C05 && cn == 4
       && !memcmp(cmd, "\x00\x20\x00\x81", 4), "6C 05 to a case 1 command (VERIFY): not turned into another command");
    apdu_rx_init(&a, out, sizeof out);
    cn = set(cmd, "\x00\x20\x00\x81\x04" "1234", 9);
    ok(apdu_answer(&a, (const uint8_t *)"\x6C\x05", 2, cmd, &cn) == APDU_DONE && a.sw == 0x6C05 && cmd[8] == '4',
       "6C 05 to a case 3 command: the PIN's last byte is not overwritten");
    apdu_rx_init(&a, out, sizeof out);
    cn = set(cmd, "\x00\xCA\x01\x01\x00", 5);
    ok(apdu_answer(&a, (const uint8_t *)"X\x6C\x10", 3, cmd, &cn) == APDU_DONE && a.sw == 0x6C10,
       "6C with data: a final status");

    apdu_rx_init(&a, out, sizeof out);
    cn = set(cmd, "\x00\xCA\x01\x01\x00", 5);
    ok(apdu_answer(&a, (const uint8_t *)"\x90", 1, cmd, &cn) == APDU_ELOST, "one byte: the card went away");
    apdu_rx_init(&a, out, sizeof out);
    ok(apdu_answer(&a, NULL, 0, cmd, &cn) == APDU_ELOST, "nothing: the card went away");

    /* a card that says "61 xx" for ever */
    apdu_rx_init(&a, out, sizeof out);
    cn = set(cmd, "\x00\xCA\x01\x01\x00", 5);
    int r = 0, rounds = 0;
    while ((r = apdu_answer(&a, (const uint8_t *)"\x61\x01", 2, cmd, &cn)) == APDU_GETRESP) rounds++;
    ok(r == APDU_EROUNDS && rounds == APDU_ROUNDS && a.sw == 0, "61 xx without end: given up after 16 rounds");

    /* more data than the caller's buffer */
    uint8_t small[8];
    apdu_rx_init(&a, small, sizeof small);
    cn = set(cmd, "\x00\xCA\x01\x01\x00", 5);
    ok(apdu_answer(&a, (const uint8_t *)"zzzzzz\x61\x10", 8, cmd, &cn) == APDU_GETRESP && a.n == 6, "6 bytes into 8");
    ok(apdu_answer(&a, (const uint8_t *)"yyy\x90\x00", 5, cmd, &cn) == APDU_DONE && a.sw == 0x6700 && a.n == 6,
       "3 more into the 2 left: wrong length, nothing written past the end");
}

static const uint8_t good_fci[] = { 0x6F, 0x0C, 0x84, 0x07, 0xF0, 'S', 'I', 'M', 'P', 'P', 0x01,
                                    0x8A, 0x01, 0x05 };

/* the life cycle byte of the good FCI with one byte changed */
static unsigned lcs_with(size_t at, uint8_t v)
{
    uint8_t b[sizeof good_fci];
    memcpy(b, good_fci, sizeof b);
    b[at] = v;
    return apdu_fci_lcs(b, sizeof b);
}

static void test_fci(void)
{
    ok(apdu_fci_lcs(good_fci, sizeof good_fci) == 5, "FCI 6F(84 AID, 8A 05): life cycle 5");
    ok(apdu_fci_lcs(good_fci, 2) == 0 && apdu_fci_lcs(good_fci, 1) == 0 && apdu_fci_lcs(NULL, 0) == 0,
       "cut short: none");
    ok(lcs_with(0, 0x62) == 0, "not an FCI template: none");
    ok(lcs_with(1, 0x0B) == 0, "8A past the template's length: none");
    ok(lcs_with(3, 0x30) == 0, "an entry longer than the template: none");
    ok(lcs_with(12, 0x02) == 0, "8A of length 2: not a life cycle byte");
    ok(lcs_with(13, 0x03) == 3, "another life cycle value is read as it is");
}

int main(void)
{
    test_rounds();
    test_fci();
    return tap_done();
}
