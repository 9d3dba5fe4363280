/*
 * sasl.c - SCRAM-SHA-256 (RFC 5802 with RFC 7677) and PLAIN parsing
 * (RFC 4616).  See sasl.h for the contract.
 *
 * The SCRAM grammar is RFC 5802 7.  Every attribute value is free of ','
 * (saslname escapes it, nonces and base64 exclude it), so each message is cut
 * at commas first and the fields are then checked in the fixed order of
 * RFC 5802 5.1.  Attribute names are case-sensitive (5.1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "crypto.h"
#include "sasl.h"
#include "util.h"

#define HLEN        SC_SHA256_LEN
#define B64LEN(n)   (4 * (((n) + 2) / 3))
#define NONCE_RAW   18          /* random octets of a generated nonce: 24 characters */
#define SALT_MAX    64          /* longest salt a client accepts */
#define ENC_NAME    (3 * SASL_MAX_NAME)     /* saslname-encoded user */
/* "r=" nonce ",s=" salt ",i=" count */
#define SF_MAX      (2 + 2 * SCRAM_MAX_NONCE + 3 + B64LEN(SCRAM_SALT_LEN) + 3 + 20 + 1)

/* ---- errors (RFC 6120 6.5) ---------------------------------------------- */

const char *sasl_condition(int err)
{
    if (err >= 0) return NULL;
    switch (err) {
    case SASL_E_MALFORMED:
    case SASL_E_CB_MISMATCH:
    case SASL_E_NONCE:
    case SASL_E_EXTENSION:
    case SASL_E_TOOLONG:
    case SASL_E_ITER:
    case SASL_E_STATE:
        return "malformed-request";                 /* 6.5.7 */
    case SASL_E_AUTHZID:
        return "invalid-authzid";                   /* 6.5.6 */
    case SASL_E_CB_UNSUPPORTED:
        return "encryption-required";               /* 6.5.4 */
    case SASL_E_SPACE:
    case SASL_E_INVAL:
    case SASL_E_INTERNAL:
        return "temporary-auth-failure";            /* 6.5.11 */
    case SASL_E_ENCODING:
        return "incorrect-encoding";                /* 6.5.5 */
    case SASL_E_MECHANISM:
        return "invalid-mechanism";                 /* 6.5.8 */
    case SASL_E_ABORTED:
        return "aborted";                           /* 6.5.1 */
    }
    return "not-authorized";                        /* 6.5.10 */
}

const char *sasl_strerror(int err)
{
    switch (err) {
    case SASL_OK:               return "success";
    case SASL_E_MALFORMED:      return "malformed message";
    case SASL_E_AUTH:           return "authentication failed";
    case SASL_E_AUTHZID:        return "authorization identity refused";
    case SASL_E_CB_UNSUPPORTED: return "channel binding requested but not supported";
    case SASL_E_CB_MISMATCH:    return "channel binding data does not match the gs2 header";
    case SASL_E_NONCE:          return "bad or changed nonce";
    case SASL_E_EXTENSION:      return "unsupported mandatory extension";
    case SASL_E_TOOLONG:        return "message or field too long";
    case SASL_E_ITER:           return "iteration count out of range";
    case SASL_E_PASSWORD:       return "password not acceptable";
    case SASL_E_STATE:          return "step out of order";
    case SASL_E_SPACE:          return "output buffer too small";
    case SASL_E_INVAL:          return "invalid argument";
    case SASL_E_INTERNAL:       return "internal error";
    case SASL_E_SERVER_ERROR:   return "server reported an error";
    case SASL_E_SERVER_SIG:     return "server signature does not verify";
    case SASL_E_ENCODING:       return "bad base64 encoding";
    case SASL_E_MECHANISM:      return "mechanism not offered";
    case SASL_E_ABORTED:        return "aborted";
    case SASL_E_CB_DOWNGRADE:   return "client could bind the channel but was told the server cannot";
    }
    return "unknown error";
}

/* ---- text checks -------------------------------------------------------- */

/*
 * 0 if p[0..n) is well-formed UTF-8 (RFC 3629 4: no overlong form, no
 * surrogate, nothing past U+10FFFF) without NUL.  With noctl, control
 * characters (U+0001-U+001F, U+007F-U+009F) are refused too: they are
 * prohibited by SASLprep (RFC 4013 2.3, RFC 3454 C.2.1/C.2.2) and by the
 * PRECIS FreeformClass (RFC 8264 9.12).
 */
static int utf8_ok(const uint8_t *p, size_t n, int noctl)
{
    size_t k;
    for (size_t i = 0; i < n; i += k) {
        uint32_t cp;
        if (!(k = utf8_char(p + i, n - i, &cp)) || cp == 0) return -1;
        if (noctl && (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))) return -1;
    }
    return 0;
}

int sasl_password_check(const char *pw, size_t len)
{
    if (!pw || len == 0) return SASL_E_PASSWORD;
    if (len > SASL_MAX_PW) return SASL_E_TOOLONG;
    return utf8_ok((const uint8_t *)pw, len, 1) == 0 ? SASL_OK : SASL_E_PASSWORD;
}

/* a user or authzid: 1..max octets of UTF-8 without control characters */
static int name_check(const char *s, size_t n, size_t max)
{
    if (n == 0) return SASL_E_MALFORMED;
    if (n > max) return SASL_E_TOOLONG;
    return utf8_ok((const uint8_t *)s, n, 1) == 0 ? SASL_OK : SASL_E_MALFORMED;
}

/* RFC 5802 7: printable = %x21-2B / %x2D-7E (no ',') */
static int printable(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == ',') return 0;
    }
    return 1;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/*
 * Base64 (RFC 4648 4) through the strict sc_b64_decode, non-empty, and in
 * canonical form: the pad bits before '=' must be zero (RFC 4648 3.5), so
 * one value has exactly one spelling.  *outlen: capacity in, length out.
 */
