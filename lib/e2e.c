/*
 * e2e.c - client-client handshake C3/C4 (paper 001 Fig. 7), the ratcheted
 * frames C6/C7, and pager mode (paper 003).  Byte layouts in
 * doc/PROTOCOL.md, "Client to client".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "e2e.h"

#define V 1

static const uint8_t zero_nonce[SC_NONCE_LEN];

const char *e2e_strerror(int err)
{
    switch (err) {
    case E2E_OK:        return "ok";
    case E2E_EFORMAT:   return "malformed message";
    case E2E_EVERSION:  return "unsupported version";
    case E2E_ESUITE:    return "no common cipher suite";
    case E2E_EAUTH:     return "signature or authentication tag does not check";
    case E2E_EKEY:      return "invalid key";
    case E2E_ESTATE:    return "message out of order";
    case E2E_EREPLAY:   return "replayed message";
    case E2E_EPARTY:    return "message is for someone else or from someone else";
    }
    return "internal error";
}

static int valid_id(const uint8_t *p, size_t n)
{
    if (n == 0 || n > E2E_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] == 0x7f) return 0;
    return 1;
}

static void put_id(struct wr *w, const char *id)
{
    put16(w, (unsigned)strlen(id));
    put(w, id, strlen(id));
}

static int take_id(struct rd *r, char *out, size_t cap)
{
    size_t n = take16(r);
    const uint8_t *p = take(r, n);
    if (!p || !valid_id(p, n) || n + 1 > cap) return -1;
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

static int sign_parts(const sc_key *k, const char *label, const uint8_t *m, size_t n, struct wr *w)
{
    uint8_t d[SC_SHA256_LEN], sig[SC_MAX_SIG];
    size_t sl = sizeof sig;
    sc_sha256_parts(d, label, strlen(label), m, n, (void *)NULL);
    if (sc_sign(k, d, sizeof d, sig, &sl) < 0) return -1;
    put8(w, (unsigned)sl);
    put(w, sig, sl);
    return 0;
}

static int verify_parts(const sc_key *k, const char *label, const uint8_t *m, size_t n,
                        const uint8_t *sig, size_t sl)
{
    uint8_t d[SC_SHA256_LEN];
    sc_sha256_parts(d, label, strlen(label), m, n, (void *)NULL);
    return sc_verify(k, d, sizeof d, sig, sl);
}

/* ---- handshake ------------------------------------------------------------ */

/* a key made ahead (e2e.h) if there is one on the curve, else a new one */
static sc_key *ephemeral(sc_key **spare, int curve)
{
    sc_key *k;
    if (spare && *spare && sc_key_curve(*spare) == curve && sc_key_is_private(*spare)) {
        k = *spare;
        *spare = NULL;
        return k;
    }
    return sc_key_generate(curve);
}

int e2e_c3_make(struct e2e_hs *hs, const char *me, const char *peer, const sc_key *my_lt,
                const uint8_t *suites, size_t nsuites, uint8_t *out, size_t *outlen)
{
    return e2e_c3_make_spare(hs, me, peer, my_lt, suites, nsuites, out, outlen, NULL);
}

