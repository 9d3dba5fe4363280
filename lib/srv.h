/*
 * srv.h - where an XMPP domain's clients connect (RFC 6120 3.2.1, XEP-0368):
 * the DNS SRV records _xmpps-client._tcp (direct TLS) and _xmpp-client._tcp
 * (STARTTLS) of the domain, merged and ordered as RFC 2782 says (priority,
 * then a weighted random choice among equal priorities).  The one place
 * simpp asks the resolver (libresolv's res_query) for anything but an
 * address.
 */
#ifndef SIMPP_SRV_H
#define SIMPP_SRV_H

#include <stddef.h>

struct srv_target {
    char host[256];
    char port[8];
    int direct;             /* from _xmpps-client: TLS from the first byte */
    unsigned prio, weight;
};

/*
 * The targets for domain, in the order to try them, at most max.  Returns
 * their number: 0 when the domain has no records (the caller falls back to
 * domain:5222, RFC 6120 3.2.2), -1 when a record says "no service here"
 * (a single target ".") or on a resolver failure other than "no such
 * record" (errno ENOENT for the first, EAGAIN for the second).
 */
int srv_lookup(const char *domain, struct srv_target *out, size_t max);

/*
 * The same from the raw answers (the wire form res_query returns), for
 * tests: tls/plain are the answers for _xmpps-client and _xmpp-client
 * (NULL or length 0: none).  pick is the random source for weights
 * (NULL: sc_random).
 */
int srv_parse(const unsigned char *tls, int tlslen, const unsigned char *plain, int plainlen,
              struct srv_target *out, size_t max, unsigned (*pick)(unsigned below));

#endif
