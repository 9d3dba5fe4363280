/*
 * route.h - simpp-relayd once a stream is authenticated (route.c): binding,
 * the session table, presence, rosters, routing, offline storage.
 */
#ifndef SIMPP_RELAY_ROUTE_H
#define SIMPP_RELAY_ROUTE_H

#include "relay/conn.h"

void route_stanza(struct conn *c, xs_node *st);      /* an authenticated stanza */
void route_bound(struct conn *c);                     /* joined the session table */
void route_gone(struct conn *c);                      /* leaving: unavailable, table */
struct conn *sess_first(struct relay *r, const char *bare);
struct conn *sess_next(struct conn *c, const char *bare);

#endif
