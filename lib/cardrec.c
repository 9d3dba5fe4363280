/* cardrec.c - the SIMPP record on a card: layouts, keys, checks.  See
 * cardrec.h and doc/CARDS.md. */
#include <string.h>

#include "cardrec.h"
#include "crypto.h"

static const uint8_t JC_MAGIC[5] = { 'S', 'I', 'M', 'P', 'P' };
static const uint8_t MFC_MAGIC[4] = { 'S', 'I', 'M', 'P' };
#define VERSION   1
#define TAG_ACC   0x01
#define TAG_PW    0x02
#define TAG_CHECK 0x1F
#define CHECK_LEN 8
#define MFC_HDR   20
#define MFC_TAG   16
static const char MFC_LABEL[] = "simpp-mifare-v1";

int cardrec_check_account(const char *a)
{
    size_t n = a ? strlen(a) : 0, at = 0, ats = 0;
    if (n < 3 || n > CARDREC_ACCOUNT_MAX) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= ' ' || c >= 0x7f || c == '/') return -1;
        if (c == '@') { ats++; at = i; }
    }
    return ats == 1 && at > 0 && at + 1 < n ? 0 : -1;
}

/* a password goes to simpp-login as one line on a pipe: printable, no
 * newline, not empty */
static int check_password(const char *p, size_t n)
{
    if (n == 0 || n > CARDREC_PASSWORD_MAX) return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < ' ' || (unsigned char)p[i] >= 0x7f) return -1;
    return 0;
}

int cardrec_new_password(char out[CARDREC_PASSWORD_LEN + 1])
{
    /* paper 000 3.2.2: SIMPP creates the password, so it is never a weak
     * one a person chose (paper 000 2.3); 24 bytes give 32 base64 characters */
    uint8_t raw[CARDREC_PASSWORD_LEN / 4 * 3];
    size_t len = CARDREC_PASSWORD_LEN + 1;
    int r = sc_random(raw, sizeof raw) < 0 || sc_b64_encode(raw, sizeof raw, out, &len) < 0 ||
            len != CARDREC_PASSWORD_LEN ? -1 : 0;
    sc_zero(raw, sizeof raw);
    if (r < 0) sc_zero(out, CARDREC_PASSWORD_LEN + 1);
    return r;
}

void cardrec_wipe(struct cardrec *r)
{
    if (r) sc_zero(r, sizeof *r);
}

/* 01 len account 02 len password: the body both layouts share */
static int tlv_put(const struct cardrec *r, uint8_t *out, size_t cap, size_t *len)
{
    size_t al = strlen(r->account), pl = strnlen(r->password, sizeof r->password);
    if (cardrec_check_account(r->account) < 0 || check_password(r->password, pl) < 0 ||
        4 + al + pl > cap)
        return CARDREC_EINVAL;
    out[0] = TAG_ACC;
    out[1] = (uint8_t)al;
    memcpy(out + 2, r->account, al);
    out[2 + al] = TAG_PW;
    out[3 + al] = (uint8_t)pl;
    memcpy(out + 4 + al, r->password, pl);
    *len = 4 + al + pl;
    return 0;
}

static int tlv_get(const uint8_t *in, size_t len, struct cardrec *r)
{
    memset(r, 0, sizeof *r);
    if (len < 4 || in[0] != TAG_ACC || in[1] > CARDREC_ACCOUNT_MAX || (size_t)in[1] + 4 > len)
        return CARDREC_ECORRUPT;
    size_t al = in[1];
    const uint8_t *p = in + 2 + al;
    if (p[0] != TAG_PW || p[1] > CARDREC_PASSWORD_MAX || 4 + al + p[1] != len) return CARDREC_ECORRUPT;
    memcpy(r->account, in + 2, al);
    memcpy(r->password, p + 2, p[1]);
    if (strlen(r->account) != al || cardrec_check_account(r->account) < 0 ||
        check_password(r->password, p[1]) < 0) {
        cardrec_wipe(r);
        return CARDREC_ECORRUPT;
    }
    return 0;
}