static int b64_dec(const char *in, size_t inlen, uint8_t *out, size_t *outlen)
{
    if (inlen == 0 || sc_b64_decode(in, inlen, out, outlen) != 0) return -1;
    if (in[inlen - 1] == '=') {               /* inlen >= 4 after a good decode */
        size_t pads = in[inlen - 2] == '=' ? 2 : 1;
        int v = b64_value(in[inlen - 1 - pads]);
        if (v < 0 || (v & (pads == 2 ? 0x0f : 0x03))) return -1;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------- */

struct sb { char *p; size_t cap, len; int bad; };

static void sb_init(struct sb *b, char *p, size_t cap)
{
    b->p = p;
    b->cap = cap;
    b->len = 0;
    b->bad = cap == 0;
    if (cap) p[0] = 0;
}

static void sb_mem(struct sb *b, const void *s, size_t n)
{
    if (b->bad) return;
    if (n >= b->cap - b->len) { b->bad = 1; return; }     /* keep room for NUL */
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(struct sb *b, const char *s)
{
    sb_mem(b, s, strlen(s));
}

static void sb_b64(struct sb *b, const void *d, size_t n)
{
    size_t ol;
    if (b->bad) return;
    ol = b->cap - b->len;
    if (sc_b64_encode(d, n, b->p + b->len, &ol) != 0) { b->bad = 1; return; }
    b->len += ol;
}

/* copy a finished message to the caller's buffer (*outlen capacity in) */
static int put_out(const char *msg, size_t len, char *out, size_t *outlen)
{
    if (len + 1 > *outlen) {
        if (*outlen) out[0] = 0;
        return SASL_E_SPACE;
    }
    memcpy(out, msg, len);
    out[len] = 0;
    *outlen = len;
    return SASL_OK;
}

/* ---- fields ------------------------------------------------------------- */

struct fld { const char *s; size_t n; };
struct it  { const char *m; size_t len, pos; };

static void it_init(struct it *t, const char *m, size_t len)
{
    t->m = m;
    t->len = len;
    t->pos = 0;
}

/* next comma-separated field; 0 when there is none left */
static int it_next(struct it *t, struct fld *f)
{
    const char *c;
    size_t end;
    if (t->pos > t->len) return 0;
    c = t->len > t->pos ? memchr(t->m + t->pos, ',', t->len - t->pos) : NULL;
    end = c ? (size_t)(c - t->m) : t->len;
    f->s = t->m + t->pos;
    f->n = end - t->pos;
    t->pos = end + 1;
    return 1;
}

/* f is name "=" value with a non-empty value */
static int is_attr(const struct fld *f, char name)
{
    return f->n >= 3 && f->s[0] == name && f->s[1] == '=';
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/*
 * An optional extension (RFC 5802 7: attr-val = ALPHA "=" value; unknown
 * ones MUST be ignored), except "m": its presence MUST make authentication
 * fail (5.1).
 */
static int ext_check(const struct fld *f)
{
    if (f->n >= 2 && f->s[0] == 'm' && f->s[1] == '=') return SASL_E_EXTENSION;
    if (f->n < 3 || !is_alpha(f->s[0]) || f->s[1] != '=') return SASL_E_MALFORMED;
    return SASL_OK;
}

/* every SCRAM message: non-empty, bounded, UTF-8 without NUL (RFC 5802 7:
 * value-char is UTF8-char except NUL and ",") */
static int msg_check(const char *m, size_t len)
{
    if (!m) return SASL_E_INVAL;
    if (len == 0) return SASL_E_MALFORMED;
    if (len > SCRAM_MAX_MSG) return SASL_E_TOOLONG;
    return utf8_ok((const uint8_t *)m, len, 0) == 0 ? SASL_OK : SASL_E_MALFORMED;
}

/*
 * saslname (RFC 5802 5.1, 7): "=2C" is ',' and "=3D" is '='; any other '='
 * MUST fail.  Hex digits are matched case-insensitively, as ABNF quoted
 * strings are (RFC 5234 2.3).  out gets a NUL-terminated result.
 */
static int saslname_dec(const char *s, size_t n, char *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            if (n - i < 3) return SASL_E_MALFORMED;
            if (s[i + 1] == '2' && (s[i + 2] == 'C' || s[i + 2] == 'c'))      c = ',';
            else if (s[i + 1] == '3' && (s[i + 2] == 'D' || s[i + 2] == 'd')) c = '=';
            else return SASL_E_MALFORMED;
            i += 2;
        }
        if (o + 1 >= cap) return SASL_E_TOOLONG;
        out[o++] = c;
    }
    out[o] = 0;
    *outlen = o;
    return SASL_OK;
}

/* the inverse, for the client; out holds 3*n+1 */
static size_t saslname_enc(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ',')      { memcpy(out + o, "=2C", 3); o += 3; }
        else if (s[i] == '=') { memcpy(out + o, "=3D", 3); o += 3; }
        else out[o++] = s[i];
    }
    out[o] = 0;
    return o;
}

/*
 * authzid rule (RFC 5802 5.1 "a=", RFC 4616 2, RFC 6120 6.3.8): no proxy
 * authorization.  Absent or equal to the user: accepted, *report = 0.  A
 * bare JID "user@domain" (RFC 7622 3.1): accepted with *report = 1 only if
 * the caller can see it and check the domain.  Anything else is refused.
 */
static int authzid_rule(const char *az, size_t azlen, const char *user, size_t ulen,
                        int can_report, int *report)
{
    const char *dom;
    size_t dlen;
    *report = 0;
    if (azlen == 0 || (azlen == ulen && memcmp(az, user, ulen) == 0)) return SASL_OK;
    if (!can_report || azlen <= ulen + 1 || memcmp(az, user, ulen) != 0 || az[ulen] != '@')
        return SASL_E_AUTHZID;
    dom = az + ulen + 1;
    dlen = azlen - ulen - 1;
    if (memchr(dom, '@', dlen) || memchr(dom, '/', dlen)) return SASL_E_AUTHZID;
    *report = 1;
    return SASL_OK;
}

/* ---- key derivation (RFC 5802 3) ---------------------------------------- */

/*
 * SaltedPassword = Hi(password, salt, i) = PBKDF2-HMAC-SHA-256 (RFC 7677 3)
 * ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey)
 * ServerKey = HMAC(SaltedPassword, "Server Key")
 */
