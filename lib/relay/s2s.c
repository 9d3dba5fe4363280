/*
 * s2s.c - server-to-server streams (RFC 6120 4, 5, 6 on jabber:server).
 *
 * Ours: a stanza for another domain finds that domain's stream, or starts
 * one and waits in its queue (at most s2s_queue stanzas).  Where the domain
 * is served comes from a static route, else DNS SRV _xmpp-server._tcp, else
 * the domain itself on 5269; the look-up and the TCP connect run on a
 * worker thread, never in the loop.  Then: header, STARTTLS (required), the
 * handshake with the peer's certificate checked for the domain and ours
 * shown, SASL EXTERNAL (our certificate proves our domain), the restart,
 * and the queue goes out.  A stream that cannot be set up bounces every
 * stanza it held to its sender with remote-server-not-found (after one
 * more try a second later).
 * Where the peer offers XEP-0198 on the stream, acks are enabled (no
 * resumption: Prosody offers none on s2s); every stanza sent is kept until
 * acknowledged, or on a stream without acks until written.  A stream that
 * drops hands what it kept to a new one (each stanza on three at most).
 * A stanza the peer handled but had not acknowledged then arrives twice:
 * on their streams we drop a message whose bytes (with an id) match one of
 * the last few thousand from that domain.
 *
 * Theirs: a server connects to the s2s port, says which domain it is,
 * starts TLS, and logs in with EXTERNAL; only a certificate that chains to
 * a trusted CA and names that domain gets it in.  Every stanza must then
 * come from that domain and go to ours: anything else is a stream error.
 *
 * Server Dialback (XEP-0220), only with s2s_dialback: a peer without a
 * certificate for its domain shows a key (<db:result/>); we ask the
 * domain's own server over our stream to it (<db:verify/>, allowed before
 * we have proved ours) and let the stream in only on its "valid".  Our
 * keys are XEP-0185's, from a secret of this run or of the domain's nodes;
 * we answer <db:verify/> for them, and show one on our own streams where
 * the peer does not take our certificate.  Our TLS then goes on to a peer
 * whose certificate does not verify: its domain rests on the route to it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include "net.h"
#include "relay/route.h"
#include "relay/s2s.h"
#include "relay/work.h"
#include "util.h"

#define NS_DB "jabber:server:dialback"
#define NS_DBF "urn:xmpp:features:dialback"

struct dbv {                    /* a key to ask the authoritative server about */
    struct dbv *next;
    char id[129], key[65];
};

struct qitem {
    struct qitem *next;
    char *xml;
    size_t len;
    char name[12];              /* message, presence, iq: for a bounce */
    char *from, *to, *id, *type;
    uint64_t end;               /* sent: the stream's byte count after it */
    uint32_t seq;               /* sent: its number for XEP-0198 acks */
    int tries;                  /* streams it was sent on that dropped */
};

struct s2s {
    char domain[256];           /* the other side */
    int out;                    /* ours */
    int authed;                 /* the other side proved its domain (theirs), or we ours */
    int tries;                  /* ours: connection attempts so far */
    double tokens;              /* theirs: stanzas it may still send now */
    int64_t tokens_at;
    int throttled;              /* theirs: logged once */
    struct qitem *q, *qtail;    /* ours: waiting for the stream */
    int nq;
    struct conn_job *job;       /* ours: look-up and connect under way */
    int dialback;               /* theirs: its key is being verified; ours: our key sent */
    const char *via;            /* how the domain was proved: "certificate", "dialback" */
    struct dbv *dbv;            /* ours: keys of their streams to verify here */
    int can_verify;             /* ours: TLS up, the peer's features seen */
    char peer_id[129];          /* ours: the peer's stream id, whole (a dialback key's) */
    struct conn *next;          /* ours: r->s2s_out */
    /* ours: what was sent and may not have arrived, oldest first; kept
     * until acknowledged (XEP-0198, when the peer offers it) or else
     * until written, and sent again on a new stream if this one drops */
    struct qitem *sent, *sent_tail;
    int sm_offered, sm, r_out;  /* ours: acks offered, enabled, one asked for */
    int nsent;
    uint32_t sm_out;            /* ours: stanzas sent since <enable/> */
    int sm_in;                  /* theirs: acks enabled */
    uint32_t h_in;              /* theirs: stanzas handled since <enable/> */
};

struct conn_job {
    struct job job;
    struct conn *c;             /* NULL once the stream was given up */
    char domain[256], host[256], port[8];
    int fd;
    char why[700];
};

static char *dupz(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void q_free(struct qitem *q)
{
    free(q->xml);
    free(q->from);
    free(q->to);
    free(q->id);
    free(q->type);
    free(q);
}

static struct qitem *q_new(const char *xml, size_t len, const xs_node *st)
{
    struct qitem *q = calloc(1, sizeof *q);
    if (!q || !(q->xml = malloc(len))) {
        free(q);
        return NULL;
    }
    memcpy(q->xml, xml, len);
    q->len = len;
    if (st) {
        snprintf(q->name, sizeof q->name, "%s", st->name);
        q->from = dupz(xs_getattr(st, "from", NULL));
        q->to = dupz(xs_getattr(st, "to", NULL));
        q->id = dupz(xs_getattr(st, "id", NULL));
        q->type = dupz(xs_getattr(st, "type", NULL));
    }
    return q;
}

/* ---- the header ------------------------------------------------------------ */

static void send_header(struct conn *c, const char *to, const char *id)
{
    size_t n;
    char *h = xs_stream_header(XS_NS_SERVER, c->r->cfg->domain, to, id, NULL, &n);
    if (!h) {
        conn_stream_error(c, "internal-server-error", NULL);
        return;
    }
    /* the dialback namespace declared, as servers expect on jabber:server */
    char *gt = strrchr(h, '>');
    conn_raw(c, h, (size_t)(gt - h));
    conn_raw(c, " xmlns:db='" NS_DB "'>", strlen(" xmlns:db='" NS_DB "'>"));
    free(h);
}

/* ---- Server Dialback (XEP-0220) --------------------------------------------- */

/* a value echoed in an attribute (a stream id, a key): nothing to escape */
static int token_ok(const char *t, size_t max)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && !strchr("-_.:+/=", t[i])) return 0;
    return 1;
}

