/*
 * apdu.c - the rounds of one card command and the card's answers (apdu.h).
 */
#include <string.h>

#include "apdu.h"

#define INS_GET_RESPONSE 0xC0

void apdu_rx_init(struct apdu_rx *a, uint8_t *out, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->out = out;
    a->cap = cap;
}

/* where the command's Le byte is, or 0 if it has none (cases 1 and 3) */
static size_t le_at(const uint8_t *cmd, size_t cn)
{
    if (cn == 5) return 4;                          /* case 2: header, Le */
    if (cn > 5 && cmd[4] && cn == 6 + (size_t)cmd[4]) return cn - 1;   /* case 4 */
    return 0;
}

int apdu_answer(struct apdu_rx *a, const uint8_t *rx, size_t rl, uint8_t *cmd, size_t *cn)
{
    if (++a->rounds > APDU_ROUNDS) return APDU_EROUNDS;
    if (rl < 2) return APDU_ELOST;
    unsigned s = (unsigned)rx[rl - 2] << 8 | rx[rl - 1];
    size_t dl = rl - 2;
    if (dl > a->cap - a->n) {
        a->sw = 0x6700;
        return APDU_DONE;
    }
    if (dl) memcpy(a->out + a->n, rx, dl);
    a->n += dl;
    if (s >> 8 == 0x61) {
        const uint8_t gr[5] = { 0x00, INS_GET_RESPONSE, 0x00, 0x00, (uint8_t)(s & 0xFF) };
        memcpy(cmd, gr, sizeof gr);
        *cn = sizeof gr;
        return APDU_GETRESP;
    }
    size_t le;
    /* only a command that has an Le is sent again with another one: a
     * command without one is never turned into a different command */
    if (s >> 8 == 0x6C && dl == 0 && (le = le_at(cmd, *cn))) {
        cmd[le] = (uint8_t)(s & 0xFF);
        return APDU_RESEND;
    }
    a->sw = s;
    return APDU_DONE;
}

unsigned apdu_fci_lcs(const uint8_t *fci, size_t n)
{
    unsigned lcs = 0;
    if (n < 2 || fci[0] != 0x6F || fci[1] > n - 2) return 0;
    size_t end = 2 + (size_t)fci[1];                /* the template's own length */
    for (size_t i = 2; i + 2 <= end; ) {
        size_t l = fci[i + 1];
        if (l > end - i - 2) return 0;              /* an entry past the template */
        if (fci[i] == 0x8A && l == 1) lcs = fci[i + 2];
        i += 2 + l;
    }
    return lcs;
}