static int derive(int h, const char *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
                  unsigned long iter, uint8_t client_key[HLEN], uint8_t stored_key[HLEN],
                  uint8_t server_key[HLEN])
{
    uint8_t salted[HLEN];
    size_t hl = sc_hash_len(h);
    int r = SASL_OK;
    if (hl == 0 || sc_pbkdf2(h, pw, pwlen, salt, saltlen, iter, salted, hl) != 0 ||
        sc_hmac(h, salted, hl, "Client Key", 10, client_key) != 0 ||
        sc_hmac(h, salted, hl, "Server Key", 10, server_key) != 0 ||
        sc_hash(h, client_key, hl, stored_key) != 0)
        r = SASL_E_INTERNAL;
    sc_zero(salted, sizeof salted);
    return r;
}

int scram_make_cred_salt(const char *pw, size_t pwlen, const uint8_t salt[SCRAM_SALT_LEN],
                         unsigned long iter, struct scram_cred *out)
{
    return scram_make_cred_hash(SC_HASH_SHA256, pw, pwlen, salt, iter, out);
}

int scram_make_cred_hash(int hash, const char *pw, size_t pwlen,
                         const uint8_t salt[SCRAM_SALT_LEN], unsigned long iter,
                         struct scram_cred *out)
{
    uint8_t ck[HLEN];
    int r;
    if (!out || !salt || !sc_hash_len(hash)) return SASL_E_INVAL;
    memset(out, 0, sizeof *out);
    if ((r = sasl_password_check(pw, pwlen)) != SASL_OK) return r;
    if (iter < SCRAM_ITER_MIN || iter > SCRAM_ITER_MAX) return SASL_E_ITER;
    memcpy(out->salt, salt, SCRAM_SALT_LEN);
    out->iter = iter;
    out->hash = hash;
    r = derive(hash, pw, pwlen, out->salt, SCRAM_SALT_LEN, iter, ck, out->stored_key, out->server_key);
    sc_zero(ck, sizeof ck);
    if (r != SASL_OK) sc_zero(out, sizeof *out);
    return r;
}

int scram_make_cred(const char *pw, size_t pwlen, unsigned long iter, struct scram_cred *out)
{
    uint8_t salt[SCRAM_SALT_LEN];
    if (!out) return SASL_E_INVAL;
    if (sc_random(salt, sizeof salt) != 0) {
        memset(out, 0, sizeof *out);
        return SASL_E_INTERNAL;
    }
    return scram_make_cred_salt(pw, pwlen, salt, iter, out);
}

/* ---- fake credentials for unknown users --------------------------------- */

static uint8_t       fake_key[HLEN];
static int           fake_key_set;
static unsigned long fake_iter = SCRAM_ITER_DEFAULT;
static once_flag     fake_once = ONCE_FLAG_INIT;
static int           fake_rand_ok;

static void fake_init(void)
{
    fake_rand_ok = sc_random(fake_key, sizeof fake_key) == 0;
}

int scram_server_secret(const void *secret, size_t len, unsigned long iter)
{
    if (!secret || len < 16) return SASL_E_INVAL;
    if (iter == 0) iter = SCRAM_ITER_DEFAULT;
    if (iter < SCRAM_ITER_MIN || iter > SCRAM_ITER_MAX) return SASL_E_ITER;
    sc_sha256(secret, len, fake_key);            /* any length in, one HMAC key out */
    fake_key_set = 1;
    fake_iter = iter;
    return SASL_OK;
}

/* salt = first 16 octets of HMAC(key, label NUL user): stable per user */
static int fake_salt(const char *user, size_t ulen, uint8_t salt[SCRAM_SALT_LEN])
{
    static const char label[] = "simpp scram-sha-256 unknown-user salt";
    uint8_t msg[sizeof label + SASL_MAX_NAME];
    uint8_t mac[HLEN];
    int r;
    if (!fake_key_set) {
        call_once(&fake_once, fake_init);
        if (!fake_rand_ok) return -1;
    }
    memcpy(msg, label, sizeof label);            /* with its NUL as separator */
    memcpy(msg + sizeof label, user, ulen);
    r = sc_hmac_sha256(fake_key, sizeof fake_key, msg, sizeof label + ulen, mac);
    memcpy(salt, mac, SCRAM_SALT_LEN);
    sc_zero(mac, sizeof mac);
    return r;
}

/* ---- server ------------------------------------------------------------- */

enum { ST_NEW, ST_FIRST, ST_CHALLENGED, ST_DONE, ST_FAILED };

struct cbind { char name[32]; uint8_t data[SCRAM_CB_MAX]; size_t len; };

struct scram_server {
    int     state;
    int     known;                          /* a real credential was given */
    int     hash;                           /* SC_HASH_* */
    size_t  hlen;
    int     plus, offered;                  /* see scram_server_channel() */
    size_t  ncb;
    struct cbind cb[SCRAM_CB_NMAX];
    const struct cbind *bound;              /* the client's "p=" choice */
    size_t  cflen, gs2len;                  /* cf = gs2 header || client-first-bare */
    size_t  cnlen, nlen;                    /* client nonce, full nonce in nonce[] */
    size_t  sflen, tnlen, userlen;
    char    cf[SCRAM_MAX_MSG];
    char    nonce[2 * SCRAM_MAX_NONCE + 1];
    char    tnonce[SCRAM_MAX_NONCE + 1];    /* test hook: fixed server nonce */
    char    sf[SF_MAX];
    char    user[SASL_MAX_NAME + 1];
    uint8_t stored_key[HLEN], server_key[HLEN];
};

scram_server *scram_server_new_hash(int hash)
{
    scram_server *s;
    if (!sc_hash_len(hash) || !(s = calloc(1, sizeof *s))) return NULL;
    s->state = ST_NEW;
    s->hash = hash;
    s->hlen = sc_hash_len(hash);
    return s;
}

scram_server *scram_server_new(void)
{
    return scram_server_new_hash(SC_HASH_SHA256);
}

