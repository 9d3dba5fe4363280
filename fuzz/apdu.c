/*
 * fuzz/apdu.c - what simpp-cardread and simpp-cardwrite make of a card's
 * answers (lib/apdu.c, used by lib/card/pcsc.c): the rounds of one
 * command, and the FCI answered to SELECT.
 *
 * Input: op, option byte, then:
 *   rounds  the command (option's low 2 bits: case 1 VERIFY, case 2 GET
 *           DATA, case 3 VERIFY with a PIN, case 4 SELECT; bits 2-7: the
 *           caller's buffer, 0 to 252 bytes), then answers, each u8 length
 *           || bytes, one a round.  Properties: the data gathered is the
 *           data of the answers in order and never more than the buffer;
 *           a GET RESPONSE is 00 C0 00 00 xx with the xx the card said;
 *           a command sent again differs from the last only in its Le, and
 *           only a command with an Le is sent again; at most 16 rounds.
 *   fci     apdu_fci_lcs, against a model
 */
#include "apdu.h"
#include "fuzz.h"

static const struct { const char *b; size_t n; } cmds[4] = {
    { "\x00\x20\x00\x81", 4 },
    { "\x00\xCA\x01\x01\x00", 5 },
    { "\x00\x20\x00\x81\x04" "1234", 9 },
    { "\x00\xA4\x04\x00\x07\xF0\x53\x49\x4D\x50\x50\x01\x00", 13 },
};

static void rounds(fz_in *in, unsigned opt)
{
    uint8_t cmd[APDU_MAX], last[APDU_MAX], *out, *model;
    size_t cn = cmds[opt & 3].n, cap = (opt >> 2) * 4, mn = 0, lastn;
    struct apdu_rx a;
    memcpy(cmd, cmds[opt & 3].b, cn);
    out = malloc(cap ? cap : 1);            /* exact size: ASan sees a write past it */
    model = malloc(256 * (APDU_ROUNDS + 1));
    FZ_SETUP(out != NULL && model != NULL);
    apdu_rx_init(&a, out, cap);
    for (int round = 1;; round++) {
        size_t rl;
        const uint8_t *rx = fz_take(in, fz_u8(in), &rl);
        memcpy(last, cmd, cn);
        lastn = cn;
        int r = apdu_answer(&a, rx, rl, cmd, &cn);
        FZ_CHECK(cn <= APDU_MAX && a.n <= cap);
        if (round > APDU_ROUNDS) { FZ_CHECK(r == APDU_EROUNDS); break; }
        if (rl < 2) { FZ_CHECK(r == APDU_ELOST); break; }
        unsigned sw = (unsigned)rx[rl - 2] << 8 | rx[rl - 1];
        if (rl - 2 > cap - mn) {
            FZ_CHECK(r == APDU_DONE && a.sw == 0x6700 && a.n == mn);
            break;
        }
        memcpy(model + mn, rx, rl - 2);
        mn += rl - 2;
        FZ_CHECK(a.n == mn && memcmp(out, model, mn) == 0);
        if (r == APDU_GETRESP) {
            FZ_CHECK(sw >> 8 == 0x61 && cn == 5);
            FZ_CHECK(cmd[0] == 0 && cmd[1] == 0xC0 && cmd[2] == 0 && cmd[3] == 0 && cmd[4] == (sw & 0xFF));
        } else if (r == APDU_RESEND) {
            FZ_CHECK(sw >> 8 == 0x6C && rl == 2 && cn == lastn && lastn >= 5);
            FZ_CHECK(lastn == 5 || lastn == 6 + (size_t)last[4]);   /* it had an Le */
            FZ_CHECK(memcmp(cmd, last, cn - 1) == 0 && cmd[cn - 1] == (sw & 0xFF));
        } else {
            FZ_CHECK(r == APDU_DONE && a.sw == sw && sw >> 8 != 0x61);
            if (sw >> 8 == 0x6C && rl == 2)     /* only a command without an Le ends so */
                FZ_CHECK(!(lastn == 5 || (lastn > 5 && last[4] && lastn == 6 + (size_t)last[4])));
            FZ_CHECK(cn == lastn && memcmp(cmd, last, cn) == 0);
            break;
        }
    }
    free(out);
    free(model);
}

/* the FCI model: tag 6F, its length within the answer, then entries that
 * each fit the template; the value of the last 8A of length 1 */
static unsigned model_lcs(const uint8_t *f, size_t n)
{
    unsigned lcs = 0;
    if (n < 2 || f[0] != 0x6F || (size_t)f[1] + 2 > n) return 0;
    size_t end = (size_t)f[1] + 2, i = 2;
    while (i + 2 <= end) {
        if (i + 2 + f[i + 1] > end) return 0;
        if (f[i] == 0x8A && f[i + 1] == 1) lcs = f[i + 2];
        i += 2 + f[i + 1];
    }
    return lcs;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) % FZ_APDU_NOPS, opt = fz_u8(&in);
    if (op == FZ_APDU_ROUNDS) rounds(&in, opt);
    else {
        uint8_t *m = fz_dup(in.p, in.n);
        FZ_CHECK(apdu_fci_lcs(m, in.n) == model_lcs(m, in.n));
        free(m);
    }
    return 0;
}
