/*
 * relay.h - simpp-relayd's server: XMPP streams (RFC 6120) on TCP, SIMPP
 * registration (R1-R3, an iq before authentication) and login (S1-S3, the
 * SASL mechanism "SIMPP"), SASL SCRAM-SHA-256/PLAIN for ordinary clients,
 * resource binding, rosters and presence (RFC 6121), message routing and
 * offline storage.  One thread, one epoll loop (lib/ev), one SQLite store.
 */
#ifndef SIMPP_RELAY_H
#define SIMPP_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "store.h"

/* information-flow policy between login levels (paper 004) */
enum relay_policy {
    RELAY_POLICY_OPEN = 0,      /* everyone may write to everyone */
    RELAY_POLICY_NO_WRITE_DOWN, /* Bell-LaPadula *-property: never to a lower level */
    RELAY_POLICY_SAME_LEVEL,    /* only between equal levels */
};

struct relay_config {
    const char *domain;         /* the XMPP domain served, e.g. "localhost" */
    const char *host, *port;    /* where to listen */
    int allow_register;         /* SIMPP registration R1-R3 */
    int allow_scram;            /* ordinary clients: SASL SCRAM-SHA-256 */
    int allow_plain;            /* ordinary clients: SASL PLAIN, only ever inside TLS */
    /* TLS (lib/tls): STARTTLS on the port above and, with tls_port, direct
     * TLS (XEP-0368) on a second one; files re-read on SIGHUP */
    const char *tls_cert;       /* PEM certificate, optionally followed by its chain */
    const char *tls_key;        /* PEM private key */
    const char *tls_chain;      /* more chain certificates; NULL: none */
    const char *tls_port;       /* direct TLS on host:tls_port; NULL: none */
    int tls_required;           /* password logins (SCRAM, PLAIN) only inside TLS */
    int workers;                /* threads for key derivations (PLAIN logins); 0: CPUs - 1 */
    int auth_per_min;           /* PLAIN attempts a minute from one address; 0: no limit */
    /* federation (RFC 6120 server-to-server, s2s.c): needs tls_cert/tls_key;
     * peers prove their domain with a certificate (SASL EXTERNAL), or
     * by Server Dialback where s2s_dialback allows it */
    int s2s;                    /* talk to other domains */
    const char *s2s_port;       /* take their streams on host:s2s_port; NULL: none */
    const char *s2s_ca;         /* CAs for their certificates; NULL: the system's */
    /* Server Dialback (XEP-0220) for peers whose certificate does not
     * verify, both ways; off: certificates only */
    int s2s_dialback;
    const char *s2s_dialback_secret;    /* file: the key secret shared by nodes; NULL: random */
    /* card levels (card.c): the card issuers' CA certificates and their CRLs
     * (PEM files); without card_ca no certificate proves a card */
    const char *card_ca, *card_crl;
    struct relay_route { char domain[256], host[256], port[8]; } routes[16];
    size_t nroutes;             /* static routes, before DNS SRV */
    struct relay_dlevel { char domain[256]; int level; } dlevels[16];
    size_t ndlevels;            /* the level of a remote domain's users (else xmpp) */
    int s2s_queue;              /* stanzas held per domain while its stream is set up */
    int s2s_streams;            /* incoming streams per remote domain */
    int s2s_idle;               /* seconds before an idle server stream is closed */
    int s2s_rate;               /* stanzas a second one server stream may send */
    uint8_t suites[4];          /* advertised and allowed, in preference order */
    size_t nsuites;
    int policy;                 /* enum relay_policy */
    size_t max_stanza;          /* bytes of one stanza */
    int max_conns;              /* connections in all */
    int max_per_addr;           /* connections from one address */
    int reg_per_min;            /* registrations a minute, in all */
    int auth_timeout;           /* seconds to log in after connecting */
    int idle_timeout;           /* seconds of silence before a session is closed */
    size_t max_outbuf;          /* bytes queued for a slow reader before it is cut off */
    int offline_quota;          /* stored messages per recipient */
    int resume_timeout;         /* XEP-0198: seconds a broken session waits for a resume */
    int ready_fd;               /* write "PORT\n" here once listening; -1 none */
    int verbose;                /* log every stanza's kind, type and addresses */
};

void relay_config_defaults(struct relay_config *c);

/* Serve until SIGTERM/SIGINT; then close every stream and return 0.  The
 * server key wraps the master keys K_A kept in the store. */
int relay_run(const struct relay_config *cfg, const sc_key *server_key, store *st);

/* The key that wraps K_A in the store: HKDF of the server's private scalar. */
int relay_wrap_key(const sc_key *server_key, uint8_t out[32]);
/* K_A sealed for storage (nonce || ciphertext || tag) and back */
int relay_wrap(const uint8_t wk[32], const char *jid, const uint8_t ka[32], uint8_t *out,
               size_t *outlen);
int relay_unwrap(const uint8_t wk[32], const char *jid, const uint8_t *in, size_t len,
                 uint8_t ka[32]);

/* JIDs (RFC 7622, the part simpp needs): split "local@domain/resource",
 * lower-case the ASCII of local and domain, refuse what may not appear.
 * Returns 0 or -1. */
struct jid { char local[256], domain[256], resource[256]; };
int jid_parse(const char *s, struct jid *j);
/* "local@domain" (or "domain") into buf */
int jid_bare(const struct jid *j, char *buf, size_t cap);

#endif