int e2e_c3_make_spare(struct e2e_hs *hs, const char *me, const char *peer, const sc_key *my_lt,
                      const uint8_t *suites, size_t nsuites, uint8_t *out, size_t *outlen,
                      sc_key **spare)
{
    uint8_t na[32], x[SC_MAX_PUB];
    size_t xl = sizeof x;
    /* never more than E2E_MSG_MAX: hs->c3 keeps a copy, and no receiver parses more */
    struct wr w = { out, *outlen < E2E_MSG_MAX ? *outlen : E2E_MSG_MAX, 0, 0 };
    memset(hs, 0, sizeof *hs);
    if (!me || !peer || !valid_id((const uint8_t *)me, strlen(me)) ||
        !valid_id((const uint8_t *)peer, strlen(peer)) || nsuites == 0 || nsuites > 8)
        return E2E_EFORMAT;
    hs->curve = sc_key_curve(my_lt);
    if (!(hs->eph = ephemeral(spare, hs->curve)) || sc_key_public(hs->eph, x, &xl) < 0 ||
        sc_random(na, sizeof na) < 0)
        return E2E_EINTERNAL;
    snprintf(hs->me, sizeof hs->me, "%s", me);
    snprintf(hs->peer, sizeof hs->peer, "%s", peer);
    /* C3: both identities are inside what A signs (participant consistency) */
    put8(&w, V);
    put8(&w, E2E_C3);
    put8(&w, (unsigned)nsuites);
    put(&w, suites, nsuites);
    put(&w, na, sizeof na);
    put16(&w, (unsigned)hs->curve);
    put8(&w, (unsigned)xl);
    put(&w, x, xl);
    put_id(&w, me);
    put_id(&w, peer);
    if (w.bad || sign_parts(my_lt, "simpp/1 C3", out, w.n, &w) < 0 || w.bad) {
        e2e_hs_wipe(hs);                    /* a C3 that was not sent keeps no x */
        return E2E_EINTERNAL;
    }
    *outlen = w.n;
    memcpy(hs->c3, out, w.n);
    hs->c3len = w.n;
    sc_sha256(out, w.n, hs->h3);
    hs->state = E2E_C3;
    return E2E_OK;
}

struct c3 {
    const uint8_t *suites, *x, *sig;
    size_t nsuites, xl, sl, signed_len;
    int curve;
    char from[E2E_ID_MAX + 1], to[E2E_ID_MAX + 1];
};

static int c3_parse(const uint8_t *m, size_t len, struct c3 *c)
{
    struct rd r = { m, len, 0 };
    if (len < 4 || len > E2E_MSG_MAX) return E2E_EFORMAT;
    if (take8(&r) != V) return E2E_EVERSION;
    if (take8(&r) != E2E_C3) return E2E_EFORMAT;
    c->nsuites = take8(&r);
    c->suites = take(&r, c->nsuites);
    take(&r, 32);
    c->curve = (int)take16(&r);
    c->xl = take8(&r);
    c->x = take(&r, c->xl);
    if (r.bad || take_id(&r, c->from, sizeof c->from) < 0 || take_id(&r, c->to, sizeof c->to) < 0)
        return E2E_EFORMAT;
    c->signed_len = len - r.n;
    c->sl = take8(&r);
    c->sig = take(&r, c->sl);
    if (r.bad || r.n || c->nsuites == 0) return E2E_EFORMAT;
    return E2E_OK;
}

int e2e_c3_parties(const uint8_t *c3, size_t len, char *from, size_t fcap, char *to, size_t tcap)
{
    struct c3 c;
    int e = c3_parse(c3, len, &c);
    if (e) return e;
    snprintf(from, fcap, "%s", c.from);
    snprintf(to, tcap, "%s", c.to);
    return E2E_OK;
}

/* C5: K_AB from ECDH and the transcript; one chain per direction */
static int derive(struct e2e_sess *s, const sc_key *eph, const sc_key *peer_eph, int suite,
                  int initiator, const uint8_t *c3, size_t l3, const uint8_t *c4, size_t l4)
{
    uint8_t k[96];
    memset(s, 0, sizeof *s);
    sc_sha256_parts(s->th, c3, l3, c4, l4, (void *)NULL);
    if (sc_ecdh_hkdf(eph, peer_eph, s->th, sizeof s->th, "simpp/1 K_AB", 12, k, sizeof k) < 0)
        return E2E_EINTERNAL;
    memcpy(initiator ? s->ck_send : s->ck_recv, k, 32);
    memcpy(initiator ? s->ck_recv : s->ck_send, k + 32, 32);
    memcpy(s->exporter, k + 64, 32);
    sc_zero(k, sizeof k);
    uint8_t h[SC_SHA256_LEN];
    sc_sha256_parts(h, "simpp/1 sid", (size_t)11, s->th, sizeof s->th, (void *)NULL);
    memcpy(s->sid, h, E2E_SID);
    s->suite = suite;
    s->initiator = initiator;
    return E2E_OK;
}

