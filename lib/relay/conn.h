/*
 * conn.h - simpp-relayd's connections and the relay they belong to, as the
 * files of lib/relay/ share them, and the output of a connection (conn.c),
 * the lowest layer: routing (route.h) and authentication (auth.h) sit on it,
 * stream set-up (stream.c) on both.  Not a public interface.
 */
#ifndef SIMPP_RELAY_CONN_H
#define SIMPP_RELAY_CONN_H

#include <stdint.h>

#include "ev.h"
#include "relay/relay.h"
#include "sasl.h"
#include "sbuf.h"
#include "simpp.h"
#include "store.h"
#include "tls.h"
#include "xmlstream.h"

#define NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_TLS     "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_ROSTER  "jabber:iq:roster"
#define NS_SM      "urn:xmpp:sm:3"
#define NS_PING    "urn:xmpp:ping"
#define NS_DISCO   "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_VERSION "jabber:iq:version"
#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_DELAY   "urn:xmpp:delay"

enum conn_state {
    CS_TLS,         /* a TLS handshake is under way (STARTTLS or direct TLS) */
    CS_HEADER,      /* waiting for the client's stream header */
    CS_PREAUTH,     /* features sent: SASL or SIMPP registration */
    CS_SASL,        /* a SASL exchange is under way */
    CS_RESTART,     /* authenticated: waiting for the new stream header */
    CS_AUTHED,      /* new stream open: waiting for resource binding */
    CS_BOUND,       /* a full JID: stanzas flow */
    CS_CLOSING,     /* closing: flushing, reading nothing more */
};

struct relay;
struct job;

struct conn {
    struct relay *r;
    int fd;
    int state;
    char addr[48];
    char stream_id[33];
    xs_stream *xs;              /* what the client sends */
    xs_stream *inner;           /* the stanzas inside SIMPP frames */
    struct simpp_chan *chan;    /* after SIMPP login: every stanza sealed */
    sbuf out;                   /* bytes not yet written */
    tls_conn *tls;              /* NULL: clear text */
    int tls_port;               /* came in on the direct TLS port */
    int kind;                   /* K_*: a client's stream, a server's, a remote sender */
    struct s2s *s2s;            /* server streams: their state (s2s.c) */
    const char *remote;         /* K_REMOTE: the domain answers go to; K_S2S_OUT: the peer */
    /* authentication under way */
    int mech;                   /* MECH_* */
    const char *mname;          /* the mechanism's name, for the log */
    struct job *job;            /* a derivation under way on a worker (auth.c) */
    struct cb_cache *cbc;       /* the TLS channel bindings, during SASL (auth.c) */
    struct addr_count *acct;    /* this address's count and attempt budget */
    int auth_failures;
    int s2_sent, r2_sent;       /* one S2 and one R2 a stream: never a second under K_A */
    struct simpp_login *login;
    struct simpp_reg *reg;
    scram_server *scram;
    char *authuser;             /* bare JID during SASL */
    /* the session */
    char *bare, *full;          /* JIDs once authenticated / bound */
    int level;                  /* enum simpp_level */
    int available;              /* initial presence sent */
    int interested;             /* asked for the roster: gets pushes */
    char *presence;             /* last broadcast presence, serialised */
    int sm;                     /* XEP-0198 acks enabled */
    /* XEP-0198 resumption: every stanza sent is kept until the client
     * acknowledges it; if the connection breaks, the session waits
     * (detached) for a resume on a new, authenticated stream */
    int sm_resume, detached, io_failed;
    char sm_id[33];
    uint32_t sm_out;            /* stanzas sent since <enable/> */
    struct sm_item *smq, *smq_tail;
    int smq_n;
    int carbons;                /* XEP-0280: copies of this account's chats */
    uint32_t sm_in;             /* stanzas handled, for <a h=''/> */
    int64_t born, last;         /* ms, monotonic */
    /* offline messages handed to this connection: each row is deleted only
     * once the bytes carrying it have been written to the socket, so a
     * crash before that leaves it stored (delivered later, not lost) */
    uint64_t out_queued, out_written;
    struct pend_del { int64_t id; uint64_t end; } *pend;
    size_t npend, capend;
    long long timer;
    long long pause_timer;      /* reading stopped until then (conn_pause) */
    struct conn *hnext;         /* same hash bucket (sessions by bare JID) */
    struct conn *next, *prev;   /* all connections */
    struct conn *dnext, *dprev; /* output waiting for the next flush */
    int dirty;
};

enum { MECH_NONE, MECH_SIMPP, MECH_SCRAM, MECH_PLAIN };
/* K_REMOTE: no connection, the sender of a stanza that came over a server
 * stream; what is sent to it goes back to its domain (r->remote_send) */
enum { K_C2S, K_S2S_IN, K_S2S_OUT, K_REMOTE };

struct addr_count {
    char addr[48];
    int n;
    double tokens;              /* PLAIN attempts left (auth.c) */
    int64_t tokens_at;
    struct addr_count *next;
};

#define SESS_BUCKETS 4096
#define ADDR_BUCKETS 1024

