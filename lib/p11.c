/* p11.c - keys on PKCS#11 tokens through p11-kit.  See p11.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "p11.h"
#include "util.h"

/* namedCurve OIDs as DER (CKA_EC_PARAMS, X9.62 ECParameters) */
static const CK_BYTE der_p224[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21 };
static const CK_BYTE der_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const CK_BYTE der_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

struct tok {
    P11KitUri *uri;
    CK_FUNCTION_LIST **mods;        /* from p11-kit's configuration */
    CK_FUNCTION_LIST *single;       /* loaded from module-path= */
    CK_FUNCTION_LIST *m;            /* the module of the token found */
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE s;
    int have_session;
    char label[33];                 /* the token's, unpadded */
};

/* what a token key keeps: the session stays open (and logged in) for as
 * long as the key lives */
struct p11key {
    struct tok t;
    CK_OBJECT_HANDLE priv;
    int curve;
};

static void *status(struct p11_status *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void *status(struct p11_status *st, int code, const char *fmt, ...)
{
    va_list ap;
    st->code = code;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    return NULL;
}

int p11_is_uri(const char *s)
{
    return s && strncmp(s, "pkcs11:", 7) == 0;
}

/* fixed-width, space-padded PKCS#11 text to a C string */
static void unpad(char *out, const CK_UTF8CHAR *in, size_t n)
{
    while (n && in[n - 1] == ' ') n--;
    memcpy(out, in, n);
    out[n] = 0;
}

/* the token went away or broke: not the user's doing */
static int gone(CK_RV rv)
{
    return rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_SESSION_HANDLE_INVALID ||
           rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_ERROR || rv == CKR_TOKEN_NOT_RECOGNIZED ||
           rv == CKR_SLOT_ID_INVALID;
}

static void tok_close(struct tok *t)
{
    if (t->have_session) t->m->C_CloseSession(t->s);
    t->have_session = 0;
    if (t->single) {
        p11_kit_module_finalize(t->single);
        p11_kit_module_release(t->single);
    }
    if (t->mods) p11_kit_modules_finalize_and_release(t->mods);
    if (t->uri) p11_kit_uri_free(t->uri);
    memset(t, 0, sizeof *t);
}

static int parse_uri(struct tok *t, const char *text, struct p11_status *st)
{
    int e;
    if (!(t->uri = p11_kit_uri_new())) return status(st, EX_OSERR, "out of memory"), -1;
    if ((e = p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, t->uri)) != P11_KIT_URI_OK)
        return status(st, EX_USAGE, "%s: not a PKCS#11 URI (RFC 7512): %s", text, p11_kit_uri_message(e)), -1;
    if (p11_kit_uri_any_unrecognized(t->uri))
        return status(st, EX_USAGE, "%s: an attribute this program does not know", text), -1;
    if (p11_kit_uri_get_pin_value(t->uri) || p11_kit_uri_get_pin_source(t->uri))
        return status(st, EX_USAGE, "%s: no PIN in the URI (it would be on the command line): "
                      "the PIN comes from the terminal or an fd", text), -1;
    return 0;
}

static int load_modules(struct tok *t, struct p11_status *st)
{
    const char *path = p11_kit_uri_get_module_path(t->uri), *name = p11_kit_uri_get_module_name(t->uri);
    CK_RV rv;
    if (path) {
        if (!(t->single = p11_kit_module_load(path, 0)))
            return status(st, EX_UNAVAILABLE, "PKCS#11 module %s: %s", path, p11_kit_message()), -1;
        if ((rv = p11_kit_module_initialize(t->single)) != CKR_OK) {
            p11_kit_module_release(t->single);
            t->single = NULL;
            return status(st, EX_UNAVAILABLE, "PKCS#11 module %s: %s", path, p11_kit_strerror(rv)), -1;
        }
        return 0;
    }
    if (!(t->mods = p11_kit_modules_load_and_initialize(0)))
        return status(st, EX_UNAVAILABLE, "p11-kit: %s", p11_kit_message()), -1;
    if (!t->mods[0])
        return status(st, EX_UNAVAILABLE, "p11-kit's configuration names no PKCS#11 module "
                      "(install one, or give module-path= in the URI)"), -1;
    if (name && !p11_kit_module_for_name(t->mods, name))
        return status(st, EX_UNAVAILABLE, "p11-kit's configuration has no module named %s", name), -1;
    return 0;
}

