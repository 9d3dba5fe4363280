/*
 * route.c - simpp-relayd once a stream is authenticated: resource binding
 * (RFC 6120 7), the session table, iq handling (roster, ping, disco, the
 * SIMPP key directory C1/C2), presence and subscriptions (RFC 6121 3, 4),
 * message routing and offline storage (RFC 6121 8.5), the information-flow
 * policy between login levels (paper 004), and XEP-0198 acknowledgements.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay/route.h"
#include "pepkey.h"
#include "util.h"

/* ---- the session table: bound connections by bare JID ------------------------ */

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % SESS_BUCKETS;
}

struct conn *sess_next(struct conn *c, const char *bare)
{
    for (; c; c = c->hnext)
        if (c->bare && strcmp(c->bare, bare) == 0) return c;
    return NULL;
}

struct conn *sess_first(struct relay *r, const char *bare)
{
    return sess_next(r->sess[hash(bare)], bare);
}

#define FOR_SESSIONS(r, bare, c) \
    for (struct conn *c = sess_first(r, bare), *c##_nx; c && ((c##_nx = sess_next(c->hnext, bare)), 1); c = c##_nx)

static void sess_remove(struct conn *c)
{
    for (struct conn **pp = &c->r->sess[hash(c->bare)]; *pp; pp = &(*pp)->hnext)
        if (*pp == c) {
            *pp = c->hnext;
            c->hnext = NULL;
            return;
        }
}

/* ---- helpers -------------------------------------------------------------------- */

static void attr(sbuf *b, const char *name, const char *v)
{
    if (!v) return;
    sb_printf(b, " %s='", name);
    sb_esc(b, v);
    sb_puts(b, "'");
}

static int bare_of(const char *jid, char *bare, size_t cap, struct jid *j)
{
    return jid_parse(jid, j) == 0 && jid_bare(j, bare, cap) == 0 ? 0 : -1;
}

static int is_local_user(struct relay *r, const char *bare)
{
    struct store_user u;
    int e = store_user_get(r->st, bare, &u);
    sc_zero(&u, sizeof u);
    return e == STORE_OK;
}

static int user_level(struct relay *r, const char *bare)
{
    struct store_user u;
    int lv = -1;
    if (store_user_get(r->st, bare, &u) == STORE_OK) lv = u.level;
    sc_zero(&u, sizeof u);
    return lv;
}

/* paper 004: may a writer at level `from` send to a reader at level `to`? */
static int policy_allows(struct relay *r, int from, int to)
{
    switch (r->cfg->policy) {
    case RELAY_POLICY_NO_WRITE_DOWN: return from <= to;
    case RELAY_POLICY_SAME_LEVEL:    return from == to;
    }
    return 1;
}

/* serialise with from/to stamped (RFC 6120 8.1.2.1: the server sets 'from') */
static char *stamp(xs_node *st, const char *from, const char *to, size_t *len)
{
    if (from && xs_setattr(st, "from", from) < 0) return NULL;
    if (to && xs_setattr(st, "to", to) < 0) return NULL;
    return xs_serialize(st, XS_NS_CLIENT, len);
}

static void send_to(struct conn *c, const char *xml, size_t len)
{
    conn_send(c, xml, len);
    c->r->routed++;
}

/* ---- rosters ---------------------------------------------------------------------- */

static const char *sub_name(int sub)
{
    static const char *n[] = { "none", "to", "from", "both" };
    return n[sub & 3];
}

static void roster_item_xml(sbuf *b, const struct store_roster_item *it, int removed)
{
    sb_puts(b, "<item");
    attr(b, "jid", it->contact);
    if (it->name[0]) attr(b, "name", it->name);
    attr(b, "subscription", removed ? "remove" : sub_name(it->sub));
    if (it->ask_out && !removed) sb_puts(b, " ask='subscribe'");
    sb_puts(b, "/>");
}

/* RFC 6121 2.1.6: a roster push to every interested resource */
static void roster_push(struct relay *r, const struct store_roster_item *it, int removed)
{
    FOR_SESSIONS(r, it->owner, s) {
        if (!s->interested || s->state != CS_BOUND) continue;
        sbuf b = { 0 };
        uint8_t id[6];
        char hex[13];
        sc_random(id, sizeof id);
        sc_hex_encode(id, sizeof id, hex);
        sb_puts(&b, "<iq type='set'");
        attr(&b, "to", s->full);
        sb_printf(&b, " id='push%s'><query xmlns='" NS_ROSTER "'>", hex);
        roster_item_xml(&b, it, removed);
        sb_puts(&b, "</query></iq>");
        conn_send_sb(s, &b);
    }
}

static void roster_load(struct relay *r, const char *owner, const char *contact,
                        struct store_roster_item *it)
{
    if (store_roster_get(r->st, owner, contact, it) != STORE_OK) {
        memset(it, 0, sizeof *it);
        snprintf(it->owner, sizeof it->owner, "%s", owner);
        snprintf(it->contact, sizeof it->contact, "%s", contact);
    }
}

/* ---- other domains ---------------------------------------------------------- */

/* the domain of a bare JID is someone else's */
static const char *remote_domain(struct relay *r, const char *bare)
{
    const char *at = strchr(bare, '@'), *d = at ? at + 1 : bare;
    return strcmp(d, r->cfg->domain) != 0 ? d : NULL;
}

int route_domain_level(struct relay *r, const char *domain)
{
    for (size_t i = 0; i < r->cfg->ndlevels; i++)
        if (strcmp(r->cfg->dlevels[i].domain, domain) == 0) return r->cfg->dlevels[i].level;
    return SIMPP_LEVEL_XMPP;                /* the lowest, unless the operator says */
}

static void remote_out(struct relay *r, const char *domain, const char *xml, size_t len, const xs_node *st)
{
    if (r->remote_send) r->remote_send(r, domain, xml, len, st);
    r->routed++;
}

/* a presence stanza held as "<presence ..." sent to a remote bare JID */
static void presence_remote(struct relay *r, const char *from_full, const char *to_bare, const char *xml)
{
    sbuf b = { 0 };
    if (xml && strncmp(xml, "<presence", 9) == 0) {
        sb_puts(&b, "<presence");
        attr(&b, "to", to_bare);
        sb_puts(&b, xml + 9);
    } else {
        sb_puts(&b, "<presence type='unavailable'");
        attr(&b, "from", from_full);
        attr(&b, "to", to_bare);
        sb_puts(&b, "/>");
    }
    if (!b.oom) remote_out(r, remote_domain(r, to_bare), b.p, b.n, NULL);
    sb_free(&b);
}

/* what a stream to another domain could not carry comes back to its local
 * sender as an error (RFC 6120 8.3), from the address it was sent to */
void route_bounce(struct relay *r, const char *name, const char *from, const char *to, const char *id,
                  const char *cond)
{
    char bare[512];
    struct jid j;
    if (!from || bare_of(from, bare, sizeof bare, &j) < 0 || remote_domain(r, bare)) return;
    sbuf b = { 0 };
    sb_printf(&b, "<%s type='error'", name);
    attr(&b, "from", to);
    attr(&b, "to", from);
    attr(&b, "id", id);
    sb_printf(&b, "><error type='%s'><%s xmlns='" NS_STANZAS "'/></error></%s>",
              strcmp(cond, "remote-server-not-found") == 0 ? "cancel" : "wait", cond, name);
    if (!b.oom)
        FOR_SESSIONS(r, bare, s)
            if (s->state == CS_BOUND && (!j.resource[0] || strcmp(s->full, from) == 0)) send_to(s, b.p, b.n);
    sb_free(&b);
}

static int visible(const struct store_roster_item *it)
{
    /* an entry that only records an inbound request is no roster item (RFC 6121 3.1.3) */
    return it->sub || it->ask_out || !it->pending_in || it->name[0];
}

struct list_ctx { sbuf *b; };
static int roster_list_cb(const struct store_roster_item *it, void *ctx)
{
    struct list_ctx *lc = ctx;
    if (visible(it)) roster_item_xml(lc->b, it, 0);
    return 0;
}

static void iq_roster(struct conn *c, xs_node *iq, const char *type, const xs_node *q)
{
    struct relay *r = c->r;
    const char *id = xs_getattr(iq, "id", NULL);
    if (strcmp(type, "get") == 0) {
        sbuf b = { 0 };
        struct list_ctx lc = { &b };
        sb_puts(&b, "<iq type='result'");
        attr(&b, "id", id);
        attr(&b, "to", c->full);
        sb_puts(&b, "><query xmlns='" NS_ROSTER "'>");
        store_roster_list(r->st, c->bare, roster_list_cb, &lc);
        sb_puts(&b, "</query></iq>");
        conn_send_sb(c, &b);
        c->interested = 1;
        return;
    }
    if (strcmp(type, "set") != 0) { conn_stanza_error(c, iq, "modify", "bad-request"); return; }
    const xs_node *item = xs_child(q, "item", NS_ROSTER);
    const char *jid = item ? xs_getattr(item, "jid", NULL) : NULL;
    const char *subs = item ? xs_getattr(item, "subscription", NULL) : NULL;
    const char *name = item ? xs_getattr(item, "name", NULL) : NULL;
    char contact[512];
    struct jid j;
    struct store_roster_item it;
    if (!jid || bare_of(jid, contact, sizeof contact, &j) < 0) { conn_stanza_error(c, iq, "modify", "bad-request"); return; }
    roster_load(r, c->bare, contact, &it);
    if (subs && strcmp(subs, "remove") == 0) {
        store_roster_del(r->st, c->bare, contact);
        roster_push(r, &it, 1);
    } else {
        snprintf(it.name, sizeof it.name, "%s", name ? name : "");
        if (store_roster_put(r->st, &it) != STORE_OK) { conn_stanza_error(c, iq, "wait", "internal-server-error"); return; }
        roster_push(r, &it, 0);
    }
    sbuf b = { 0 };
    sb_puts(&b, "<iq type='result'");
    attr(&b, "id", id);
    sb_puts(&b, "/>");
    conn_send_sb(c, &b);
}

/* ---- presence ---------------------------------------------------------------------- */

/* send c's current presence (or unavailable) to every resource of `to` */
static void presence_to(struct conn *c, const char *to_bare, const char *xml_or_null)
{
    struct relay *r = c->r;
    if (remote_domain(r, to_bare)) {
        if (c->kind != K_REMOTE) presence_remote(r, c->full, to_bare, xml_or_null);
        return;
    }
    FOR_SESSIONS(r, to_bare, s) {
        if (s->state != CS_BOUND || !s->available) continue;
        sbuf b = { 0 };
        if (xml_or_null) {
            /* re-address the stored presence to this resource */
            sb_puts(&b, xml_or_null);
        } else {
            sb_puts(&b, "<presence type='unavailable'");
            attr(&b, "from", c->full);
            attr(&b, "to", s->full);
            sb_puts(&b, "/>");
        }
        conn_send_sb(s, &b);
        r->routed++;
    }
}

struct bcast_ctx { struct conn *c; const char *xml; int probe; };
static int bcast_cb(const struct store_roster_item *it, void *ctx)
{
    struct bcast_ctx *bc = ctx;
    struct relay *r = bc->c->r;
    if (bc->probe) {
        /* a probe, answered by the server: the contact's resources' presence */
        if (!(it->sub & STORE_SUB_TO)) return 0;
        if (remote_domain(r, it->contact)) {        /* their server answers it */
            sbuf b = { 0 };
            sb_puts(&b, "<presence type='probe'");
            attr(&b, "from", bc->c->bare);
            attr(&b, "to", it->contact);
            sb_puts(&b, "/>");
            if (!b.oom) remote_out(r, remote_domain(r, it->contact), b.p, b.n, NULL);
            sb_free(&b);
            return 0;
        }
        FOR_SESSIONS(r, it->contact, s)
            if (s->state == CS_BOUND && s->available && s->presence)
                conn_send(bc->c, s->presence, strlen(s->presence));
        return 0;
    }
    if (it->sub & STORE_SUB_FROM) presence_to(bc->c, it->contact, bc->xml);
    return 0;
}

struct offline_ctx { struct conn *c; int n; };
static int offline_cb(int64_t id, const char *from, const char *stanza, size_t len, int64_t stamp,
                      void *ctx)
{
    struct offline_ctx *oc = ctx;
    (void)from; (void)stamp;
    /* deliver, then delete: the row goes only once the stanza has been
     * written to the socket */
    conn_send(oc->c, stanza, len);
    if (oc->c->state == CS_CLOSING) return 1;
    conn_delete_after_write(oc->c, id);
    oc->n++;
    return 0;
}

static int pending_cb(const struct store_roster_item *it, void *ctx)
{
    struct conn *c = ctx;
    if (!it->pending_in) return 0;
    sbuf b = { 0 };
    sb_puts(&b, "<presence type='subscribe'");
    attr(&b, "from", it->contact);
    attr(&b, "to", c->bare);
    sb_puts(&b, "/>");
    conn_send_sb(c, &b);
    return 0;
}

static void broadcast(struct conn *c, xs_node *p, int unavailable)
{
    struct relay *r = c->r;
    size_t len;
    char *xml = stamp(p, c->full, NULL, &len), *fit;
    if (!xml) return;
    /* kept as c->presence while the session lasts: no more than it takes */
    if (!unavailable && (fit = realloc(xml, len + 1))) xml = fit;
    struct bcast_ctx bc = { c, unavailable ? NULL : xml, 0 };
    int initial = !c->available && !unavailable;
    if (unavailable) {
        c->available = 0;
        free(c->presence);
        c->presence = NULL;
    } else {
        free(c->presence);
        c->presence = xml;
        c->available = 1;
        xml = NULL;
    }
    store_roster_list(r->st, c->bare, bcast_cb, &bc);
    /* the user's other resources see it too (RFC 6121 4.2.2) */
    FOR_SESSIONS(r, c->bare, s)
        if (s != c && s->state == CS_BOUND && s->available) {
            if (unavailable) presence_to(c, c->bare, NULL);
            else conn_send(s, c->presence, strlen(c->presence));
            break;
        }
    free(xml);
    if (initial) {
        struct offline_ctx oc = { c, 0 };
        bc.probe = 1;
        store_roster_list(r->st, c->bare, bcast_cb, &bc);
        FOR_SESSIONS(r, c->bare, s)
            if (s != c && s->state == CS_BOUND && s->available && s->presence)
                conn_send(c, s->presence, strlen(s->presence));
        store_roster_list(r->st, c->bare, pending_cb, c);
        /* offline messages at the first available presence (RFC 6121 8.5.2.1) */
        store_offline_fetch(r->st, c->bare, offline_cb, &oc);
        if (oc.n && r->cfg->verbose) relay_log(r, "offline-delivered jid=%s count=%d", c->full, oc.n);
    }
}

/* deliver a subscription stanza to the contact's resources (or keep it) */
static void sub_deliver(struct conn *c, const char *type, const char *contact)
{
    struct relay *r = c->r;
    FOR_SESSIONS(r, contact, s) {
        if (s->state != CS_BOUND || !s->available) continue;
        sbuf b = { 0 };
        sb_printf(&b, "<presence type='%s'", type);
        attr(&b, "from", c->bare);
        attr(&b, "to", contact);
        sb_puts(&b, "/>");
        conn_send_sb(s, &b);
    }
}

/* our user's side of a subscription with someone of another domain (RFC
 * 6121 3): the roster changes here, the stanza goes to their server */
static void sub_out_remote(struct conn *c, const char *type, const char *contact)
{
    struct relay *r = c->r;
    struct store_roster_item mine;
    roster_load(r, c->bare, contact, &mine);
    int push = 1, presence = 0, gone = 0;
    if (strcmp(type, "subscribe") == 0) {
        if (mine.sub & STORE_SUB_TO) push = 0;
        else mine.ask_out = 1;
    } else if (strcmp(type, "subscribed") == 0) {
        if (!mine.pending_in && (mine.sub & STORE_SUB_FROM)) return;
        mine.pending_in = 0;
        mine.sub |= STORE_SUB_FROM;
        presence = 1;
    } else if (strcmp(type, "unsubscribe") == 0) {
        mine.ask_out = 0;
        mine.sub &= ~STORE_SUB_TO;
    } else {                                    /* unsubscribed */
        gone = (mine.sub & STORE_SUB_FROM) != 0;
        mine.pending_in = 0;
        mine.sub &= ~STORE_SUB_FROM;
    }
    if (push) {
        store_roster_put(r->st, &mine);
        roster_push(r, &mine, 0);
    }
    sbuf b = { 0 };
    sb_printf(&b, "<presence type='%s'", type);
    attr(&b, "from", c->bare);
    attr(&b, "to", contact);
    sb_puts(&b, "/>");
    if (!b.oom) remote_out(r, remote_domain(r, contact), b.p, b.n, NULL);
    sb_free(&b);
    /* the new subscriber sees us now; a cancelled one sees us leave */
    FOR_SESSIONS(r, c->bare, s)
        if (s->state == CS_BOUND && s->available) {
            if (presence && s->presence) presence_remote(r, s->full, contact, s->presence);
            if (gone) presence_remote(r, s->full, contact, NULL);
        }
}

/* their side: a subscription stanza from another domain's user to ours */
static void sub_in_remote(struct conn *c, const char *type, const char *user)
{
    struct relay *r = c->r;
    struct store_roster_item it;
    roster_load(r, user, c->bare, &it);
    if (strcmp(type, "subscribe") == 0) {
        if (it.sub & STORE_SUB_FROM) {          /* already approved: answer at once */
            sbuf b = { 0 };
            sb_puts(&b, "<presence type='subscribed'");
            attr(&b, "from", user);
            attr(&b, "to", c->bare);
            sb_puts(&b, "/>");
            conn_send_sb(c, &b);
            return;
        }
        it.pending_in = 1;
        store_roster_put(r->st, &it);
    } else if (strcmp(type, "subscribed") == 0) {
        if (!it.ask_out) return;                /* nothing asked: ignore */
        it.ask_out = 0;
        it.sub |= STORE_SUB_TO;
        store_roster_put(r->st, &it);
        roster_push(r, &it, 0);
    } else if (strcmp(type, "unsubscribe") == 0) {
        if (!(it.sub & STORE_SUB_FROM) && !it.pending_in) return;
        it.sub &= ~STORE_SUB_FROM;
        it.pending_in = 0;
        store_roster_put(r->st, &it);
        roster_push(r, &it, 0);
    } else {                                    /* unsubscribed */
        if (!(it.sub & STORE_SUB_TO) && !it.ask_out) return;
        it.sub &= ~STORE_SUB_TO;
        it.ask_out = 0;
        store_roster_put(r->st, &it);
        roster_push(r, &it, 0);
    }
    sub_deliver(c, type, user);
}

static void handle_subscription(struct conn *c, xs_node *p, const char *type, const char *contact)
{
    struct relay *r = c->r;
    struct store_roster_item mine, theirs;
    if (remote_domain(r, contact) && r->cfg->s2s) {
        sub_out_remote(c, type, contact);
        return;
    }
    if (!is_local_user(r, contact)) {
        /* RFC 6121 3.1.3: no such contact; answer as it would */
        if (strcmp(type, "subscribe") == 0) {
            sbuf b = { 0 };
            sb_puts(&b, "<presence type='unsubscribed'");
            attr(&b, "from", contact);
            attr(&b, "to", c->bare);
            sb_puts(&b, "/>");
            conn_send_sb(c, &b);
        }
        return;
    }
    (void)p;
    roster_load(r, c->bare, contact, &mine);
    roster_load(r, contact, c->bare, &theirs);
    if (strcmp(type, "subscribe") == 0) {
        if (theirs.sub & STORE_SUB_FROM) {      /* already approved: answer at once */
            sbuf b = { 0 };
            sb_puts(&b, "<presence type='subscribed'");
            attr(&b, "from", contact);
            attr(&b, "to", c->bare);
            sb_puts(&b, "/>");
            conn_send_sb(c, &b);
            return;
        }
        mine.ask_out = 1;
        theirs.pending_in = 1;
        store_roster_put(r->st, &mine);
        store_roster_put(r->st, &theirs);
        roster_push(r, &mine, 0);
        sub_deliver(c, "subscribe", contact);
    } else if (strcmp(type, "subscribed") == 0) {
        if (!mine.pending_in && !theirs.ask_out) return;   /* nothing asked: ignore */
        mine.pending_in = 0;
        mine.sub |= STORE_SUB_FROM;
        theirs.ask_out = 0;
        theirs.sub |= STORE_SUB_TO;
        store_roster_put(r->st, &mine);
        store_roster_put(r->st, &theirs);
        roster_push(r, &mine, 0);
        roster_push(r, &theirs, 0);
        sub_deliver(c, "subscribed", contact);
        /* the new subscriber gets our current presence */
        FOR_SESSIONS(r, c->bare, s)
            if (s->state == CS_BOUND && s->available && s->presence) {
                FOR_SESSIONS(r, contact, t)
                    if (t->state == CS_BOUND && t->available) conn_send(t, s->presence, strlen(s->presence));
            }
    } else if (strcmp(type, "unsubscribed") == 0) {   /* deny, or cancel theirs */
        int had = (mine.sub & STORE_SUB_FROM) || mine.pending_in || theirs.ask_out;
        mine.pending_in = 0;
        mine.sub &= ~STORE_SUB_FROM;
        theirs.ask_out = 0;
        theirs.sub &= ~STORE_SUB_TO;
        store_roster_put(r->st, &mine);
        store_roster_put(r->st, &theirs);
        if (!had) return;
        roster_push(r, &mine, 0);
        roster_push(r, &theirs, 0);
        sub_deliver(c, "unsubscribed", contact);
        FOR_SESSIONS(r, c->bare, s)
            if (s->state == CS_BOUND && s->available) presence_to(s, contact, NULL);
    } else if (strcmp(type, "unsubscribe") == 0) {    /* stop receiving theirs */
        int had = (mine.sub & STORE_SUB_TO) || mine.ask_out;
        mine.ask_out = 0;
        mine.sub &= ~STORE_SUB_TO;
        theirs.sub &= ~STORE_SUB_FROM;
        theirs.pending_in = 0;
        store_roster_put(r->st, &mine);
        store_roster_put(r->st, &theirs);
        if (!had) return;
        roster_push(r, &mine, 0);
        roster_push(r, &theirs, 0);
        sub_deliver(c, "unsubscribe", contact);
    }
}

static void handle_presence(struct conn *c, xs_node *p)
{
    const char *type = xs_getattr(p, "type", NULL), *to = xs_getattr(p, "to", NULL);
    char bare[512];
    struct jid j;
    if (!to) {
        if (!type) broadcast(c, p, 0);
        else if (strcmp(type, "unavailable") == 0 && c->available) broadcast(c, p, 1);
        return;
    }
    if (bare_of(to, bare, sizeof bare, &j) < 0) { conn_stanza_error(c, p, "modify", "jid-malformed"); return; }
    if (type && (strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
                 strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0)) {
        if (strcmp(j.domain, c->r->cfg->domain) != 0 && !c->r->cfg->s2s) {
            conn_stanza_error(c, p, "cancel", "remote-server-not-found");
            return;
        }
        handle_subscription(c, p, type, bare);
        return;
    }
    if (type && strcmp(type, "probe") == 0) return;      /* the server probes, not clients */
    /* directed presence */
    size_t len;
    char *xml = stamp(p, c->full, remote_domain(c->r, bare) ? to : NULL, &len);
    if (!xml) return;
    if (remote_domain(c->r, bare)) {
        remote_out(c->r, j.domain, xml, len, p);
        free(xml);
        return;
    }
    FOR_SESSIONS(c->r, bare, s)
        if (s->state == CS_BOUND && (!j.resource[0] || strcmp(s->full, to) == 0)) send_to(s, xml, len);
    free(xml);
}

/* ---- messages ------------------------------------------------------------------------- */

/* into the offline store, with an XEP-0203 stamp of when the relay took it
 * (inserted before the closing tag); the row id or a negative STORE_* */
static int64_t offline_add(struct relay *r, const char *bare, const char *from, const char *xml, size_t len)
{
    sbuf b = { 0 };
    const char *close = len ? memrchr(xml, '<', len) : NULL;
    char ts[32];
    time_t now = time(NULL);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (close && close > xml && close[1] == '/') {
        sb_put(&b, xml, (size_t)(close - xml));
        sb_printf(&b, "<delay xmlns='" NS_DELAY "' from='%s' stamp='%s'/>", r->cfg->domain, ts);
        sb_put(&b, close, len - (size_t)(close - xml));
    } else
        sb_put(&b, xml, len);
    int64_t id = b.oom ? -1 : store_offline_add(r->st, bare, from, b.p, b.n, (int64_t)now);
    sb_free(&b);
    return id;
}

static void store_offline(struct conn *c, xs_node *m, const char *bare, const char *xml, size_t len)
{
    struct relay *r = c->r;
    const char *type = xs_getattr(m, "type", NULL);
    /* RFC 6121 8.5.2.2: only normal and chat messages are kept */
    if (type && strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0) {
        if (strcmp(type, "error") != 0) conn_stanza_error(c, m, "cancel", "service-unavailable");
        return;
    }
    /* XEP-0334: a sender that asks for no storage learns the peer is away
     * (SIMPP session frames are useless to a later process) */
    if (xs_child(m, "no-store", "urn:xmpp:hints")) {
        conn_stanza_error(c, m, "wait", "recipient-unavailable");
        return;
    }
    if (store_offline_count(r->st, bare) >= r->cfg->offline_quota) {
        relay_log(r, "offline-refused to=%s reason=quota", bare);
        conn_stanza_error(c, m, "wait", "resource-constraint");
        return;
    }
    int64_t id = offline_add(r, bare, c->full, xml, len);
    if (id < 0) {
        relay_log(r, "offline-refused to=%s reason=%s", bare, store_errmsg(r->st));
        conn_stanza_error(c, m, "wait", id == STORE_FULL ? "resource-constraint" : "internal-server-error");
        return;
    }
    r->stored++;
}

/* XEP-0280: a copy of a chat message (xml, as delivered) for another
 * resource of the same account that asked for copies; kind is "sent" (the
 * account wrote it) or "received" (it went to one resource of the account) */
static void carbon(struct conn *to, const char *kind, const char *xml, size_t len)
{
    sbuf b = { 0 };
    sb_puts(&b, "<message type='chat'");
    attr(&b, "from", to->bare);
    attr(&b, "to", to->full);
    sb_printf(&b, "><%s xmlns='" NS_CARBONS "'><forwarded xmlns='" NS_FORWARD "'>", kind);
    /* the forwarded message keeps its own namespace */
    if (len > 8 && strncmp(xml, "<message", 8) == 0) {
        sb_puts(&b, "<message xmlns='" XS_NS_CLIENT "'");
        sb_put(&b, xml + 8, len - 8);
    } else
        sb_put(&b, xml, len);
    sb_printf(&b, "</forwarded></%s></message>", kind);
    if (!b.oom) send_to(to, b.p, b.n);
    sb_free(&b);
}

static int wants_carbons(const xs_node *m)
{
    const char *type = xs_getattr(m, "type", NULL);
    return type && strcmp(type, "chat") == 0 && !xs_child(m, "private", NS_CARBONS) &&
           !xs_child(m, "no-copy", "urn:xmpp:hints") && !xs_child(m, "received", NS_CARBONS) &&
           !xs_child(m, "sent", NS_CARBONS);
}

static void route_message(struct conn *c, xs_node *m)
{
    struct relay *r = c->r;
    const char *to = xs_getattr(m, "to", NULL);
    char bare[512];
    struct jid j;
    size_t len;
    if (!to) to = c->bare;
    if (bare_of(to, bare, sizeof bare, &j) < 0) { conn_stanza_error(c, m, "modify", "jid-malformed"); return; }
    if (strcmp(j.domain, r->cfg->domain) != 0) {
        /* another domain's user: over federation, judged by the level the
         * operator gives that domain (the lowest unless said otherwise) */
        int rl = route_domain_level(r, j.domain);
        if (c->kind == K_REMOTE || !r->cfg->s2s) {      /* never a relay between two others */
            conn_stanza_error(c, m, "cancel", "remote-server-not-found");
            return;
        }
        if (!policy_allows(r, c->level, rl)) {
            relay_log(r, "policy-refused from=%s level=%s to=%s level=%s", c->full, simpp_level_name(c->level),
                      bare, simpp_level_name(rl));
            conn_stanza_error(c, m, "auth", "forbidden");
            return;
        }
        char *xml = stamp(m, c->full, to, &len);
        if (!xml) { conn_stanza_error(c, m, "wait", "internal-server-error"); return; }
        remote_out(r, j.domain, xml, len, m);
        if (wants_carbons(m))
            FOR_SESSIONS(r, c->bare, s)
                if (s != c && s->carbons && s->state == CS_BOUND && policy_allows(r, c->level, s->level))
                    carbon(s, "sent", xml, len);
        free(xml);
        return;
    }
    if (!j.local[0]) { conn_stanza_error(c, m, "cancel", "service-unavailable"); return; }
    /* a bound session proves the account exists and carries its level: the
     * store is asked only when nobody is there (this is the hot path) */
    int ul = -1;
    if (!sess_first(r, bare) && (ul = user_level(r, bare)) < 0) {
        conn_stanza_error(c, m, "cancel", "service-unavailable");
        return;
    }
    char *xml = stamp(m, c->full, to, &len);
    if (!xml) { conn_stanza_error(c, m, "wait", "internal-server-error"); return; }
    /* the policy is judged per receiving session: each has its own level */
    int sent = 0, refused = 0, rl = -1;
#define DELIVER(s) do { if (policy_allows(r, c->level, (s)->level)) { send_to((s), xml, len); sent = 1; } \
                        else { refused = 1; rl = (s)->level; } } while (0)
    if (j.resource[0])                       /* a full JID: that resource if it is there */
        FOR_SESSIONS(r, bare, s)
            if (s->state == CS_BOUND && strcmp(s->full, to) == 0) DELIVER(s);
    if (!sent && !refused)                   /* else every available resource (RFC 6121 8.5.2.1.1) */
        FOR_SESSIONS(r, bare, s)
            if (s->state == CS_BOUND && s->available) DELIVER(s);
#undef DELIVER
    if (wants_carbons(m)) {
        /* to the sender's other resources; and, when one resource of the
         * recipient got it, to the recipient's others; each judged by the
         * policy as a delivery of its own */
        FOR_SESSIONS(r, c->bare, s)
            if (s != c && s->carbons && s->state == CS_BOUND && policy_allows(r, c->level, s->level))
                carbon(s, "sent", xml, len);
        if (sent && j.resource[0] && strcmp(bare, c->bare) != 0)
            FOR_SESSIONS(r, bare, s)
                if (s->carbons && s->state == CS_BOUND && strcmp(s->full, to) != 0 &&
                    policy_allows(r, c->level, s->level))
                    carbon(s, "received", xml, len);
    }
    if (!sent && !refused) {                 /* offline: the level it registered with */
        if (ul < 0) ul = user_level(r, bare);
        if (ul < 0) conn_stanza_error(c, m, "cancel", "service-unavailable");
        else if (policy_allows(r, c->level, ul)) store_offline(c, m, bare, xml, len);
        else { refused = 1; rl = ul; }
    }
    if (!sent && refused) {
        relay_log(r, "policy-refused from=%s level=%s to=%s level=%s", c->full,
                  simpp_level_name(c->level), bare, simpp_level_name(rl));
        conn_stanza_error(c, m, "auth", "forbidden");
    }
    free(xml);
}