/* XEP-0185: HMAC-SHA256(SHA-256(secret), "receiving originating stream-id"), hex */
static void db_key(struct relay *r, const char *recv, const char *orig, const char *id, char out[65])
{
    char msg[700];
    uint8_t mac[32];
    int n = snprintf(msg, sizeof msg, "%s %s %s", recv, orig, id);
    if (n < 0 || (size_t)n >= sizeof msg || sc_hmac_sha256(r->db_secret, sizeof r->db_secret, msg, (size_t)n, mac) < 0)
        sc_random(mac, sizeof mac);         /* matches nothing */
    sc_hex_encode(mac, sizeof mac, out);
    sc_zero(mac, sizeof mac);
}

/* the key a peer shows for a stream is the one we would have made */
static int db_key_ok(struct relay *r, const char *recv, const char *orig, const char *id, const char *key)
{
    char want[65];
    if (!token_ok(id, 128) || !key || strlen(key) != 64) return 0;
    db_key(r, recv, orig, id, want);
    int ok = sc_ct_eq(want, key, 64);
    sc_zero(want, sizeof want);
    return ok;
}

/* <db:EL from to [id] [type]>[key]</db:EL>; type 'error': the server was not reached */
static void db_send(struct conn *c, const char *el, const char *to, const char *id, const char *type, const char *key)
{
    sbuf b = { 0 };
    sb_printf(&b, "<db:%s from='%s' to='%s'", el, c->r->cfg->domain, to);
    if (id) sb_printf(&b, " id='%s'", id);
    if (type) sb_printf(&b, " type='%s'", type);
    if (key)
        sb_printf(&b, ">%s</db:%s>", key, el);
    else if (type && strcmp(type, "error") == 0)
        sb_printf(&b, "><error type='cancel'><remote-server-not-found xmlns='" NS_STANZAS "'/></error></db:%s>", el);
    else
        sb_puts(&b, "/>");
    if (!b.oom) conn_raw(c, b.p, b.n);
    sb_free(&b);
}

/* ---- theirs ---------------------------------------------------------------- */

static int count_in(struct relay *r, const char *domain)
{
    int n = 0;
    for (struct conn *k = r->conns; k; k = k->next)
        if (k->kind == K_S2S_IN && k->s2s && k->s2s->authed && strcmp(k->s2s->domain, domain) == 0) n++;
    return n;
}

static int in_open_cb(void *arg, const xs_header *h)
{
    struct conn *c = arg;
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    struct jid j;
    uint8_t rnd[16];
    if (conn_header_ok(c, h, XS_NS_SERVER, "server") < 0) return XS_STOP;
    /* which domain the peer says it is: it proves it with its certificate */
    if (!h->from || jid_parse(h->from, &j) < 0 || j.local[0] || j.resource[0] ||
        strcmp(j.domain, r->cfg->domain) == 0 || (s->domain[0] && strcmp(s->domain, j.domain) != 0)) {
        conn_stream_error(c, "invalid-from", h->from ? h->from : "no 'from'");
        return XS_STOP;
    }
    snprintf(s->domain, sizeof s->domain, "%s", j.domain);
    if (sc_random(rnd, sizeof rnd) < 0) return XS_STOP;
    sc_hex_encode(rnd, sizeof rnd, c->stream_id);
    send_header(c, s->domain, c->stream_id);
    sbuf b = { 0 };
    sb_puts(&b, "<stream:features>");
    if (!c->tls) {
        sb_puts(&b, "<starttls xmlns='" NS_TLS "'><required/></starttls>");
        c->state = CS_PREAUTH;
    } else if (!s->authed) {
        sb_puts(&b, "<mechanisms xmlns='" NS_SASL "'>");
        if (tls_peer_is(c->tls, s->domain)) sb_puts(&b, "<mechanism>EXTERNAL</mechanism>");
        sb_puts(&b, "</mechanisms>");
        if (r->cfg->s2s_dialback) sb_puts(&b, "<dialback xmlns='" NS_DBF "'><errors/></dialback>");
        sb_puts(&b, "<sm xmlns='" NS_SM "'><optional/></sm>");
        c->state = CS_PREAUTH;
    } else {
        sb_puts(&b, "<sm xmlns='" NS_SM "'><optional/></sm>");
        c->state = CS_BOUND;
    }
    sb_puts(&b, "</stream:features>");
    if (!b.oom) conn_raw(c, b.p, b.n);
    sb_free(&b);
    return XS_CONTINUE;
}

static void in_auth(struct conn *c, const xs_node *st)
{
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    const char *mech = xs_getattr(st, "mechanism", NULL), *t = xs_text(st);
    uint8_t az[300];
    size_t azl = sizeof az;
    /* the authzid, if any, is the domain the stream was opened for */
    int az_ok = strcmp(t, "=") == 0 || t[0] == 0 ||
                (sc_b64_decode(t, strlen(t), az, &azl) == 0 && azl == strlen(s->domain) &&
                 memcmp(az, s->domain, azl) == 0);
    if (strcmp(st->name, "auth") != 0 || !mech || strcmp(mech, "EXTERNAL") != 0 || !az_ok || !c->tls ||
        !tls_peer_is(c->tls, s->domain) || count_in(r, s->domain) >= r->cfg->s2s_streams) {
        relay_log(r, "s2s-refused addr=%s domain=%s reason=%s", c->addr, s->domain,
                  !c->tls || !tls_peer_is(c->tls, s->domain) ? "no certificate for the domain"
                  : !az_ok ? "authzid" : mech && strcmp(mech, "EXTERNAL") == 0 ? "too many streams" : "mechanism");
        conn_raw(c, "<failure xmlns='" NS_SASL "'><not-authorized/></failure>",
                 strlen("<failure xmlns='" NS_SASL "'><not-authorized/></failure>"));
        conn_close(c);
        return;
    }
    s->authed = 1;
    relay_log(r, "s2s-in addr=%s domain=%s tls=%s auth=certificate", c->addr, s->domain, tls_version(c->tls));
    conn_raw(c, "<success xmlns='" NS_SASL "'/>", strlen("<success xmlns='" NS_SASL "'/>"));
    c->state = CS_RESTART;
    xs_reset(c->xs);
}