/* the first token that matches the URI, in module then slot order */
static int find_token(struct tok *t, const char *text, struct p11_status *st)
{
    CK_FUNCTION_LIST *one[2] = { t->single, NULL }, **list = t->single ? one : t->mods;
    const char *name = p11_kit_uri_get_module_name(t->uri);
    char seen[200] = "";
    size_t sn = 0;
    int tokens = 0;
    for (size_t i = 0; list[i]; i++) {
        CK_FUNCTION_LIST *m = list[i];
        CK_INFO info;
        CK_ULONG n = 0;
        if (name && m != p11_kit_module_for_name(t->mods, name)) continue;
        if (m->C_GetInfo(&info) != CKR_OK || !p11_kit_uri_match_module_info(t->uri, &info)) continue;
        if (m->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK || n == 0) continue;
        CK_SLOT_ID *slots = calloc(n, sizeof *slots);
        if (!slots) return status(st, EX_OSERR, "out of memory"), -1;
        if (m->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK) n = 0;
        for (CK_ULONG k = 0; k < n; k++) {
            CK_TOKEN_INFO ti;
            CK_SLOT_INFO si;
            char lab[33];
            if (m->C_GetTokenInfo(slots[k], &ti) != CKR_OK || m->C_GetSlotInfo(slots[k], &si) != CKR_OK) continue;
            unpad(lab, ti.label, sizeof ti.label);
            if (!(ti.flags & CKF_TOKEN_INITIALIZED)) continue;
            tokens++;
            if (sn < sizeof seen - 40)
                sn += (size_t)snprintf(seen + sn, sizeof seen - sn, "%s'%s'", sn ? ", " : "", lab);
            if (!p11_kit_uri_match_token_info(t->uri, &ti) || !p11_kit_uri_match_slot_info(t->uri, &si)) continue;
            if (p11_kit_uri_get_slot_id(t->uri) != (CK_SLOT_ID)-1 && p11_kit_uri_get_slot_id(t->uri) != slots[k])
                continue;
            t->m = m;
            t->slot = slots[k];
            memcpy(t->label, lab, sizeof lab);
            free(slots);
            return 0;
        }
        free(slots);
    }
    if (!tokens)
        return status(st, EX_TEMPFAIL, "%s: no token present (is the card inserted, the module the right one?)", text), -1;
    return status(st, EX_TEMPFAIL, "%s: no token matches (present: %s; is the card inserted?)", text, seen), -1;
}

/* the token lists the mechanism (some answer C_GetMechanismInfo for
 * mechanisms they do not offer) and allows it for what we need */
static int has_mech(struct tok *t, CK_MECHANISM_TYPE mech, CK_FLAGS need)
{
    CK_MECHANISM_INFO mi;
    CK_ULONG n = 0;
    int listed = 0;
    if (t->m->C_GetMechanismList(t->slot, NULL, &n) != CKR_OK || n == 0) return 0;
    CK_MECHANISM_TYPE *l = calloc(n, sizeof *l);
    if (l && t->m->C_GetMechanismList(t->slot, l, &n) == CKR_OK)
        for (CK_ULONG i = 0; i < n; i++) listed |= l[i] == mech;
    free(l);
    return listed && t->m->C_GetMechanismInfo(t->slot, mech, &mi) == CKR_OK && (mi.flags & need) == need;
}

