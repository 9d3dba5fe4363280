/* cardrec.c - the records SIMPP keeps on cards: layouts, the MIFARE key
 * derivation (against values Python's hashlib computes), access bits, and a
 * must-fail twin for each must-pass: torn, tampered, foreign records. */
#include <string.h>

#include "cardrec.h"
#include "crypto.h"
#include "tap.h"

static void hex(const char *s, uint8_t *out, size_t n)
{
    size_t len = n;
    if (sc_hex_decode(s, strlen(s), out, &len) < 0 || len != n) abort();
}

static struct cardrec rec(const char *a, const char *p)
{
    struct cardrec r;
    memset(&r, 0, sizeof r);
    snprintf(r.account, sizeof r.account, "%s", a);
    snprintf(r.password, sizeof r.password, "%s", p);
    return r;
}

static void test_access_bits(void)
{
    uint8_t b[3], t[16];
    static const uint8_t transport[4] = { 0, 0, 0, 1 };
    cardrec_mfc_access_bits(transport, b);
    ok(b[0] == 0xFF && b[1] == 0x07 && b[2] == 0x80, "transport access bits are FF 07 80");
    uint8_t a[6] = { 1, 2, 3, 4, 5, 6 }, kb[6] = { 7, 8, 9, 10, 11, 12 };
    cardrec_mfc_trailer(a, kb, t);
    ok(t[6] == 0x78 && t[7] == 0x77 && t[8] == 0x88 && t[9] == 0x69, "SIMPP trailer bits are 78 77 88 69");
    ok(!memcmp(t, a, 6) && !memcmp(t + 10, kb, 6), "trailer holds key A then key B");
    ok(cardrec_mfc_access_valid(t), "SIMPP access bits are self-consistent");
    t[7] ^= 0x10;
    ok(!cardrec_mfc_access_valid(t), "a flipped access bit is caught (it would lock the sector)");
    uint8_t tt[16] = { 0 };
    memcpy(tt + 6, "\xFF\x07\x80", 3);
    ok(cardrec_mfc_access_valid(tt), "transport bits are self-consistent");
}

static void test_account(void)
{
    ok(cardrec_check_account("alice@localhost") == 0, "a bare JID is an account");
    ok(cardrec_check_account("alice") < 0, "no @: refused");
    ok(cardrec_check_account("@localhost") < 0 && cardrec_check_account("alice@") < 0, "empty halves refused");
    ok(cardrec_check_account("a@b@c") < 0, "two @ refused");
    ok(cardrec_check_account("alice@localhost/res") < 0, "a resource refused");
    ok(cardrec_check_account("al ice@localhost") < 0, "a space refused");
    char longer[80];
    memset(longer, 'a', sizeof longer);
    longer[10] = '@';
    longer[65] = 0;
    ok(cardrec_check_account(longer) < 0, "65 characters refused");
    longer[64] = 0;
    ok(cardrec_check_account(longer) == 0, "64 characters taken");
}

static void test_password(void)
{
    char a[CARDREC_PASSWORD_LEN + 1], b[CARDREC_PASSWORD_LEN + 1];
    ok(cardrec_new_password(a) == 0 && cardrec_new_password(b) == 0, "passwords generated");
    ok(strlen(a) == CARDREC_PASSWORD_LEN, "32 characters");
    int printable = 1;
    for (size_t i = 0; a[i]; i++)
        if (a[i] <= ' ' || a[i] >= 0x7f) printable = 0;
    ok(printable, "printable, no newline");
    ok(strcmp(a, b) != 0, "two passwords differ");
}

static void test_jc(void)
{
    uint8_t blob[CARDREC_JC_MAX];
    size_t n;
    struct cardrec r = rec("alice@localhost", "s3cret+/pw"), back;
    ok(cardrec_jc_encode(&r, blob, sizeof blob, &n) == 0, "Java Card record encodes");
    ok(n == 6 + 2 + 15 + 2 + 10 + 10 && !memcmp(blob, "SIMPP\x01\x01\x0f" "alice@localhost\x02\x0a", 25),
       "layout: SIMPP 01 | 01 len account | 02 len password | 1F 08 check");
    ok(blob[n - 10] == 0x1F && blob[n - 9] == 8, "checksum tag at the end");
    ok(cardrec_jc_decode(blob, n, &back) == 0 && !strcmp(back.account, r.account) &&
       !strcmp(back.password, r.password), "and decodes");
    int all = 1;
    for (size_t i = 0; i < n; i++) {
        blob[i] ^= 0x01;
        int e = cardrec_jc_decode(blob, n, &back);
        if (e == 0 || back.account[0] || back.password[0]) all = 0;
        blob[i] ^= 0x01;
    }
    ok(all, "a flipped bit anywhere is refused, and nothing is returned");
    ok(cardrec_jc_decode(blob, n - 1, &back) == CARDREC_ECORRUPT, "truncated: corrupt");
    blob[5] = 2;
    ok(cardrec_jc_decode(blob, n, &back) == CARDREC_EVERSION, "another version: said so");
    ok(cardrec_jc_decode((const uint8_t *)"hello world, not ours", 21, &back) == CARDREC_ECORRUPT,
       "foreign data: corrupt");
    struct cardrec bad = rec("alice", "pw");
    ok(cardrec_jc_encode(&bad, blob, sizeof blob, &n) == CARDREC_EINVAL, "bad account not encoded");
    bad = rec("alice@localhost", "pw\nx");
    ok(cardrec_jc_encode(&bad, blob, sizeof blob, &n) == CARDREC_EINVAL, "newline in a password not encoded");
    ok(cardrec_jc_encode(&r, blob, 20, &n) == CARDREC_EINVAL, "too small a buffer refused");
}

