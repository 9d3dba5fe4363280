/*
 * auth.h - simpp-relayd before authentication (auth.c): SASL and SIMPP
 * registration.  On success the connection is in CS_RESTART with its bare
 * JID and level set, and its parser reset for the new stream.
 */
#ifndef SIMPP_RELAY_AUTH_H
#define SIMPP_RELAY_AUTH_H

#include "relay/conn.h"

/* a stanza or SASL element before authentication */
void auth_stanza(struct conn *c, xs_node *st);

#endif
