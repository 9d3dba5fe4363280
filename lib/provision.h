/*
 * provision.h - the operator's one-time provisioning tokens (simpp-relayd
 * provision): a token is 32 random bytes, bound by the relay to one JID
 * and one level, shown as unpadded base64url text (43 characters).
 *
 * The token itself never crosses the wire: a registering client proves it
 * holds it with
 *     proof = HMAC-SHA256(token, "simpp-provision-v1" || u16 len || stream id
 *                                || u16 len || JID || KU_A)
 * sent beside R3.  The proof is bound to the XMPP stream (the relay's fresh
 * stream id), the JID and the key being registered, so one seen on the
 * wire is good for nothing else.
 */
#ifndef SIMPP_PROVISION_H
#define SIMPP_PROVISION_H

#include <stddef.h>
#include <stdint.h>

#define PROV_SECRET 32
#define PROV_TEXT   44          /* 43 characters and the NUL */

int prov_proof(const uint8_t secret[PROV_SECRET], const char *stream_id, const char *jid,
               const uint8_t *pub, size_t publen, uint8_t proof[32]);
/* a token as text and back (0, or -1 when it is not one) */
void prov_encode(const uint8_t secret[PROV_SECRET], char text[PROV_TEXT]);
int  prov_decode(const char *text, size_t len, uint8_t secret[PROV_SECRET]);

#endif