/* the authoritative server's word on the key of c's stream (or none: "error") */
static void in_db_done(struct conn *c, const char *type)
{
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    int valid = strcmp(type, "valid") == 0, full = valid && count_in(r, s->domain) >= r->cfg->s2s_streams;
    s->dialback = 0;
    if (valid && !full) {
        s->authed = 1;
        c->state = CS_BOUND;
        relay_log(r, "s2s-in addr=%s domain=%s tls=%s auth=dialback", c->addr, s->domain, tls_version(c->tls));
        db_send(c, "result", s->domain, NULL, "valid", NULL);
        return;
    }
    relay_log(r, "s2s-dialback-refused addr=%s domain=%s reason=%s", c->addr, s->domain,
              full ? "too many streams" : valid || strcmp(type, "invalid") == 0 ? "invalid key"
              : "the domain's server could not be asked");
    db_send(c, "result", s->domain, NULL, full ? "invalid" : type, NULL);
    conn_close(c);
}

static int db_ask(struct relay *r, const char *domain, const char *id, const char *key);

/* <db:result/> (a peer proves its domain) and <db:verify/> (a peer asks
 * whether a key is ours), both only between the stream's two domains */
static void in_dialback(struct conn *c, const xs_node *st)
{
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    const char *from = xs_getattr(st, "from", NULL), *to = xs_getattr(st, "to", NULL);
    const char *id = xs_getattr(st, "id", NULL), *key = xs_text(st);
    struct jid jf;
    if (!from || jid_parse(from, &jf) < 0 || jf.local[0] || jf.resource[0] || strcmp(jf.domain, s->domain) != 0) {
        relay_log(r, "s2s-spoof addr=%s domain=%s from=%s", c->addr, s->domain, from ? from : "-");
        conn_stream_error(c, "invalid-from", from ? from : "no 'from'");
        return;
    }
    if (!to || strcmp(to, r->cfg->domain) != 0) {
        conn_stream_error(c, "host-unknown", to ? to : "no 'to'");
        return;
    }
    if (strcmp(st->name, "verify") == 0) {
        /* a stream that says it is from us reached the peer: is its key ours? */
        int ok = db_key_ok(r, s->domain, r->cfg->domain, id, key);
        relay_log(r, "s2s-dialback-verify addr=%s domain=%s valid=%s", c->addr, s->domain, ok ? "yes" : "no");
        db_send(c, "verify", s->domain, token_ok(id, 128) ? id : "-", ok ? "valid" : "invalid", NULL);
        return;
    }
    if (strcmp(st->name, "result") != 0 || xs_getattr(st, "type", NULL)) {
        conn_stream_error(c, "unsupported-stanza-type", st->name);
        return;
    }
    if (s->dialback) return;                /* being verified */
    if (s->authed) {                        /* proved already */
        db_send(c, "result", s->domain, NULL, "valid", NULL);
        return;
    }
    if (!r->cfg->s2s_dialback) {
        relay_log(r, "s2s-refused addr=%s domain=%s reason=dialback not allowed", c->addr, s->domain);
        conn_stream_error(c, "not-authorized", "a certificate for the domain is required");
        return;
    }
    s->dialback = 1;
    if (tls_peer_is(c->tls, s->domain)) {   /* the certificate proves it already */
        in_db_done(c, "valid");
        return;
    }
    if (!token_ok(key, 64) || db_ask(r, s->domain, c->stream_id, key) < 0) in_db_done(c, token_ok(key, 64) ? "error" : "invalid");
}

/* XEP-0198 on their stream: acks (no resumption), so that the peer sends
 * again only what we had not handled when a stream drops */
static void in_sm(struct conn *c, const xs_node *st)
{
    struct s2s *s = c->s2s;
    char a[80];
    if (strcmp(st->name, "enable") == 0 && !s->sm_in) {
        s->sm_in = 1;
        s->h_in = 0;
        conn_raw(c, "<enabled xmlns='" NS_SM "'/>", strlen("<enabled xmlns='" NS_SM "'/>"));
    } else if (strcmp(st->name, "r") == 0 && s->sm_in) {
        int n = snprintf(a, sizeof a, "<a xmlns='" NS_SM "' h='%u'/>", (unsigned)s->h_in);
        conn_raw(c, a, (size_t)n);
    }
}

/* a message the peer sends again after a stream dropped, which we had
 * handled but not yet acknowledged: the same bytes, with an id, from the
 * same domain among the last SEEN_N such messages.  1: seen before. */
#define SEEN_N 4096
struct s2s_seen {
    uint64_t key[SEEN_N];           /* a ring: the oldest is overwritten */
    int32_t next[SEEN_N];           /* the next slot in the same bucket, -1 none */
    int32_t head[SEEN_N];           /* buckets: the first slot, -1 none */
    uint32_t at, used;
};

static int seen_before(struct relay *r, const char *domain, const xs_node *st)
{
    struct s2s_seen *z = r->s2s_seen;
    size_t n;
    char *xml;
    uint8_t h[SC_SHA256_LEN];
    uint64_t key;
    if (!z || strcmp(st->name, "message") != 0 || !xs_getattr(st, "id", NULL) ||
        !(xml = xs_serialize(st, XS_NS_SERVER, &n)))
        return 0;
    sc_sha256_parts(h, domain, strlen(domain) + 1, xml, n, (void *)NULL);
    free(xml);
    memcpy(&key, h, sizeof key);
    for (int32_t i = z->head[key % SEEN_N]; i >= 0; i = z->next[i])
        if (z->key[i] == key) return 1;
    int32_t slot = (int32_t)z->at;
    if (z->used == SEEN_N) {                /* the slot's old key leaves its bucket */
        int32_t *pp = &z->head[z->key[slot] % SEEN_N];
        while (*pp != slot) pp = &z->next[*pp];
        *pp = z->next[slot];
    } else
        z->used++;
    z->key[slot] = key;
    z->next[slot] = z->head[key % SEEN_N];
    z->head[key % SEEN_N] = slot;
    z->at = (z->at + 1) % SEEN_N;
    return 0;
}