/* ---- iq ------------------------------------------------------------------------------- */

/* The server's answer: from whom the request was addressed to (the domain,
 * or the account's bare JID), which clients match answers by (RFC 6120
 * 8.1.2.1); a request with no 'to' was for the account itself. */
static void iq_result(struct conn *c, const xs_node *iq, const char *payload)
{
    const char *to = xs_getattr(iq, "to", NULL);
    char bare[512];
    struct jid j;
    sbuf b = { 0 };
    sb_puts(&b, "<iq type='result'");
    attr(&b, "id", xs_getattr(iq, "id", NULL));
    if (to && bare_of(to, bare, sizeof bare, &j) == 0) attr(&b, "from", bare);
    attr(&b, "to", c->full);
    if (payload) {
        sb_puts(&b, ">");
        sb_puts(&b, payload);
        sb_puts(&b, "</iq>");
    } else
        sb_puts(&b, "/>");
    conn_send_sb(c, &b);
}

/* the card certificate chain a user registered with, inside the key item:
 * <certs><cert>DER in base64</cert>...</certs> (the peer checks it against
 * its own CAs; the relay's word is only the level) */
static void pubkey_certs(struct relay *r, const char *bare, sbuf *b)
{
    struct store_cert *sc = malloc(sizeof *sc);
    if (sc && store_cert_get(r->st, bare, sc) == STORE_OK) {
        sb_puts(b, "<certs xmlns='" SIMPP_NS "'>");
        for (size_t o = 0; o + 2 <= sc->chainlen;) {
            size_t l = (size_t)sc->chain[o] << 8 | sc->chain[o + 1], bl = 4 * ((l + 2) / 3) + 1;
            char *e = o + 2 + l <= sc->chainlen ? malloc(bl) : NULL;
            if (!e) break;
            if (sc_b64_encode(sc->chain + o + 2, l, e, &bl) == 0) sb_printf(b, "<cert>%s</cert>", e);
            free(e);
            o += 2 + l;
        }
        sb_puts(b, "</certs>");
    }
    free(sc);
}