static int login(struct tok *t, int pinfd, struct p11_status *st)
{
    CK_TOKEN_INFO ti;
    CK_RV rv;
    char pin[256], prompt[80];
    size_t pl = 0;
    if ((rv = t->m->C_GetTokenInfo(t->slot, &ti)) != CKR_OK)
        return status(st, gone(rv) ? EX_TEMPFAIL : EX_SOFTWARE, "token '%s': %s", t->label, p11_kit_strerror(rv)), -1;
    if (!(ti.flags & CKF_LOGIN_REQUIRED)) return 0;
    if (ti.flags & CKF_USER_PIN_LOCKED)
        return status(st, EX_NOUSER, "token '%s': the PIN is locked (too many wrong PINs): "
                      "unlock it with the security officer's PIN or PUK", t->label), -1;
    if (ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
        fprintf(stderr, "%s: enter the PIN of token '%s' on the reader's PIN pad\n", progname, t->label);
        rv = t->m->C_Login(t->s, CKU_USER, NULL, 0);
    } else {
        snprintf(prompt, sizeof prompt, "PIN for token '%s': ", t->label);
        if (read_secret(pinfd, prompt, pin, sizeof pin, &pl) < 0) {
            int ent = errno == ENOTTY;
            sc_zero(pin, sizeof pin);
            return status(st, ent ? EX_USAGE : EX_IOERR, "PIN: %s",
                          ent ? "no terminal to ask on; give it on an fd" : strerror(errno)), -1;
        }
        rv = t->m->C_Login(t->s, CKU_USER, (CK_UTF8CHAR *)pin, pl);
        sc_zero(pin, sizeof pin);
    }
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) return 0;
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE) {
        const char *left = "";
        if (t->m->C_GetTokenInfo(t->slot, &ti) == CKR_OK) {
            if (ti.flags & CKF_USER_PIN_LOCKED) left = ": the token is now locked";
            else if (ti.flags & CKF_USER_PIN_FINAL_TRY) left = ": one try left before the token locks";
            else if (ti.flags & CKF_USER_PIN_COUNT_LOW) left = ": few tries left before the token locks";
        }
        return status(st, EX_NOPERM, "token '%s': wrong PIN%s", t->label, left), -1;
    }
    if (rv == CKR_PIN_LOCKED)
        return status(st, EX_NOUSER, "token '%s': the PIN is locked (too many wrong PINs): "
                      "unlock it with the security officer's PIN or PUK", t->label), -1;
    if (rv == CKR_PIN_EXPIRED)
        return status(st, EX_NOPERM, "token '%s': the PIN has expired: change it first", t->label), -1;
    return status(st, gone(rv) ? EX_TEMPFAIL : EX_SOFTWARE, "token '%s': login: %s", t->label,
                  p11_kit_strerror(rv)), -1;
}

/* parse, load, find, open a session, log in (login: 0 never, 1 always,
 * 2 only when the token asks for it) */
static int tok_open(struct tok *t, const char *text, int pinfd, int rw, int do_login, struct p11_status *st)
{
    CK_RV rv;
    memset(t, 0, sizeof *t);
    if (parse_uri(t, text, st) < 0 || load_modules(t, st) < 0 || find_token(t, text, st) < 0) return -1;
    rv = t->m->C_OpenSession(t->slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL, NULL, &t->s);
    if (rv == CKR_TOKEN_WRITE_PROTECTED)
        return status(st, EX_CANTCREAT, "token '%s' is write-protected", t->label), -1;
    if (rv != CKR_OK)
        return status(st, gone(rv) ? EX_TEMPFAIL : EX_SOFTWARE, "token '%s': %s", t->label, p11_kit_strerror(rv)), -1;
    t->have_session = 1;
    return do_login ? login(t, pinfd, st) : 0;
}

/* handles of the objects of class cls matching the URI's attributes and
 * extra; -1 on error, else how many (at most cap kept) */
static long find(struct tok *t, CK_OBJECT_CLASS cls, const CK_ATTRIBUTE *extra, size_t nextra,
                 CK_OBJECT_HANDLE *out, CK_ULONG cap)
{
    CK_ULONG nu = 0, got = 0, total = 0;
    CK_ATTRIBUTE *ua = p11_kit_uri_get_attributes(t->uri, &nu), tmpl[16];
    CK_KEY_TYPE kt = CKK_EC;
    size_t n = 0;
    CK_OBJECT_HANDLE h[8];
    tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
    if (cls != CKO_CERTIFICATE) tmpl[n++] = (CK_ATTRIBUTE){ CKA_KEY_TYPE, &kt, sizeof kt };
    for (CK_ULONG i = 0; i < nu && n < 12; i++)
        if (ua[i].type != CKA_CLASS) tmpl[n++] = ua[i];
    for (size_t i = 0; i < nextra && n < 16; i++) tmpl[n++] = extra[i];
    if (t->m->C_FindObjectsInit(t->s, tmpl, n) != CKR_OK) return -1;
    do {
        if (t->m->C_FindObjects(t->s, h, 8, &got) != CKR_OK) { got = 0; total = (CK_ULONG)-1; break; }
        for (CK_ULONG i = 0; i < got; i++, total++)
            if (total < cap) out[total] = h[i];
    } while (got == 8);
    t->m->C_FindObjectsFinal(t->s);
    return total == (CK_ULONG)-1 ? -1 : (long)total;
}

