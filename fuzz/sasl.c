/*
 * fuzz/sasl.c - SASL as the relay and a client parse it (lib/sasl.c):
 * SCRAM-SHA-256 both sides, and PLAIN.
 *
 * Input: op (FZ_SASL_*), one option byte, two bytes that split the rest in
 * two messages, then the messages.
 *   server  client-first, then client-final: scram_server_first,
 *           scram_server_challenge (option bit 0: for a known user with a
 *           fixed credential, else as for an unknown one), scram_server_final.
 *           Bit 1: the caller takes a reported authzid; bits 2-3: how small
 *           the caller's user buffer is.
 *   plain   one message (the split is ignored): sasl_plain_parse with
 *           buffer sizes from the option byte, with and without authzid.
 *   client  server-first, then server-final: scram_client_final and
 *           scram_client_verify after a client-first with a fixed nonce.
 * Both test hooks fix the nonces (fuzz.h), so seeds made by mkseeds are
 * whole valid exchanges.
 *
 * Properties: outputs fit their buffers and are NUL-terminated; an unknown
 * user never authenticates; after any error the next step is refused
 * (SASL_E_STATE: sasl.h, "any error ... is final"); PLAIN wipes its outputs
 * on error.
 *
 * Slow inputs: the client runs PBKDF2 with the count the server names,
 * up to SCRAM_ITER_MAX (10,000,000: seconds).  A server-first naming more
 * than FZ_SCRAM_ITER_CAP is not given to scram_client_final.
 */
#include "fuzz.h"
#include "sasl.h"

static struct scram_cred cred, cred1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    uint8_t salt[SCRAM_SALT_LEN];
    FZ_SETUP(sc_init() == 0);
    fz_bytes("scram salt", salt, sizeof salt);
    FZ_SETUP(scram_make_cred_salt(FZ_SCRAM_PW, strlen(FZ_SCRAM_PW), salt, FZ_SCRAM_ITER, &cred) ==
             SASL_OK);
    FZ_SETUP(scram_make_cred_hash(SC_HASH_SHA1, FZ_SCRAM_PW, strlen(FZ_SCRAM_PW), salt, FZ_SCRAM_ITER,
                                  &cred1) == SASL_OK);
    /* a fixed secret, as a relay sets one from its configuration */
    FZ_SETUP(scram_server_secret("fuzz: fake salt secret", 22, 0) == SASL_OK);
    return 0;
}

/* opt: bit 0 known user, 1 authzid taken, 2-3 user buffer, 4-5 the channel
 * (none; TLS with -PLUS offered; a -PLUS exchange; TLS, -PLUS not offered),
 * 6 SHA-1 */
static void server(unsigned opt, const char *cf, size_t cfl, const char *cfin, size_t cfinl)
{
    static const uint8_t exp[32] = { 1, 2, 3 }, ep[32] = { 9, 8, 7 };
    const struct scram_cb cb[2] = { { "tls-exporter", exp, 32 }, { "tls-server-end-point", ep, 32 } };
    int sha1 = (opt >> 6) & 1, chan = (opt >> 4) & 3;
    scram_server *s = scram_server_new_hash(sha1 ? SC_HASH_SHA1 : SC_HASH_SHA256);
    char az[SASL_MAX_AUTHZID + 1], user[SASL_MAX_NAME + 1], out[SCRAM_OUT_MAX];
    size_t ucap = (opt >> 2) & 3 ? ((opt >> 2) & 3) * 4 : sizeof user, ol = sizeof out;
    int known = opt & 1, take_az = (opt >> 1) & 1, r;
    FZ_SETUP(s != NULL);
    FZ_CHECK(scram_server_test_nonce(s, FZ_SCRAM_SNONCE) == SASL_OK);
    if (chan) FZ_CHECK(scram_server_channel(s, chan == 2, chan != 3, cb, 2) == SASL_OK);
    r = scram_server_first(s, cf, cfl, take_az ? az : NULL, sizeof az, user, ucap);
    if (r != SASL_OK) goto refused;
    FZ_CHECK(strnlen(user, ucap) < ucap && strlen(user) > 0);
    if (take_az) FZ_CHECK(strnlen(az, sizeof az) < sizeof az);
    r = scram_server_challenge(s, known ? (sha1 ? &cred1 : &cred) : NULL, out, &ol);
    FZ_CHECK(r == SASL_OK);                 /* nothing from the input can fail it */
    FZ_CHECK(ol == strlen(out) && strncmp(out, "r=", 2) == 0);
    ol = sizeof out;
    r = scram_server_final(s, cfin, cfinl, out, &ol);
    if (r != SASL_OK) goto refused;
    FZ_CHECK(known);                        /* an unknown user never gets in */
    /* a -PLUS exchange got in only by naming a binding we have */
    if (chan == 2) FZ_CHECK(cf[0] == 'p' && cf[1] == '=');
    FZ_CHECK(ol == strlen(out) && strncmp(out, "v=", 2) == 0);
    scram_server_free(s);
    return;
refused:
    FZ_CHECK(r < 0 && sasl_condition(r) != NULL && sasl_strerror(r) != NULL);
    ol = sizeof out;
    FZ_CHECK(scram_server_final(s, cfin, cfinl, out, &ol) == SASL_E_STATE);
    scram_server_free(s);
}