int e2e_c3_accept(const char *me, const char *peer, const sc_key *my_lt, const sc_key *peer_lt,
                  unsigned allowed, const uint8_t *c3, size_t len, uint8_t *c4, size_t *c4len,
                  struct e2e_sess *s)
{
    return e2e_c3_accept_spare(me, peer, my_lt, peer_lt, allowed, c3, len, c4, c4len, s, NULL);
}

int e2e_c3_accept_spare(const char *me, const char *peer, const sc_key *my_lt, const sc_key *peer_lt,
                        unsigned allowed, const uint8_t *c3, size_t len, uint8_t *c4, size_t *c4len,
                        struct e2e_sess *s, sc_key **spare)
{
    struct c3 c;
    int e = c3_parse(c3, len, &c), suite = 0;
    uint8_t nb[32], y[SC_MAX_PUB], h3[SC_SHA256_LEN];
    size_t yl = sizeof y;
    sc_key *x = NULL, *eph = NULL;
    struct wr w = { c4, *c4len, 0, 0 };
    if (e) return e;
    if (strcmp(c.from, peer) || strcmp(c.to, me)) return E2E_EPARTY;
    if (c.curve != sc_key_curve(peer_lt) || c.curve != sc_key_curve(my_lt)) return E2E_EKEY;
    if (!verify_parts(peer_lt, "simpp/1 C3", c3, c.signed_len, c.sig, c.sl)) return E2E_EAUTH;
    for (size_t i = 0; i < c.nsuites && !suite; i++)
        if (sc_suite_keylen(c.suites[i]) && c.suites[i] < 32 && (allowed & (1u << c.suites[i])))
            suite = c.suites[i];
    if (!suite) return E2E_ESUITE;
    if (!(x = sc_key_from_public(c.curve, c.x, c.xl))) return E2E_EKEY;
    e = E2E_EINTERNAL;
    /* only a C3 that checked uses up the spare key */
    if (!(eph = ephemeral(spare, c.curve)) || sc_key_public(eph, y, &yl) < 0 || sc_random(nb, sizeof nb) < 0)
        goto out;
    sc_sha256(c3, len, h3);
    /* C4: the chosen suite and h(C3) (the offered list with it) are signed:
     * a suite stripped from C3 or swapped here breaks a signature */
    put8(&w, V);
    put8(&w, E2E_C4);
    put8(&w, (unsigned)suite);
    put(&w, nb, sizeof nb);
    put8(&w, (unsigned)yl);
    put(&w, y, yl);
    put(&w, h3, sizeof h3);
    if (w.bad || sign_parts(my_lt, "simpp/1 C4", c4, w.n, &w) < 0 || w.bad) goto out;
    *c4len = w.n;
    e = derive(s, eph, x, suite, 0, c3, len, c4, w.n);
out:
    sc_key_free(x);
    sc_key_free(eph);                       /* y is gone: forward secrecy */
    return e;
}