/* one attribute into buf; its length, or -1 when the object has none */
static long attr(struct tok *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG cap)
{
    CK_ATTRIBUTE a = { type, buf, cap };
    if (t->m->C_GetAttributeValue(t->s, h, &a, 1) != CKR_OK || a.ulValueLen == (CK_ULONG)-1) return -1;
    return (long)a.ulValueLen;
}

static int bool_attr(struct tok *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL b = CK_FALSE;
    return attr(t, h, type, &b, sizeof b) == (long)sizeof b && b == CK_TRUE;
}

static int params_curve(const CK_BYTE *p, long n)
{
    if (n == (long)sizeof der_p256 && !memcmp(p, der_p256, sizeof der_p256)) return SC_P256;
    if (n == (long)sizeof der_p384 && !memcmp(p, der_p384, sizeof der_p384)) return SC_P384;
    if (n == (long)sizeof der_p224 && !memcmp(p, der_p224, sizeof der_p224)) return SC_P224;
    return SC_CURVE_NONE;
}

/* the public point of a key: CKA_EC_POINT of the public key object that
 * shares the private key's CKA_ID (or, without one, its label); DER OCTET
 * STRING as PKCS#11 says, or the bare point as some tokens give it */
static sc_key *public_of(struct tok *t, CK_OBJECT_HANDLE key, int curve, struct p11_status *st)
{
    CK_BYTE id[256], lab[256], pt[256];
    long il = attr(t, key, CKA_ID, id, sizeof id), ll = attr(t, key, CKA_LABEL, lab, sizeof lab);
    CK_ATTRIBUTE match = il > 0 ? (CK_ATTRIBUTE){ CKA_ID, id, (CK_ULONG)il }
                                : (CK_ATTRIBUTE){ CKA_LABEL, lab, ll > 0 ? (CK_ULONG)ll : 0 };
    CK_OBJECT_HANDLE pub = key;
    CK_OBJECT_CLASS cls = 0;
    size_t nb = sc_curve_bytes(curve), raw = 1 + 2 * nb;
    long n;
    attr(t, key, CKA_CLASS, &cls, sizeof cls);
    if (cls == CKO_PRIVATE_KEY) {
        CK_OBJECT_HANDLE h[2];
        CK_OBJECT_CLASS pc = CKO_PUBLIC_KEY;
        CK_KEY_TYPE kt = CKK_EC;
        CK_ATTRIBUTE tm[3] = { { CKA_CLASS, &pc, sizeof pc }, { CKA_KEY_TYPE, &kt, sizeof kt }, match };
        if (il <= 0 && ll <= 0) return status(st, EX_DATAERR, "token '%s': the key has neither id nor label", t->label);
        if (t->m->C_FindObjectsInit(t->s, tm, 3) != CKR_OK) return status(st, EX_SOFTWARE, "token '%s': search failed", t->label);
        CK_ULONG got = 0;
        if (t->m->C_FindObjects(t->s, h, 2, &got) != CKR_OK) got = 0;
        t->m->C_FindObjectsFinal(t->s);
        if (got == 0)
            return status(st, EX_DATAERR, "token '%s': no public key object beside the private key "
                          "(simpp-keygen makes both)", t->label);
        pub = h[0];
    }
    if ((n = attr(t, pub, CKA_EC_POINT, pt, sizeof pt)) < 0)
        return status(st, EX_DATAERR, "token '%s': the public key has no EC point", t->label);
    const CK_BYTE *p = pt;
    if ((size_t)n == raw + 2 && pt[0] == 0x04 && pt[1] == raw) p = pt + 2;              /* OCTET STRING */
    else if ((size_t)n == raw + 3 && pt[0] == 0x04 && pt[1] == 0x81 && pt[2] == raw) p = pt + 3;
    else if ((size_t)n != raw) return status(st, EX_DATAERR, "token '%s': an EC point simpp cannot read", t->label);
    sc_key *k = sc_key_from_public(curve, p, raw);
    if (!k) return status(st, EX_DATAERR, "token '%s': the public key is not a valid point", t->label);
    return k;
}

