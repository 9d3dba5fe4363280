/* pepkey.c - the SIMPP key item in PEP.  See pepkey.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pepkey.h"
#include "sbuf.h"
#include "simpp.h"

#define LABEL "simpp/1 pep key"

/* the signed bytes; 0 or -1 */
static int signed_bytes(sbuf *m, const char *jid, int curve, const uint8_t *pub, size_t pl, int64_t when)
{
    size_t jl = strlen(jid);
    uint8_t h[2];
    if (jl > 1023 || pl > 255) return -1;
    sb_puts(m, LABEL);
    h[0] = (uint8_t)(jl >> 8);
    h[1] = (uint8_t)jl;
    sb_put(m, h, 2);
    sb_put(m, jid, jl);
    h[0] = (uint8_t)(curve >> 8);
    h[1] = (uint8_t)curve;
    sb_put(m, h, 2);
    h[0] = (uint8_t)pl;
    sb_put(m, h, 1);
    sb_put(m, pub, pl);
    uint8_t t[8];
    for (int i = 0; i < 8; i++) t[i] = (uint8_t)((uint64_t)when >> (56 - 8 * i));
    sb_put(m, t, 8);
    return m->oom ? -1 : 0;
}

static void put_b64(sbuf *b, const uint8_t *d, size_t n)
{
    char e[4 * ((2 * SC_MAX_PUB + 2) / 3) + 8];
    size_t el = sizeof e;
    if (sc_b64_encode(d, n, e, &el) < 0) { b->oom = 1; return; }
    sb_put(b, e, el);
}

static int b64_field(const xs_node *n, uint8_t *out, size_t *len)
{
    const char *t = n ? xs_text(n) : NULL;
    return t && sc_b64_decode(t, strlen(t), out, len) == 0 ? 0 : -1;
}

static char *finish(sbuf *b)
{
    if (b->oom) { sb_free(b); return NULL; }
    char *s = strdup(sb_str(b));
    sb_free(b);
    return s;
}

char *pk_item_make(const sc_key *kr, const char *jid, int64_t now)
{
    uint8_t pub[SC_MAX_PUB], sig[2 * 66];
    size_t pl = sizeof pub, sl = sizeof sig;
    int curve = sc_key_curve(kr);
    sbuf m = { 0 }, b = { 0 };
    if (sc_key_public(kr, pub, &pl) < 0 || signed_bytes(&m, jid, curve, pub, pl, now) < 0 ||
        sc_sign_msg(kr, m.p, m.n, sig, &sl) < 0) {
        sb_free(&m);
        return NULL;
    }
    sb_free(&m);
    sb_puts(&b, "<key xmlns='" SIMPP_NS "' jid='");
    sb_esc(&b, jid);
    sb_printf(&b, "' curve='%s' time='%lld'><pub>", sc_curve_name(curve), (long long)now);
    put_b64(&b, pub, pl);
    sb_puts(&b, "</pub><sig>");
    put_b64(&b, sig, sl);
    sb_puts(&b, "</sig></key>");
    return finish(&b);
}

char *pk_item_unsigned(int curve, const uint8_t *pub, size_t publen, const char *jid, const char *level)
{
    return pk_item_kept(curve, pub, publen, jid, level, 0, NULL, 0);
}

char *pk_item_kept(int curve, const uint8_t *pub, size_t publen, const char *jid, const char *level,
                   int64_t when, const uint8_t *sig, size_t siglen)
{
    sbuf b = { 0 };
    if (!sc_curve_name(curve)) return NULL;
    sb_puts(&b, "<key xmlns='" SIMPP_NS "' jid='");
    sb_esc(&b, jid);
    sb_printf(&b, "' curve='%s'", sc_curve_name(curve));
    if (level) sb_printf(&b, " level='%s'", level);
    if (sig) sb_printf(&b, " time='%lld'", (long long)when);
    sb_puts(&b, "><pub>");
    put_b64(&b, pub, publen);
    sb_puts(&b, "</pub>");
    if (sig) {
        sb_puts(&b, "<sig>");
        put_b64(&b, sig, siglen);
        sb_puts(&b, "</sig>");
    }
    sb_puts(&b, "</key>");
    return finish(&b);
}

int pk_item_sig(const xs_node *key, uint8_t *sig, size_t *siglen)
{
    return b64_field(xs_child(key, "sig", SIMPP_NS), sig, siglen);
}

sc_key *pk_item_check(const xs_node *key, const char *jid, int need_sig, int64_t *when, char *err, size_t errlen)
{
    uint8_t pub[SC_MAX_PUB], sig[2 * 66];
    size_t pl = sizeof pub, sl = sizeof sig;
    const char *kj = xs_getattr(key, "jid", NULL), *cn = xs_getattr(key, "curve", NULL);
    const char *ts = xs_getattr(key, "time", NULL);
    const xs_node *sn = xs_child(key, "sig", SIMPP_NS);
    int curve = cn ? sc_curve_from_name(cn) : 0;
    sc_key *k = NULL;
    char *end = NULL;
    long long t = ts ? strtoll(ts, &end, 10) : 0;
    *when = 0;
    if (!kj || strcasecmp(kj, jid)) {
        snprintf(err, errlen, "the key published for %s names another account (%s)", jid, kj ? kj : "none");
        return NULL;
    }
    if (!curve || b64_field(xs_child(key, "pub", SIMPP_NS), pub, &pl) < 0 || !(k = sc_key_from_public(curve, pub, pl))) {
        snprintf(err, errlen, "the key published for %s is not a valid key", jid);
        return NULL;
    }
    if (!sn && !need_sig) return k;
    sbuf m = { 0 };
    if (!sn || !ts || *end || t < 0 || b64_field(sn, sig, &sl) < 0 || signed_bytes(&m, kj, curve, pub, pl, t) < 0 ||
        sc_verify_msg(k, m.p, m.n, sig, sl) != 1) {
        snprintf(err, errlen, "the key published for %s %s", jid,
                 sn ? "has a signature that does not verify" : "is not signed");
        sb_free(&m);
        sc_key_free(k);
        return NULL;
    }
    sb_free(&m);
    *when = t;
    return k;
}

const xs_node *pk_find(const xs_node *iq)
{
    const xs_node *items = xs_child(xs_child(iq, "pubsub", NS_PUBSUB), "items", NS_PUBSUB);
    const char *node = xs_getattr(items, "node", NULL);
    if (!node || strcmp(node, PK_NODE)) return NULL;
    return xs_child(xs_child(items, "item", NS_PUBSUB), "key", SIMPP_NS);
}
