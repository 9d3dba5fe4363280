/*
 * sasl.c - tests of lib/sasl.h: SCRAM-SHA-256 (RFC 5802, RFC 7677) both
 * sides, and PLAIN parsing (RFC 4616).
 *
 *   RFC 7677 3    the example exchange, byte for byte
 *   round trips   random nonces and salts, escaped and non-ASCII names
 *   failures      wrong password, unknown user (challenge indistinguishable),
 *                 tampered nonce / channel binding / proof, malformed and
 *                 oversize messages, steps out of order, mutated messages
 *   client        bad server-first / server-final messages
 *   PLAIN         good and bad messages
 *
 * Some exchanges are completed with a client computed here straight from the
 * RFC 5802 3 formulas over lib/crypto.h, independently of the module's
 * client, so the server is not only tested against its own twin.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sasl.h"
#include "tap.h"

/* RFC 7677 3 */
#define RFC_USER    "user"
#define RFC_PW      "pencil"
#define RFC_CNONCE  "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE  "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SALT    "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CF      "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_SF      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
                    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CFINAL  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
                    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SFINAL  "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* a syntactically valid proof (32 zero octets) for malformed-message tests */
#define ZPROOF "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static char out[SCRAM_OUT_MAX], out2[SCRAM_OUT_MAX];

static void die_test(const char *what)
{
    printf("Bail out! %s\n", what);
    exit(2);
}

static int cond_is(int r, const char *cond)
{
    const char *c = sasl_condition(r);
    return c && strcmp(c, cond) == 0;
}

static struct scram_cred rfc_cred(void)
{
    struct scram_cred cred;
    uint8_t salt[32];
    size_t sl = sizeof salt;
    if (sc_b64_decode(RFC_SALT, strlen(RFC_SALT), salt, &sl) != 0 || sl != SCRAM_SALT_LEN ||
        scram_make_cred_salt(RFC_PW, strlen(RFC_PW), salt, 4096, &cred) != SASL_OK)
        die_test("RFC credential");
    return cred;
}

static int srv_first(scram_server *s, const char *m, char *user, size_t cap)
{
    return scram_server_first(s, m, strlen(m), NULL, 0, user, cap);
}

/* a server that has sent its challenge for client-first cf (bails out on
 * failure: only used where these steps must work) */
static scram_server *srv_challenged(const char *cf, const struct scram_cred *cred,
                                    const char *snonce, char *sf, size_t sfcap)
{
    char user[SASL_MAX_NAME + 1];
    size_t ol = sfcap;
    scram_server *s = scram_server_new();
    if (!s) die_test("scram_server_new");
    if (scram_server_first(s, cf, strlen(cf), NULL, 0, user, sizeof user) != SASL_OK ||
        (snonce && scram_server_test_nonce(s, snonce) != SASL_OK) ||
        scram_server_challenge(s, cred, sf, &ol) != SASL_OK)
        die_test(cf);
    return s;
}

/*
 * client-final-message for AuthMessage = cfb "," sf "," cfwp, computed from
 * RFC 5802 3 directly; the expected server-final goes to sfinal.
 */
static void manual_final(const char *pw, const uint8_t *salt, size_t saltlen, unsigned long iter,
                         const char *cfb, const char *sf, const char *cfwp,
                         char *res, size_t cap, char *sfinal, size_t sfcap)
{
    uint8_t sp[32], ck[32], stk[32], svk[32], sig[32], proof[32];
    char am[8192], p64[64];
    size_t pl = sizeof p64;
    int n = snprintf(am, sizeof am, "%s,%s,%s", cfb, sf, cfwp);
    if (n < 0 || (size_t)n >= sizeof am ||
        sc_pbkdf2_sha256(pw, strlen(pw), salt, saltlen, iter, sp, sizeof sp) != 0 ||
        sc_hmac_sha256(sp, 32, "Client Key", 10, ck) != 0 ||
        sc_hmac_sha256(sp, 32, "Server Key", 10, svk) != 0)
        die_test("manual_final");
    sc_sha256(ck, 32, stk);
    if (sc_hmac_sha256(stk, 32, am, (size_t)n, sig) != 0) die_test("manual_final hmac");
    for (int i = 0; i < 32; i++) proof[i] = ck[i] ^ sig[i];
    if (sc_b64_encode(proof, 32, p64, &pl) != 0) die_test("manual_final b64");
    snprintf(res, cap, "%s,p=%s", cfwp, p64);
    if (sfinal) {
        if (sc_hmac_sha256(svk, 32, am, (size_t)n, sig) != 0) die_test("manual_final hmac");
        pl = sizeof p64;
        if (sc_b64_encode(sig, 32, p64, &pl) != 0) die_test("manual_final b64");
        snprintf(sfinal, sfcap, "v=%s", p64);
    }
}

/* salt of a server-first message (its s= attribute), decoded */
static size_t sf_salt(const char *sf, uint8_t *salt, size_t cap)
{
    const char *s = strstr(sf, ",s="), *e;
    size_t sl = cap;
    if (!s) return 0;
    s += 3;
    e = strchr(s, ',');
    if (!e || sc_b64_decode(s, (size_t)(e - s), salt, &sl) != 0) return 0;
    return sl;
}

/* ------------------------------------------------------------------------ */

static void test_conditions(void)
{
    static const struct { int err; const char *cond; } map[] = {
        { SASL_E_MALFORMED, "malformed-request" },   { SASL_E_AUTH, "not-authorized" },
        { SASL_E_AUTHZID, "invalid-authzid" },       { SASL_E_CB_UNSUPPORTED, "encryption-required" },
        { SASL_E_CB_MISMATCH, "malformed-request" }, { SASL_E_NONCE, "malformed-request" },
        { SASL_E_EXTENSION, "malformed-request" },   { SASL_E_TOOLONG, "malformed-request" },
        { SASL_E_ITER, "malformed-request" },        { SASL_E_PASSWORD, "not-authorized" },
        { SASL_E_STATE, "malformed-request" },       { SASL_E_SPACE, "temporary-auth-failure" },
        { SASL_E_INVAL, "temporary-auth-failure" },  { SASL_E_INTERNAL, "temporary-auth-failure" },
        { SASL_E_SERVER_ERROR, "not-authorized" },   { SASL_E_SERVER_SIG, "not-authorized" },
        { SASL_E_ENCODING, "incorrect-encoding" },   { SASL_E_MECHANISM, "invalid-mechanism" },
        { SASL_E_ABORTED, "aborted" },               { -1000, "not-authorized" },
    };
    int good = 1, distinct = 1;
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (!cond_is(map[i].err, map[i].cond) || !sasl_strerror(map[i].err)) good = 0;
        for (size_t j = 0; j < i; j++)
            if (map[i].err == map[j].err) distinct = 0;
    }
    ok(good, "sasl_condition maps every code to its RFC 6120 6.5 condition");
    ok(distinct, "error codes are distinct");
    ok(sasl_condition(SASL_OK) == NULL && sasl_condition(1) == NULL, "sasl_condition(>=0) is NULL");
    ok(strcmp(sasl_strerror(SASL_OK), "success") == 0 && sasl_strerror(-1000), "sasl_strerror never NULL");
}

static void test_password_check(void)
{
    static const struct { const char *pw; int want; const char *what; } v[] = {
        { "pencil", SASL_OK, "ASCII" },
        { "correct horse battery staple", SASL_OK, "ASCII with spaces" },
        { "p\xc3\xa4ssw\xc3\xb6rd", SASL_OK, "UTF-8 two-octet" },
        { "\xe2\x82\xac\xf0\x9f\x94\x91", SASL_OK, "UTF-8 three- and four-octet" },
        { "", SASL_E_PASSWORD, "empty" },
        { "tab\there", SASL_E_PASSWORD, "C0 control" },
        { "del\x7f", SASL_E_PASSWORD, "DEL" },
        { "nl\n", SASL_E_PASSWORD, "newline" },
        { "c1\xc2\x85", SASL_E_PASSWORD, "C1 control U+0085" },
        { "bad\xff", SASL_E_PASSWORD, "invalid octet" },
        { "latin1 \xe9t\xe9", SASL_E_PASSWORD, "Latin-1, not UTF-8" },
        { "\xc0\xaf", SASL_E_PASSWORD, "overlong" },
        { "\xe0\x80\xaf", SASL_E_PASSWORD, "overlong three-octet" },
        { "\xed\xa0\x80", SASL_E_PASSWORD, "surrogate" },
        { "\xf4\x90\x80\x80", SASL_E_PASSWORD, "beyond U+10FFFF" },
        { "\xe2\x82", SASL_E_PASSWORD, "truncated" },
        { "\x80x", SASL_E_PASSWORD, "lone continuation" },
    };
    char big[SASL_MAX_PW + 2];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        ok(sasl_password_check(v[i].pw, strlen(v[i].pw)) == v[i].want, "password check: %s", v[i].what);
    ok(sasl_password_check("a\0b", 3) == SASL_E_PASSWORD, "password check: embedded NUL");
    memset(big, 'x', sizeof big);
    ok(sasl_password_check(big, SASL_MAX_PW) == SASL_OK, "password check: %d octets accepted", SASL_MAX_PW);
    ok(sasl_password_check(big, SASL_MAX_PW + 1) == SASL_E_TOOLONG, "password check: oversize");
}

