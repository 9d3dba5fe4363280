/*
 * keywrap.c - the master keys K_A at rest: sealed in the store under a key
 * derived from the relay's private scalar, bound to the account's JID.
 */
#include <string.h>

#include "relay/relay.h"

/* ---- K_A at rest ------------------------------------------------------------- */

int relay_wrap_key(const sc_key *server_key, uint8_t out[32])
{
    uint8_t d[SC_MAX_SCALAR];
    size_t dl = sizeof d;
    int r = -1;
    if (sc_key_scalar(server_key, d, &dl) == 0)
        r = sc_hkdf_sha256("simpp/1 store", 13, d, dl, "K_A wrap", 8, out, 32);
    sc_zero(d, sizeof d);
    return r;
}

int relay_wrap(const uint8_t wk[32], const char *jid, const uint8_t ka[32], uint8_t *out,
               size_t *outlen)
{
    size_t cl;
    if (*outlen < SC_NONCE_LEN + 32 + 16 || sc_random(out, SC_NONCE_LEN) < 0) return -1;
    cl = *outlen - SC_NONCE_LEN;
    /* the JID is the associated data: a row copied to another user does not open */
    if (sc_seal(SC_SUITE_CHACHA20_POLY1305, wk, out, jid, strlen(jid), ka, 32,
                out + SC_NONCE_LEN, &cl) < 0)
        return -1;
    *outlen = SC_NONCE_LEN + cl;
    return 0;
}

int relay_unwrap(const uint8_t wk[32], const char *jid, const uint8_t *in, size_t len,
                 uint8_t ka[32])
{
    uint8_t pt[64];
    size_t pl = sizeof pt;
    int r = -1;
    if (len != SC_NONCE_LEN + 32 + 16) return -1;
    if (sc_open(SC_SUITE_CHACHA20_POLY1305, wk, in, jid, strlen(jid), in + SC_NONCE_LEN,
                len - SC_NONCE_LEN, pt, &pl) == 0 && pl == 32) {
        memcpy(ka, pt, 32);
        r = 0;
    }
    sc_zero(pt, sizeof pt);
    return r;
}