/* C1/C2: a user's public key KU from the relay's directory, over the
 * authenticated channel; clients pin it (doc/PROTOCOL.md) */
static void iq_pubkey(struct conn *c, xs_node *iq, const xs_node *q)
{
    const char *jid = xs_getattr(q, "jid", NULL);
    char bare[512], key[2 * SC_MAX_PUB];
    size_t kl = sizeof key;
    struct jid j;
    struct store_user u;
    if (!jid || bare_of(jid, bare, sizeof bare, &j) < 0) { conn_stanza_error(c, iq, "modify", "jid-malformed"); return; }
    if (remote_domain(c->r, bare) && c->kind != K_REMOTE && c->r->cfg->s2s) {
        /* another domain's user: that domain's server answers for them (the
         * answer comes back to this session; the client pins what it gets) */
        size_t len;
        char *xml = stamp(iq, c->full, j.domain, &len);
        if (xml) remote_out(c->r, j.domain, xml, len, iq);
        free(xml);
        return;
    }
    if (store_user_get(c->r->st, bare, &u) != STORE_OK || u.publen == 0) {
        sc_zero(&u, sizeof u);
        conn_stanza_error(c, iq, "cancel", "item-not-found");
        return;
    }
    sc_b64_encode(u.pub, u.publen, key, &kl);
    sbuf b = { 0 };
    sb_puts(&b, "<pubkey xmlns='" SIMPP_NS "'");
    attr(&b, "jid", bare);
    sb_printf(&b, " curve='%s' level='%s'>%s</pubkey>", sc_curve_name(u.curve) ? sc_curve_name(u.curve) : "",
              simpp_level_name(u.level), key);
    sc_zero(&u, sizeof u);
    iq_result(c, iq, sb_str(&b));
    sb_free(&b);
}

