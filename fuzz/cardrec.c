/*
 * fuzz/cardrec.c - the card records simpp-cardread reads from a card
 * (lib/cardrec.c): the Java Card blob behind GET DATA, and the MIFARE
 * Classic record of sectors 1-3, opened with fixed keys.
 *
 * Input: op, then the bytes.  op 0: cardrec_jc_decode.  op 1:
 * cardrec_mfc_open on the bytes padded (or cut) to CARDREC_MFC_LEN.
 * Properties: a blob that decodes re-encodes to the same bytes; a record
 * that opens holds a valid account; nothing crashes.
 */
#include "cardrec.h"
#include "fuzz.h"

static struct cardrec_mfc_keys keys;
static const uint8_t uid[4] = { 0x11, 0x22, 0x33, 0x44 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_SETUP(sc_init() == 0);
    /* few rounds: the derivation is not what is fuzzed */
    FZ_SETUP(cardrec_mfc_derive("1234", 4, uid, sizeof uid, 1000, &keys) == 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) & 1;
    struct cardrec r;
    if (op == 0) {
        if (cardrec_jc_decode(in.p, in.n, &r) == CARDREC_OK) {
            uint8_t out[CARDREC_JC_MAX + 64];
            size_t len = 0;
            FZ_CHECK(cardrec_check_account(r.account) == 0);
            FZ_CHECK(cardrec_jc_encode(&r, out, sizeof out, &len) == CARDREC_OK);
            if (len != in.n || memcmp(out, in.p, len) != 0)
                fz_fail("a Java Card record decodes but re-encodes differently");
        }
    } else {
        uint8_t rec[CARDREC_MFC_LEN] = { 0 };
        memcpy(rec, in.p, in.n < sizeof rec ? in.n : sizeof rec);
        if (cardrec_mfc_open(&keys, uid, sizeof uid, rec, &r) == CARDREC_OK)
            FZ_CHECK(cardrec_check_account(r.account) == 0);
    }
    cardrec_wipe(&r);
    return 0;
}