/* a stanza from the peer's domain to ours */
static void in_stanza(struct conn *c, xs_node *st)
{
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    const char *from = xs_getattr(st, "from", NULL), *to = xs_getattr(st, "to", NULL);
    struct jid jf, jt;
    if (!st->ns || strcmp(st->ns, XS_NS_SERVER) != 0 ||
        (strcmp(st->name, "message") && strcmp(st->name, "presence") && strcmp(st->name, "iq"))) {
        conn_stream_error(c, "unsupported-stanza-type", st->name);
        return;
    }
    /* RFC 6120 4.9.3.9, 8.1.2.2: the sender is of the authenticated domain */
    if (!from || jid_parse(from, &jf) < 0 || strcmp(jf.domain, s->domain) != 0) {
        relay_log(r, "s2s-spoof addr=%s domain=%s from=%s", c->addr, s->domain, from ? from : "-");
        conn_stream_error(c, "invalid-from", from ? from : "no 'from'");
        return;
    }
    if (!to || jid_parse(to, &jt) < 0 || strcmp(jt.domain, r->cfg->domain) != 0) {
        conn_stream_error(c, "host-unknown", to ? to : "no 'to'");
        return;
    }
    /* a server that floods waits: reading stops for a while (logged once) */
    int64_t now = ev_now_ms();
    double rate = r->cfg->s2s_rate;
    s->tokens = s->tokens_at ? s->tokens + (double)(now - s->tokens_at) * rate / 1000 : rate;
    if (s->tokens > rate) s->tokens = rate;
    s->tokens_at = now;
    if (s->tokens < 1) {
        if (!s->throttled++) relay_log(r, "s2s-throttled addr=%s domain=%s rate=%d/s", c->addr, s->domain, r->cfg->s2s_rate);
        conn_pause(c, 100);
    }
    s->tokens -= 1;
    c->last = now;
    if (s->sm_in) s->h_in++;
    if (seen_before(r, s->domain, st)) {
        relay_log(r, "s2s-duplicate addr=%s domain=%s from=%s", c->addr, s->domain, from);
        return;
    }
    xs_rename_ns(st, XS_NS_SERVER, XS_NS_CLIENT);
    /* the sender, as routing sees it: a user of that domain, at its level */
    char bare[600];
    struct conn stub;
    memset(&stub, 0, sizeof stub);
    jid_bare(&jf, bare, sizeof bare);
    stub.r = r;
    stub.fd = -1;
    stub.kind = K_REMOTE;
    stub.remote = s->domain;
    stub.state = CS_BOUND;
    stub.full = (char *)from;
    stub.bare = bare;
    stub.level = route_domain_level(r, s->domain);
    route_remote(&stub, st);
    r->routed++;
}

static int in_stanza_cb(void *arg, xs_node *st)
{
    struct conn *c = arg;
    int stop = 0;
    if (c->state == CS_PREAUTH && !c->tls && st->ns && strcmp(st->ns, NS_TLS) == 0)
        stop = conn_starttls(c, st, c->r->s2s_stls);
    else if (c->state == CS_PREAUTH && c->tls && st->ns && strcmp(st->ns, NS_SASL) == 0 && !c->s2s->dialback)
        in_auth(c, st);
    else if ((c->state == CS_PREAUTH || c->state == CS_BOUND) && c->tls && st->ns && strcmp(st->ns, NS_DB) == 0)
        in_dialback(c, st);
    else if (c->state == CS_BOUND && st->ns && strcmp(st->ns, NS_SM) == 0)
        in_sm(c, st);
    else if (c->state == CS_BOUND)
        in_stanza(c, st);
    else
        conn_stream_error(c, "not-authorized", "TLS and authentication first");
    xs_node_free(st);
    return stop || c->state == CS_CLOSING || c->state == CS_RESTART ? XS_STOP : XS_CONTINUE;
}

static void any_close_cb(void *arg)
{
    conn_close(arg);
}

int s2s_accepted(struct conn *c)
{
    xs_limits lim = { c->r->cfg->max_stanza + 1024, 0, 0, 1 };
    xs_callbacks cb = { in_open_cb, in_stanza_cb, any_close_cb };
    if (!(c->s2s = calloc(1, sizeof *c->s2s))) return -1;
    xs_free(c->xs);
    if (!(c->xs = xs_new(&lim, &cb, c))) return -1;
    c->kind = K_S2S_IN;
    return 0;
}

/* ---- ours ------------------------------------------------------------------ */

static void q_bounce(struct relay *r, struct qitem *q, const char *cond)
{
    /* an error is never answered with an error */
    if (q->from && (!q->type || strcmp(q->type, "error") != 0))
        route_bounce(r, q->name, q->from, q->to, q->id, cond);
    q_free(q);
}

static void bounce_all(struct conn *c, const char *cond)
{
    struct s2s *s = c->s2s;
    struct qitem *q = s->q;
    s->q = s->qtail = NULL;
    s->nq = 0;
    while (q) {
        struct qitem *next = q->next;
        q_bounce(c->r, q, cond);
        q = next;
    }
}

static void out_unlink(struct conn *c)
{
    for (struct conn **pp = &c->r->s2s_out; *pp; pp = &(*pp)->s2s->next)
        if (*pp == c) {
            *pp = c->s2s->next;
            break;
        }
}

static void out_ready(struct conn *c);