int cardrec_jc_encode(const struct cardrec *r, uint8_t *out, size_t cap, size_t *len)
{
    uint8_t sum[SC_SHA256_LEN];
    size_t n;
    if (cap > CARDREC_JC_MAX) cap = CARDREC_JC_MAX;
    if (!r || !out || !len || cap < sizeof JC_MAGIC + 1 + 2 + CHECK_LEN) return CARDREC_EINVAL;
    memcpy(out, JC_MAGIC, sizeof JC_MAGIC);
    out[sizeof JC_MAGIC] = VERSION;
    size_t h = sizeof JC_MAGIC + 1;
    if (tlv_put(r, out + h, cap - h - 2 - CHECK_LEN, &n) < 0) return CARDREC_EINVAL;
    n += h;
    sc_sha256(out, n, sum);
    out[n] = TAG_CHECK;
    out[n + 1] = CHECK_LEN;
    memcpy(out + n + 2, sum, CHECK_LEN);
    *len = n + 2 + CHECK_LEN;
    return 0;
}

int cardrec_jc_decode(const uint8_t *in, size_t len, struct cardrec *r)
{
    uint8_t sum[SC_SHA256_LEN];
    const size_t h = sizeof JC_MAGIC + 1;
    if (!in || !r) return CARDREC_EINVAL;
    memset(r, 0, sizeof *r);
    if (len < sizeof JC_MAGIC || !sc_ct_eq(in, JC_MAGIC, sizeof JC_MAGIC)) return CARDREC_ECORRUPT;
    if (len < h || in[sizeof JC_MAGIC] != VERSION) return CARDREC_EVERSION;
    if (len < h + 4 + 2 + CHECK_LEN) return CARDREC_ECORRUPT;
    size_t n = len - 2 - CHECK_LEN;
    sc_sha256(in, n, sum);
    if (in[n] != TAG_CHECK || in[n + 1] != CHECK_LEN || !sc_ct_eq(in + n + 2, sum, CHECK_LEN))
        return CARDREC_ECORRUPT;
    return tlv_get(in + h, n - h, r);
}

int cardrec_mfc_derive(const void *pin, size_t pinlen, const uint8_t *uid, size_t uidlen,
                       unsigned long rounds, struct cardrec_mfc_keys *k)
{
    uint8_t salt[sizeof MFC_LABEL - 1 + 10], seed[SC_SHA256_LEN];
    uint8_t okm[CARDREC_MFC_SECTORS * 12 + sizeof k->rec];
    static const char info[] = "sector keys A, B; record key";
    if (!pin || !pinlen || !uid || !uidlen || uidlen > 10 || !k || rounds < 1) return CARDREC_EINVAL;
    /* The card's UID salts the KDF: one PIN gives other keys on every card,
     * so no table of PIN -> key serves more than one card. */
    memcpy(salt, MFC_LABEL, sizeof MFC_LABEL - 1);
    memcpy(salt + sizeof MFC_LABEL - 1, uid, uidlen);
    int r = sc_pbkdf2_sha256(pin, pinlen, salt, sizeof MFC_LABEL - 1 + uidlen, rounds, seed, sizeof seed) < 0 ||
            sc_hkdf_sha256(MFC_LABEL, sizeof MFC_LABEL - 1, seed, sizeof seed, info, sizeof info - 1,
                           okm, sizeof okm) < 0 ? CARDREC_EINVAL : 0;
    if (r == 0) {
        for (int s = 0; s < CARDREC_MFC_SECTORS; s++) {
            memcpy(k->a[s], okm + 12 * s, 6);
            memcpy(k->b[s], okm + 12 * s + 6, 6);
        }
        memcpy(k->rec, okm + CARDREC_MFC_SECTORS * 12, sizeof k->rec);
    }
    sc_zero(seed, sizeof seed);
    sc_zero(okm, sizeof okm);
    return r;
}

/* associated data: the header and the UID (binds the record to this card) */
static size_t mfc_aad(const uint8_t *hdr, const uint8_t *uid, size_t uidlen, uint8_t *aad)
{
    memcpy(aad, hdr, MFC_HDR);
    memcpy(aad + MFC_HDR, uid, uidlen);
    return MFC_HDR + uidlen;
}

