/*
 * pepkey.h - a SIMPP public key in the account's PEP (XEP-0163): the item
 * simpp-register publishes on an ordinary XMPP server, simpp-session
 * fetches for C1/C2, and simpp-relayd serves from its own directory
 * (doc/PROTOCOL.md section 12).
 *
 *   node  urn:simpp:1:key, item id "current"
 *   <key xmlns='urn:simpp:1' jid='alice@example.org' curve='P-256'
 *        time='1700000000'><pub>b64(KU)</pub><sig>b64(r||s)</sig></key>
 *
 * sig is ECDSA with the key itself over SHA-256 of
 *   "simpp/1 pep key" || u16(len(jid)) || jid || u16(curve bits)
 *   || u8(len(KU)) || KU || u64(time)
 * so an item names the one account it is for and when it was made; a
 * server can still replace the whole item with one of its own key, which
 * is what the pin and the safety number are for.  simpp-relayd's answer
 * has no time and no sig (it cannot sign for its users): its directory is
 * authenticated by the SIMPP channel instead; unless the user published
 * the signed item to it (simpp-register -F), for the users of other
 * servers, who have no such channel to it: then it answers with that
 * item's time and signature.
 */
#ifndef SIMPP_PEPKEY_H
#define SIMPP_PEPKEY_H

#include <stdint.h>

#include "crypto.h"
#include "xmlstream.h"

#define PK_NODE "urn:simpp:1:key"
#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_OWNER "http://jabber.org/protocol/pubsub#owner"

/* the signed <key/> element for jid (a bare JID), made at time now;
 * malloc'd, NULL on failure */
char *pk_item_make(const sc_key *kr, const char *jid, int64_t now);

/* the <key/> element of the directory (unsigned): pub is KU */
char *pk_item_unsigned(int curve, const uint8_t *pub, size_t publen, const char *jid, const char *level);

/* the <key/> element of the directory with the owner's own signature,
 * made at time when and kept by the relay (sig NULL: unsigned) */
char *pk_item_kept(int curve, const uint8_t *pub, size_t publen, const char *jid, const char *level,
                   int64_t when, const uint8_t *sig, size_t siglen);

/* the signature bytes of a <key/> element (at most 2 * 66); 0 or -1 */
int pk_item_sig(const xs_node *key, uint8_t *sig, size_t *siglen);

/*
 * Check a <key/> element found for jid: the JID inside must be jid
 * (compared as simpp compares bare JIDs: exactly, after lower-casing what
 * simpp itself lower-cases), the key valid, the signature made by that
 * key.  need_sig 0 accepts an unsigned item (the relay's directory, over
 * the SIMPP channel).  The key (public only) or NULL with a reason in err.
 */
sc_key *pk_item_check(const xs_node *key, const char *jid, int need_sig, int64_t *when,
                      char *err, size_t errlen);

/* the <key/> inside a pubsub items result, or NULL */
const xs_node *pk_find(const xs_node *iq);

#endif