/* cb-name = 1*(ALPHA / DIGIT / "." / "-")   (RFC 5802 7) */
static int cb_name_ok(const char *n, size_t len)
{
    if (len == 0 || len >= sizeof ((struct cbind *)0)->name) return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_alpha(n[i]) && !(n[i] >= '0' && n[i] <= '9') && n[i] != '.' && n[i] != '-') return 0;
    return 1;
}

int scram_server_channel(scram_server *s, int plus, int offered, const struct scram_cb *cb,
                         size_t n)
{
    if (!s || s->state != ST_NEW || n > SCRAM_CB_NMAX || (n && !cb) || (plus && !n)) return SASL_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        size_t nl = cb[i].name ? strlen(cb[i].name) : 0;
        if (!cb_name_ok(cb[i].name, nl) || cb[i].len > SCRAM_CB_MAX || (cb[i].len && !cb[i].data))
            return SASL_E_INVAL;
        memcpy(s->cb[i].name, cb[i].name, nl + 1);
        memcpy(s->cb[i].data, cb[i].data, cb[i].len);
        s->cb[i].len = cb[i].len;
    }
    s->ncb = n;
    s->plus = plus;
    s->offered = offered;
    return SASL_OK;
}

void scram_server_free(scram_server *s)
{
    if (!s) return;
    sc_zero(s, sizeof *s);
    free(s);
}

/* every error is final: forget the keys */
static int srv_fail(scram_server *s, int err)
{
    s->state = ST_FAILED;
    sc_zero(s->stored_key, sizeof s->stored_key);
    sc_zero(s->server_key, sizeof s->server_key);
    return err;
}

int scram_server_test_nonce(scram_server *s, const char *snonce)
{
    size_t n;
    if (!s || !snonce) return SASL_E_INVAL;
    n = strlen(snonce);
    if (s->state > ST_FIRST || n > SCRAM_MAX_NONCE || !printable(snonce, n)) return SASL_E_INVAL;
    memcpy(s->tnonce, snonce, n + 1);
    s->tnlen = n;
    return SASL_OK;
}

/* client-first-message = gs2-header client-first-message-bare (RFC 5802 7) */
static int srv_parse_first(scram_server *s, const char *m, size_t len, char *az, size_t *azlen)
{
    struct it t;
    struct fld f;
    int r;

    *azlen = 0;
    if ((r = msg_check(m, len)) != SASL_OK) return r;
    it_init(&t, m, len);

    /* gs2-cbind-flag: "n" (no binding), "y" (client could, believes the
     * server cannot), "p=" (binding required; RFC 5802 6: the server MUST
     * fail when it does not support it) */
    it_next(&t, &f);
    s->bound = NULL;
    if (f.n >= 2 && f.s[0] == 'p' && f.s[1] == '=') {
        /* "p=" belongs to a -PLUS mechanism, with a binding we have */
        if (!s->ncb) return SASL_E_CB_UNSUPPORTED;
        if (!s->plus || !cb_name_ok(f.s + 2, f.n - 2)) return SASL_E_MALFORMED;
        for (size_t i = 0; i < s->ncb; i++)
            if (strlen(s->cb[i].name) == f.n - 2 && memcmp(s->cb[i].name, f.s + 2, f.n - 2) == 0)
                s->bound = &s->cb[i];
        if (!s->bound) return SASL_E_CB_UNSUPPORTED;
    } else {
        if (f.n != 1 || (f.s[0] != 'n' && f.s[0] != 'y')) return SASL_E_MALFORMED;
        if (s->plus) return SASL_E_MALFORMED;                /* -PLUS without binding */
        if (f.s[0] == 'y' && s->offered) return SASL_E_CB_DOWNGRADE;
    }

    /* [ authzid ] "," */
    if (!it_next(&t, &f) || t.pos > len) return SASL_E_MALFORMED;
    if (f.n) {
        if (!is_attr(&f, 'a')) return SASL_E_MALFORMED;
        if ((r = saslname_dec(f.s + 2, f.n - 2, az, SASL_MAX_AUTHZID + 1, azlen)) != SASL_OK)
            return r;
        if ((r = name_check(az, *azlen, SASL_MAX_AUTHZID)) != SASL_OK) return r;
    }
    s->gs2len = t.pos;

    /* [reserved-mext ","] username "," nonce ["," extensions] */
    if (!it_next(&t, &f)) return SASL_E_MALFORMED;
    if (f.n >= 2 && f.s[0] == 'm' && f.s[1] == '=') return SASL_E_EXTENSION;
    if (!is_attr(&f, 'n')) return SASL_E_MALFORMED;
    if ((r = saslname_dec(f.s + 2, f.n - 2, s->user, sizeof s->user, &s->userlen)) != SASL_OK)
        return r;
    if ((r = name_check(s->user, s->userlen, SASL_MAX_NAME)) != SASL_OK) return r;

    if (!it_next(&t, &f) || !is_attr(&f, 'r')) return SASL_E_MALFORMED;
    if (f.n - 2 > SCRAM_MAX_NONCE) return SASL_E_TOOLONG;
    if (!printable(f.s + 2, f.n - 2)) return SASL_E_NONCE;
    memcpy(s->nonce, f.s + 2, f.n - 2);
    s->cnlen = f.n - 2;

    while (it_next(&t, &f))
        if ((r = ext_check(&f)) != SASL_OK) return r;

    memcpy(s->cf, m, len);
    s->cflen = len;
    return SASL_OK;
}

int scram_server_first(scram_server *s, const char *client_first, size_t len,
                       char *authzid_out, size_t authzcap, char *user_out, size_t usercap)
{
    char az[SASL_MAX_AUTHZID + 1];
    size_t azlen;
    int r, report;

    if (!s) return SASL_E_INVAL;
    if (s->state != ST_NEW) return srv_fail(s, SASL_E_STATE);
    if (!user_out || usercap == 0 || (authzid_out && authzcap == 0))
        return srv_fail(s, SASL_E_INVAL);
    user_out[0] = 0;
    if (authzid_out) authzid_out[0] = 0;

    if ((r = srv_parse_first(s, client_first, len, az, &azlen)) != SASL_OK ||
        (r = authzid_rule(az, azlen, s->user, s->userlen, authzid_out != NULL, &report)) != SASL_OK)
        return srv_fail(s, r);
    if (s->userlen + 1 > usercap || (report && azlen + 1 > authzcap))
        return srv_fail(s, SASL_E_TOOLONG);
    memcpy(user_out, s->user, s->userlen + 1);
    if (report) memcpy(authzid_out, az, azlen + 1);
    s->state = ST_FIRST;
    return SASL_OK;
}