/* the keys c was to have verified: their streams get no answer from here */
static void db_fail_waiting(struct conn *c)
{
    struct s2s *s = c->s2s;
    while (s->dbv) {
        struct dbv *v = s->dbv;
        s->dbv = v->next;
        free(v);
    }
    for (struct conn *k = c->r->conns; k; k = k->next)
        if (k->kind == K_S2S_IN && k->s2s && k->s2s->dialback && k->state != CS_CLOSING &&
            strcmp(k->s2s->domain, s->domain) == 0)
            in_db_done(k, "error");
}

/* the keys waiting for our stream to the domain go out on it (allowed
 * before we have proved our own domain, XEP-0220 2.1.2) */
static void db_flush(struct conn *c)
{
    struct s2s *s = c->s2s;
    while (s->dbv) {
        struct dbv *v = s->dbv;
        s->dbv = v->next;
        db_send(c, "verify", s->domain, v->id, NULL, v->key);
        free(v);
    }
}

static struct conn *out_find(struct relay *r, const char *domain);
static struct conn *out_alloc(struct relay *r, const char *domain);
static void out_start(struct conn *c);

static int db_ask(struct relay *r, const char *domain, const char *id, const char *key)
{
    struct conn *c = out_find(r, domain);
    int fresh = !c;
    struct dbv *v = calloc(1, sizeof *v);
    if (!v || (!c && !(c = out_alloc(r, domain)))) {
        free(v);
        return -1;
    }
    snprintf(v->id, sizeof v->id, "%s", id);
    snprintf(v->key, sizeof v->key, "%s", key);
    v->next = c->s2s->dbv;
    c->s2s->dbv = v;
    if (c->s2s->can_verify) db_flush(c);
    if (fresh) out_start(c);                /* a failure answers "error" at once */
    return 0;
}

/* an answer on our stream: to the key we showed, or to one we asked about */
static void out_dialback(struct conn *c, const xs_node *st)
{
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    const char *from = xs_getattr(st, "from", NULL), *to = xs_getattr(st, "to", NULL);
    const char *type = xs_getattr(st, "type", NULL), *id = xs_getattr(st, "id", NULL);
    if (!from || !to || !type || strcmp(from, s->domain) != 0 || strcmp(to, r->cfg->domain) != 0) return;
    if (strcmp(st->name, "result") == 0 && s->dialback && !s->authed) {
        s->dialback = 0;
        if (strcmp(type, "valid") == 0) {
            s->authed = 1;
            s->via = "dialback";
            out_ready(c);
        } else {
            relay_log(r, "s2s-failed domain=%s reason=the peer refused our dialback key (%s)", s->domain, type);
            conn_close(c);
        }
    } else if (strcmp(st->name, "verify") == 0 && id) {
        for (struct conn *k = r->conns; k; k = k->next)
            if (k->kind == K_S2S_IN && k->s2s && k->s2s->dialback && k->state != CS_CLOSING &&
                strcmp(k->stream_id, id) == 0 && strcmp(k->s2s->domain, s->domain) == 0) {
                in_db_done(k, strcmp(type, "valid") == 0 ? "valid" : "invalid");
                break;
            }
    }
}

/* given up before it was ever a connection of the relay */
static void out_discard(struct conn *c, const char *cond)
{
    db_fail_waiting(c);
    bounce_all(c, cond);
    out_unlink(c);
    xs_free(c->xs);
    free(c->s2s);
    free(c);
}

static int out_open_cb(void *arg, const xs_header *h)
{
    struct conn *c = arg;
    if (!h->content_ns || strcmp(h->content_ns, XS_NS_SERVER) != 0) {
        xs_fail(c->xs, "invalid-namespace", "expected jabber:server");
        return XS_STOP;
    }
    snprintf(c->stream_id, sizeof c->stream_id, "%.32s", h->id ? h->id : "");
    /* Prosody's ids are UUIDs (36 characters): a key is made over all of it */
    snprintf(c->s2s->peer_id, sizeof c->s2s->peer_id, "%s", h->id && strlen(h->id) < sizeof c->s2s->peer_id ? h->id : "");
    return XS_CONTINUE;
}

#define SM_R "<r xmlns='" NS_SM "'/>"

/* what has surely arrived goes: up to h when the peer acknowledges (acked),
 * else, on a stream without acks, what has been written */
static void out_forget(struct conn *c, int acked, uint32_t h)
{
    struct s2s *s = c->s2s;
    while (s->sent && (acked ? (int32_t)(h - s->sent->seq) >= 0 : !s->sm && s->sent->end <= c->out_written)) {
        struct qitem *q = s->sent;
        if (!(s->sent = q->next)) s->sent_tail = NULL;
        s->nsent--;
        q_free(q);
    }
}

/* a stanza onto our stream, kept until it has surely arrived */
static void out_send(struct conn *c, struct qitem *q)
{
    struct s2s *s = c->s2s;
    conn_raw(c, q->xml, q->len);
    q->end = c->out_queued;
    q->seq = ++s->sm_out;
    q->next = NULL;
    if (s->sent_tail) s->sent_tail->next = q; else s->sent = q;
    s->sent_tail = q;
    s->nsent++;
    if (s->sm && !s->r_out) {
        conn_raw(c, SM_R, strlen(SM_R));
        s->r_out = 1;
    }
    if (s->sm && s->nsent > 4 * c->r->cfg->s2s_queue + 1000) {
        /* a peer that reads but never acknowledges: written is enough */
        relay_log(c->r, "s2s-unacked domain=%s held=%d (acks no longer waited for)", s->domain, s->nsent);
        s->sm = 0;
    }
    out_forget(c, 0, 0);
    c->last = ev_now_ms();
}