int e2e_c4_accept(struct e2e_hs *hs, const sc_key *peer_lt, const uint8_t *c4, size_t len,
                  struct e2e_sess *s)
{
    struct rd r = { c4, len, 0 };
    const uint8_t *y, *h3, *sig;
    size_t yl, sl, signed_len;
    int suite, e;
    sc_key *yk;
    if (hs->state != E2E_C3) return E2E_ESTATE;
    if (len < 4 || len > E2E_MSG_MAX) return E2E_EFORMAT;
    if (take8(&r) != V) return E2E_EVERSION;
    if (take8(&r) != E2E_C4) return E2E_EFORMAT;
    suite = (int)take8(&r);
    take(&r, 32);
    yl = take8(&r);
    y = take(&r, yl);
    h3 = take(&r, SC_SHA256_LEN);
    signed_len = len - r.n;
    sl = take8(&r);
    sig = take(&r, sl);
    if (r.bad || r.n) return E2E_EFORMAT;
    if (!verify_parts(peer_lt, "simpp/1 C4", c4, signed_len, sig, sl)) return E2E_EAUTH;
    /* the answer is to this C3, and picks a suite this C3 offered */
    if (!sc_ct_eq(h3, hs->h3, SC_SHA256_LEN)) return E2E_EAUTH;
    struct c3 c;
    if (c3_parse(hs->c3, hs->c3len, &c) || !memchr(c.suites, suite, c.nsuites) || !sc_suite_keylen(suite))
        return E2E_ESUITE;
    if (!(yk = sc_key_from_public(hs->curve, y, yl))) return E2E_EKEY;
    e = derive(s, hs->eph, yk, suite, 1, hs->c3, hs->c3len, c4, len);
    sc_key_free(yk);
    s->confirmed = e == E2E_OK;
    e2e_hs_wipe(hs);                        /* x is gone: forward secrecy */
    return e;
}

void e2e_hs_wipe(struct e2e_hs *hs)
{
    sc_key_free(hs->eph);
    sc_zero(hs, sizeof *hs);
}

/* ---- frames --------------------------------------------------------------- */

/* message key from the chain key, then the chain key moves on (old erased) */
static int ratchet(uint8_t ck[32], int suite, uint8_t *mk)
{
    uint8_t next[32];
    if (sc_hkdf_sha256(NULL, 0, ck, 32, "simpp/1 mk", 10, mk, sc_suite_keylen(suite)) < 0 ||
        sc_hkdf_sha256(NULL, 0, ck, 32, "simpp/1 ck", 10, next, sizeof next) < 0)
        return -1;
    memcpy(ck, next, 32);
    sc_zero(next, sizeof next);
    return 0;
}

