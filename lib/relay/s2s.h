/*
 * s2s.h - simpp-relayd in the federated XMPP network (s2s.c): streams to
 * and from other domains' servers (RFC 6120 server-to-server, jabber:server),
 * each in TLS and authenticated by the peer's certificate (SASL EXTERNAL,
 * RFC 6120 13.7.1) or, where the operator allows it, by Server Dialback
 * (XEP-0220).  Below stream.c, above route.c.
 */
#ifndef SIMPP_RELAY_S2S_H
#define SIMPP_RELAY_S2S_H

#include "relay/conn.h"

/* set up the TLS contexts and the relay's remote_send; 0 or -1 (logged) */
int s2s_init(struct relay *r);
void s2s_fini(struct relay *r);
/* a connection accepted on the server port: its stream is a server's */
int s2s_accepted(struct conn *c);
/* TLS is up on a server stream: for ours, the header again */
void s2s_tls_up(struct conn *c);
/* a server stream goes: what it still held is bounced to the senders */
void s2s_gone(struct conn *c);

#endif