/* The owner's signature of its directory key, kept by pep_key_publish in
 * the store's settings as "pepkey:JID" = "hex(KU) time hex(sig)": the
 * signed <key/> when one is kept for the key the directory has now, else
 * the unsigned one.  malloc'd, NULL on failure. */
static char *pep_key_item(struct relay *r, const struct store_user *u, const char *bare)
{
    char mk[STORE_META_MAX], val[STORE_META_MAX], hex[2 * STORE_PUB_MAX + 1], *sp, *end = NULL;
    uint8_t sig[2 * 66];
    size_t sl = 0;
    long long when = -1;
    const char *level = simpp_level_name(u->level);
    snprintf(mk, sizeof mk, "pepkey:%s", bare);
    if (u->publen <= STORE_PUB_MAX && store_meta_get(r->st, mk, val, sizeof val) == STORE_OK &&
        (sp = strchr(val, ' ')) != NULL) {
        *sp++ = '\0';
        sc_hex_encode(u->pub, u->publen, hex);
        when = strtoll(sp, &end, 10);
        if (strcmp(val, hex) || !end || *end != ' ' || when < 0) when = -1;
        else {
            size_t hl = strlen(end + 1);
            sl = sizeof sig;
            if (hl == 0 || hl > 2 * sizeof sig || sc_hex_decode(end + 1, hl, sig, &sl) < 0) when = -1;
        }
    }
    if (when < 0) return pk_item_unsigned(u->curve, u->pub, u->publen, bare, level);
    return pk_item_kept(u->curve, u->pub, u->publen, bare, level, (int64_t)when, sig, sl);
}