static void test_cred(void)
{
    struct scram_cred a, b;
    static const uint8_t zero[32];
    ok(scram_make_cred("pencil", 6, 4096, &a) == SASL_OK && a.iter == 4096 &&
       !sc_ct_eq(a.stored_key, zero, 32) && !sc_ct_eq(a.server_key, zero, 32),
       "scram_make_cred");
    ok(scram_make_cred("pencil", 6, 4096, &b) == SASL_OK && memcmp(a.salt, b.salt, 16) != 0 &&
       memcmp(a.stored_key, b.stored_key, 32) != 0, "scram_make_cred: fresh random salt each time");
    ok(scram_make_cred_salt("pencil", 6, a.salt, 4096, &b) == SASL_OK &&
       memcmp(&a.stored_key, &b.stored_key, 32) == 0 && memcmp(&a.server_key, &b.server_key, 32) == 0,
       "scram_make_cred_salt re-derives the same keys");
    ok(scram_make_cred("pencil", 6, 4095, &b) == SASL_E_ITER &&
       scram_make_cred("pencil", 6, SCRAM_ITER_MAX + 1, &b) == SASL_E_ITER,
       "scram_make_cred: iteration count below 4096 or above the maximum refused");
    ok(scram_make_cred("pen\x01" "cil", 7, 4096, &b) == SASL_E_PASSWORD &&
       scram_make_cred("", 0, 4096, &b) == SASL_E_PASSWORD &&
       scram_make_cred("\xff\xfe", 2, 4096, &b) == SASL_E_PASSWORD,
       "scram_make_cred: control character, empty, non-UTF-8 password refused");
    ok(scram_make_cred("x", 1, 4096, NULL) == SASL_E_INVAL, "scram_make_cred: NULL out");
}

static void test_rfc7677(void)
{
    struct scram_cred cred = rfc_cred();
    char user[SASL_MAX_NAME + 1], az[SASL_MAX_AUTHZID + 1];
    size_t ol;
    scram_client *c = scram_client_new(RFC_USER, RFC_PW, strlen(RFC_PW));
    scram_server *s = scram_server_new();
    if (!c || !s) die_test("new");

    ok(scram_client_test_nonce(c, RFC_CNONCE) == SASL_OK, "RFC 7677: client nonce forced");
    ol = sizeof out;
    ok(scram_client_first(c, out, &ol) == SASL_OK && strcmp(out, RFC_CF) == 0 && ol == strlen(RFC_CF),
       "RFC 7677: client-first-message");

    ok(scram_server_first(s, RFC_CF, strlen(RFC_CF), az, sizeof az, user, sizeof user) == SASL_OK &&
       strcmp(user, "user") == 0 && az[0] == 0, "RFC 7677: server parses client-first, user \"user\"");
    ok(scram_server_test_nonce(s, RFC_SNONCE) == SASL_OK, "RFC 7677: server nonce forced");
    ol = sizeof out;
    ok(scram_server_challenge(s, &cred, out, &ol) == SASL_OK && strcmp(out, RFC_SF) == 0 &&
       ol == strlen(RFC_SF), "RFC 7677: server-first-message");

    ol = sizeof out2;
    ok(scram_client_final(c, RFC_SF, strlen(RFC_SF), out2, &ol) == SASL_OK &&
       strcmp(out2, RFC_CFINAL) == 0 && ol == strlen(RFC_CFINAL),
       "RFC 7677: client-final-message (proof dHzbZapW...)");

    ol = sizeof out;
    ok(scram_server_final(s, RFC_CFINAL, strlen(RFC_CFINAL), out, &ol) == SASL_OK &&
       strcmp(out, RFC_SFINAL) == 0 && ol == strlen(RFC_SFINAL),
       "RFC 7677: server-final-message (v=6rriTRBi...)");
    ok(scram_client_verify(c, RFC_SFINAL, strlen(RFC_SFINAL)) == SASL_OK,
       "RFC 7677: client verifies the server signature");

    /* the independent client gives the same bytes */
    {
        uint8_t salt[16];
        char fin[512], sfin[128];
        memcpy(salt, cred.salt, 16);
        manual_final(RFC_PW, salt, 16, 4096, "n=user,r=" RFC_CNONCE, RFC_SF,
                     "c=biws,r=" RFC_CNONCE RFC_SNONCE, fin, sizeof fin, sfin, sizeof sfin);
        ok(strcmp(fin, RFC_CFINAL) == 0 && strcmp(sfin, RFC_SFINAL) == 0,
           "RFC 7677: formulas computed in the test agree");
    }

    ol = sizeof out;
    ok(scram_server_final(s, RFC_CFINAL, strlen(RFC_CFINAL), out, &ol) == SASL_E_STATE,
       "server: no second final step");
    ok(scram_client_verify(c, RFC_SFINAL, strlen(RFC_SFINAL)) == SASL_E_STATE,
       "client: no second verify");
    scram_client_free(c);
    scram_server_free(s);
}

/* one full exchange between the module's client and server */
static int exchange(const char *cuser, const char *cpw, const char *suser_expect,
                    const struct scram_cred *cred, int *final_err, char *snonce_seen, size_t sncap)
{
    char user[SASL_MAX_NAME + 1];
    size_t ol, inl;
    int r = -100;
    scram_client *c = scram_client_new(cuser, cpw, strlen(cpw));
    scram_server *s = scram_server_new();
    *final_err = -100;
    if (!c || !s) goto done;
    ol = sizeof out;
    if (scram_client_first(c, out, &ol) != SASL_OK) goto done;
    if (scram_server_first(s, out, ol, NULL, 0, user, sizeof user) != SASL_OK) goto done;
    if (suser_expect && strcmp(user, suser_expect) != 0) goto done;
    ol = sizeof out;
    if (scram_server_challenge(s, cred, out, &ol) != SASL_OK) goto done;
    if (snonce_seen) {
        if (ol >= sncap) goto done;
        memcpy(snonce_seen, out, ol + 1);
    }
    inl = ol;
    ol = sizeof out2;
    if (scram_client_final(c, out, inl, out2, &ol) != SASL_OK) goto done;
    inl = ol;
    ol = sizeof out;
    *final_err = scram_server_final(s, out2, inl, out, &ol);
    if (*final_err != SASL_OK) { r = 1; goto done; }
    r = scram_client_verify(c, out, ol) == SASL_OK ? 0 : 2;
done:
    scram_client_free(c);
    scram_server_free(s);
    return r;
}

static void test_roundtrip(void)
{
    static const struct { const char *user, *pw; } v[] = {
        { "alice", "s3cret!" },
        { "a,b=c", "pw with , and =" },                  /* saslname escaping */
        { "j\xc3\xbcrgen", "p\xc3\xa4ssw\xc3\xb6rd \xe2\x82\xac" },
        { "=2C", "=3D" },                                /* escapes that are literal */
    };
    char sf1[512], sf2[512];
    int fe;
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        struct scram_cred cred;
        if (scram_make_cred(v[i].pw, strlen(v[i].pw), 4096, &cred) != SASL_OK) die_test("cred");
        ok(exchange(v[i].user, v[i].pw, v[i].user, &cred, &fe, NULL, 0) == 0 && fe == SASL_OK,
           "round trip %zu: user and password both ways, server-final verified", i);
    }
    {
        struct scram_cred cred;
        if (scram_make_cred("pw", 2, 4096, &cred) != SASL_OK) die_test("cred");
        ok(exchange("bob", "pw", "bob", &cred, &fe, sf1, sizeof sf1) == 0 &&
           exchange("bob", "pw", "bob", &cred, &fe, sf2, sizeof sf2) == 0 && strcmp(sf1, sf2) != 0,
           "round trip: nonces differ between exchanges");
        /* r=<24 client chars><24 server chars>,s=<24>,i=4096 */
        ok(strlen(sf1) == 2 + 48 + 3 + 24 + 7 && strstr(sf1, ",i=4096") != NULL,
           "round trip: server-first has 24+24 nonce characters and the stored count");
        ok(exchange("bob", "wrong", "bob", &cred, &fe, NULL, 0) == 1 && fe == SASL_E_AUTH &&
           cond_is(fe, "not-authorized"), "wrong password -> not-authorized");
        ok(exchange("bob", "PW", "bob", &cred, &fe, NULL, 0) == 1 && fe == SASL_E_AUTH,
           "password is case-sensitive");
    }
    {
        /* high iteration count stored: the client follows it */
        struct scram_cred cred;
        if (scram_make_cred("pw", 2, 20000, &cred) != SASL_OK) die_test("cred");
        ok(exchange("carol", "pw", "carol", &cred, &fe, NULL, 0) == 0, "round trip with i=20000");
    }
}

