/*
 * clientopt.h - what simpp-register and simpp-login share before they
 * differ: their common options, the checks on them, the user's key, and the
 * stream to the relay up to a pinned key and a chosen suite.  For programs:
 * every failure here ends the process with the project's exit codes.
 */
#ifndef SIMPP_CLIENTOPT_H
#define SIMPP_CLIENTOPT_H

#include "client.h"
#include "sbuf.h"

/* -v -c -s -k -E -p -P -K -C -m -t -T, and for an ordinary XMPP server
 * -x -W -M */
#define CLIENT_OPTS "vc:s:k:E:pP:K:C:m:t:T:xW:M:"
/* the options of CLIENT_OPTS that take an argument */
#define CLIENT_OPTS_ARG "csEPKCkmtTWM"

struct client_opts {
    int verbose, frompw, pwfd, passfd, suite, mode, tls;
    unsigned long rounds;
    const char *addr, *pin, *keyfile, *cafile;
    /* an ordinary XMPP login: asked for (-x) or because the server does
     * not speak SIMPP (set by client_start); the server's password (-W fd,
     * else the terminal) and a mechanism (-M) */
    int xmpp, srvpwfd;
    const char *mech;
    char srvpw[1024];
    size_t srvpwlen;
    int keep_pw;                    /* simpp-login: keep srvpw for logging in again */
    const char *certfile;           /* simpp-register -X: the key's certificate chain */
    int provfd;                     /* simpp-register -G: a provisioning token on this fd */
};

void client_opts_init(struct client_opts *o);
/* take one of the common options; 1 if it was one, 0 if not */
int client_opt(struct client_opts *o, int opt, const char *arg);
/*
 * After option parsing: the relay key must be pinned, one of -k/-p, a bare
 * JID; chained after a card reader, the card's account must be this JID and
 * its type is the default mode.  Then the key (the secrets' descriptors
 * are closed once read), the connection, the stream, the pinned key (tofu:
 * pin it if the file is new) and the suite (o->suite on return).  Returns
 * the user's key; c is ready for client_register or client_login.
 */
sc_key *client_start(struct client *c, struct client_opts *o, const char *jid, int allow_stdio, int tofu);
/* After client_start on an ordinary server (o->xmpp): SASL with the
 * server's password (wiped afterwards) and resource binding; dies with
 * the project's exit codes. */
void client_start_xmpp(struct client *c, struct client_opts *o, const char *jid, const char *resource);

/*
 * simpp-register: the proofs of a card level put beside R3 (the chain of
 * -X, the proof of the provisioning token of -G or $SIMPP_CARD_PROVISION_FD,
 * the fd closed once read), built in out, which must outlive the
 * registration.  Failures end the process.
 */
int client_proof(struct client *c, struct client_opts *o, const char *jid, const sc_key *kr, sbuf *out);

#endif