/* A user of this relay publishing its key item signed (lib/pepkey.h), as
 * on any server, for the users of other servers: they have no SIMPP
 * channel to this relay, so its word on the key is nothing to them; the
 * owner's signature is.  Kept when it verifies and is for the key the
 * directory has for the account; publish options (the access model) do
 * not apply: the directory answers everyone.  1 when the iq was such a
 * publish. */
static int pep_key_publish(struct conn *c, xs_node *iq, const xs_node *q)
{
    const xs_node *pub = xs_child(q, "publish", NS_PUBSUB);
    const char *node = pub ? xs_getattr(pub, "node", NULL) : NULL;
    if (!node || strcmp(node, PK_NODE) || strcmp(q->name, "pubsub") || !q->ns || strcmp(q->ns, NS_PUBSUB)) return 0;
    struct relay *r = c->r;
    if (c->state != CS_BOUND || c->kind != K_C2S || !c->bare) { conn_stanza_error(c, iq, "auth", "forbidden"); return 1; }
    const xs_node *key = xs_child(xs_child(pub, "item", NS_PUBSUB), "key", SIMPP_NS);
    char why[300] = "no key item", mk[STORE_META_MAX], val[STORE_META_MAX];
    uint8_t kp[SC_MAX_PUB], sig[2 * 66];
    size_t kl = sizeof kp, sl = sizeof sig;
    int64_t when = 0;
    struct store_user u;
    int have = store_user_get(r->st, c->bare, &u) == STORE_OK;
    sc_key *k = key ? pk_item_check(key, c->bare, 1, &when, why, sizeof why) : NULL;
    int ok = k && have && sc_key_public(k, kp, &kl) == 0 && pk_item_sig(key, sig, &sl) == 0;
    if (ok && (sc_key_curve(k) != u.curve || kl != u.publen || !sc_ct_eq(kp, u.pub, kl))) {
        snprintf(why, sizeof why, "not the key of the directory");
        ok = 0;
    }
    sc_key_free(k);
    if (have) sc_zero(&u, sizeof u);
    if (ok) {
        char hk[2 * SC_MAX_PUB + 1], hs[2 * sizeof sig + 1];
        sc_hex_encode(kp, kl, hk);
        sc_hex_encode(sig, sl, hs);
        snprintf(mk, sizeof mk, "pepkey:%s", c->bare);
        snprintf(val, sizeof val, "%s %lld %s", hk, (long long)when, hs);
        if (store_meta_set(r->st, mk, val) != STORE_OK) {
            relay_log(r, "pepkey-failed addr=%s jid=%s reason=%s", c->addr, c->bare, store_errmsg(r->st));
            conn_stanza_error(c, iq, "wait", "internal-server-error");
            return 1;
        }
        relay_log(r, "pepkey addr=%s jid=%s time=%lld", c->addr, c->bare, (long long)when);
        iq_result(c, iq, NULL);
    } else {
        relay_log(r, "pepkey-refused addr=%s jid=%s reason=%s", c->addr, c->bare, why);
        conn_stanza_error(c, iq, "modify", "not-acceptable");
    }
    return 1;
}