/* server-first-message = [reserved-mext ","] nonce "," salt ","
 *                        iteration-count ["," extensions]   (RFC 5802 7) */
int scram_server_challenge(scram_server *s, const struct scram_cred *cred,
                           char *out, size_t *outlen)
{
    uint8_t salt[SCRAM_SALT_LEN], rnd[NONCE_RAW];
    unsigned long iter;
    char num[24];
    struct sb b;
    int r;

    if (!s) return SASL_E_INVAL;
    if (s->state != ST_FIRST) return srv_fail(s, SASL_E_STATE);
    if (!out || !outlen || *outlen == 0) return srv_fail(s, SASL_E_INVAL);
    out[0] = 0;

    if (cred) {
        if (cred->iter < SCRAM_ITER_MIN || cred->iter > SCRAM_ITER_MAX || cred->hash != s->hash)
            return srv_fail(s, SASL_E_INVAL);
        memcpy(salt, cred->salt, sizeof salt);
        memcpy(s->stored_key, cred->stored_key, s->hlen);
        memcpy(s->server_key, cred->server_key, s->hlen);
        iter = cred->iter;
        s->known = 1;
    } else {
        /* unknown user: a stable salt and random keys no proof can match */
        if (fake_salt(s->user, s->userlen, salt) != 0 ||
            sc_random(s->stored_key, s->hlen) != 0 || sc_random(s->server_key, s->hlen) != 0)
            return srv_fail(s, SASL_E_INTERNAL);
        iter = fake_iter;
        s->known = 0;
    }

    /* nonce = c-nonce s-nonce (RFC 5802 5.1 "r"): fresh random per exchange */
    b.p = s->nonce;                                    /* appended to the c-nonce */
    b.cap = sizeof s->nonce;
    b.len = s->cnlen;
    b.bad = 0;
    if (s->tnlen) {
        sb_mem(&b, s->tnonce, s->tnlen);
    } else {
        if (sc_random(rnd, sizeof rnd) != 0) return srv_fail(s, SASL_E_INTERNAL);
        sb_b64(&b, rnd, sizeof rnd);                   /* 24 chars of [A-Za-z0-9+/] */
    }
    if (b.bad) return srv_fail(s, SASL_E_INTERNAL);
    s->nlen = b.len;

    snprintf(num, sizeof num, "%lu", iter);
    sb_init(&b, s->sf, sizeof s->sf);
    sb_str(&b, "r=");
    sb_mem(&b, s->nonce, s->nlen);
    sb_str(&b, ",s=");
    sb_b64(&b, salt, sizeof salt);
    sb_str(&b, ",i=");
    sb_str(&b, num);
    if (b.bad) return srv_fail(s, SASL_E_INTERNAL);
    s->sflen = b.len;

    if ((r = put_out(s->sf, s->sflen, out, outlen)) != SASL_OK) return srv_fail(s, r);
    s->state = ST_CHALLENGED;
    return SASL_OK;
}

/* AuthMessage = client-first-message-bare "," server-first-message ","
 *               client-final-message-without-proof   (RFC 5802 3) */
static uint8_t *auth_message(const char *cfb, size_t cfblen, const char *sf, size_t sflen,
                             const char *cfwp, size_t cfwplen, size_t *len)
{
    uint8_t *am;
    *len = cfblen + 1 + sflen + 1 + cfwplen;
    if (!(am = malloc(*len))) return NULL;
    memcpy(am, cfb, cfblen);
    am[cfblen] = ',';
    memcpy(am + cfblen + 1, sf, sflen);
    am[cfblen + 1 + sflen] = ',';
    memcpy(am + cfblen + 2 + sflen, cfwp, cfwplen);
    return am;
}

/* client-final-message = channel-binding "," nonce ["," extensions] "," proof */
static int srv_check_final(scram_server *s, const char *m, size_t len, size_t *wplen,
                           uint8_t proof[HLEN])
{
    const char *lc;
    struct it t;
    struct fld f, pf;
    uint8_t *cb;
    size_t cblen;
    int r;

    if ((r = msg_check(m, len)) != SASL_OK) return r;

    /* proof = "p=" base64, always last */
    if (!(lc = memrchr(m, ',', len))) return SASL_E_MALFORMED;
    pf.s = lc + 1;
    pf.n = len - (size_t)(pf.s - m);
    *wplen = (size_t)(lc - m);
    if (!is_attr(&pf, 'p')) return SASL_E_MALFORMED;

    it_init(&t, m, *wplen);

    /* channel-binding = "c=" base64(gs2-header [cbind-data]); without binding
     * that is the gs2 header alone: "biws" for "n,,", "eSws" for "y,,"
     * (RFC 5802 5.1 "c", 6) */
    it_next(&t, &f);
    if (!is_attr(&f, 'c')) return SASL_E_MALFORMED;
    cblen = f.n;                                 /* decoded is shorter */
    if (!(cb = malloc(cblen))) return SASL_E_INTERNAL;
    if (b64_dec(f.s + 2, f.n - 2, cb, &cblen) != 0)
        r = SASL_E_MALFORMED;
    else if (cblen != s->gs2len + (s->bound ? s->bound->len : 0) || memcmp(cb, s->cf, s->gs2len) != 0 ||
             (s->bound && !sc_ct_eq(cb + s->gs2len, s->bound->data, s->bound->len)))
        r = SASL_E_CB_MISMATCH;     /* another channel: a man in the middle */
    free(cb);
    if (r != SASL_OK) return r;

    /* nonce: exactly the one of server-first (5.1 "r") */
    if (!it_next(&t, &f) || !is_attr(&f, 'r')) return SASL_E_MALFORMED;
    if (f.n - 2 != s->nlen || memcmp(f.s + 2, s->nonce, s->nlen) != 0) return SASL_E_NONCE;

    while (it_next(&t, &f)) {
        if (f.n >= 2 && f.s[0] == 'p' && f.s[1] == '=') return SASL_E_MALFORMED;
        if ((r = ext_check(&f)) != SASL_OK) return r;
    }

    /* ClientProof: exactly one hash length */
    {
        size_t plen = HLEN;
        if (pf.n - 2 != B64LEN(s->hlen) || b64_dec(pf.s + 2, pf.n - 2, proof, &plen) != 0 ||
            plen != s->hlen)
            return SASL_E_MALFORMED;
    }
    return SASL_OK;
}