static void test_unknown_user(void)
{
    char sfa[512], sfb[512], sfc[512], sfk[512], sfd[512];
    uint8_t sa[64], sb[64], sc[64], sk[64], sd[64];
    size_t la, lb, lc, lk, ld;
    struct scram_cred cred;
    int fe;
    scram_server *s;

    /* before any secret is configured: a per-process random one */
    ok(exchange("ghost", "pw", "ghost", NULL, &fe, sfa, sizeof sfa) == 1 && fe == SASL_E_AUTH &&
       cond_is(fe, "not-authorized"), "unknown user: challenge given, final step not-authorized");
    ok(exchange("ghost", "pw", "ghost", NULL, &fe, sfb, sizeof sfb) == 1, "unknown user: again");
    la = sf_salt(sfa, sa, sizeof sa);
    lb = sf_salt(sfb, sb, sizeof sb);
    ok(la == SCRAM_SALT_LEN && lb == la && memcmp(sa, sb, la) == 0,
       "unknown user: same 16-octet salt on every attempt");
    ok(strstr(sfa, ",i=10000") != NULL, "unknown user: default iteration count shown");

    ok(scram_server_secret("short", 5, 0) == SASL_E_INVAL, "server secret: too short refused");
    ok(scram_server_secret("0123456789abcdef", 16, 100) == SASL_E_ITER, "server secret: bad count refused");
    ok(scram_server_secret("test secret, not for production use", 35, 4096) == SASL_OK,
       "server secret set, fake count 4096");
    ok(exchange("ghost", "pw", "ghost", NULL, &fe, sfc, sizeof sfc) == 1 && fe == SASL_E_AUTH,
       "unknown user with secret: not-authorized");
    lc = sf_salt(sfc, sc, sizeof sc);
    ok(lc == SCRAM_SALT_LEN && memcmp(sc, sa, lc) != 0, "unknown user: salt follows the secret");
    ok(exchange("ghost2", "pw", "ghost2", NULL, &fe, sfd, sizeof sfd) == 1, "another unknown user");
    ld = sf_salt(sfd, sd, sizeof sd);
    ok(ld == SCRAM_SALT_LEN && memcmp(sd, sc, ld) != 0, "unknown user: salt differs per user");

    /* shape: identical to a real user's challenge with the same count */
    if (scram_make_cred("pw", 2, 4096, &cred) != SASL_OK) die_test("cred");
    ok(exchange("ghost", "pw", "ghost", &cred, &fe, sfk, sizeof sfk) == 0, "same name, known now: success");
    lk = sf_salt(sfk, sk, sizeof sk);
    ok(lk == lc && strlen(sfk) == strlen(sfc) && strstr(sfc, ",i=4096") && strstr(sfk, ",i=4096"),
       "unknown user: challenge has the length and form of a real one");

    /* even a proof made with the fake salt and the "right" password fails */
    {
        char fin[512];
        s = srv_challenged("n,,n=ghost,r=abc", NULL, "XYZ", sfk, sizeof sfk);
        if (!s) die_test("challenge");
        lk = sf_salt(sfk, sk, sizeof sk);
        manual_final("pw", sk, lk, 4096, "n=ghost,r=abc", sfk, "c=biws,r=abcXYZ", fin, sizeof fin, NULL, 0);
        size_t ol = sizeof out;
        fe = scram_server_final(s, fin, strlen(fin), out, &ol);
        ok(fe == SASL_E_AUTH && out[0] == 0, "unknown user: well-formed proof -> not-authorized, no output");
        scram_server_free(s);
    }
}

static void test_manual_client(void)
{
    struct scram_cred cred = rfc_cred();
    char sf[512], fin[1024], sfin[128];
    size_t ol;
    scram_server *s;

    /* "y" flag: c= is base64("y,,") = "eSws" (RFC 5802 6) */
    s = srv_challenged("y,,n=user,r=abc", &cred, "XYZ", sf, sizeof sf);
    manual_final(RFC_PW, cred.salt, 16, 4096, "n=user,r=abc", sf, "c=eSws,r=abcXYZ",
                 fin, sizeof fin, sfin, sizeof sfin);
    ol = sizeof out;
    ok(s && scram_server_final(s, fin, strlen(fin), out, &ol) == SASL_OK && strcmp(out, sfin) == 0,
       "gs2 flag y with c=eSws: success");
    scram_server_free(s);

    s = srv_challenged("y,,n=user,r=abc", &cred, "XYZ", sf, sizeof sf);
    manual_final(RFC_PW, cred.salt, 16, 4096, "n=user,r=abc", sf, "c=biws,r=abcXYZ",
                 fin, sizeof fin, NULL, 0);
    ol = sizeof out;
    ok(s && scram_server_final(s, fin, strlen(fin), out, &ol) == SASL_E_CB_MISMATCH,
       "gs2 flag y but c=biws: channel binding mismatch (even with a valid proof)");
    scram_server_free(s);

    /* authzid equal to the user: c= carries the whole gs2 header */
    s = srv_challenged("n,a=user,n=user,r=abc", &cred, "XYZ", sf, sizeof sf);
    manual_final(RFC_PW, cred.salt, 16, 4096, "n=user,r=abc", sf, "c=bixhPXVzZXIs,r=abcXYZ",
                 fin, sizeof fin, sfin, sizeof sfin);
    ol = sizeof out;
    ok(s && scram_server_final(s, fin, strlen(fin), out, &ol) == SASL_OK && strcmp(out, sfin) == 0,
       "authzid a=user: c=base64(\"n,a=user,\") accepted");
    scram_server_free(s);

    s = srv_challenged("n,a=user,n=user,r=abc", &cred, "XYZ", sf, sizeof sf);
    manual_final(RFC_PW, cred.salt, 16, 4096, "n=user,r=abc", sf, "c=biws,r=abcXYZ",
                 fin, sizeof fin, NULL, 0);
    ol = sizeof out;
    ok(s && scram_server_final(s, fin, strlen(fin), out, &ol) == SASL_E_CB_MISMATCH,
       "authzid a=user but c=biws: mismatch");
    scram_server_free(s);

    /* unknown extensions are ignored, and covered by the proof */
    s = srv_challenged("n,,n=user,r=abc,x=first-ext", &cred, "XYZ", sf, sizeof sf);
    manual_final(RFC_PW, cred.salt, 16, 4096, "n=user,r=abc,x=first-ext", sf,
                 "c=biws,r=abcXYZ,y=final-ext", fin, sizeof fin, sfin, sizeof sfin);
    ol = sizeof out;
    ok(s && scram_server_final(s, fin, strlen(fin), out, &ol) == SASL_OK && strcmp(out, sfin) == 0,
       "unknown extensions in client-first and client-final are ignored");
    scram_server_free(s);

    /* proof bound to the transcript: an extension added after signing fails */
    s = srv_challenged("n,,n=user,r=abc", &cred, "XYZ", sf, sizeof sf);
    manual_final(RFC_PW, cred.salt, 16, 4096, "n=user,r=abc", sf, "c=biws,r=abcXYZ",
                 fin, sizeof fin, NULL, 0);
    {
        char tampered[1100];
        const char *p = strstr(fin, ",p=");
        snprintf(tampered, sizeof tampered, "c=biws,r=abcXYZ,z=added%s", p);
        ol = sizeof out;
        ok(s && scram_server_final(s, tampered, strlen(tampered), out, &ol) == SASL_E_AUTH,
           "extension inserted into a signed client-final -> not-authorized");
    }
    scram_server_free(s);

    /* tampered proof (one bit) */
    s = srv_challenged("n,,n=user,r=abc", &cred, "XYZ", sf, sizeof sf);
    manual_final(RFC_PW, cred.salt, 16, 4096, "n=user,r=abc", sf, "c=biws,r=abcXYZ",
                 fin, sizeof fin, NULL, 0);
    {
        char *p = strstr(fin, ",p=") + 3;
        *p = *p == 'A' ? 'B' : 'A';
        ol = sizeof out;
        ok(s && scram_server_final(s, fin, strlen(fin), out, &ol) == SASL_E_AUTH,
           "tampered proof -> not-authorized");
    }
    scram_server_free(s);

    /* output buffer too small for server-final: temporary failure, nothing written */
    s = srv_challenged("n,,n=user,r=abc", &cred, "XYZ", sf, sizeof sf);
    manual_final(RFC_PW, cred.salt, 16, 4096, "n=user,r=abc", sf, "c=biws,r=abcXYZ",
                 fin, sizeof fin, NULL, 0);
    ol = 20;
    ok(s && scram_server_final(s, fin, strlen(fin), out, &ol) == SASL_E_SPACE &&
       cond_is(SASL_E_SPACE, "temporary-auth-failure") && out[0] == 0, "server-final: small buffer");
    scram_server_free(s);

    /* tampered nonce and channel binding with an otherwise valid client */
    {
        scram_client *c = scram_client_new("user", RFC_PW, 6);
        char user[64];
        char *n;
        s = scram_server_new();
        ol = sizeof out;
        if (!c || !s || scram_client_first(c, out, &ol) != SASL_OK ||
            scram_server_first(s, out, ol, NULL, 0, user, sizeof user) != SASL_OK)
            die_test("setup");
        size_t sfl = sizeof out;
        ol = sizeof out2;
        if (scram_server_challenge(s, &cred, out, &sfl) != SASL_OK ||
            scram_client_final(c, out, sfl, out2, &ol) != SASL_OK || !strstr(out2, ",r="))
            die_test("setup");
        n = strstr(out2, ",r=") + 3 + 30;           /* inside the server's part */
        *n = *n == 'A' ? 'B' : 'A';
        ol = sizeof out;
        int r = scram_server_final(s, out2, strlen(out2), out, &ol);
        ok(r == SASL_E_NONCE && cond_is(r, "malformed-request"), "tampered nonce -> malformed-request");
        scram_client_free(c);
        scram_server_free(s);
    }
}