static void frame_aad(const struct e2e_sess *s, uint64_t seq, uint8_t aad[E2E_SID + 8],
                      uint8_t nonce[SC_NONCE_LEN])
{
    memcpy(aad, s->sid, E2E_SID);
    memset(nonce, 0, SC_NONCE_LEN);
    for (int i = 0; i < 8; i++) aad[E2E_SID + i] = nonce[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

static void chain_transcript(uint8_t t[SC_SHA256_LEN], uint64_t seq, const uint8_t *pt, size_t n)
{
    uint8_t s8[8];
    for (int i = 0; i < 8; i++) s8[i] = (uint8_t)(seq >> (56 - 8 * i));
    sc_sha256_parts(t, t, (size_t)SC_SHA256_LEN, s8, (size_t)8, pt, n, (void *)NULL);
}

int e2e_seal(struct e2e_sess *s, int type, uint64_t id, const void *data, size_t dlen,
             uint8_t *out, size_t *outlen, uint64_t *seq)
{
    uint8_t mk[SC_MAX_KEY], aad[E2E_SID + 8], nonce[SC_NONCE_LEN], *pt, ck[32];
    struct wr w;
    int e = E2E_EINTERNAL;
    if (s->sseq == UINT64_MAX || dlen > (1u << 24)) return E2E_ESTATE;
    /* advance a copy: a seal that fails must not move the chain past sseq */
    memcpy(ck, s->ck_send, sizeof ck);
    if (!(pt = malloc(dlen + 9))) return E2E_EINTERNAL;
    w = (struct wr){ pt, dlen + 9, 0, 0 };
    put8(&w, (unsigned)type);
    put64(&w, id);
    put(&w, data, dlen);
    frame_aad(s, s->sseq, aad, nonce);
    if (!w.bad && ratchet(ck, s->suite, mk) == 0 &&
        sc_seal(s->suite, mk, nonce, aad, sizeof aad, pt, w.n, out, outlen) == 0) {
        memcpy(s->ck_send, ck, sizeof ck);
        chain_transcript(s->t_send, s->sseq, pt, w.n);
        *seq = s->sseq++;
        e = E2E_OK;
    }
    sc_zero(mk, sizeof mk);
    sc_zero(ck, sizeof ck);
    sc_zero(pt, dlen + 9);
    free(pt);
    return e;
}

int e2e_open(struct e2e_sess *s, uint64_t seq, const uint8_t *in, size_t len, uint8_t *out,
             size_t *outlen, int *type, uint64_t *id, const uint8_t **data, size_t *dlen,
             uint64_t *skipped)
{
    uint8_t mk[SC_MAX_KEY], aad[E2E_SID + 8], nonce[SC_NONCE_LEN], ck[32];
    uint64_t skip;
    *skipped = 0;
    if (seq < s->rseq) return E2E_EREPLAY;
    skip = seq - s->rseq;
    if (skip > 10000) return E2E_ESTATE;     /* not a gap, an attack on our CPU */
    /* advance a copy: a forged frame must not move the real chain */
    memcpy(ck, s->ck_recv, sizeof ck);
    for (uint64_t i = 0; i < skip; i++) ratchet(ck, s->suite, mk);
    frame_aad(s, seq, aad, nonce);
    int ok = ratchet(ck, s->suite, mk) == 0 &&
             sc_open(s->suite, mk, nonce, aad, sizeof aad, in, len, out, outlen) == 0 && *outlen >= 9;
    sc_zero(mk, sizeof mk);
    if (!ok) {
        sc_zero(ck, sizeof ck);
        return E2E_EAUTH;
    }
    memcpy(s->ck_recv, ck, sizeof ck);
    sc_zero(ck, sizeof ck);
    chain_transcript(s->t_recv, seq, out, *outlen);
    s->rseq = seq + 1;
    *skipped = skip;
    struct rd r = { out, *outlen, 0 };
    *type = (int)take8(&r);
    *id = take64(&r);
    *data = r.p;
    *dlen = r.n;
    return E2E_OK;
}

void e2e_transcript(const struct e2e_sess *s, uint8_t out[SC_SHA256_LEN])
{
    const uint8_t *a2b = s->initiator ? s->t_send : s->t_recv;
    const uint8_t *b2a = s->initiator ? s->t_recv : s->t_send;
    sc_sha256_parts(out, "simpp/1 transcript", (size_t)18, s->th, (size_t)SC_SHA256_LEN,
                    a2b, (size_t)SC_SHA256_LEN, b2a, (size_t)SC_SHA256_LEN, (void *)NULL);
}

int e2e_export(const struct e2e_sess *s, const char *label, const void *ctx, size_t ctxlen,
               uint8_t *out, size_t outlen)
{
    uint8_t info[256];
    size_t ll = strlen(label);
    if (ll + ctxlen > sizeof info || (ctxlen && !ctx)) return E2E_EFORMAT;
    memcpy(info, label, ll);
    if (ctxlen) memcpy(info + ll, ctx, ctxlen);
    return sc_hkdf_sha256(s->th, sizeof s->th, s->exporter, sizeof s->exporter, info, ll + ctxlen,
                          out, outlen) == 0 ? E2E_OK : E2E_EINTERNAL;
}

void e2e_sess_wipe(struct e2e_sess *s)
{
    sc_zero(s, sizeof *s);
}

/* ---- pager mode ----------------------------------------------------------- */

#define PAGER_SUITE SC_SUITE_CHACHA20_POLY1305

int e2e_pager_seal(const sc_key *my_lt, const char *me, const sc_key *peer_lt, const char *peer,
                   const uint8_t id[16], int64_t ts, const void *text, size_t tlen,
                   uint8_t *out, size_t *outlen)
{
    uint8_t e[SC_MAX_PUB], k[SC_MAX_KEY], hh[SC_SHA256_LEN], *inner;
    size_t el = sizeof e, cl;
    sc_key *eph;
    struct wr w = { out, *outlen, 0, 0 };
    int r = E2E_EINTERNAL;
    if (!valid_id((const uint8_t *)me, strlen(me)) || !valid_id((const uint8_t *)peer, strlen(peer)) ||
        tlen > (1u << 20))
        return E2E_EFORMAT;
    if (!(eph = sc_key_generate(sc_key_curve(peer_lt))) || sc_key_public(eph, e, &el) < 0) {
        sc_key_free(eph);
        return E2E_EINTERNAL;
    }
    /* H: who, to whom, which message, when, and the ephemeral share E */
    put8(&w, V);
    put8(&w, E2E_PAGER);
    put8(&w, PAGER_SUITE);
    put16(&w, (unsigned)sc_key_curve(peer_lt));
    put8(&w, (unsigned)el);
    put(&w, e, el);
    put_id(&w, me);
    put_id(&w, peer);
    put(&w, id, 16);
    put64(&w, (uint64_t)ts);
    size_t hl = w.n;
    /* inner = u32 len || text || signature of A over H || text: signed
     * first, then encrypted, as paper 003's pager mode (S/MIME style) */
    struct wr iw;
    if (!(inner = malloc(tlen + 4 + 1 + SC_MAX_SIG))) goto out;
    iw = (struct wr){ inner, tlen + 4 + 1 + SC_MAX_SIG, 0, 0 };
    put8(&iw, (unsigned)(tlen >> 24) & 0xff);
    put8(&iw, (unsigned)(tlen >> 16) & 0xff);
    put16(&iw, (unsigned)tlen & 0xffff);
    put(&iw, text, tlen);
    uint8_t d[SC_SHA256_LEN], sig[SC_MAX_SIG];
    size_t sl = sizeof sig;
    sc_sha256_parts(d, "simpp/1 pager sig", (size_t)17, out, hl, text, tlen, (void *)NULL);
    if (w.bad || sc_sign(my_lt, d, sizeof d, sig, &sl) < 0) goto out;
    put8(&iw, (unsigned)sl);
    put(&iw, sig, sl);
    sc_sha256(out, hl, hh);
    cl = *outlen - hl;
    if (!iw.bad && sc_ecdh_hkdf(eph, peer_lt, hh, sizeof hh, "simpp/1 pager", 13, k,
                                sc_suite_keylen(PAGER_SUITE)) == 0 &&
        sc_seal(PAGER_SUITE, k, zero_nonce, out, hl, inner, iw.n, out + hl, &cl) == 0) {
        *outlen = hl + cl;
        r = E2E_OK;
    }
out:
    if (inner) { sc_zero(inner, tlen + 4 + 1 + SC_MAX_SIG); free(inner); }
    sc_zero(k, sizeof k);
    sc_key_free(eph);                       /* e is gone: only B's key opens it */
    return r;
}

struct pager_hdr {
    int suite, curve;
    const uint8_t *e, *id;
    size_t el, hl;
    int64_t ts;
    char from[E2E_ID_MAX + 1], to[E2E_ID_MAX + 1];
};

static int pager_parse(const uint8_t *in, size_t len, struct pager_hdr *h)
{
    struct rd r = { in, len, 0 };
    if (len < 4 || len > (2u << 20)) return E2E_EFORMAT;
    if (take8(&r) != V) return E2E_EVERSION;
    if (take8(&r) != E2E_PAGER) return E2E_EFORMAT;
    h->suite = (int)take8(&r);
    h->curve = (int)take16(&r);
    h->el = take8(&r);
    h->e = take(&r, h->el);
    if (r.bad || take_id(&r, h->from, sizeof h->from) < 0 || take_id(&r, h->to, sizeof h->to) < 0)
        return E2E_EFORMAT;
    h->id = take(&r, 16);
    h->ts = (int64_t)take64(&r);
    if (r.bad || !sc_suite_keylen(h->suite)) return E2E_EFORMAT;
    h->hl = len - r.n;
    return E2E_OK;
}

int e2e_pager_from(const uint8_t *in, size_t len, char *from, size_t cap)
{
    struct pager_hdr h;
    int e = pager_parse(in, len, &h);
    if (!e) snprintf(from, cap, "%s", h.from);
    return e;
}

int e2e_pager_open(const sc_key *my_lt, const char *me, const sc_key *peer_lt, const char *peer,
                   const uint8_t *in, size_t len, uint8_t id[16], int64_t *ts,
                   uint8_t *text, size_t *tlen)
{
    struct pager_hdr h;
    uint8_t k[SC_MAX_KEY], hh[SC_SHA256_LEN], *inner;
    size_t il;
    sc_key *e;
    int r = pager_parse(in, len, &h);
    if (r) return r;
    if (strcmp(h.to, me) || strcmp(h.from, peer)) return E2E_EPARTY;
    if (h.curve != sc_key_curve(my_lt) || !(e = sc_key_from_public(h.curve, h.e, h.el))) return E2E_EKEY;
    sc_sha256(in, h.hl, hh);
    il = len - h.hl;
    if (!(inner = malloc(il ? il : 1))) { sc_key_free(e); return E2E_EINTERNAL; }
    r = E2E_EAUTH;
    if (sc_ecdh_hkdf(my_lt, e, hh, sizeof hh, "simpp/1 pager", 13, k, sc_suite_keylen(h.suite)) == 0 &&
        sc_open(h.suite, k, zero_nonce, in, h.hl, in + h.hl, len - h.hl, inner, &il) == 0) {
        struct rd ir = { inner, il, 0 };
        size_t n = (size_t)take16(&ir) << 16;
        n |= take16(&ir);
        const uint8_t *t = take(&ir, n);
        size_t sl = take8(&ir);
        const uint8_t *sig = take(&ir, sl);
        uint8_t d[SC_SHA256_LEN];
        if (!ir.bad && !ir.n && n <= *tlen) {
            sc_sha256_parts(d, "simpp/1 pager sig", (size_t)17, in, h.hl, t, n, (void *)NULL);
            if (sc_verify(peer_lt, d, sizeof d, sig, sl)) {
                memcpy(text, t, n);
                *tlen = n;
                memcpy(id, h.id, 16);
                *ts = h.ts;
                r = E2E_OK;
            }
        } else if (!ir.bad && n > *tlen)
            r = E2E_EFORMAT;
    }
    sc_zero(inner, il ? il : 1);
    free(inner);
    sc_zero(k, sizeof k);
    sc_key_free(e);
    return r;
}

int e2e_safety_number(const sc_key *a, const sc_key *b, char out[80])
{
    uint8_t pa[SC_MAX_PUB], pb[SC_MAX_PUB], h[SC_SHA256_LEN];
    size_t la = sizeof pa, lb = sizeof pb;
    if (sc_key_public(a, pa, &la) < 0 || sc_key_public(b, pb, &lb) < 0) return -1;
    /* sorted, so both sides compute the same */
    int lo = la < lb || (la == lb && memcmp(pa, pb, la) < 0);
    sc_sha256_parts(h, "simpp/1 safety", (size_t)14, lo ? pa : pb, lo ? la : lb,
                    lo ? pb : pa, lo ? lb : la, (void *)NULL);
    /* SHA-256 a few thousand times more: a key pair that matches a chosen
     * number costs an attacker that much more per try */
    for (int i = 0; i < 5000; i++) sc_sha256(h, sizeof h, h);
    /* 60 digits: 12 groups, each a 40-bit number mod 100000 */
    uint8_t more[2 * SC_SHA256_LEN];
    memcpy(more, h, SC_SHA256_LEN);
    sc_sha256_parts(more + SC_SHA256_LEN, h, (size_t)SC_SHA256_LEN, "2", (size_t)1, (void *)NULL);
    size_t o = 0;
    for (int g = 0; g < 12; g++) {
        uint64_t v = 0;
        for (int i = 0; i < 5; i++) v = v << 8 | more[g * 5 + i];
        o += (size_t)snprintf(out + o, 80 - o, "%05u%s", (unsigned)(v % 100000),
                              g == 11 ? "" : g % 4 == 3 ? "\n" : " ");
    }
    return 0;
}