int scram_server_final(scram_server *s, const char *client_final, size_t len,
                       char *out, size_t *outlen)
{
    uint8_t proof[HLEN], sig[HLEN], ck[HLEN], sk[HLEN];
    uint8_t *am;
    size_t wplen, amlen;
    struct sb b;
    char msg[2 + B64LEN(HLEN) + 1];
    int r, good;

    if (!s) return SASL_E_INVAL;
    if (s->state != ST_CHALLENGED) return srv_fail(s, SASL_E_STATE);
    if (!out || !outlen || *outlen == 0) return srv_fail(s, SASL_E_INVAL);
    out[0] = 0;
    if (*outlen < sizeof msg) return srv_fail(s, SASL_E_SPACE);

    if ((r = srv_check_final(s, client_final, len, &wplen, proof)) != SASL_OK)
        return srv_fail(s, r);

    am = auth_message(s->cf + s->gs2len, s->cflen - s->gs2len, s->sf, s->sflen,
                      client_final, wplen, &amlen);
    if (!am) return srv_fail(s, SASL_E_INTERNAL);

    /* ClientSignature = HMAC(StoredKey, AuthMessage); ClientKey = ClientProof
     * XOR ClientSignature; the client is authentic if H(ClientKey) equals
     * StoredKey (RFC 5802 3).  For an unknown user the keys are random and
     * known == 0, with the same work done. */
    if (sc_hmac(s->hash, s->stored_key, s->hlen, am, amlen, sig) != 0) {
        free(am);
        return srv_fail(s, SASL_E_INTERNAL);
    }
    for (size_t i = 0; i < s->hlen; i++) ck[i] = proof[i] ^ sig[i];
    if (sc_hash(s->hash, ck, s->hlen, sk) != 0) memset(sk, 0xff, sizeof sk);
    good = sc_ct_eq(sk, s->stored_key, s->hlen) & (s->known == 1);
    sc_zero(ck, sizeof ck);
    sc_zero(sk, sizeof sk);

    /* ServerSignature = HMAC(ServerKey, AuthMessage); server-final "v=" */
    r = SASL_E_AUTH;
    if (good) {
        if (sc_hmac(s->hash, s->server_key, s->hlen, am, amlen, sig) != 0) {
            r = SASL_E_INTERNAL;
        } else {
            sb_init(&b, msg, sizeof msg);
            sb_str(&b, "v=");
            sb_b64(&b, sig, s->hlen);
            r = b.bad ? SASL_E_INTERNAL : put_out(msg, b.len, out, outlen);
        }
    }
    free(am);
    sc_zero(sig, sizeof sig);
    sc_zero(proof, sizeof proof);
    if (r != SASL_OK) return srv_fail(s, r);
    s->state = ST_DONE;
    sc_zero(s->stored_key, sizeof s->stored_key);
    sc_zero(s->server_key, sizeof s->server_key);
    return SASL_OK;
}

/* ---- client ------------------------------------------------------------- */

struct scram_client {
    int     state;
    int     hash;
    size_t  hlen;
    struct cbind cb;                        /* cb.name[0]: bound (-PLUS) */
    size_t  enclen, pwlen, cnlen, cfblen;
    char    user_enc[ENC_NAME + 1];
    char    pw[SASL_MAX_PW];
    char    cnonce[SCRAM_MAX_NONCE + 1];
    char    cfb[2 + ENC_NAME + 3 + SCRAM_MAX_NONCE + 1];   /* client-first-bare */
    uint8_t server_sig[HLEN];
};

scram_client *scram_client_new(const char *user, const char *pw, size_t pwlen)
{
    return scram_client_new_hash(SC_HASH_SHA256, user, pw, pwlen);
}

int scram_client_channel(scram_client *c, const char *name, const uint8_t *data, size_t len)
{
    size_t nl = name ? strlen(name) : 0;
    if (!c || c->state != ST_NEW || !cb_name_ok(name, nl) || len > SCRAM_CB_MAX || (len && !data))
        return SASL_E_INVAL;
    memcpy(c->cb.name, name, nl + 1);
    memcpy(c->cb.data, data, len);
    c->cb.len = len;
    return SASL_OK;
}

scram_client *scram_client_new_hash(int hash, const char *user, const char *pw, size_t pwlen)
{
    scram_client *c;
    size_t ulen = user ? strnlen(user, SASL_MAX_NAME + 1) : 0;
    if (!user || !sc_hash_len(hash) || name_check(user, ulen, SASL_MAX_NAME) != SASL_OK ||
        sasl_password_check(pw, pwlen) != SASL_OK) {
        errno = EINVAL;
        return NULL;
    }
    if (!(c = calloc(1, sizeof *c))) {
        errno = ENOMEM;
        return NULL;
    }
    c->state = ST_NEW;
    c->hash = hash;
    c->hlen = sc_hash_len(hash);
    c->enclen = saslname_enc(user, ulen, c->user_enc);
    memcpy(c->pw, pw, pwlen);
    c->pwlen = pwlen;
    return c;
}

void scram_client_free(scram_client *c)
{
    if (!c) return;
    sc_zero(c, sizeof *c);
    free(c);
}

static int cli_fail(scram_client *c, int err)
{
    c->state = ST_FAILED;
    sc_zero(c->pw, sizeof c->pw);
    sc_zero(c->server_sig, sizeof c->server_sig);
    return err;
}