struct mcase { const char *msg; size_t len; int want; const char *what; };

static void test_malformed_first(void)
{
    static const struct mcase v[] = {
        { "", 0, SASL_E_MALFORMED, "empty" },
        { "n", 0, SASL_E_MALFORMED, "flag only" },
        { "n,", 0, SASL_E_MALFORMED, "gs2 header cut" },
        { "n,,", 0, SASL_E_MALFORMED, "gs2 header only" },
        { "n,,n=user", 0, SASL_E_MALFORMED, "missing nonce" },
        { "n,,r=abc", 0, SASL_E_MALFORMED, "missing username" },
        { "n,,r=abc,n=user", 0, SASL_E_MALFORMED, "attributes out of order" },
        { "n,,N=user,r=abc", 0, SASL_E_MALFORMED, "attribute names are case-sensitive" },
        { "n,n=user,r=abc", 0, SASL_E_MALFORMED, "authzid field missing" },
        { "x,,n=user,r=abc", 0, SASL_E_MALFORMED, "unknown gs2 flag" },
        { "nn,,n=user,r=abc", 0, SASL_E_MALFORMED, "long gs2 flag" },
        { "p=tls-unique,,n=user,r=abc", 0, SASL_E_CB_UNSUPPORTED, "channel binding p= (no TLS)" },
        { "p=tls-exporter,a=user,n=user,r=abc", 0, SASL_E_CB_UNSUPPORTED, "channel binding p= with authzid" },
        { "n,,m=ext,n=user,r=abc", 0, SASL_E_EXTENSION, "reserved-mext m=" },
        { "n,,n=user,r=abc,m=ext", 0, SASL_E_EXTENSION, "m= as a later extension" },
        { "n,,n=user,r=abc,1=x", 0, SASL_E_MALFORMED, "extension name not ALPHA" },
        { "n,,n=user,r=abc,x=", 0, SASL_E_MALFORMED, "extension with empty value" },
        { "n,,n=user,r=abc,", 0, SASL_E_MALFORMED, "trailing comma" },
        { "n,,n=user,r=abc,,x=y", 0, SASL_E_MALFORMED, "empty field" },
        { "n,,n=,r=abc", 0, SASL_E_MALFORMED, "empty username" },
        { "n,,n=us=41r,r=abc", 0, SASL_E_MALFORMED, "bad = escape" },
        { "n,,n=user=,r=abc", 0, SASL_E_MALFORMED, "= at end of username" },
        { "n,,n=user=2,r=abc", 0, SASL_E_MALFORMED, "cut = escape" },
        { "n,,n=u\x01ser,r=abc", 0, SASL_E_MALFORMED, "control character in username" },
        { "n,,n=\xff\xfe,r=abc", 0, SASL_E_MALFORMED, "username not UTF-8" },
        { "n,,n=\xc2\x85,r=abc", 0, SASL_E_MALFORMED, "C1 control in username" },
        { "n,,n=user,r=", 0, SASL_E_MALFORMED, "empty nonce" },
        { "n,,n=user,r=a b", 0, SASL_E_NONCE, "nonce with a space" },
        { "n,,n=user,r=ab\xc3\xa9", 0, SASL_E_NONCE, "nonce not printable ASCII" },
        { "n,,n=user,r=abc\0", 16, SASL_E_MALFORMED, "NUL at the end" },
        { "n,,n=us\0er,r=abc", 16, SASL_E_MALFORMED, "NUL inside" },
        { "n,a=other,n=user,r=abc", 0, SASL_E_AUTHZID, "authzid of another user" },
        { "n,a=user@example.org,n=user,r=abc", 0, SASL_E_AUTHZID, "bare JID authzid, caller not looking" },
        { "n,a=,n=user,r=abc", 0, SASL_E_MALFORMED, "empty authzid" },
        { "n,b=user,n=user,r=abc", 0, SASL_E_MALFORMED, "authzid field not a=" },
        { "n,a=us=ZZ,n=user,r=abc", 0, SASL_E_MALFORMED, "bad escape in authzid" },
    };
    char user[SASL_MAX_NAME + 1];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        scram_server *s = scram_server_new();
        size_t len = v[i].len ? v[i].len : strlen(v[i].msg);
        int r = scram_server_first(s, v[i].msg, len, NULL, 0, user, sizeof user);
        const char *want = sasl_condition(v[i].want);
        ok(r == v[i].want && cond_is(r, want) && user[0] == 0,
           "client-first: %s -> %s (%d)", v[i].what, want, r);
        /* the object refuses to go on */
        size_t ol = sizeof out;
        ok(scram_server_challenge(s, NULL, out, &ol) == SASL_E_STATE, "  ... and then refuses a challenge");
        scram_server_free(s);
    }
}

static void test_first_accepts(void)
{
    char user[SASL_MAX_NAME + 1], az[SASL_MAX_AUTHZID + 1], small[4];
    scram_server *s;
    int r;

#define FIRST_OK(msg, wantuser, what) do {                                         \
        s = scram_server_new();                                                    \
        r = srv_first(s, msg, user, sizeof user);                                  \
        ok(r == SASL_OK && strcmp(user, wantuser) == 0, "client-first: %s", what); \
        scram_server_free(s);                                                      \
    } while (0)
    FIRST_OK("n,,n=user,r=abc", "user", "plain");
    FIRST_OK("y,,n=user,r=abc", "user", "gs2 flag y");
    FIRST_OK("n,,n=us=2Cer,r=abc", "us,er", "=2C decoded");
    FIRST_OK("n,,n=us=3Der,r=abc", "us=er", "=3D decoded");
    FIRST_OK("n,,n=us=2ce=3dr,r=abc", "us,e=r", "lower-case hex escapes (RFC 5234 2.3)");
    FIRST_OK("n,,n=j\xc3\xbcrgen,r=abc", "j\xc3\xbcrgen", "UTF-8 username");
    FIRST_OK("n,,n=user,r=abc,x=ignored,Z=also", "user", "unknown extensions ignored");
    FIRST_OK("n,a=user,n=user,r=abc", "user", "authzid equal to the user");
    FIRST_OK("n,,n=user,r=!\"#$%&'()*+-./0123456789:;<=>?@[\\]^_`{|}~", "user", "every printable nonce character");
#undef FIRST_OK

    s = scram_server_new();
    r = scram_server_first(s, "n,a=user@example.org,n=user,r=abc", 33, az, sizeof az, user, sizeof user);
    ok(r == SASL_OK && strcmp(az, "user@example.org") == 0 && strcmp(user, "user") == 0,
       "bare JID authzid handed to the caller");
    scram_server_free(s);

    s = scram_server_new();
    r = scram_server_first(s, "n,a=user,n=user,r=abc", 21, az, sizeof az, user, sizeof user);
    ok(r == SASL_OK && az[0] == 0, "authzid equal to user reported as empty");
    scram_server_free(s);

    s = scram_server_new();
    r = scram_server_first(s, "n,a=user@ex.org/res,n=user,r=abc", 32, az, sizeof az, user, sizeof user);
    ok(r == SASL_E_AUTHZID && cond_is(r, "invalid-authzid"), "full JID authzid refused");
    scram_server_free(s);

    s = scram_server_new();
    r = scram_server_first(s, "n,a=other@example.org,n=user,r=abc", 34, az, sizeof az, user, sizeof user);
    ok(r == SASL_E_AUTHZID, "bare JID of another user refused");
    scram_server_free(s);

    s = scram_server_new();
    r = scram_server_first(s, "n,a=userx@example.org,n=user,r=abc", 34, az, sizeof az, user, sizeof user);
    ok(r == SASL_E_AUTHZID, "bare JID whose localpart only starts with the user refused");
    scram_server_free(s);

    s = scram_server_new();
    r = scram_server_first(s, "n,,n=username,r=abc", 19, NULL, 0, small, sizeof small);
    ok(r == SASL_E_TOOLONG && small[0] == 0, "username longer than the caller's buffer");
    scram_server_free(s);

    s = scram_server_new();
    r = scram_server_first(s, "n,,n=user,r=abc", 15, NULL, 0, NULL, 0);
    ok(r == SASL_E_INVAL, "NULL user buffer");
    scram_server_free(s);

    ok(scram_server_first(NULL, "n,,n=user,r=abc", 15, NULL, 0, user, sizeof user) == SASL_E_INVAL &&
       scram_server_challenge(NULL, NULL, out, &(size_t){ sizeof out }) == SASL_E_INVAL &&
       scram_server_final(NULL, "x", 1, out, &(size_t){ sizeof out }) == SASL_E_INVAL,
       "NULL server object refused");
    scram_server_free(NULL);
    scram_client_free(NULL);

    s = scram_server_new();
    ok(scram_server_first(s, NULL, 5, NULL, 0, user, sizeof user) == SASL_E_INVAL, "NULL message");
    scram_server_free(s);
}