/* ---- the key's operations, run on the token ------------------------------ */

static _Noreturn void op_failed(struct p11key *pk, const char *what, CK_RV rv)
{
    if (gone(rv)) die(EX_IOERR, "token '%s': removed or failed during %s: %s", pk->t.label, what, p11_kit_strerror(rv));
    die(EX_SOFTWARE, "token '%s': %s failed: %s", pk->t.label, what, p11_kit_strerror(rv));
}

static int op_sign(void *ctx, const uint8_t *digest, size_t dlen, uint8_t *sig, size_t *siglen)
{
    struct p11key *pk = ctx;
    CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
    CK_ULONG sl = *siglen;
    CK_RV rv = pk->t.m->C_SignInit(pk->t.s, &mech, pk->priv);
    if (rv == CKR_OK) rv = pk->t.m->C_Sign(pk->t.s, (CK_BYTE *)digest, dlen, sig, &sl);
    if (rv != CKR_OK) op_failed(pk, "signing (CKM_ECDSA)", rv);
    *siglen = sl;
    return 0;
}

static int op_ecdh(void *ctx, const uint8_t *peer, size_t peerlen, uint8_t *x, size_t *xlen)
{
    struct p11key *pk = ctx;
    CK_ECDH1_DERIVE_PARAMS prm = { CKD_NULL, 0, NULL, peerlen, (CK_BYTE *)peer };
    CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &prm, sizeof prm };
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_ULONG vl = sc_curve_bytes(pk->curve);
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    /* a session object that may be read: the x-coordinate is HKDF input
     * here, as for a key in memory; it is destroyed at once */
    CK_ATTRIBUTE tm[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
                          { CKA_VALUE_LEN, &vl, sizeof vl }, { CKA_TOKEN, &no, sizeof no },
                          { CKA_SENSITIVE, &no, sizeof no }, { CKA_EXTRACTABLE, &yes, sizeof yes } };
    CK_OBJECT_HANDLE h;
    CK_RV rv = pk->t.m->C_DeriveKey(pk->t.s, &mech, pk->priv, tm, sizeof tm / sizeof tm[0], &h);
    if (rv != CKR_OK) op_failed(pk, "key agreement (CKM_ECDH1_DERIVE)", rv);
    CK_ATTRIBUTE v = { CKA_VALUE, x, *xlen };
    rv = pk->t.m->C_GetAttributeValue(pk->t.s, h, &v, 1);
    pk->t.m->C_DestroyObject(pk->t.s, h);
    if (rv != CKR_OK) op_failed(pk, "key agreement (reading the shared secret)", rv);
    *xlen = v.ulValueLen;
    return 0;
}

static void op_free(void *ctx)
{
    struct p11key *pk = ctx;
    if (pk->t.have_session) pk->t.m->C_Logout(pk->t.s);
    tok_close(&pk->t);
    free(pk);
}

static const struct sc_key_ops p11_ops = { op_sign, op_ecdh, op_free };

