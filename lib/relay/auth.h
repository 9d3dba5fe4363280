/*
 * auth.h - simpp-relayd before authentication (auth.c): SASL and SIMPP
 * registration.  On success the connection is in CS_RESTART with its bare
 * JID and level set, and its parser reset for the new stream.
 */
#ifndef SIMPP_RELAY_AUTH_H
#define SIMPP_RELAY_AUTH_H

#include "relay/conn.h"

/* SASL mechanisms this stream may use now (a bit per mechanism), and the
 * features that offer them: <mechanisms/> and, inside TLS, the channel
 * bindings -PLUS may use (XEP-0440) */
unsigned auth_mechs(struct conn *c);
void auth_features(struct conn *c, sbuf *b);
/* the connection goes: forget its derivation under way and its channel bindings */
void auth_cancel(struct conn *c);
/* a stanza or SASL element before authentication */
void auth_stanza(struct conn *c, xs_node *st);

#endif