int scram_client_test_nonce(scram_client *c, const char *cnonce)
{
    size_t n;
    if (!c || !cnonce) return SASL_E_INVAL;
    n = strlen(cnonce);
    if (c->state != ST_NEW || n > SCRAM_MAX_NONCE || !printable(cnonce, n)) return SASL_E_INVAL;
    memcpy(c->cnonce, cnonce, n + 1);
    c->cnlen = n;
    return SASL_OK;
}

int scram_client_first(scram_client *c, char *out, size_t *outlen)
{
    uint8_t rnd[NONCE_RAW];
    struct sb b;

    if (!c) return SASL_E_INVAL;
    if (c->state != ST_NEW) return cli_fail(c, SASL_E_STATE);
    if (!out || !outlen || *outlen == 0) return cli_fail(c, SASL_E_INVAL);
    out[0] = 0;
    if (!c->cnlen) {
        sb_init(&b, c->cnonce, sizeof c->cnonce);
        if (sc_random(rnd, sizeof rnd) != 0) return cli_fail(c, SASL_E_INTERNAL);
        sb_b64(&b, rnd, sizeof rnd);
        if (b.bad) return cli_fail(c, SASL_E_INTERNAL);
        c->cnlen = b.len;
    }
    /* "n,," : no channel binding, no authzid (RFC 5802 5.1, 6) */
    sb_init(&b, c->cfb, sizeof c->cfb);
    sb_str(&b, "n=");
    sb_mem(&b, c->user_enc, c->enclen);
    sb_str(&b, ",r=");
    sb_mem(&b, c->cnonce, c->cnlen);
    if (b.bad) return cli_fail(c, SASL_E_INTERNAL);
    c->cfblen = b.len;

    /* gs2 header: "n,," or "p=NAME,," (RFC 5802 7) */
    sb_init(&b, out, *outlen);
    if (c->cb.name[0]) {
        sb_str(&b, "p=");
        sb_str(&b, c->cb.name);
        sb_str(&b, ",,");
    } else
        sb_str(&b, "n,,");
    sb_mem(&b, c->cfb, c->cfblen);
    if (b.bad) {
        out[0] = 0;
        return cli_fail(c, SASL_E_SPACE);
    }
    *outlen = b.len;
    c->state = ST_FIRST;
    return SASL_OK;
}

/* posit-number = %x31-39 *DIGIT (RFC 5802 7), within the accepted range */
static int parse_iter(const char *s, size_t n, unsigned long *out)
{
    unsigned long v = 0;
    if (n == 0 || s[0] < '1' || s[0] > '9') return SASL_E_MALFORMED;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return SASL_E_MALFORMED;
        if (v > SCRAM_ITER_MAX) return SASL_E_ITER;         /* stop before overflow */
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < SCRAM_ITER_MIN || v > SCRAM_ITER_MAX) return SASL_E_ITER;
    *out = v;
    return SASL_OK;
}

static int cli_parse_first(scram_client *c, const char *m, size_t len, struct fld *nonce,
                           uint8_t *salt, size_t *saltlen, unsigned long *iter)
{
    struct it t;
    struct fld f;
    int r;

    if ((r = msg_check(m, len)) != SASL_OK) return r;
    it_init(&t, m, len);

    it_next(&t, &f);
    if (f.n >= 2 && f.s[0] == 'm' && f.s[1] == '=') return SASL_E_EXTENSION;
    /* the nonce must start with ours and add the server's part (5.1 "r") */
    if (!is_attr(&f, 'r')) return SASL_E_MALFORMED;
    if (f.n - 2 > 2 * SCRAM_MAX_NONCE) return SASL_E_TOOLONG;
    if (f.n - 2 <= c->cnlen || memcmp(f.s + 2, c->cnonce, c->cnlen) != 0 ||
        !printable(f.s + 2, f.n - 2))
        return SASL_E_NONCE;
    nonce->s = f.s + 2;
    nonce->n = f.n - 2;

    if (!it_next(&t, &f) || !is_attr(&f, 's')) return SASL_E_MALFORMED;
    if (f.n - 2 > B64LEN(SALT_MAX)) return SASL_E_TOOLONG;
    if (b64_dec(f.s + 2, f.n - 2, salt, saltlen) != 0 || *saltlen == 0) return SASL_E_MALFORMED;

    if (!it_next(&t, &f) || !is_attr(&f, 'i')) return SASL_E_MALFORMED;
    if ((r = parse_iter(f.s + 2, f.n - 2, iter)) != SASL_OK) return r;

    while (it_next(&t, &f))
        if ((r = ext_check(&f)) != SASL_OK) return r;
    return SASL_OK;
}