static void out_ready(struct conn *c)
{
    struct s2s *s = c->s2s;
    c->state = CS_BOUND;
    relay_log(c->r, "s2s-out domain=%s addr=%s tls=%s auth=%s acks=%s queued=%d", s->domain, c->addr,
              tls_version(c->tls), s->via ? s->via : "certificate", s->sm_offered ? "yes" : "no", s->nq);
    if (s->sm_offered) {
        /* XEP-0198 on the server stream: acks, no resumption */
        conn_raw(c, "<enable xmlns='" NS_SM "'/>", strlen("<enable xmlns='" NS_SM "'/>"));
        s->sm = 1;
        s->sm_out = 0;
    }
    while (s->q) {
        struct qitem *q = s->q;
        s->q = q->next;
        out_send(c, q);
    }
    s->qtail = NULL;
    s->nq = 0;
}

/* <a/>, <enabled/>, <failed/>, <r/> on our stream */
static void out_sm(struct conn *c, const xs_node *st)
{
    struct s2s *s = c->s2s;
    if (strcmp(st->name, "a") == 0 && s->sm) {
        const char *h = xs_getattr(st, "h", NULL);
        unsigned long v;
        if (!h || parse_ulong(h, 0, UINT32_MAX, &v) < 0 || (int32_t)(s->sm_out - (uint32_t)v) < 0) {
            conn_stream_error(c, "undefined-condition", "an ack for stanzas never sent");
            return;
        }
        out_forget(c, 1, (uint32_t)v);
        s->r_out = 0;
        if (s->sent) {
            conn_raw(c, SM_R, strlen(SM_R));
            s->r_out = 1;
        }
    } else if (strcmp(st->name, "failed") == 0 && s->sm) {
        s->sm = 0;
        out_forget(c, 0, 0);
    } else if (strcmp(st->name, "r") == 0) {
        conn_raw(c, "<a xmlns='" NS_SM "' h='0'/>", strlen("<a xmlns='" NS_SM "' h='0'/>"));
    }
}

static int out_stanza_cb(void *arg, xs_node *st)
{
    struct conn *c = arg;
    struct s2s *s = c->s2s;
    int stop = 0;
    if (st->ns && strcmp(st->ns, XS_NS_STREAMS) == 0 && strcmp(st->name, "features") == 0) {
        if (!c->tls) {
            if (!xs_child(st, "starttls", NS_TLS)) {
                relay_log(c->r, "s2s-failed domain=%s reason=no TLS offered", s->domain);
                conn_stream_error(c, "policy-violation", "TLS is required");
            } else
                conn_raw(c, "<starttls xmlns='" NS_TLS "'/>", strlen("<starttls xmlns='" NS_TLS "'/>"));
        } else if (!s->authed) {
            const xs_node *m = xs_child(st, "mechanisms", NS_SASL);
            s->sm_offered = xs_child(st, "sm", NS_SM) != NULL;
            int ext = 0, trusted = tls_peer_is(c->tls, s->domain), db = c->r->cfg->s2s_dialback;
            char key[65];
            for (const xs_node *k = m ? m->children : NULL; k; k = k->next)
                if (k->name && strcmp(k->name, "mechanism") == 0 && strcmp(xs_text(k), "EXTERNAL") == 0) ext = 1;
            s->can_verify = 1;
            db_flush(c);
            if (!trusted && !db) {
                /* the handshake fails first; this is the same check where it did not */
                relay_log(c->r, "s2s-failed domain=%s reason=certificate: %s", s->domain, tls_error(c->tls));
                conn_stream_error(c, "policy-violation", "no certificate for the domain");
            } else if (!ext && db && token_ok(s->peer_id, 128)) {
                /* our certificate is not taken (or theirs not trusted): dialback */
                db_key(c->r, s->domain, c->r->cfg->domain, s->peer_id, key);
                db_send(c, "result", s->domain, NULL, NULL, key);
                sc_zero(key, sizeof key);
                s->dialback = 1;
            } else if (!ext) {
                relay_log(c->r, "s2s-failed domain=%s reason=EXTERNAL not offered (our certificate not taken)",
                          s->domain);
                conn_stream_error(c, "policy-violation", "no way to authenticate");
            } else {
                char az[400];
                size_t al = sizeof az;
                sc_b64_encode(c->r->cfg->domain, strlen(c->r->cfg->domain), az, &al);
                sbuf b = { 0 };
                sb_printf(&b, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>%s</auth>", az);
                if (!b.oom) conn_raw(c, b.p, b.n);
                sb_free(&b);
            }
        } else if (!s->dialback) {
            s->sm_offered = xs_child(st, "sm", NS_SM) != NULL;
            out_ready(c);
        }
    } else if (st->ns && strcmp(st->ns, NS_TLS) == 0 && strcmp(st->name, "proceed") == 0 && !c->tls) {
        if (!(c->tls = tls_connect(c->r->s2s_ctls, c->fd, c->fd, s->domain))) {
            conn_stream_error(c, "internal-server-error", NULL);
        } else {
            c->state = CS_TLS;
            stop = 1;                       /* nothing after <proceed/> in clear */
            conn_tls_step(c);               /* our hello: the peer waits for it */
        }
    } else if (st->ns && strcmp(st->ns, NS_SASL) == 0 && strcmp(st->name, "success") == 0 && c->tls) {
        s->authed = 1;
        xs_reset(c->xs);
        send_header(c, s->domain, NULL);
    } else if (st->ns && strcmp(st->ns, NS_SASL) == 0 && strcmp(st->name, "failure") == 0) {
        relay_log(c->r, "s2s-failed domain=%s reason=the peer refused our certificate", s->domain);
        conn_close(c);
    } else if (st->ns && strcmp(st->ns, XS_NS_STREAMS) == 0 && strcmp(st->name, "error") == 0) {
        const xs_node *k = st->children;
        while (k && !k->name) k = k->next;
        relay_log(c->r, "s2s-failed domain=%s reason=stream error %s", s->domain, k ? k->name : "?");
        conn_close(c);
    } else if (st->ns && strcmp(st->ns, NS_TLS) == 0 && strcmp(st->name, "failure") == 0) {
        conn_close(c);
    } else if (st->ns && strcmp(st->ns, NS_DB) == 0 && c->tls) {
        out_dialback(c, st);
    } else if (st->ns && strcmp(st->ns, NS_SM) == 0 && c->state == CS_BOUND) {
        out_sm(c, st);
    }
    /* anything else on our stream (it is one-way) is ignored */
    xs_node_free(st);
    return stop || c->state == CS_CLOSING ? XS_STOP : XS_CONTINUE;
}

void s2s_tls_up(struct conn *c)
{
    c->state = CS_HEADER;
    send_header(c, c->s2s->domain, NULL);
}

/* where the domain is served: a static route, SRV, or the domain itself */
static void srv_lookup(struct conn_job *p)
{
    unsigned char ans[4096];
    char name[300];
    ns_msg msg;
    ns_rr rr;
    int n, best = 65536;
    snprintf(name, sizeof name, "_xmpp-server._tcp.%s", p->domain);
    n = res_query(name, ns_c_in, ns_t_srv, ans, sizeof ans);
    if (n > 0 && ns_initparse(ans, n, &msg) == 0)
        for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
            if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7)
                continue;
            const unsigned char *d = ns_rr_rdata(rr);
            int prio = d[0] << 8 | d[1], port = d[4] << 8 | d[5];
            char target[256];
            if (prio >= best || ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), d + 6, target,
                                                   sizeof target) < 0)
                continue;
            if (!strcmp(target, ".")) return;   /* "no service here" (RFC 2782) */
            best = prio;
            snprintf(p->host, sizeof p->host, "%s", target);
            snprintf(p->port, sizeof p->port, "%d", port);
        }
    if (!p->host[0]) {
        snprintf(p->host, sizeof p->host, "%s", p->domain);
        snprintf(p->port, sizeof p->port, "5269");
    }
}

