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
/* XEP-0198: a resumable session ends (no resume in time, or the relay
 * stops): the messages it held go to the offline store */
void route_expire(struct conn *c);
struct conn *sess_first(struct relay *r, const char *bare);
struct conn *sess_next(struct conn *c, const char *bare);
/* federation: a stanza from another domain's user (c: a K_REMOTE sender)
 * to ours; the level of that domain's users; an error for a local sender
 * whose stanza could not reach another domain */
void route_remote(struct conn *c, xs_node *st);
int route_domain_level(struct relay *r, const char *domain);
void route_bounce(struct relay *r, const char *name, const char *from, const char *to, const char *id,
                  const char *cond);

#endif