static void test_oversize(void)
{
    char *big = malloc(SCRAM_MAX_MSG + 64);
    char user[SASL_MAX_NAME + 1];
    scram_server *s;
    int r;
    size_t n;
    if (!big) die_test("malloc");

    n = (size_t)snprintf(big, 64, "n,,n=user,r=abc,x=");
    memset(big + n, 'y', SCRAM_MAX_MSG + 1 - n);
    s = scram_server_new();
    r = scram_server_first(s, big, SCRAM_MAX_MSG + 1, NULL, 0, user, sizeof user);
    ok(r == SASL_E_TOOLONG && cond_is(r, "malformed-request"), "client-first over SCRAM_MAX_MSG");
    scram_server_free(s);

    s = scram_server_new();
    r = scram_server_first(s, big, SCRAM_MAX_MSG, NULL, 0, user, sizeof user);
    ok(r == SASL_OK, "client-first of exactly SCRAM_MAX_MSG (long extension) accepted");
    scram_server_free(s);

    n = (size_t)snprintf(big, 64, "n,,n=user,r=");
    memset(big + n, 'N', SCRAM_MAX_NONCE + 1);
    s = scram_server_new();
    r = scram_server_first(s, big, n + SCRAM_MAX_NONCE + 1, NULL, 0, user, sizeof user);
    ok(r == SASL_E_TOOLONG, "client nonce over SCRAM_MAX_NONCE");
    scram_server_free(s);

    n = (size_t)snprintf(big, 64, "n,,n=");
    memset(big + n, 'u', SASL_MAX_NAME + 1);
    memcpy(big + n + SASL_MAX_NAME + 1, ",r=abc", 6);
    s = scram_server_new();
    r = scram_server_first(s, big, n + SASL_MAX_NAME + 7, NULL, 0, user, sizeof user);
    ok(r == SASL_E_TOOLONG, "username over SASL_MAX_NAME");
    scram_server_free(s);

    s = scram_server_new();
    r = scram_server_first(s, big, n + SASL_MAX_NAME, NULL, 0, user, sizeof user);
    ok(r == SASL_E_MALFORMED, "longest username, message ends there: malformed, not a crash");
    scram_server_free(s);

    /* client-final over the limit */
    {
        struct scram_cred cred = rfc_cred();
        char sf[512];
        s = srv_challenged("n,,n=user,r=abc", &cred, "XYZ", sf, sizeof sf);
        n = (size_t)snprintf(big, 64, "c=biws,r=abcXYZ,x=");
        memset(big + n, 'y', SCRAM_MAX_MSG + 1 - n);
        size_t ol = sizeof out;
        r = s ? scram_server_final(s, big, SCRAM_MAX_MSG + 1, out, &ol) : -100;
        ok(r == SASL_E_TOOLONG, "client-final over SCRAM_MAX_MSG");
        scram_server_free(s);
    }
    free(big);
}