static void connect_run(struct job *j)
{
    struct conn_job *p = (struct conn_job *)j;
    if (!p->host[0]) srv_lookup(p);
    if (!p->host[0]) {
        p->fd = -1;
        snprintf(p->why, sizeof p->why, "no XMPP service for %s", p->domain);
        return;
    }
    p->fd = net_connect(p->host, p->port, 10000);
    if (p->fd < 0) snprintf(p->why, sizeof p->why, "%s port %s: %s", p->host, p->port, net_strerror());
}

static void out_start(struct conn *c);

static long long retry_cb(ev_loop *l, long long id, void *arg)
{
    (void)l;
    (void)id;
    out_start(arg);
    return EV_NOMORE;
}

static void connect_done(struct job *j)
{
    struct conn_job *p = (struct conn_job *)j;
    struct conn *c = p->c;
    if (!c) {                               /* the relay stopped meanwhile */
        if (p->fd >= 0) close(p->fd);
        free(p);
        return;
    }
    struct relay *r = c->r;
    c->s2s->job = NULL;
    if (p->fd < 0) {
        relay_log(r, "s2s-failed domain=%s reason=%s try=%d", c->s2s->domain, p->why, c->s2s->tries);
        free(p);
        if (c->s2s->tries < 2) ev_timer_add(r->loop, 1000, retry_cb, c);
        else out_discard(c, "remote-server-not-found");
        return;
    }
    net_nonblock(p->fd);
    c->fd = p->fd;
    snprintf(c->addr, sizeof c->addr, "%.40s", p->host);
    free(p);
    if (r->adopt(c) < 0) {
        close(c->fd);
        c->fd = -1;
        out_discard(c, "remote-server-not-found");
        return;
    }
    send_header(c, c->s2s->domain, NULL);
}

static void out_start(struct conn *c)
{
    struct relay *r = c->r;
    struct conn_job *p = calloc(1, sizeof *p);
    if (!p) {
        out_discard(c, "internal-server-error");
        return;
    }
    c->s2s->tries++;
    p->c = c;
    p->fd = -1;
    snprintf(p->domain, sizeof p->domain, "%s", c->s2s->domain);
    for (size_t i = 0; i < r->cfg->nroutes; i++)
        if (strcmp(r->cfg->routes[i].domain, p->domain) == 0) {
            snprintf(p->host, sizeof p->host, "%s", r->cfg->routes[i].host);
            snprintf(p->port, sizeof p->port, "%s", r->cfg->routes[i].port);
        }
    p->job.run = connect_run;
    p->job.done = connect_done;
    if (workers_submit(r->workers, &p->job) < 0) {
        free(p);
        out_discard(c, "resource-constraint");
        return;
    }
    c->s2s->job = p;
}

static struct conn *out_find(struct relay *r, const char *domain)
{
    struct conn *c;
    for (c = r->s2s_out; c; c = c->s2s->next)
        if (strcmp(c->s2s->domain, domain) == 0 && c->state != CS_CLOSING) break;
    return c;
}

/* a stream to domain, not started (out_start) */
static struct conn *out_alloc(struct relay *r, const char *domain)
{
    struct conn *c = calloc(1, sizeof *c);
    xs_limits lim = { r->cfg->max_stanza + 1024, 0, 0, 1 };
    xs_callbacks cb = { out_open_cb, out_stanza_cb, any_close_cb };
    if (!c || !(c->s2s = calloc(1, sizeof *c->s2s)) || !(c->xs = xs_new(&lim, &cb, c))) {
        if (c) free(c->s2s);
        free(c);
        return NULL;
    }
    c->r = r;
    c->fd = -1;
    c->kind = K_S2S_OUT;
    c->state = CS_HEADER;
    c->s2s->out = 1;
    snprintf(c->s2s->domain, sizeof c->s2s->domain, "%s", domain);
    c->remote = c->s2s->domain;
    c->s2s->next = r->s2s_out;
    r->s2s_out = c;
    return c;
}

/* q onto domain's stream, or into its queue while it is set up; 0, or -1
 * when the queue is full (q is the caller's then) */
static int out_put(struct conn *c, struct qitem *q)
{
    struct s2s *s = c->s2s;
    if (c->state == CS_BOUND) {
        out_send(c, q);
        return 0;
    }
    if (s->nq >= c->r->cfg->s2s_queue) return -1;
    q->next = NULL;
    if (s->qtail) s->qtail->next = q; else s->q = q;
    s->qtail = q;
    s->nq++;
    return 0;
}