/* The same directory as PEP (XEP-0163) shows it, so that clients have one
 * way to find keys on any server: the items of node urn:simpp:1:key of a
 * bare JID, the <key/> unsigned (lib/pepkey.h; the SIMPP channel
 * authenticates it), or signed by its owner (pep_key_item).  1 when the
 * iq was such a request and is answered. */
static int pep_key_request(struct conn *c, xs_node *iq, const xs_node *q, const char *bare)
{
    const xs_node *items = xs_child(q, "items", NS_PUBSUB);
    const char *node = items ? xs_getattr(items, "node", NULL) : NULL;
    struct store_user u;
    if (!node || strcmp(q->name, "pubsub") || !q->ns || strcmp(q->ns, NS_PUBSUB)) return 0;
    /* a bound session, or another domain's server asking for its user
     * (the answer goes back over the federation, as iq_pubkey's) */
    if (c->state != CS_BOUND && c->kind != K_REMOTE) { conn_stanza_error(c, iq, "wait", "not-authorized"); return 1; }
    if (strcmp(node, PK_NODE) || store_user_get(c->r->st, bare, &u) != STORE_OK || u.publen == 0) {
        if (!strcmp(node, PK_NODE)) sc_zero(&u, sizeof u);
        conn_stanza_error(c, iq, "cancel", "item-not-found");
        return 1;
    }
    char *key = pep_key_item(c->r, &u, bare);
    sc_zero(&u, sizeof u);
    sbuf b = { 0 };
    size_t kl = key ? strlen(key) : 0;
    sb_puts(&b, "<pubsub xmlns='" NS_PUBSUB "'><items node='" PK_NODE "'><item id='current'>");
    /* the card certificate on record goes inside the key, before </key> */
    if (kl > 6 && !strcmp(key + kl - 6, "</key>")) {
        sb_put(&b, key, kl - 6);
        pubkey_certs(c->r, bare, &b);
        sb_puts(&b, "</key>");
    }
    sb_puts(&b, "</item></items></pubsub>");
    if (key) iq_result(c, iq, sb_str(&b));
    else conn_stanza_error(c, iq, "wait", "internal-server-error");
    free(key);
    sb_free(&b);
    return 1;
}

static void iq_bind(struct conn *c, xs_node *iq, const xs_node *bind)
{
    struct relay *r = c->r;
    const xs_node *res = xs_child(bind, "resource", NS_BIND);
    const char *want = res ? xs_text(res) : "";
    char full[800], rnd[17];
    uint8_t b8[8];
    struct jid j;
    if (c->state == CS_BOUND) { conn_stanza_error(c, iq, "cancel", "not-allowed"); return; }
    if (!*want) {
        sc_random(b8, sizeof b8);
        sc_hex_encode(b8, sizeof b8, rnd);
        want = rnd;
    }
    snprintf(full, sizeof full, "%s/%s", c->bare, want);
    if (jid_parse(full, &j) < 0) { conn_stanza_error(c, iq, "modify", "bad-request"); return; }
    /* RFC 6120 7.7.2.2: the new session wins, the old one gets <conflict/> */
    FOR_SESSIONS(r, c->bare, s)
        if (s->full && strcmp(s->full, full) == 0) {
            conn_stream_error(s, "conflict", "replaced by a new session");
            route_gone(s);
        }
    free(c->full);
    c->full = strdup(full);
    c->state = CS_BOUND;
    route_bound(c);
    sbuf b = { 0 };
    sb_puts(&b, "<bind xmlns='" NS_BIND "'><jid>");
    sb_esc(&b, full);
    sb_puts(&b, "</jid></bind>");
    iq_result(c, iq, sb_str(&b));
    sb_free(&b);
    relay_log(r, "bound addr=%s jid=%s level=%s", c->addr, full, simpp_level_name(c->level));
}

/* XEP-0030 disco#info: the server (or, to the account's bare JID, the
 * account) and what it supports; a node it does not have is not there */
static void iq_disco_info(struct conn *c, const xs_node *iq, const xs_node *q, int account)
{
    if (xs_getattr(q, "node", NULL)) {
        conn_stanza_error(c, iq, "cancel", "item-not-found");
        return;
    }
    if (account)
        iq_result(c, iq, "<query xmlns='" NS_DISCO "'><identity category='account' type='registered'/>"
                         "<feature var='" NS_DISCO "'/></query>");
    else
        iq_result(c, iq, "<query xmlns='" NS_DISCO "'><identity category='server' type='im' name='simpp-relayd'/>"
                         "<feature var='" NS_DISCO "'/><feature var='" NS_DISCO_ITEMS "'/>"
                         "<feature var='" NS_PING "'/><feature var='" NS_SM "'/><feature var='" NS_VERSION "'/>"
                         "<feature var='" NS_CARBONS "'/>"
                         "<feature var='" SIMPP_NS "'/><feature var='" NS_ROSTER "'/></query>");
}

