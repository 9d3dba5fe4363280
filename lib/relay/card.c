/* card.c - card levels granted on proof.  See card.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyfile.h"
#include "provision.h"
#include "relay/card.h"
#include "util.h"
#include "x509.h"

/* the registered key as SubjectPublicKeyInfo DER */
static int spki_of(int curve, const uint8_t *pub, size_t publen, uint8_t *out, size_t *len)
{
    sc_key *k = sc_key_from_public(curve, pub, publen);
    int r = k ? kf_spki_der(k, out, len) : -1;
    sc_key_free(k);
    return r;
}

/* the chain as stored: each certificate a u16 length and its DER */
static size_t chain_split(const uint8_t *chain, size_t len, const uint8_t **der, size_t *dl)
{
    size_t n = 0, o = 0;
    while (o + 2 <= len && n < X509_CHAIN_MAX) {
        size_t l = (size_t)chain[o] << 8 | chain[o + 1];
        if (o + 2 + l > len) break;
        der[n] = chain + o + 2;
        dl[n++] = l;
        o += 2 + l;
    }
    return o == len ? n : 0;
}

static int check_chain(struct relay *r, const uint8_t *chain, size_t chainlen, const char *jid, int curve,
                       const uint8_t *pub, size_t publen, struct x509_ident *id, char *why, size_t whylen)
{
    const uint8_t *der[X509_CHAIN_MAX];
    size_t dl[X509_CHAIN_MAX], n = chain_split(chain, chainlen, der, dl), sl;
    uint8_t spki[256];
    if (!r->cfg->card_ca) {
        snprintf(why, whylen, "this relay trusts no card issuer (no card_ca): certificates prove nothing here");
        return -1;
    }
    if (!n || (sl = sizeof spki, spki_of(curve, pub, publen, spki, &sl) < 0)) {
        snprintf(why, whylen, "the certificate chain is malformed");
        return -1;
    }
    return x509_check_card(r->cfg->card_ca, r->cfg->card_crl, der, dl, n, spki, sl, jid, (int64_t)time(NULL), id,
                           why, whylen);
}

int card_grant(struct relay *r, const struct simpp_reg *reg, const char *stream_id, const xs_node *regel,
               struct card_grant *g, char *why, size_t whylen)
{
    int claimed = simpp_mode_level(reg->mode);
    const xs_node *prov = xs_child(regel, "provision", SIMPP_NS);
    memset(g, 0, sizeof *g);
    g->level = claimed < SIMPP_LEVEL_PASSWORD ? claimed : SIMPP_LEVEL_PASSWORD;
    if (claimed < SIMPP_LEVEL_CARD) return 0;
    /* the certificates, in order */
    size_t o = 0, n = 0;
    for (const xs_node *k = regel->children; k; k = k->next) {
        if (!k->name || strcmp(k->name, "cert") || !k->ns || strcmp(k->ns, SIMPP_NS)) continue;
        const char *t = xs_text(k);
        size_t cap = X509_DER_MAX, tl = strlen(t);
        if (++n > X509_CHAIN_MAX || o + 2 + cap > sizeof g->cert.chain || tl > 4 * X509_DER_MAX / 3 + 4 ||
            sc_b64_decode(t, tl, g->cert.chain + o + 2, &cap) < 0) {
            snprintf(why, whylen, "the certificate chain is malformed or too long");
            return -1;
        }
        g->cert.chain[o] = (uint8_t)(cap >> 8);
        g->cert.chain[o + 1] = (uint8_t)cap;
        o += 2 + cap;
    }
    if (n) {
        struct x509_ident id;
        g->cert.chainlen = o;
        if (check_chain(r, g->cert.chain, o, reg->id, reg->curve, reg->pub, reg->publen, &id, why, whylen) < 0)
            return -1;
        snprintf(g->cert.issuer, sizeof g->cert.issuer, "%s", id.issuer);
        snprintf(g->cert.serial, sizeof g->cert.serial, "%s", id.serial);
        snprintf(g->cert.subject, sizeof g->cert.subject, "%s", id.subject);
        snprintf(g->note, sizeof g->note, "certificate %s from %s", id.serial, id.issuer);
        g->level = SIMPP_LEVEL_CARD;
        return 0;
    }
    if (prov) {
        struct store_prov p;
        uint8_t want[32], got[32];
        size_t gl = sizeof got;
        const char *t = xs_text(prov);
        int e = store_prov_get(r->st, reg->id, &p), ok;
        if (e == STORE_NOTFOUND) {
            snprintf(why, whylen, "no provisioning token was issued for %s", reg->id);
            return -1;
        }
        if (e != STORE_OK) { snprintf(why, whylen, "%s", store_errmsg(r->st)); return -1; }
        ok = sc_b64_decode(t, strlen(t), got, &gl) == 0 && gl == sizeof got &&
             prov_proof(p.secret, stream_id, reg->id, reg->pub, reg->publen, want) == 0 && sc_ct_eq(want, got, 32);
        sc_zero(&p.secret, sizeof p.secret);
        sc_zero(want, sizeof want);
        if (!ok) {
            snprintf(why, whylen, "the provisioning token does not match (another account's, or mistyped)");
            return -1;
        }
        if (p.used) {
            snprintf(why, whylen, "the provisioning token for %s was already used", reg->id);
            return -1;
        }
        g->provisioned = 1;
        g->level = p.level < claimed ? p.level : claimed;
        snprintf(g->note, sizeof g->note, "provisioned by the operator");
        return 0;
    }
    snprintf(g->note, sizeof g->note, "a %s card without proof (certificate or provisioning token) counts as a password",
             simpp_mode_name(reg->mode));
    return 0;
}

int card_commit(struct relay *r, struct card_grant *g, const char *jid)
{
    if (g->provisioned && store_prov_use(r->st, jid) != STORE_OK) return -1;
    if (g->cert.chainlen) {
        snprintf(g->cert.jid, sizeof g->cert.jid, "%s", jid);
        if (store_cert_put(r->st, &g->cert) != STORE_OK) return -1;
    }
    return 0;
}

int card_level_at_login(struct relay *r, const struct store_user *u, int level)
{
    struct store_cert *c;
    struct x509_ident id;
    char why[256];
    if (level < SIMPP_LEVEL_CARD || !(c = malloc(sizeof *c))) return level;
    if (store_cert_get(r->st, u->jid, c) == STORE_OK &&
        check_chain(r, c->chain, c->chainlen, u->jid, u->curve, u->pub, u->publen, &id, why, sizeof why) < 0) {
        relay_log(r, "level-drop jid=%s level=password reason=%s", u->jid, why);
        level = SIMPP_LEVEL_PASSWORD;
    }
    free(c);
    return level;
}