static void remote_send(struct relay *r, const char *domain, const char *xml, size_t len, const xs_node *st)
{
    struct conn *c = out_find(r, domain);
    struct qitem *q = NULL;
    int fresh = !c;
    if (!r->cfg->s2s || strcmp(domain, r->cfg->domain) == 0) {
        if (st) route_bounce(r, st->name, xs_getattr(st, "from", NULL), xs_getattr(st, "to", NULL),
                             xs_getattr(st, "id", NULL), "remote-server-not-found");
        return;
    }
    if ((!c && !(c = out_alloc(r, domain))) || !(q = q_new(xml, len, st))) {
        if (st) route_bounce(r, st->name, xs_getattr(st, "from", NULL), xs_getattr(st, "to", NULL),
                             xs_getattr(st, "id", NULL), "internal-server-error");
        if (c && fresh) out_discard(c, "internal-server-error");
        return;
    }
    if (out_put(c, q) < 0) {
        relay_log(r, "s2s-queue-full domain=%s", domain);
        q_bounce(r, q, "resource-constraint");
    }
    if (fresh) out_start(c);
}

/* our stream dropped: what may not have arrived goes again on a new one
 * (each stanza on at most three streams), unless the relay is stopping */
static void out_retry(struct conn *c)
{
    struct relay *r = c->r;
    struct s2s *s = c->s2s;
    struct qitem *q = (out_forget(c, 0, 0), s->sent);
    struct conn *k = NULL;
    int fresh = 0, again = 0, lost = 0;
    if (!q) return;
    s->sent = s->sent_tail = NULL;
    s->nsent = 0;
    if (!r->draining && !(k = out_find(r, s->domain)) && (k = out_alloc(r, s->domain))) fresh = 1;
    while (q) {
        struct qitem *next = q->next;
        if (!k && q->end <= c->out_written) {
            q_free(q);                      /* stopping: written is as far as it goes */
        } else if (!k || ++q->tries > 2 || out_put(k, q) < 0) {
            q_bounce(r, q, "remote-server-timeout");
            lost++;
        } else
            again++;
        q = next;
    }
    relay_log(r, "s2s-retry domain=%s again=%d given-up=%d acks=%s", s->domain, again, lost, s->sm ? "yes" : "no");
    if (fresh) out_start(k);
}

/* ---- both -------------------------------------------------------------------- */

void s2s_gone(struct conn *c)
{
    struct s2s *s = c->s2s;
    if (!s) return;
    if (s->out) {
        out_unlink(c);
        if (s->job) s->job->c = NULL;
        db_fail_waiting(c);
        out_retry(c);
        bounce_all(c, "remote-server-timeout");
    }
    free(s);
    c->s2s = NULL;
}

int s2s_init(struct relay *r)
{
    const struct relay_config *cfg = r->cfg;
    char err[512];
    r->remote_send = remote_send;
    if (!cfg->s2s) return 0;
    if (!(r->s2s_seen = malloc(sizeof *r->s2s_seen))) {
        relay_log(r, "fatal: s2s: out of memory");
        return -1;
    }
    memset(r->s2s_seen->head, 0xff, sizeof r->s2s_seen->head);
    r->s2s_seen->at = r->s2s_seen->used = 0;
    if (!cfg->tls_cert) {
        relay_log(r, "fatal: s2s: federation needs tls_cert and tls_key (peers check our domain)");
        return -1;
    }
    if (!(r->s2s_stls = tls_server_new(cfg->tls_cert, cfg->tls_key, cfg->tls_chain, err, sizeof err)) ||
        tls_ctx_ask_peer_cert(r->s2s_stls, cfg->s2s_ca, err, sizeof err) < 0 ||
        !(r->s2s_ctls = tls_client_new(cfg->s2s_ca, 0, err, sizeof err)) ||
        /* with dialback a peer's certificate that does not verify ends no
         * handshake: the stream goes on to dialback (tls_peer_is decides) */
        (cfg->s2s_dialback && tls_ctx_ask_peer_cert(r->s2s_ctls, cfg->s2s_ca, err, sizeof err) < 0) ||
        tls_ctx_show_cert(r->s2s_ctls, cfg->tls_cert, cfg->tls_key, cfg->tls_chain, err, sizeof err) < 0) {
        relay_log(r, "fatal: s2s: %s", err);
        return -1;
    }
    /* the dialback key secret: a file all nodes of the domain share, or one
     * of this run (keys of streams opened before a restart then fail) */
    if (cfg->s2s_dialback_secret) {
        char *sec = NULL;
        size_t n = 0;
        if (read_file(cfg->s2s_dialback_secret, 4096, &sec, &n) < 0 || n < 16) {
            relay_log(r, "fatal: s2s: dialback secret %s: %s", cfg->s2s_dialback_secret,
                      sec ? "fewer than 16 bytes" : strerror(errno));
            if (sec) sc_zero(sec, n);
            free(sec);
            return -1;
        }
        sc_sha256(sec, n, r->db_secret);
        sc_zero(sec, n);
        free(sec);
    } else if (sc_random(r->db_secret, sizeof r->db_secret) < 0) {
        relay_log(r, "fatal: s2s: no random bytes for the dialback secret");
        return -1;
    }
    return 0;
}

void s2s_fini(struct relay *r)
{
    /* streams not yet connections of the relay */
    while (r->s2s_out) {
        struct conn *c = r->s2s_out;
        if (c->fd >= 0) {                   /* a connection: conn_free has it */
            out_unlink(c);
            continue;
        }
        if (c->s2s->job) c->s2s->job->c = NULL;
        out_discard(c, "remote-server-timeout");
    }
    tls_ctx_free(r->s2s_stls);
    tls_ctx_free(r->s2s_ctls);
    sc_zero(r->db_secret, sizeof r->db_secret);
    free(r->s2s_seen);
    r->s2s_seen = NULL;
}