/* the URI's private key, checked for what SIMPP needs; the public key too */
static sc_key *key_from(struct p11key *pk, const char *text, struct p11_status *st)
{
    struct tok *t = &pk->t;
    CK_OBJECT_HANDLE h[2];
    CK_BYTE prm[64];
    long n = find(t, CKO_PRIVATE_KEY, NULL, 0, h, 2), pl;
    if (n < 0) return status(st, EX_SOFTWARE, "token '%s': search failed", t->label);
    if (n == 0) return status(st, EX_NOINPUT, "%s: no such EC private key on token '%s'", text, t->label);
    if (n > 1) return status(st, EX_USAGE, "%s: %ld keys on token '%s' match; name one (object=, id=)", text, n, t->label);
    pk->priv = h[0];
    if ((pl = attr(t, pk->priv, CKA_EC_PARAMS, prm, sizeof prm)) < 0 || !(pk->curve = params_curve(prm, pl)))
        return status(st, EX_DATAERR, "%s: not a key on P-256, P-384 or P-224", text);
    if (!has_mech(t, CKM_ECDSA, CKF_SIGN) || !bool_attr(t, pk->priv, CKA_SIGN))
        return status(st, EX_UNAVAILABLE, "token '%s' cannot sign with this key (CKM_ECDSA)", t->label);
    if (!has_mech(t, CKM_ECDH1_DERIVE, CKF_DERIVE) || !bool_attr(t, pk->priv, CKA_DERIVE))
        return status(st, EX_UNAVAILABLE, "token '%s' cannot do ECDH with this key (CKM_ECDH1_DERIVE): "
                      "SIMPP needs it for the master key and for pager messages", t->label);
    if (bool_attr(t, pk->priv, CKA_ALWAYS_AUTHENTICATE))
        return status(st, EX_UNAVAILABLE, "%s: the token wants the PIN again for every use of this key "
                      "(PIV's signature slot); use a key without (PIV: the authentication key)", text);
    sc_key *pub = public_of(t, pk->priv, pk->curve, st);
    if (!pub) return NULL;
    uint8_t p[SC_MAX_PUB];
    size_t len = sizeof p;
    sc_key *k = sc_key_public(pub, p, &len) == 0 ? sc_key_external(pk->curve, p, len, &p11_ops, pk) : NULL;
    sc_key_free(pub);
    if (!k) return status(st, EX_SOFTWARE, "out of memory");
    return k;
}

sc_key *p11_key_open(const char *uri, int pinfd, struct p11_status *st)
{
    struct p11key *pk = calloc(1, sizeof *pk);
    sc_key *k = NULL;
    st->code = 0;
    st->msg[0] = 0;
    if (!pk) return status(st, EX_OSERR, "out of memory");
    if (tok_open(&pk->t, uri, pinfd, 0, 1, st) == 0) k = key_from(pk, uri, st);
    if (!k) {
        tok_close(&pk->t);
        free(pk);
    }
    return k;
}

sc_key *p11_key_public(const char *uri, int pinfd, struct p11_status *st)
{
    struct tok t;
    CK_OBJECT_HANDLE h[2];
    CK_BYTE prm[64];
    sc_key *k = NULL;
    long n, pl;
    int curve;
    st->code = 0;
    if (tok_open(&t, uri, pinfd, 0, 0, st) < 0) goto out;
    /* a public key object, visible without the PIN on most tokens */
    if ((n = find(&t, CKO_PUBLIC_KEY, NULL, 0, h, 2)) == 0) {
        if (login(&t, pinfd, st) < 0) goto out;
        n = find(&t, CKO_PRIVATE_KEY, NULL, 0, h, 2);
    }
    if (n < 0) { status(st, EX_SOFTWARE, "token '%s': search failed", t.label); goto out; }
    if (n == 0) { status(st, EX_NOINPUT, "%s: no such EC key on token '%s'", uri, t.label); goto out; }
    if (n > 1) { status(st, EX_USAGE, "%s: %ld keys on token '%s' match; name one (object=, id=)", uri, n, t.label); goto out; }
    if ((pl = attr(&t, h[0], CKA_EC_PARAMS, prm, sizeof prm)) < 0 || !(curve = params_curve(prm, pl))) {
        status(st, EX_DATAERR, "%s: not a key on P-256, P-384 or P-224", uri);
        goto out;
    }
    k = public_of(&t, h[0], curve, st);
out:
    tok_close(&t);
    return k;
}