static void handle_iq(struct conn *c, xs_node *iq)
{
    struct relay *r = c->r;
    const char *type = xs_getattr(iq, "type", NULL), *to = xs_getattr(iq, "to", NULL);
    const xs_node *q = NULL;
    for (const xs_node *k = iq->children; k; k = k->next)
        if (k->name) { q = k; break; }
    if (!type || (strcmp(type, "get") && strcmp(type, "set") && strcmp(type, "result") && strcmp(type, "error"))) {
        conn_stanza_error(c, iq, "modify", "bad-request");
        return;
    }
    int request = !strcmp(type, "get") || !strcmp(type, "set");
    char bare[512];
    struct jid j;
    if (to && bare_of(to, bare, sizeof bare, &j) < 0) { conn_stanza_error(c, iq, "modify", "jid-malformed"); return; }
    int for_server = !to || strcmp(to, r->cfg->domain) == 0 || (!j.resource[0] && c->bare && strcmp(bare, c->bare) == 0);
    if (!for_server && strcmp(j.domain, r->cfg->domain) != 0) {
        /* to another domain: over federation (never between two others) */
        size_t len;
        char *xml;
        if (c->kind == K_REMOTE || !r->cfg->s2s) {
            if (request) conn_stanza_error(c, iq, "cancel", "remote-server-not-found");
            return;
        }
        if ((xml = stamp(iq, c->full, to, &len))) remote_out(r, j.domain, xml, len, iq);
        free(xml);
        return;
    }
    /* PEP of an account (its bare JID, or our own): the key directory */
    if (q && !strcmp(type, "get") && (!to || (!j.resource[0] && j.local[0])) &&
        pep_key_request(c, iq, q, to ? bare : (c->bare ? c->bare : "")))
        return;
    if (q && !strcmp(type, "set") && (!to || (c->bare && !strcmp(bare, c->bare))) && pep_key_publish(c, iq, q))
        return;
    if (!for_server) {
        /* iq between users: to a full JID that is online */
        size_t len;
        char *xml = NULL;
        int sent = 0;
        if (j.resource[0] && (xml = stamp(iq, c->full, to, &len)))
            FOR_SESSIONS(r, bare, s)
                if (s->state == CS_BOUND && strcmp(s->full, to) == 0 && policy_allows(r, c->level, s->level)) {
                    send_to(s, xml, len);
                    sent = 1;
                }
        free(xml);
        if (!sent && request) conn_stanza_error(c, iq, "cancel", "service-unavailable");
        return;
    }
    if (!request) return;                   /* results to the server: nothing waits */
    if (!q) { conn_stanza_error(c, iq, "modify", "bad-request"); return; }
    /* another domain's user asks our server: only what is public */
    if (c->kind == K_REMOTE && !((!strcmp(q->name, "ping") && q->ns && !strcmp(q->ns, NS_PING)) ||
                                 (!strcmp(q->name, "query") && q->ns &&
                                  (!strcmp(q->ns, NS_DISCO) || !strcmp(q->ns, NS_VERSION))) ||
                                 (!strcmp(q->name, "pubkey") && q->ns && !strcmp(q->ns, SIMPP_NS)))) {
        conn_stanza_error(c, iq, "cancel", "service-unavailable");
        return;
    }
    if (!strcmp(q->name, "bind") && q->ns && !strcmp(q->ns, NS_BIND) && !strcmp(type, "set"))
        iq_bind(c, iq, q);
    else if (c->state != CS_BOUND)
        conn_stanza_error(c, iq, "wait", "not-authorized");
    else if (!strcmp(q->name, "session") && q->ns && !strcmp(q->ns, NS_SESSION))
        iq_result(c, iq, NULL);
    else if (!strcmp(q->name, "query") && q->ns && !strcmp(q->ns, NS_ROSTER))
        iq_roster(c, iq, type, q);
    else if (!strcmp(q->name, "ping") && q->ns && !strcmp(q->ns, NS_PING))
        iq_result(c, iq, NULL);
    else if (!strcmp(q->name, "pubkey") && q->ns && !strcmp(q->ns, SIMPP_NS) && !strcmp(type, "get"))
        iq_pubkey(c, iq, q);
    else if (!strcmp(q->name, "query") && q->ns && !strcmp(q->ns, NS_DISCO) && !strcmp(type, "get"))
        iq_disco_info(c, iq, q, to && strchr(to, '@'));
    else if ((!strcmp(q->name, "enable") || !strcmp(q->name, "disable")) && q->ns && !strcmp(q->ns, NS_CARBONS) &&
             !strcmp(type, "set") && !(to && strchr(to, '/'))) {
        c->carbons = !strcmp(q->name, "enable");
        iq_result(c, iq, NULL);
    } else if (!strcmp(q->name, "query") && q->ns && !strcmp(q->ns, NS_DISCO_ITEMS) && !strcmp(type, "get"))
        iq_result(c, iq, "<query xmlns='" NS_DISCO_ITEMS "'/>");
    else if (!strcmp(q->name, "query") && q->ns && !strcmp(q->ns, NS_VERSION) && !strcmp(type, "get") &&
             !(to && strchr(to, '@')))
        iq_result(c, iq, "<query xmlns='" NS_VERSION "'><name>simpp-relayd</name><version>" SIMPP_VERSION
                         "</version></query>");
    else
        conn_stanza_error(c, iq, "cancel", "service-unavailable");
}

/* ---- entry points ------------------------------------------------------------------- */

/* ---- XEP-0198 resumption ------------------------------------------------------ */

/* <resume previd h/> on a new stream of the same account, before binding:
 * the new connection takes the session over, with what it held */
static void sm_resume(struct conn *c, const xs_node *st)
{
    struct relay *r = c->r;
    const char *prev = xs_getattr(st, "previd", NULL), *hs = xs_getattr(st, "h", NULL);
    unsigned long h;
    struct conn *o = NULL;
    char msg[200];
    if (c->state != CS_AUTHED || !c->bare || !prev || !hs || parse_ulong(hs, 0, UINT32_MAX, &h) < 0) {
        const char *f = "<failed xmlns='" NS_SM "'><unexpected-request xmlns='" NS_STANZAS "'/></failed>";
        conn_send(c, f, strlen(f));
        return;
    }
    /* only a session of the same account, which this stream proved it is */
    FOR_SESSIONS(r, c->bare, s)
        if (s != c && s->sm_resume && strlen(prev) == strlen(s->sm_id) &&
            sc_ct_eq(prev, s->sm_id, strlen(prev)))
            o = s;
    if (!o) {
        relay_log(r, "resume-failed addr=%s jid=%s reason=unknown or expired", c->addr, c->bare);
        const char *f = "<failed xmlns='" NS_SM "'><item-not-found xmlns='" NS_STANZAS "'/></failed>";
        conn_send(c, f, strlen(f));
        return;
    }
    /* the old connection's place: its full JID, presence, what it asked for */
    sess_remove(o);
    c->full = o->full;
    o->full = NULL;
    c->presence = o->presence;
    o->presence = NULL;
    c->available = o->available;
    c->interested = o->interested;
    c->carbons = o->carbons;
    c->sm = 1;
    c->sm_in = o->sm_in;
    c->sm_resume = 1;
    memcpy(c->sm_id, o->sm_id, sizeof c->sm_id);
    c->sm_out = o->sm_out;
    c->smq = o->smq;
    c->smq_tail = o->smq_tail;
    c->smq_n = o->smq_n;
    o->smq = o->smq_tail = NULL;
    o->smq_n = 0;
    o->sm_resume = 0;
    o->available = 0;
    c->state = CS_BOUND;
    route_bound(c);
    /* the old connection goes without a word: nobody sees it leave */
    o->detached = 0;
    sb_reset(&o->out);
    o->state = CS_CLOSING;
    r->settle(o);
    snprintf(msg, sizeof msg, "<resumed xmlns='" NS_SM "' previd='%s' h='%u'/>", c->sm_id, c->sm_in);
    conn_send(c, msg, strlen(msg));
    conn_sm_acked(c, (uint32_t)h);
    relay_log(r, "resumed addr=%s jid=%s resent=%d", c->addr, c->full, c->smq_n);
    conn_sm_resend(c);
}