struct relay {
    const struct relay_config *cfg;
    ev_loop *loop;
    store *st;
    const sc_key *key;
    uint8_t wrapkey[32];
    uint8_t spub[SC_MAX_PUB];
    size_t spublen;
    int lfd, sfd, tlsfd;        /* listeners (tlsfd: direct TLS, -1 none), signals */
    tls_ctx *tls;               /* NULL: no certificate, no TLS */
    int64_t hs_us;              /* TLS handshake work in this loop iteration */
    /* handshakes ended; as the trim timer last saw; at the last trim */
    unsigned hs_ended, hs_seen, hs_trimmed;
    long long trim_timer;       /* armed: memory goes back once handshakes pause */
    struct workers *workers;    /* key derivations off the loop (work.c) */
    int nconns;
    struct conn *conns;
    struct conn *dirty;         /* connections with output to flush */
    struct conn *sess[SESS_BUCKETS];
    struct addr_count *addrs[ADDR_BUCKETS];
    int64_t reg_window;         /* start of the current registration minute */
    int reg_count;
    int draining;
    int64_t drain_deadline;
    uint64_t routed, stored;    /* counters for the log at exit */
    /* stream.c: a connection whose output went or failed; frees it if done */
    void (*settle)(struct conn *c);
    /* federation (s2s.c): a stanza for another domain; st (or NULL) is what
     * a bounce answers when the domain cannot be reached */
    void (*remote_send)(struct relay *r, const char *domain, const char *xml, size_t len, const xs_node *st);
    int s2sfd;                  /* the listener for server streams, -1 none */
    tls_ctx *s2s_stls, *s2s_ctls;   /* TLS for their streams, and for ours */
    struct conn *s2s_out;       /* our streams to other domains (s2s.c) */
    uint8_t db_secret[32];      /* dialback keys (s2s.c): SHA-256 of the secret */
    struct s2s_seen *s2s_seen;  /* messages from other domains lately (s2s.c) */
    /* stream.c: take a connected server stream into the loop; 0 or -1 */
    int (*adopt)(struct conn *c);
    ev_fd_cb *read_cb;          /* stream.c: what reads a connection */
};

/* conn.c */
void relay_log(struct relay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
unsigned relay_allowed_mask(const struct relay *r);
void conn_raw(struct conn *c, const char *d, size_t n);    /* bytes as they are */
void conn_send(struct conn *c, const char *xml, size_t len); /* a stanza (sealed on a channel) */
void conn_send_sb(struct conn *c, sbuf *b);
/* delete offline row id once everything queued so far has been written */
void conn_delete_after_write(struct conn *c, int64_t id);
void conn_stream_error(struct conn *c, const char *cond, const char *text);
void conn_close(struct conn *c);
/* <TYPE type='error' ...><error type=T><COND/></error></TYPE> back to the sender */
void conn_stanza_error(struct conn *c, const xs_node *st, const char *etype, const char *cond);
/* the same with a <text/> saying why (RFC 6120 8.3.2) */
void conn_stanza_error_text(struct conn *c, const xs_node *st, const char *etype, const char *cond, const char *text);
void conn_flush(struct conn *c);            /* write what the socket takes now */
/* XEP-0198: the client has handled h of the stanzas sent; send again, under
 * the current stream, those it has not (after a resume); free the queue */
void conn_sm_acked(struct conn *c, uint32_t h);
void conn_sm_resend(struct conn *c);
void conn_sm_free(struct conn *c);
/* each stanza still held, oldest first, for the offline store */
void conn_sm_each(struct conn *c, void (*fn)(struct conn *c, const char *xml, size_t len, void *arg), void *arg);
/* Drive a TLS handshake: 1 done, 0 waiting for the peer (or deferred: at
 * most HS_BUDGET_US of handshake work runs per loop iteration, so a burst
 * of handshakes never stalls routing), -1 failed (the connection closes). */
#define HS_BUDGET_US 2000
int conn_tls_step(struct conn *c);
/* Once TLS_TRIM_MIN handshakes have ended and then none for TLS_TRIM_MS,
 * the memory they freed goes back to the system (malloc_trim): the
 * handshakes' transient buffers leave free pages between the sessions that
 * stay, which would otherwise count against every idle session. */
#define TLS_TRIM_MIN 16
#define TLS_TRIM_MS 250
/* stop reading c for ms (a peer that sends too fast waits; TCP holds the rest) */
void conn_pause(struct conn *c, int ms);
void conn_unmark_dirty(struct conn *c);
void relay_flush_dirty(struct relay *r);    /* every connection with output */
/* <starttls/> (RFC 6120 5.4): <proceed/>, and the handshake starts with ctx
 * (CS_TLS); else <failure/> and the close.  Returns 1: the parser stops,
 * nothing after <starttls/> is read in clear. */
int conn_starttls(struct conn *c, const xs_node *st, tls_ctx *ctx);
/* the checks every stream header gets (RFC 6120 4.7, 4.9.3): its content
 * namespace ns (jabber:client, jabber:server), version 1.x, to our domain;
 * 0, or -1 with the stream error on its way */
int conn_header_ok(struct conn *c, const xs_header *h, const char *ns, const char *port_kind);

#endif