int scram_client_final(scram_client *c, const char *server_first, size_t len,
                       char *out, size_t *outlen)
{
    uint8_t salt[SALT_MAX], ck[HLEN], stk[HLEN], svk[HLEN], sig[HLEN], proof[HLEN];
    size_t saltlen = sizeof salt, amlen, wplen;
    unsigned long iter;
    struct fld nonce;
    uint8_t *am = NULL;
    struct sb b;
    int r;

    if (!c) return SASL_E_INVAL;
    if (c->state != ST_FIRST) return cli_fail(c, SASL_E_STATE);
    if (!out || !outlen || *outlen == 0) return cli_fail(c, SASL_E_INVAL);
    out[0] = 0;
    if ((r = cli_parse_first(c, server_first, len, &nonce, salt, &saltlen, &iter)) != SASL_OK)
        return cli_fail(c, r);

    /* client-final-message-without-proof, then "," proof, straight into out */
    sb_init(&b, out, *outlen);
    sb_str(&b, "c=");
    {
        /* base64(gs2 header || channel binding data) */
        uint8_t gs2[3 + sizeof c->cb.name + 2 + SCRAM_CB_MAX];
        size_t gl = 0;
        if (c->cb.name[0]) {
            size_t nl = strlen(c->cb.name);
            memcpy(gs2, "p=", 2);
            memcpy(gs2 + 2, c->cb.name, nl);
            memcpy(gs2 + 2 + nl, ",,", 2);
            memcpy(gs2 + 4 + nl, c->cb.data, c->cb.len);
            gl = 4 + nl + c->cb.len;
        } else {
            memcpy(gs2, "n,,", 3);
            gl = 3;
        }
        sb_b64(&b, gs2, gl);
    }
    sb_str(&b, ",r=");
    sb_mem(&b, nonce.s, nonce.n);
    wplen = b.len;
    if (b.bad || wplen + 3 + B64LEN(c->hlen) + 1 > *outlen) {
        out[0] = 0;
        return cli_fail(c, SASL_E_SPACE);
    }

    r = derive(c->hash, c->pw, c->pwlen, salt, saltlen, iter, ck, stk, svk);
    if (r == SASL_OK &&
        !(am = auth_message(c->cfb, c->cfblen, server_first, len, out, wplen, &amlen)))
        r = SASL_E_INTERNAL;
    /* ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage);
     * ServerSignature = HMAC(ServerKey, AuthMessage)   (RFC 5802 3) */
    if (r == SASL_OK && (sc_hmac(c->hash, stk, c->hlen, am, amlen, sig) != 0 ||
                         sc_hmac(c->hash, svk, c->hlen, am, amlen, c->server_sig) != 0))
        r = SASL_E_INTERNAL;
    if (r == SASL_OK) {
        for (size_t i = 0; i < c->hlen; i++) proof[i] = ck[i] ^ sig[i];
        sb_str(&b, ",p=");
        sb_b64(&b, proof, c->hlen);
        if (b.bad) r = SASL_E_INTERNAL;
    }
    free(am);
    sc_zero(ck, sizeof ck);
    sc_zero(stk, sizeof stk);
    sc_zero(svk, sizeof svk);
    sc_zero(sig, sizeof sig);
    sc_zero(proof, sizeof proof);
    sc_zero(c->pw, sizeof c->pw);                /* not needed any more */
    if (r != SASL_OK) {
        sc_zero(out, *outlen);
        return cli_fail(c, r);
    }
    *outlen = b.len;
    c->state = ST_CHALLENGED;
    return SASL_OK;
}

/* server-final-message = (server-error / verifier) ["," extensions] */
int scram_client_verify(scram_client *c, const char *server_final, size_t len)
{
    struct it t;
    struct fld f;
    uint8_t v[HLEN];
    size_t vlen = sizeof v;
    int r;

    if (!c) return SASL_E_INVAL;
    if (c->state != ST_CHALLENGED) return cli_fail(c, SASL_E_STATE);
    if ((r = msg_check(server_final, len)) != SASL_OK) return cli_fail(c, r);
    it_init(&t, server_final, len);
    it_next(&t, &f);
    if (is_attr(&f, 'e')) return cli_fail(c, SASL_E_SERVER_ERROR);
    if (f.n >= 2 && f.s[0] == 'm' && f.s[1] == '=') return cli_fail(c, SASL_E_EXTENSION);
    if (!is_attr(&f, 'v') || f.n - 2 != B64LEN(c->hlen) ||
        b64_dec(f.s + 2, f.n - 2, v, &vlen) != 0 || vlen != c->hlen)
        return cli_fail(c, SASL_E_MALFORMED);
    while (it_next(&t, &f))
        if ((r = ext_check(&f)) != SASL_OK) return cli_fail(c, r);
    if (!sc_ct_eq(v, c->server_sig, c->hlen)) return cli_fail(c, SASL_E_SERVER_SIG);
    c->state = ST_DONE;
    sc_zero(c->server_sig, sizeof c->server_sig);
    return SASL_OK;
}

/* ---- PLAIN (RFC 4616 2) ------------------------------------------------- */

int sasl_plain_parse(const uint8_t *msg, size_t len, char *authzid, size_t authzcap,
                     char *user, size_t usercap, char *pw, size_t pwcap, size_t *pwlen)
{
    const uint8_t *n1, *n2;
    const char *az, *u, *p;
    size_t azlen, ulen, plen;
    int r, report;

    if (!msg || !user || !usercap || !pw || !pwcap || !pwlen || (authzid && !authzcap))
        return SASL_E_INVAL;
    user[0] = 0;
    pw[0] = 0;
    *pwlen = 0;
    if (authzid) authzid[0] = 0;
    if (len > SASL_PLAIN_MAX) return SASL_E_TOOLONG;

    /* message = [authzid] UTF8NUL authcid UTF8NUL passwd: exactly two NULs */
    if (!(n1 = memchr(msg, 0, len))) return SASL_E_MALFORMED;
    if (!(n2 = memchr(n1 + 1, 0, len - (size_t)(n1 + 1 - msg)))) return SASL_E_MALFORMED;
    if (memchr(n2 + 1, 0, len - (size_t)(n2 + 1 - msg))) return SASL_E_MALFORMED;
    az = (const char *)msg;
    azlen = (size_t)(n1 - msg);
    u = (const char *)n1 + 1;
    ulen = (size_t)(n2 - n1 - 1);
    p = (const char *)n2 + 1;
    plen = len - (size_t)(n2 + 1 - msg);

    /* authcid and passwd are 1*SAFE, authzid absent or 1*SAFE: UTF-8 */
    if (ulen == 0 || plen == 0) return SASL_E_MALFORMED;
    if (utf8_ok((const uint8_t *)az, azlen, 0) || utf8_ok((const uint8_t *)u, ulen, 0) ||
        utf8_ok((const uint8_t *)p, plen, 0))
        return SASL_E_MALFORMED;
    if ((r = name_check(u, ulen, SASL_MAX_NAME)) != SASL_OK) return r;
    if (azlen && (r = name_check(az, azlen, SASL_MAX_AUTHZID)) != SASL_OK) return r;
    if ((r = sasl_password_check(p, plen)) != SASL_OK) return r;
    if ((r = authzid_rule(az, azlen, u, ulen, authzid != NULL, &report)) != SASL_OK) return r;
    if (ulen + 1 > usercap || plen + 1 > pwcap || (report && azlen + 1 > authzcap))
        return SASL_E_TOOLONG;

    memcpy(user, u, ulen);
    user[ulen] = 0;
    memcpy(pw, p, plen);
    pw[plen] = 0;
    *pwlen = plen;
    if (report) {
        memcpy(authzid, az, azlen);
        authzid[azlen] = 0;
    }
    return SASL_OK;
}