sc_key *p11_key_generate(const char *uri, int pinfd, int curve, struct p11_status *st)
{
    struct p11key *pk = calloc(1, sizeof *pk);
    struct tok *t = &pk->t;
    CK_OBJECT_HANDLE pub, priv;
    const CK_BYTE *prm = curve == SC_P384 ? der_p384 : curve == SC_P224 ? der_p224 : der_p256;
    CK_ULONG prmlen = curve == SC_P384 ? sizeof der_p384 : curve == SC_P224 ? sizeof der_p224 : sizeof der_p256;
    CK_BYTE rid[16];
    CK_ATTRIBUTE *lab, *id;
    sc_key *k = NULL;
    CK_RV rv;
    st->code = 0;
    if (!pk) return status(st, EX_OSERR, "out of memory");
    if (tok_open(t, uri, pinfd, 1, 1, st) < 0) goto out;
    if (!(lab = p11_kit_uri_get_attribute(t->uri, CKA_LABEL)) || lab->ulValueLen == 0) {
        status(st, EX_USAGE, "%s: name the key (object=NAME)", uri);
        goto out;
    }
    {
        /* refuse to make a second key of one name: objects of any class */
        CK_ATTRIBUTE q = *lab;
        CK_OBJECT_HANDLE any[1];
        CK_ULONG got = 0;
        if (t->m->C_FindObjectsInit(t->s, &q, 1) == CKR_OK) {
            if (t->m->C_FindObjects(t->s, any, 1, &got) != CKR_OK) got = 0;
            t->m->C_FindObjectsFinal(t->s);
        }
        if (got) {
            status(st, EX_CANTCREAT, "%s: token '%s' already holds an object of that name", uri, t->label);
            goto out;
        }
    }
    if (!has_mech(t, CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR)) {
        status(st, EX_UNAVAILABLE, "token '%s' cannot make EC key pairs (CKM_EC_KEY_PAIR_GEN)", t->label);
        goto out;
    }
    if (!has_mech(t, CKM_ECDH1_DERIVE, CKF_DERIVE) || !has_mech(t, CKM_ECDSA, CKF_SIGN)) {
        status(st, EX_UNAVAILABLE, "token '%s' cannot do both ECDSA and ECDH (CKM_ECDSA, CKM_ECDH1_DERIVE): "
                                   "SIMPP needs both", t->label);
        goto out;
    }
    CK_ATTRIBUTE idattr;
    if ((id = p11_kit_uri_get_attribute(t->uri, CKA_ID)) && id->ulValueLen) idattr = *id;
    else {
        if (sc_random(rid, sizeof rid) < 0) { status(st, EX_OSERR, "no randomness"); goto out; }
        idattr = (CK_ATTRIBUTE){ CKA_ID, rid, sizeof rid };
    }
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    CK_ATTRIBUTE pubt[] = { { CKA_TOKEN, &yes, sizeof yes }, { CKA_PRIVATE, &no, sizeof no },
                            { CKA_EC_PARAMS, (void *)prm, prmlen }, { CKA_VERIFY, &yes, sizeof yes },
                            { CKA_ENCRYPT, &no, sizeof no }, { CKA_WRAP, &no, sizeof no }, *lab, idattr };
    CK_ATTRIBUTE privt[] = { { CKA_TOKEN, &yes, sizeof yes }, { CKA_PRIVATE, &yes, sizeof yes },
                             { CKA_SENSITIVE, &yes, sizeof yes }, { CKA_EXTRACTABLE, &no, sizeof no },
                             { CKA_SIGN, &yes, sizeof yes }, { CKA_DERIVE, &yes, sizeof yes },
                             { CKA_DECRYPT, &no, sizeof no }, { CKA_UNWRAP, &no, sizeof no }, *lab, idattr };
    rv = t->m->C_GenerateKeyPair(t->s, &mech, pubt, sizeof pubt / sizeof pubt[0], privt,
                                 sizeof privt / sizeof privt[0], &pub, &priv);
    if (rv != CKR_OK) {
        status(st, gone(rv) ? EX_IOERR : EX_SOFTWARE, "token '%s': key generation: %s", t->label, p11_kit_strerror(rv));
        goto out;
    }
    /* what the token says it did, not what we asked */
    if (!bool_attr(t, priv, CKA_SENSITIVE) || bool_attr(t, priv, CKA_EXTRACTABLE)) {
        t->m->C_DestroyObject(t->s, priv);
        t->m->C_DestroyObject(t->s, pub);
        status(st, EX_SOFTWARE, "token '%s' made the key extractable or not sensitive: removed it", t->label);
        goto out;
    }
    k = key_from(pk, uri, st);
out:
    if (!k) {
        tok_close(t);
        free(pk);
    }
    return k;
}