static void test_malformed_final(void)
{
    static const struct mcase v[] = {
        { "", 0, SASL_E_MALFORMED, "empty" },
        { "c=biws,r=abcXYZ", 0, SASL_E_MALFORMED, "missing proof" },
        { "r=abcXYZ,p=" ZPROOF, 0, SASL_E_MALFORMED, "missing channel binding" },
        { "c=biws,p=" ZPROOF, 0, SASL_E_MALFORMED, "missing nonce" },
        { "p=" ZPROOF, 0, SASL_E_MALFORMED, "proof only" },
        { ",p=" ZPROOF, 0, SASL_E_MALFORMED, "empty first field" },
        { "C=biws,r=abcXYZ,p=" ZPROOF, 0, SASL_E_MALFORMED, "C= upper case" },
        { "c=bi!s,r=abcXYZ,p=" ZPROOF, 0, SASL_E_MALFORMED, "c= bad base64 character" },
        { "c=biw,r=abcXYZ,p=" ZPROOF, 0, SASL_E_MALFORMED, "c= base64 length not a multiple of 4" },
        { "c=,r=abcXYZ,p=" ZPROOF, 0, SASL_E_MALFORMED, "c= empty" },
        { "c=bg==,r=abcXYZ,p=" ZPROOF, 0, SASL_E_CB_MISMATCH, "c= decodes to something else" },
        { "c=eSws,r=abcXYZ,p=" ZPROOF, 0, SASL_E_CB_MISMATCH, "c=eSws (y,,) after n,," },
        { "c=cD10bHMtdW5pcXVlLCw=,r=abcXYZ,p=" ZPROOF, 0, SASL_E_CB_MISMATCH, "c= claims p=tls-unique" },
        { "c=biws,r=abcXYQ,p=" ZPROOF, 0, SASL_E_NONCE, "nonce changed" },
        { "c=biws,r=abc,p=" ZPROOF, 0, SASL_E_NONCE, "client nonce only" },
        { "c=biws,r=abcXYZW,p=" ZPROOF, 0, SASL_E_NONCE, "nonce extended" },
        { "c=biws,r=,p=" ZPROOF, 0, SASL_E_MALFORMED, "empty nonce" },
        { "c=biws,r=abcXYZ,m=x,p=" ZPROOF, 0, SASL_E_EXTENSION, "m= extension" },
        { "c=biws,r=abcXYZ,9=x,p=" ZPROOF, 0, SASL_E_MALFORMED, "extension name not ALPHA" },
        { "c=biws,r=abcXYZ,p=" ZPROOF ",p=" ZPROOF, 0, SASL_E_MALFORMED, "two proofs" },
        { "c=biws,r=abcXYZ,p=" ZPROOF ",", 0, SASL_E_MALFORMED, "trailing comma" },
        { "c=biws,r=abcXYZ,p=" ZPROOF ",x=1", 0, SASL_E_MALFORMED, "extension after the proof" },
        { "c=biws,r=abcXYZ,p=AAAA", 0, SASL_E_MALFORMED, "proof too short" },
        { "c=biws,r=abcXYZ,p=" ZPROOF "AAAA", 0, SASL_E_MALFORMED, "proof too long" },
        { "c=biws,r=abcXYZ,p=!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0, SASL_E_MALFORMED, "proof bad base64" },
        { "c=biws,r=abcXYZ,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", 0, SASL_E_MALFORMED,
          "proof with non-zero pad bits (RFC 4648 3.5)" },
        { "c=biws,r=abcXYZ,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0, SASL_E_MALFORMED, "proof without padding" },
        { "c=biws,r=abcXYZ,p=", 0, SASL_E_MALFORMED, "proof empty" },
        { "c=biws,r=abcXYZ\0,p=" ZPROOF, 63, SASL_E_MALFORMED, "NUL inside" },
        { "c=biws,r=abc\xff,p=" ZPROOF, 0, SASL_E_MALFORMED, "not UTF-8" },
        { "c=biws,r=abcXYZ,p=" ZPROOF, 0, SASL_E_AUTH, "well-formed, wrong proof -> not-authorized" },
        { "c=biws,r=abcXYZ,x=ext,p=" ZPROOF, 0, SASL_E_AUTH, "unknown extension ignored, wrong proof" },
    };
    struct scram_cred cred = rfc_cred();
    char sf[512];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        scram_server *s = srv_challenged("n,,n=user,r=abc", &cred, "XYZ", sf, sizeof sf);
        size_t len = v[i].len ? v[i].len : strlen(v[i].msg), ol = sizeof out;
        int r = s ? scram_server_final(s, v[i].msg, len, out, &ol) : -100;
        const char *want = sasl_condition(v[i].want);
        ok(r == v[i].want && cond_is(r, want) && out[0] == 0,
           "client-final: %s -> %s (%d)", v[i].what, want, r);
        scram_server_free(s);
    }
}

static void test_state(void)
{
    struct scram_cred cred = rfc_cred();
    char user[64], sf[512];
    size_t ol;
    scram_server *s = scram_server_new();
    ol = sizeof out;
    ok(scram_server_challenge(s, &cred, out, &ol) == SASL_E_STATE, "challenge before first -> state error");
    scram_server_free(s);

    s = scram_server_new();
    ol = sizeof out;
    ok(scram_server_final(s, RFC_CFINAL, strlen(RFC_CFINAL), out, &ol) == SASL_E_STATE,
       "final before challenge -> state error");
    scram_server_free(s);

    s = scram_server_new();
    ok(srv_first(s, RFC_CF, user, sizeof user) == SASL_OK &&
       srv_first(s, RFC_CF, user, sizeof user) == SASL_E_STATE, "first step twice -> state error");
    scram_server_free(s);

    s = srv_challenged(RFC_CF, &cred, RFC_SNONCE, sf, sizeof sf);
    ol = sizeof out;
    ok(s && scram_server_final(s, "c=biws", 6, out, &ol) == SASL_E_MALFORMED &&
       scram_server_final(s, RFC_CFINAL, strlen(RFC_CFINAL), out, &ol) == SASL_E_STATE,
       "after a failed final, even the right message is refused");
    ok(scram_server_test_nonce(s, "x") == SASL_E_INVAL, "test nonce hook refused after the challenge");
    scram_server_free(s);

    s = scram_server_new();
    ok(scram_server_test_nonce(s, "a,b") == SASL_E_INVAL && scram_server_test_nonce(s, "") == SASL_E_INVAL &&
       scram_server_test_nonce(s, "a b") == SASL_E_INVAL, "test nonce hook checks printable");
    ok(srv_first(s, RFC_CF, user, sizeof user) == SASL_OK, "setup");
    ol = 10;
    ok(scram_server_challenge(s, &cred, out, &ol) == SASL_E_SPACE, "challenge: small output buffer");
    scram_server_free(s);

    s = scram_server_new();
    cred.iter = 1;
    ok(srv_first(s, RFC_CF, user, sizeof user) == SASL_OK, "setup");
    ol = sizeof out;
    ok(scram_server_challenge(s, &cred, out, &ol) == SASL_E_INVAL, "challenge: stored count out of range");
    scram_server_free(s);
}

static void test_client(void)
{
    static const struct mcase sfv[] = {
        { "r=abc,s=" RFC_SALT ",i=4096", 0, SASL_E_NONCE, "server added nothing to the nonce" },
        { "r=abXYZ,s=" RFC_SALT ",i=4096", 0, SASL_E_NONCE, "nonce does not start with ours" },
        { "r=abcX Z,s=" RFC_SALT ",i=4096", 0, SASL_E_NONCE, "nonce not printable" },
        { "r=abcXYZ,s=" RFC_SALT ",i=4095", 0, SASL_E_ITER, "i below 4096" },
        { "r=abcXYZ,s=" RFC_SALT ",i=10000001", 0, SASL_E_ITER, "i above the maximum" },
        { "r=abcXYZ,s=" RFC_SALT ",i=99999999999999999999999", 0, SASL_E_ITER, "i huge" },
        { "r=abcXYZ,s=" RFC_SALT ",i=04096", 0, SASL_E_MALFORMED, "i with leading zero" },
        { "r=abcXYZ,s=" RFC_SALT ",i=4096x", 0, SASL_E_MALFORMED, "i not a number" },
        { "r=abcXYZ,s=" RFC_SALT ",i=-4096", 0, SASL_E_MALFORMED, "i negative" },
        { "r=abcXYZ,s=" RFC_SALT, 0, SASL_E_MALFORMED, "missing i" },
        { "r=abcXYZ,i=4096", 0, SASL_E_MALFORMED, "missing s" },
        { "s=" RFC_SALT ",i=4096", 0, SASL_E_MALFORMED, "missing r" },
        { "r=abcXYZ,s=W22Z!J0SNY7soEsUEjb6gQ==,i=4096", 0, SASL_E_MALFORMED, "salt bad base64" },
        { "r=abcXYZ,s=W22ZaJ0SNY7soEsUEjb6gR==,i=4096", 0, SASL_E_MALFORMED, "salt non-canonical" },
        { "m=x,r=abcXYZ,s=" RFC_SALT ",i=4096", 0, SASL_E_EXTENSION, "reserved-mext" },
        { "e=other-error", 0, SASL_E_MALFORMED, "an error instead of a challenge" },
    };
    char buf[512];
    size_t ol;
    scram_client *c;

    errno = 0;
    ok(!scram_client_new("user", "bad\npw", 6) && errno == EINVAL, "client: control character in password refused");
    ok(!scram_client_new("", "pw", 2) && !scram_client_new(NULL, "pw", 2) &&
       !scram_client_new("u\tser", "pw", 2) && !scram_client_new("user", "", 0),
       "client: empty or bad user, empty password refused");
    ok(!scram_client_new("user", "pw", SASL_MAX_PW + 1), "client: oversize password refused");

    for (size_t i = 0; i < sizeof sfv / sizeof *sfv; i++) {
        c = scram_client_new("user", "pencil", 6);
        ol = sizeof buf;
        if (!c || scram_client_test_nonce(c, "abc") != SASL_OK || scram_client_first(c, buf, &ol) != SASL_OK)
            die_test("client setup");
        ol = sizeof out;
        int r = scram_client_final(c, sfv[i].msg, strlen(sfv[i].msg), out, &ol);
        ok(r == sfv[i].want && out[0] == 0, "client, server-first: %s (%d)", sfv[i].what, r);
        scram_client_free(c);
    }

    /* a good exchange with the RFC data up to server-final, then bad finals */
    static const struct mcase fv[] = {
        { "e=invalid-proof", 0, SASL_E_SERVER_ERROR, "server error e=" },
        { "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0, SASL_E_SERVER_SIG, "wrong signature" },
        { "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=", 0, SASL_E_MALFORMED, "non-canonical signature" },
        { "v=6rriTRBi23WpRR", 0, SASL_E_MALFORMED, "short signature" },
        { "v=", 0, SASL_E_MALFORMED, "empty signature" },
        { "", 0, SASL_E_MALFORMED, "empty message" },
        { "m=x", 0, SASL_E_EXTENSION, "m= extension" },
        { RFC_SFINAL ",m=x", 0, SASL_E_EXTENSION, "right signature then m=" },
        { RFC_SFINAL ",", 0, SASL_E_MALFORMED, "right signature, trailing comma" },
        { RFC_SFINAL ",x=1", 0, SASL_OK, "right signature, unknown extension ignored" },
    };
    for (size_t i = 0; i < sizeof fv / sizeof *fv; i++) {
        c = scram_client_new(RFC_USER, RFC_PW, 6);
        ol = sizeof buf;
        if (!c || scram_client_test_nonce(c, RFC_CNONCE) != SASL_OK || scram_client_first(c, buf, &ol) != SASL_OK)
            die_test("client setup");
        ol = sizeof buf;
        if (scram_client_final(c, RFC_SF, strlen(RFC_SF), buf, &ol) != SASL_OK) die_test("client final");
        int r = scram_client_verify(c, fv[i].msg, strlen(fv[i].msg));
        ok(r == fv[i].want, "client, server-final: %s (%d)", fv[i].what, r);
        scram_client_free(c);
    }

    c = scram_client_new("user", "pencil", 6);
    ol = sizeof out;
    ok(scram_client_final(c, RFC_SF, strlen(RFC_SF), out, &ol) == SASL_E_STATE, "client: final before first");
    scram_client_free(c);

    c = scram_client_new("user", "pencil", 6);
    ol = 5;
    ok(scram_client_first(c, out, &ol) == SASL_E_SPACE, "client: small buffer for client-first");
    scram_client_free(c);

    c = scram_client_new("user", "pencil", 6);
    ol = sizeof out;
    ok(scram_client_first(c, out, &ol) == SASL_OK && ol == strlen("n,,n=user,r=") + 24 &&
       strncmp(out, "n,,n=user,r=", 12) == 0 && scram_client_test_nonce(c, "x") == SASL_E_INVAL,
       "client: random 24-character nonce; nonce hook refused afterwards");
    scram_client_free(c);

    c = scram_client_new("a,b=c", "pencil", 6);
    ol = sizeof out;
    ok(c && scram_client_test_nonce(c, "n") == SASL_OK && scram_client_first(c, out, &ol) == SASL_OK &&
       strcmp(out, "n,,n=a=2Cb=3Dc,r=n") == 0, "client: username escaped as saslname");
    scram_client_free(c);
}

static void test_plain(void)
{
    struct pcase { const char *msg; size_t len; int want; const char *what; };
#define P(s) s, sizeof(s) - 1
    static const struct pcase v[] = {
        { P("\0user\0pencil"), SASL_OK, "no authzid" },
        { P("user\0user\0pencil"), SASL_OK, "authzid equal to the user" },
        { P("user@example.org\0user\0pencil"), SASL_OK, "bare JID authzid" },
        { P("\0j\xc3\xbcrgen\0p\xc3\xa4ss \xe2\x82\xac"), SASL_OK, "UTF-8 user and password" },
        { P("\0user\0pen cil=,"), SASL_OK, "password with space, = and ," },
        { P(""), SASL_E_MALFORMED, "empty" },
        { P("userpencil"), SASL_E_MALFORMED, "no NUL" },
        { P("user\0pencil"), SASL_E_MALFORMED, "one NUL" },
        { P("\0user\0pen\0cil"), SASL_E_MALFORMED, "three NULs" },
        { P("\0user\0pencil\0"), SASL_E_MALFORMED, "trailing NUL" },
        { P("\0\0pencil"), SASL_E_MALFORMED, "empty user" },
        { P("\0user\0"), SASL_E_MALFORMED, "empty password" },
        { P("\0\0"), SASL_E_MALFORMED, "both empty" },
        { P("\0user\0\xff\xfe"), SASL_E_MALFORMED, "password not UTF-8" },
        { P("\0us\xc0\xafr\0pencil"), SASL_E_MALFORMED, "user overlong UTF-8" },
        { P("\xff\0user\0pencil"), SASL_E_MALFORMED, "authzid not UTF-8" },
        { P("\0us\ter\0pencil"), SASL_E_MALFORMED, "control character in user" },
        { P("\0user\0pen\x01" "cil"), SASL_E_PASSWORD, "control character in password" },
        { P("other\0user\0pencil"), SASL_E_AUTHZID, "authzid of another user" },
        { P("user@ex.org/res\0user\0pencil"), SASL_E_AUTHZID, "full JID authzid" },
    };
#undef P
    char az[SASL_MAX_AUTHZID + 1], user[SASL_MAX_NAME + 1], pw[SASL_MAX_PW + 1];
    size_t pwlen;
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        int r = sasl_plain_parse((const uint8_t *)v[i].msg, v[i].len, az, sizeof az, user, sizeof user,
                                 pw, sizeof pw, &pwlen);
        int outputs_ok = r == SASL_OK ? pwlen > 0 && strlen(pw) == pwlen && user[0]
                                      : pw[0] == 0 && pwlen == 0 && user[0] == 0 && az[0] == 0;
        ok(r == v[i].want && outputs_ok, "PLAIN: %s -> %s (%d)", v[i].what,
           r ? sasl_condition(r) : "ok", r);
    }

    ok(sasl_plain_parse((const uint8_t *)"\0user\0pencil", 12, az, sizeof az, user, sizeof user, pw,
                        sizeof pw, &pwlen) == SASL_OK && strcmp(user, "user") == 0 &&
       strcmp(pw, "pencil") == 0 && pwlen == 6 && az[0] == 0, "PLAIN: fields extracted");
    ok(sasl_plain_parse((const uint8_t *)"user@example.org\0user\0pencil", 28, az, sizeof az, user,
                        sizeof user, pw, sizeof pw, &pwlen) == SASL_OK &&
       strcmp(az, "user@example.org") == 0, "PLAIN: bare JID authzid handed to the caller");
    ok(sasl_plain_parse((const uint8_t *)"user@example.org\0user\0pencil", 28, NULL, 0, user,
                        sizeof user, pw, sizeof pw, &pwlen) == SASL_E_AUTHZID,
       "PLAIN: bare JID authzid refused when the caller does not look");
    ok(sasl_plain_parse((const uint8_t *)"\0user\0pencil", 12, az, sizeof az, user, sizeof user, pw,
                        6, &pwlen) == SASL_E_TOOLONG && pw[0] == 0, "PLAIN: password buffer too small");
    ok(sasl_plain_parse((const uint8_t *)"\0user\0pencil", 12, az, sizeof az, user, 4, pw,
                        sizeof pw, &pwlen) == SASL_E_TOOLONG, "PLAIN: user buffer too small");
    ok(sasl_plain_parse(NULL, 12, az, sizeof az, user, sizeof user, pw, sizeof pw, &pwlen) == SASL_E_INVAL &&
       sasl_plain_parse((const uint8_t *)"\0u\0p", 4, az, sizeof az, user, sizeof user, pw, sizeof pw,
                        NULL) == SASL_E_INVAL, "PLAIN: NULL arguments");

    {
        /* RFC 4616 2: 255 octets each must be accepted; past the limits refused */
        uint8_t *m = malloc(SASL_PLAIN_MAX + 16);
        if (!m) die_test("malloc");
        m[0] = 0;
        memset(m + 1, 'u', 255);
        m[256] = 0;
        memset(m + 257, 'p', 255);
        ok(sasl_plain_parse(m, 512, az, sizeof az, user, sizeof user, pw, sizeof pw, &pwlen) == SASL_OK &&
           pwlen == 255 && strlen(user) == 255, "PLAIN: 255-octet user and password");
        memset(m + 257, 'p', SASL_MAX_PW + 1);
        ok(sasl_plain_parse(m, 257 + SASL_MAX_PW + 1, az, sizeof az, user, sizeof user, pw, sizeof pw,
                            &pwlen) == SASL_E_TOOLONG, "PLAIN: password over SASL_MAX_PW");
        memset(m + 1, 'u', SASL_MAX_NAME + 1);
        m[SASL_MAX_NAME + 2] = 0;
        m[SASL_MAX_NAME + 3] = 'p';
        ok(sasl_plain_parse(m, SASL_MAX_NAME + 4, az, sizeof az, user, sizeof user, pw, sizeof pw,
                            &pwlen) == SASL_E_TOOLONG, "PLAIN: user over SASL_MAX_NAME");
        memset(m, 'x', SASL_PLAIN_MAX + 1);
        ok(sasl_plain_parse(m, SASL_PLAIN_MAX + 1, az, sizeof az, user, sizeof user, pw, sizeof pw,
                            &pwlen) == SASL_E_TOOLONG, "PLAIN: message over SASL_PLAIN_MAX");
        free(m);
    }
}

/* deterministic mutations of good messages: no crash, never a success */
static uint32_t rng_state = 0x5a5a1234u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static size_t mutate(const char *in, size_t n, char *o, size_t cap)
{
    static const char pick[] = ",=\0aA0+/~\xff\xc3";
    size_t len = n;
    memcpy(o, in, n);
    switch (rng() % 4) {
    case 0:                                              /* change one octet */
        o[rng() % len] = (rng() & 1) ? pick[rng() % (sizeof pick - 1)] : (char)(rng() & 0xff);
        break;
    case 1:                                              /* truncate */
        len = rng() % len;
        break;
    case 2:                                              /* insert */
        if (len + 1 < cap) {
            size_t at = rng() % (len + 1);
            memmove(o + at + 1, o + at, len - at);
            o[at] = pick[rng() % (sizeof pick - 1)];
            len++;
        }
        break;
    default: {                                           /* delete a span */
        size_t at = rng() % len, k = 1 + rng() % 8;
        if (at + k > len) k = len - at;
        memmove(o + at, o + at + k, len - at - k);
        len -= k;
    }
    }
    return len;
}

static void test_mutations(void)
{
    struct scram_cred cred = rfc_cred();
    char m[1024], user[SASL_MAX_NAME + 1], sf[512], pw[SASL_MAX_PW + 1], az[SASL_MAX_AUTHZID + 1];
    int firstbad = 0, finalbad = 0, plainbad = 0, finals = 0;
    size_t len, ol, pwlen;

    for (int i = 0; i < 3000; i++) {
        scram_server *s = scram_server_new();
        len = mutate(RFC_CF, strlen(RFC_CF), m, sizeof m);
        int r = scram_server_first(s, m, len, NULL, 0, user, sizeof user);
        if (r > 0 || (r < 0 && !sasl_condition(r))) firstbad++;
        scram_server_free(s);
    }
    ok(!firstbad, "3000 mutated client-first messages: only defined results");

    for (int i = 0; i < 2000; i++) {
        scram_server *s = srv_challenged(RFC_CF, &cred, RFC_SNONCE, sf, sizeof sf);
        if (!s) die_test("challenge");
        len = mutate(RFC_CFINAL, strlen(RFC_CFINAL), m, sizeof m);
        ol = sizeof out;
        int r = scram_server_final(s, m, len, out, &ol);
        int same = len == strlen(RFC_CFINAL) && memcmp(m, RFC_CFINAL, len) == 0;
        if (same) finals++;
        else if (r >= 0 || !sasl_condition(r)) finalbad++;
        scram_server_free(s);
    }
    ok(!finalbad, "2000 mutated client-final messages: none accepted (%d unchanged skipped)", finals);

    for (int i = 0; i < 3000; i++) {
        static const char good[] = "user\0user\0pencil";
        len = mutate(good, sizeof good - 1, m, sizeof m);
        int r = sasl_plain_parse((const uint8_t *)m, len, az, sizeof az, user, sizeof user, pw,
                                 sizeof pw, &pwlen);
        if (r > 0 || (r < 0 && !sasl_condition(r)) || (r == SASL_OK && strlen(pw) != pwlen)) plainbad++;
    }
    ok(!plainbad, "3000 mutated PLAIN messages: only defined results");
}


/* ---- SCRAM-SHA-1 (RFC 5802 5) and channel binding (RFC 5802 6) ---------- */

static void test_rfc5802(void)
{
    static const char cf[] = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
    static const char sf[] = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    static const char cfin[] = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    static const char sfin[] = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";
    scram_client *c = scram_client_new_hash(SC_HASH_SHA1, "user", "pencil", 6);
    size_t ol = sizeof out;
    ok(c && scram_client_test_nonce(c, "fyko+d2lbbFgONRv9qkxdawL") == SASL_OK &&
       scram_client_first(c, out, &ol) == SASL_OK && strcmp(out, cf) == 0, "RFC 5802: SHA-1 client-first-message");
    ol = sizeof out;
    ok(scram_client_final(c, sf, strlen(sf), out, &ol) == SASL_OK && strcmp(out, cfin) == 0,
       "RFC 5802: SHA-1 client-final-message (p=v0X8v3Bz...)");
    ok(scram_client_verify(c, sfin, strlen(sfin)) == SASL_OK, "RFC 5802: SHA-1 server signature verifies");
    scram_client_free(c);
    c = scram_client_new_hash(SC_HASH_SHA1, "user", "pencil", 6);
    ol = sizeof out;
    scram_client_test_nonce(c, "fyko+d2lbbFgONRv9qkxdawL");
    scram_client_first(c, out, &ol);
    ol = sizeof out;
    scram_client_final(c, sf, strlen(sf), out, &ol);
    ok(scram_client_verify(c, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ", 29) != SASL_OK &&
       scram_client_verify(c, sfin, strlen(sfin)) == SASL_E_STATE, "RFC 5802: a changed signature is refused");
    scram_client_free(c);
    ok(scram_client_new_hash(7, "user", "pencil", 6) == NULL && scram_server_new_hash(7) == NULL,
       "an unknown hash is refused");
}

/* one exchange with a hash and channel bindings on either side */
static int exchange_cb(int hash, const char *ccb, const uint8_t *cdata, size_t cl, int plus, int offered,
                       const struct scram_cb *scb, size_t ns, int *first_err, int *final_err)
{
    char user[SASL_MAX_NAME + 1];
    struct scram_cred cred;
    uint8_t salt[SCRAM_SALT_LEN] = { 1, 2, 3 };
    size_t ol, inl;
    int r = -100;
    scram_client *c = scram_client_new_hash(hash, "user", "pencil", 6);
    scram_server *s = scram_server_new_hash(hash);
    *first_err = *final_err = -100;
    if (!c || !s || scram_make_cred_hash(hash, "pencil", 6, salt, 4096, &cred) != SASL_OK) goto done;
    if (ccb && scram_client_channel(c, ccb, cdata, cl) != SASL_OK) goto done;
    if (ns && scram_server_channel(s, plus, offered, scb, ns) != SASL_OK) goto done;
    ol = sizeof out;
    if (scram_client_first(c, out, &ol) != SASL_OK) goto done;
    if ((*first_err = scram_server_first(s, out, ol, NULL, 0, user, sizeof user)) != SASL_OK) goto done;
    ol = sizeof out;
    if (scram_server_challenge(s, &cred, out, &ol) != SASL_OK) goto done;
    inl = ol;
    ol = sizeof out2;
    if (scram_client_final(c, out, inl, out2, &ol) != SASL_OK) goto done;
    inl = ol;
    ol = sizeof out;
    if ((*final_err = scram_server_final(s, out2, inl, out, &ol)) != SASL_OK) { r = 1; goto done; }
    r = scram_client_verify(c, out, ol) == SASL_OK ? 0 : 2;
done:
    scram_client_free(c);
    scram_server_free(s);
    return r;
}

static void test_channel_binding(void)
{
    uint8_t ex[32], ex2[32], ep[32];
    int f1, f2;
    memset(ex, 0xa5, sizeof ex);
    memset(ex2, 0xa5, sizeof ex2);
    ex2[31] ^= 1;
    memset(ep, 0x3c, sizeof ep);
    struct scram_cb both[2] = { { "tls-exporter", ex, 32 }, { "tls-server-end-point", ep, 32 } };
    struct scram_cb other[1] = { { "tls-exporter", ex2, 32 } };

    ok(exchange_cb(SC_HASH_SHA1, NULL, NULL, 0, 0, 0, NULL, 0, &f1, &f2) == 0, "SCRAM-SHA-1: client and server agree");
    ok(exchange_cb(SC_HASH_SHA256, "tls-exporter", ex, 32, 1, 1, both, 2, &f1, &f2) == 0,
       "-PLUS: tls-exporter, same channel: success");
    ok(exchange_cb(SC_HASH_SHA1, "tls-server-end-point", ep, 32, 1, 1, both, 2, &f1, &f2) == 0,
       "-PLUS: SHA-1 with tls-server-end-point: success");
    ok(exchange_cb(SC_HASH_SHA256, "tls-exporter", ex, 32, 1, 1, other, 1, &f1, &f2) == 1 &&
       f2 == SASL_E_CB_MISMATCH, "-PLUS: another channel's data (one bit) is refused at the final message");
    ok(exchange_cb(SC_HASH_SHA256, "tls-exporter", ex, 31, 1, 1, both, 2, &f1, &f2) == 1 &&
       f2 == SASL_E_CB_MISMATCH, "-PLUS: data one byte short is refused");
    ok(exchange_cb(SC_HASH_SHA256, "tls-unique", ex, 32, 1, 1, both, 2, &f1, &f2) == -100 &&
       f1 == SASL_E_CB_UNSUPPORTED, "-PLUS: a binding type the server does not have is refused");
    ok(exchange_cb(SC_HASH_SHA256, NULL, NULL, 0, 1, 1, both, 2, &f1, &f2) == -100 && f1 == SASL_E_MALFORMED,
       "-PLUS mechanism without binding (n) is refused");
    ok(exchange_cb(SC_HASH_SHA256, "tls-exporter", ex, 32, 0, 1, both, 2, &f1, &f2) == -100 &&
       f1 == SASL_E_MALFORMED, "p= on a plain mechanism inside TLS is refused");
    ok(exchange_cb(SC_HASH_SHA256, "tls-exporter", ex, 32, 0, 0, NULL, 0, &f1, &f2) == -100 &&
       f1 == SASL_E_CB_UNSUPPORTED, "p= without TLS: binding not supported");
    ok(exchange_cb(SC_HASH_SHA256, NULL, NULL, 0, 0, 1, both, 2, &f1, &f2) == 0,
       "plain mechanism with n inside TLS: success");

    /* "y": the client could bind but saw no -PLUS */
    {
        char user[SASL_MAX_NAME + 1];
        static const char y[] = "y,,n=user,r=abcdef";
        scram_server *s = scram_server_new();
        ok(s && scram_server_channel(s, 0, 1, both, 2) == SASL_OK &&
           scram_server_first(s, y, strlen(y), NULL, 0, user, sizeof user) == SASL_E_CB_DOWNGRADE,
           "y where -PLUS was offered: a downgrade, refused");
        ok(strcmp(sasl_condition(SASL_E_CB_DOWNGRADE), "not-authorized") == 0, "the downgrade is not-authorized");
        scram_server_free(s);
        s = scram_server_new();
        ok(s && scram_server_channel(s, 0, 0, both, 2) == SASL_OK &&
           scram_server_first(s, y, strlen(y), NULL, 0, user, sizeof user) == SASL_OK,
           "y where -PLUS was not offered: accepted");
        scram_server_free(s);
    }
    /* arguments */
    {
        scram_server *s = scram_server_new();
        struct scram_cb bad[1] = { { "tls exporter", ex, 32 } }, big[1] = { { "tls-exporter", ex, SCRAM_CB_MAX + 1 } };
        struct scram_cb four[4] = { both[0], both[1], both[0], both[1] };
        ok(scram_server_channel(s, 0, 0, bad, 1) == SASL_E_INVAL && scram_server_channel(s, 0, 0, big, 1) == SASL_E_INVAL &&
           scram_server_channel(s, 0, 0, four, 4) == SASL_E_INVAL && scram_server_channel(s, 1, 1, NULL, 0) == SASL_E_INVAL,
           "channel settings: bad name, too long, too many, -PLUS with none: refused");
        scram_server_free(s);
        struct scram_cred cred;
        uint8_t salt[SCRAM_SALT_LEN] = { 0 };
        char user[SASL_MAX_NAME + 1];
        static const char n[] = "n,,n=user,r=abcdef";
        s = scram_server_new();
        size_t ol = sizeof out;
        ok(scram_make_cred_hash(SC_HASH_SHA1, "pencil", 6, salt, 4096, &cred) == SASL_OK &&
           scram_server_first(s, n, strlen(n), NULL, 0, user, sizeof user) == SASL_OK &&
           scram_server_challenge(s, &cred, out, &ol) == SASL_E_INVAL,
           "a SHA-1 credential is not used by a SHA-256 exchange");
        scram_server_free(s);
    }
}

int main(void)
{
    if (sc_init() != 0) die_test("sc_init");
    (void)tap_datadir();
    test_conditions();
    test_password_check();
    test_cred();
    test_rfc7677();
    test_rfc5802();
    test_channel_binding();
    test_roundtrip();
    test_unknown_user();
    test_manual_client();
    test_malformed_first();
    test_first_accepts();
    test_oversize();
    test_malformed_final();
    test_state();
    test_client();
    test_plain();
    test_mutations();
    return tap_done();
}