static void test_mfc(void)
{
    uint8_t uid[4], uid2[4] = { 1, 2, 3, 4 }, want[6], img[CARDREC_MFC_LEN], img2[CARDREC_MFC_LEN];
    struct cardrec_mfc_keys k, k2, k3;
    struct cardrec r = rec("bob@localhost", "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4"), back;
    hex("deadbeef", uid, 4);
    ok(cardrec_mfc_derive("123456", 6, uid, 4, 1000, &k) == 0, "keys derived");
    hex("8d065c21f6da", want, 6);
    ok(!memcmp(k.a[0], want, 6), "key A of sector 1 = hashlib's PBKDF2 + HKDF");
    hex("20b107c34ee8", want, 6);
    ok(!memcmp(k.b[0], want, 6), "key B of sector 1 = hashlib's");
    hex("75bcd03b0706", want, 6);
    ok(!memcmp(k.b[2], want, 6), "key B of sector 3 = hashlib's");
    uint8_t wrec[32];
    hex("9720f0b8da1885637b416d807747776b964b2dbf780f4bf0f9e6d79b692d600b", wrec, 32);
    ok(!memcmp(k.rec, wrec, 32), "record key = hashlib's");
    ok(cardrec_mfc_derive("123457", 6, uid, 4, 1000, &k2) == 0 && memcmp(k.a[0], k2.a[0], 6) &&
       memcmp(k.rec, k2.rec, 32), "another PIN: other keys");
    ok(cardrec_mfc_derive("123456", 6, uid2, 4, 1000, &k3) == 0 && memcmp(k.a[0], k3.a[0], 6),
       "another card (UID): other keys");
    ok(cardrec_mfc_derive("", 0, uid, 4, 1000, &k3) == CARDREC_EINVAL, "empty PIN refused");

    ok(cardrec_mfc_seal(&k, uid, 4, &r, img) == 0, "record sealed");
    ok(!memcmp(img, "SIMP\x01\x01", 6) && img[6] == 4 + 13 + 32 && img[7] == 0, "header: magic, version, suite, length");
    ok(cardrec_mfc_open(&k, uid, 4, img, &back) == 0 && !strcmp(back.account, r.account) &&
       !strcmp(back.password, r.password), "and opened");
    ok(cardrec_mfc_open(&k2, uid, 4, img, &back) == CARDREC_ECORRUPT && !back.password[0],
       "wrong PIN's key: refused");
    ok(cardrec_mfc_open(&k, uid2, 4, img, &back) == CARDREC_ECORRUPT, "copied to another UID: refused");
    int all = 1;
    size_t used = 20 + (size_t)img[6] + 16;
    for (size_t i = 0; i < used; i++) {
        img[i] ^= 0x80;
        if (cardrec_mfc_open(&k, uid, 4, img, &back) == 0) all = 0;
        img[i] ^= 0x80;
    }
    ok(all, "a flipped bit anywhere in header, ciphertext or tag is refused");
    /* a torn write: the first blocks of a new record over an older one */
    ok(cardrec_mfc_seal(&k, uid, 4, &r, img2) == 0 && memcmp(img + 8, img2 + 8, 12), "a second seal: new nonce");
    memcpy(img2 + 48, img + 48, sizeof img - 48);
    ok(cardrec_mfc_open(&k, uid, 4, img2, &back) == CARDREC_ECORRUPT, "half new, half old record: refused");
    memset(img2 + 48, 0, sizeof img2 - 48);
    ok(cardrec_mfc_open(&k, uid, 4, img2, &back) == CARDREC_ECORRUPT, "half written on a blank card: refused");
    memset(img2, 0, sizeof img2);
    ok(cardrec_mfc_open(&k, uid, 4, img2, &back) == CARDREC_EEMPTY, "blank: empty");
    img[4] = 2;
    ok(cardrec_mfc_open(&k, uid, 4, img, &back) == CARDREC_EVERSION, "version 2: said so");
    struct cardrec big = rec("bob@localhost", "");
    memset(big.password, 'x', CARDREC_PASSWORD_MAX);
    memset(big.account, 'b', CARDREC_ACCOUNT_MAX);
    big.account[3] = '@';
    ok(cardrec_mfc_seal(&k, uid, 4, &big, img) == CARDREC_EINVAL, "a record too long for 144 bytes refused");
    sc_zero(&k, sizeof k);
    sc_zero(&k2, sizeof k2);
}

int main(void)
{
    if (sc_init() < 0) return 1;
    test_access_bits();
    test_account();
    test_password();
    test_jc();
    test_mfc();
    return tap_done();
}