static void held_to_store(struct conn *c, const char *xml, size_t len, void *arg)
{
    int *n = arg;
    char from[512] = "";
    /* messages only (RFC 6121 8.5.2.2): presence is sent afresh, iq results
     * wait for nobody; the relay's own serialisation quotes with ' */
    if (len < 9 || strncmp(xml, "<message", 8) != 0) return;
    const char *gt = memchr(xml, '>', len), *f = memmem(xml, gt ? (size_t)(gt - xml) : len, " from='", 7);
    if (f) {
        const char *e = memchr(f + 7, '\'', (size_t)(xml + len - (f + 7)));
        if (e && (size_t)(e - f - 7) < sizeof from) snprintf(from, sizeof from, "%.*s", (int)(e - f - 7), f + 7);
    }
    if (offline_add(c->r, c->bare, from, xml, len) >= 0) (*n)++;
}

void route_expire(struct conn *c)
{
    int n = 0;
    if (!c->bare) return;
    conn_sm_each(c, held_to_store, &n);
    conn_sm_free(c);
    c->sm_resume = 0;
    if (n) relay_log(c->r, "offline-held jid=%s count=%d", c->bare, n);
}

void route_stanza(struct conn *c, xs_node *st)
{
    if (!st->name) return;
    /* XEP-0198: acknowledgement of what the relay has handled (and, for
     * offline messages, committed to disk) */
    if (st->ns && !strcmp(st->ns, NS_SM)) {
        if (!strcmp(st->name, "enable")) {
            if (c->state != CS_BOUND) {      /* XEP-0198 4: only after binding */
                const char *f = "<failed xmlns='" NS_SM "'><unexpected-request xmlns='" NS_STANZAS "'/></failed>";
                conn_send(c, f, strlen(f));
                return;
            }
            const char *res = xs_getattr(st, "resume", NULL);
            c->sm = 1;
            c->sm_in = 0;
            if (res && (!strcmp(res, "true") || !strcmp(res, "1")) && c->kind == K_C2S) {
                uint8_t rnd[16];
                char en[200];
                if (sc_random(rnd, sizeof rnd) == 0) {
                    sc_hex_encode(rnd, sizeof rnd, c->sm_id);
                    c->sm_resume = 1;
                    c->sm_out = 0;
                    snprintf(en, sizeof en, "<enabled xmlns='" NS_SM "' id='%s' resume='true' max='%d'/>", c->sm_id,
                             c->r->cfg->resume_timeout);
                    conn_send(c, en, strlen(en));
                    return;
                }
            }
            conn_send(c, "<enabled xmlns='" NS_SM "'/>", strlen("<enabled xmlns='" NS_SM "'/>"));
        } else if (!strcmp(st->name, "r") && c->sm) {
            char a[80];
            int n = snprintf(a, sizeof a, "<a xmlns='" NS_SM "' h='%u'/>", c->sm_in);
            conn_send(c, a, (size_t)n);
        } else if (!strcmp(st->name, "a") && c->sm) {
            unsigned long h;
            const char *hs = xs_getattr(st, "h", NULL);
            if (hs && parse_ulong(hs, 0, UINT32_MAX, &h) == 0) conn_sm_acked(c, (uint32_t)h);
        } else if (!strcmp(st->name, "resume")) {
            sm_resume(c, st);
        }
        return;
    }
    int is_stanza = !strcmp(st->name, "iq") || !strcmp(st->name, "message") || !strcmp(st->name, "presence");
    if (!is_stanza || (st->ns && strcmp(st->ns, XS_NS_CLIENT) != 0)) {
        conn_stream_error(c, "unsupported-stanza-type", st->name);
        return;
    }
    if (c->state != CS_BOUND && strcmp(st->name, "iq") != 0) {
        conn_stream_error(c, "not-authorized", "bind a resource first");
        return;
    }
    if (!strcmp(st->name, "iq")) handle_iq(c, st);
    else if (!strcmp(st->name, "message")) route_message(c, st);
    else handle_presence(c, st);
    c->sm_in++;
}

/* presence from another domain's user to ours */
static void remote_presence(struct conn *c, xs_node *p)
{
    struct relay *r = c->r;
    const char *type = xs_getattr(p, "type", NULL), *to = xs_getattr(p, "to", NULL);
    char user[512];
    struct jid j;
    if (!to || bare_of(to, user, sizeof user, &j) < 0 || !j.local[0] || !is_local_user(r, user)) return;
    if (type && (!strcmp(type, "subscribe") || !strcmp(type, "subscribed") || !strcmp(type, "unsubscribe") ||
                 !strcmp(type, "unsubscribed"))) {
        sub_in_remote(c, type, user);
        return;
    }
    if (type && !strcmp(type, "probe")) {
        /* answered for our user if the prober may see them (RFC 6121 4.3.2) */
        struct store_roster_item it;
        roster_load(r, user, c->bare, &it);
        if (!(it.sub & STORE_SUB_FROM)) return;
        FOR_SESSIONS(r, user, s)
            if (s->state == CS_BOUND && s->available && s->presence) presence_remote(r, s->full, c->bare, s->presence);
        return;
    }
    if (type && strcmp(type, "unavailable") != 0) return;   /* errors: nothing to do */
    size_t len;
    char *xml = stamp(p, c->full, NULL, &len);
    if (!xml) return;
    FOR_SESSIONS(r, user, s)
        if (s->state == CS_BOUND && s->available && (!j.resource[0] || strcmp(s->full, to) == 0))
            send_to(s, xml, len);
    free(xml);
}

void route_remote(struct conn *c, xs_node *st)
{
    if (!strcmp(st->name, "iq")) handle_iq(c, st);
    else if (!strcmp(st->name, "message")) route_message(c, st);
    else remote_presence(c, st);
}

void route_bound(struct conn *c)
{
    unsigned h = hash(c->bare);
    c->hnext = c->r->sess[h];
    c->r->sess[h] = c;
}

void route_gone(struct conn *c)
{
    if (!c->bare || !c->full) return;
    if (c->available) {
        c->available = 0;
        /* RFC 6121 4.5.2: unavailable to everyone who saw us */
        struct bcast_ctx bc = { c, NULL, 0 };
        store_roster_list(c->r->st, c->bare, bcast_cb, &bc);
        FOR_SESSIONS(c->r, c->bare, s)
            if (s != c && s->state == CS_BOUND && s->available) { presence_to(c, c->bare, NULL); break; }
    }
    sess_remove(c);
    free(c->full);
    c->full = NULL;
}