int cardrec_mfc_seal(const struct cardrec_mfc_keys *k, const uint8_t *uid, size_t uidlen,
                     const struct cardrec *r, uint8_t out[CARDREC_MFC_LEN])
{
    uint8_t pt[CARDREC_MFC_LEN], aad[MFC_HDR + 10];
    size_t ptlen, outlen = CARDREC_MFC_LEN - MFC_HDR;
    if (!k || !uid || !uidlen || uidlen > 10 || !r || !out) return CARDREC_EINVAL;
    memset(out, 0, CARDREC_MFC_LEN);
    if (tlv_put(r, pt, CARDREC_MFC_LEN - MFC_HDR - MFC_TAG, &ptlen) < 0) return CARDREC_EINVAL;
    memcpy(out, MFC_MAGIC, sizeof MFC_MAGIC);
    out[4] = VERSION;
    out[5] = SC_SUITE_CHACHA20_POLY1305;
    out[6] = (uint8_t)ptlen;
    out[7] = 0;
    /* a fresh random nonce each write: the key stays the same while the PIN
     * and card do, and a card is written a handful of times in its life */
    int rc = sc_random(out + 8, SC_NONCE_LEN) < 0 ||
             sc_seal(SC_SUITE_CHACHA20_POLY1305, k->rec, out + 8, aad, mfc_aad(out, uid, uidlen, aad),
                     pt, ptlen, out + MFC_HDR, &outlen) < 0 || outlen != ptlen + MFC_TAG ? CARDREC_EINVAL : 0;
    sc_zero(pt, sizeof pt);
    if (rc) memset(out, 0, CARDREC_MFC_LEN);
    return rc;
}

int cardrec_mfc_open(const struct cardrec_mfc_keys *k, const uint8_t *uid, size_t uidlen,
                     const uint8_t in[CARDREC_MFC_LEN], struct cardrec *r)
{
    uint8_t pt[CARDREC_MFC_LEN], aad[MFC_HDR + 10];
    size_t ptlen = sizeof pt, i;
    if (!k || !uid || !uidlen || uidlen > 10 || !in || !r) return CARDREC_EINVAL;
    memset(r, 0, sizeof *r);
    for (i = 0; i < CARDREC_MFC_LEN && !in[i]; i++) {}
    if (i == CARDREC_MFC_LEN) return CARDREC_EEMPTY;
    if (!sc_ct_eq(in, MFC_MAGIC, sizeof MFC_MAGIC)) return CARDREC_ECORRUPT;
    if (in[4] != VERSION || in[5] != SC_SUITE_CHACHA20_POLY1305) return CARDREC_EVERSION;
    size_t ctlen = in[6];
    if (in[7] || ctlen < 4 || MFC_HDR + ctlen + MFC_TAG > CARDREC_MFC_LEN) return CARDREC_ECORRUPT;
    /* the MAC (Poly1305 tag) is what refuses a half-written card: any block
     * left from an older record or never written changes it */
    if (sc_open(SC_SUITE_CHACHA20_POLY1305, k->rec, in + 8, aad, mfc_aad(in, uid, uidlen, aad),
                in + MFC_HDR, ctlen + MFC_TAG, pt, &ptlen) < 0 || ptlen != ctlen) {
        sc_zero(pt, sizeof pt);
        return CARDREC_ECORRUPT;
    }
    int rc = tlv_get(pt, ptlen, r);
    sc_zero(pt, sizeof pt);
    return rc;
}

void cardrec_mfc_access_bits(const uint8_t cond[4], uint8_t out[3])
{
    unsigned c1 = 0, c2 = 0, c3 = 0;
    for (int j = 0; j < 4; j++) {
        c1 |= (unsigned)(cond[j] >> 2 & 1) << j;
        c2 |= (unsigned)(cond[j] >> 1 & 1) << j;
        c3 |= (unsigned)(cond[j] & 1) << j;
    }
    /* byte 6: ~C2 | ~C1, byte 7: C1 | ~C3, byte 8: C3 | C2 (high | low nibble) */
    out[0] = (uint8_t)((~c2 & 0xF) << 4 | (~c1 & 0xF));
    out[1] = (uint8_t)(c1 << 4 | (~c3 & 0xF));
    out[2] = (uint8_t)(c3 << 4 | c2);
}

int cardrec_mfc_access_valid(const uint8_t t[16])
{
    unsigned c1 = t[7] >> 4, c2 = t[8] & 0xF, c3 = t[8] >> 4;
    return (t[6] & 0xF) == (~c1 & 0xF) && (t[6] >> 4) == (~c2 & 0xF) && (t[7] & 0xF) == (~c3 & 0xF);
}

void cardrec_mfc_trailer(const uint8_t a[6], const uint8_t b[6], uint8_t out[16])
{
    /* data blocks 100: read with A or B, write with B only; trailer 011:
     * key A, key B and the access bits written with B only, bits read with
     * A or B, key B never read back.  Comes out as 78 77 88. */
    static const uint8_t cond[4] = { 4, 4, 4, 3 };
    memcpy(out, a, 6);
    cardrec_mfc_access_bits(cond, out + 6);
    out[9] = 0x69;                      /* general purpose byte, as shipped */
    memcpy(out + 10, b, 6);
}