static void plain(unsigned opt, const uint8_t *m, size_t n)
{
    char az[SASL_MAX_AUTHZID + 1], user[SASL_MAX_NAME + 1], pw[SASL_MAX_PW + 1];
    /* RFC 4616 asks for at least 255 octets; smaller ones test the limits */
    size_t azcap = opt & 1 ? sizeof az : 8, ucap = opt & 2 ? sizeof user : 8,
           pwcap = opt & 4 ? sizeof pw : 8, pwlen = 99;
    int with_az = !(opt & 8);
    int r = sasl_plain_parse(m, n, with_az ? az : NULL, azcap, user, ucap, pw, pwcap, &pwlen);
    if (r == SASL_OK) {
        FZ_CHECK(strnlen(user, ucap) < ucap && user[0] != 0);
        FZ_CHECK(pwlen > 0 && pwlen < pwcap && pw[pwlen] == 0 && strlen(pw) == pwlen);
        FZ_CHECK(sasl_password_check(pw, pwlen) == SASL_OK);
        if (with_az) FZ_CHECK(strnlen(az, azcap) < azcap);
    } else {
        FZ_CHECK(r < 0 && user[0] == 0 && pw[0] == 0 && pwlen == 0);
        if (with_az) FZ_CHECK(az[0] == 0);
    }
}

/* the largest "i=" count in a server-first, saturating: what the client
 * would run PBKDF2 with, if it takes the message at all */
static unsigned long max_iter(const char *m, size_t n)
{
    unsigned long best = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (m[i] != 'i' || m[i + 1] != '=' || (i > 0 && m[i - 1] != ',')) continue;
        unsigned long v = 0;
        for (size_t j = i + 2; j < n && m[j] >= '0' && m[j] <= '9'; j++)
            v = v > SCRAM_ITER_MAX ? v : v * 10 + (unsigned long)(m[j] - '0');
        if (v > best) best = v;
    }
    return best;
}

static void client(const char *sf, size_t sfl, const char *sfin, size_t sfinl)
{
    scram_client *c = scram_client_new(FZ_SCRAM_USER, FZ_SCRAM_PW, strlen(FZ_SCRAM_PW));
    char out[SCRAM_OUT_MAX];
    size_t ol = sizeof out;
    int r;
    FZ_SETUP(c != NULL);
    FZ_CHECK(scram_client_test_nonce(c, FZ_SCRAM_CNONCE) == SASL_OK);
    FZ_CHECK(scram_client_first(c, out, &ol) == SASL_OK);
    if (max_iter(sf, sfl) > FZ_SCRAM_ITER_CAP) {
        scram_client_free(c);
        return;
    }
    ol = sizeof out;
    r = scram_client_final(c, sf, sfl, out, &ol);
    if (r != SASL_OK) goto refused;
    FZ_CHECK(ol == strlen(out) && strncmp(out, "c=biws,r=" FZ_SCRAM_CNONCE, 33) == 0);
    r = scram_client_verify(c, sfin, sfinl);
    if (r != SASL_OK) goto refused;
    scram_client_free(c);
    return;
refused:
    FZ_CHECK(r < 0 && sasl_condition(r) != NULL);
    FZ_CHECK(scram_client_verify(c, sfin, sfinl) == SASL_E_STATE);
    scram_client_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) % FZ_SASL_NOPS, opt = fz_u8(&in);
    size_t k = fz_split(&in);
    /* each message in its own buffer, so a read past one is an ASan report */
    char *a = (char *)fz_dup(in.p, k), *b = (char *)fz_dup(in.p + k, in.n - k);
    switch (op) {
    case FZ_SASL_SERVER: server(opt, a, k, b, in.n - k); break;
    case FZ_SASL_PLAIN: {
        uint8_t *m = fz_dup(in.p, in.n);
        plain(opt, m, in.n);
        free(m);
        break;
    }
    case FZ_SASL_CLIENT: client(a, k, b, in.n - k); break;
    }
    free(a);
    free(b);
    return 0;
}
