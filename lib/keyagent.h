/*
 * keyagent.h - the user's private key, from simpp-login to the program it
 * runs (simpp-session signs C3/C4 and opens pager messages with it), on
 * one descriptor ($SIMPP_KEYFD):
 *
 *   - a key in memory (a key file, a password's key) goes as its PKCS#8 PEM
 *     through a pipe, read once;
 *   - a key on a token cannot leave it, so simpp-login keeps the token
 *     session and serves the key's two operations on a socket from a thread:
 *     the program gets a key whose sign and ECDH are requests to it.  The
 *     token does the work; the program never holds the scalar, nor the PIN.
 *
 * Agent protocol (a stream socket): the agent speaks first,
 *     "SIMPP-KEYAGENT-1" | u16 curve | u8 len | public key (X9.63)
 * then answers requests, one at a time:
 *     request  u8 op ('S' sign a digest, 'D' ECDH with a point) | u8 len | data
 *     answer   u8 status (0 ok) | u8 len | data (r||s, or the x-coordinate)
 * A point is validated by the agent before the token sees it.
 */
#ifndef SIMPP_KEYAGENT_H
#define SIMPP_KEYAGENT_H

#include <stddef.h>

#include "crypto.h"

struct key_handoff;

/* Hand k to a program to be started: takes k (a key in memory is written
 * out and freed at once; a token's key is kept for the agent).  NULL with
 * errno on failure. */
struct key_handoff *key_handoff(sc_key *k);
/* the program's end (close-on-exec: dup it to where the program wants it) */
int key_handoff_fd(const struct key_handoff *h);
/* in the parent after fork: close the program's end */
void key_handoff_parent(struct key_handoff *h);
/* after the program ended: stop the agent, free the key */
void key_handoff_end(struct key_handoff *h);

/* The program's side: the key on fd, either form.  A PEM key is read and
 * fd closed; an agent's key keeps fd (a failed request later ends the
 * process: the agent is gone).  NULL with a reason in err. */
sc_key *key_receive(int fd, char *err, size_t errlen);

#endif
