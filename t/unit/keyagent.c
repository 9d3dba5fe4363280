/*
 * keyagent.c - keys held elsewhere (sc_key_external) and the agent that
 * simpp-login runs for a token's key (lib/keyagent.h).  The "elsewhere"
 * here is a key in this process behind the ops interface, so the results
 * can be compared with the key's own; a wrong-signing one stands for a
 * faulty token.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto.h"
#include "keyagent.h"
#include "keyfile.h"
#include "tap.h"

static int faulty;                      /* the "token" returns a bad signature */
static int freed;

static int h_sign(void *ctx, const uint8_t *d, size_t dl, uint8_t *sig, size_t *sl)
{
    int r = sc_sign(ctx, d, dl, sig, sl);
    if (faulty) sig[5] ^= 1;
    return r;
}
static int h_ecdh(void *ctx, const uint8_t *peer, size_t pl, uint8_t *x, size_t *xl)
{
    sc_key *p = sc_key_from_public(SC_P256, peer, pl);
    int r = p ? sc_ecdh_raw(ctx, p, x, xl) : -1;
    sc_key_free(p);
    return r;
}
static void h_free(void *ctx)
{
    sc_key_free(ctx);
    freed++;
}
static const struct sc_key_ops held = { h_sign, h_ecdh, h_free };

static sc_key *external_of(sc_key *inner)
{
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    sc_key_public(inner, pub, &pl);
    return sc_key_external(SC_P256, pub, pl, &held, inner);
}

static void t_external(void)
{
    sc_key *inner = sc_key_generate(SC_P256), *k = external_of(inner), *peer = sc_key_generate(SC_P256);
    uint8_t d[32], sig[64], s[64], x1[32], x2[32], buf[1024];
    size_t sl = sizeof sig, l = sizeof s, a = sizeof x1, b = sizeof x2, bl = sizeof buf;
    memset(d, 7, sizeof d);
    ok(k && sc_key_is_private(k) && sc_key_is_external(k) && !sc_key_is_external(inner),
       "an external key is private and says it is external");
    ok(sc_sign(k, d, 32, sig, &sl) == 0 && sl == 64 && sc_verify(inner, d, 32, sig, sl) == 1,
       "sc_sign goes through the ops and verifies");
    ok(sc_ecdh_raw(k, peer, x1, &a) == 0 && sc_ecdh_raw(peer, k, x2, &b) == 0 && a == 32 && !memcmp(x1, x2, 32),
       "sc_ecdh_raw goes through the ops and agrees");
    ok(sc_key_scalar(k, s, &l) != 0, "sc_key_scalar refuses it");
    ok(kf_pkcs8_der(k, buf, &bl) != 0 && !kf_private_pem(k, NULL, 0, 0), "it cannot be written as a key file");
    faulty = 1;
    sl = sizeof sig;
    ok(sc_sign(k, d, 32, sig, &sl) != 0, "a signature that does not verify is refused (a faulty token)");
    faulty = 0;
    freed = 0;
    sc_key_free(k);
    ok(freed == 1, "sc_key_free frees what the ops hold");
    ok(!sc_key_external(SC_P256, d, 32, &held, NULL), "no external key without a valid public point");
    sc_key_free(peer);
}

static void t_agent(void)
{
    sc_key *inner = sc_key_generate(SC_P256), *k = external_of(inner), *peer = sc_key_generate(SC_P256);
    uint8_t pub[SC_MAX_PUB], d[32], sig[64], x1[32], x2[32];
    size_t pl = sizeof pub, sl = sizeof sig, a = sizeof x1, b = sizeof x2;
    char err[256];
    sc_key_public(k, pub, &pl);
    memset(d, 9, sizeof d);
    struct key_handoff *h = key_handoff(k);
    int fd = h ? dup(key_handoff_fd(h)) : -1;
    key_handoff_parent(h);
    sc_key *got = key_receive(fd, err, sizeof err);
    uint8_t gp[SC_MAX_PUB];
    size_t gl = sizeof gp;
    ok(got && sc_key_is_external(got) && sc_key_public(got, gp, &gl) == 0 && gl == pl && !memcmp(gp, pub, pl),
       "a token's key is handed over as an agent: the same public key");
    ok(sc_sign(got, d, 32, sig, &sl) == 0 && sc_verify(inner, d, 32, sig, sl) == 1, "signing through the agent");
    ok(sc_ecdh_raw(got, peer, x1, &a) == 0 && sc_ecdh_raw(peer, got, x2, &b) == 0 && !memcmp(x1, x2, 32),
       "ECDH through the agent");
    /* a program holding the agent's descriptor asks for ECDH with a point
     * off the curve: the agent refuses it before the token sees it */
    uint8_t req[2 + 65], ans[2];
    memcpy(req + 2, pub, 65);
    req[2 + 64] ^= 1;
    req[0] = 'D';
    req[1] = 65;
    int afd = fd;               /* key_receive kept it */
    ok(write(afd, req, sizeof req) == (ssize_t)sizeof req && read(afd, ans, 2) == 2 && ans[0] == 1 && ans[1] == 0,
       "the agent refuses a point not on the curve");
    req[0] = 'X';
    ok(write(afd, req, sizeof req) == (ssize_t)sizeof req && read(afd, ans, 2) == 2 && ans[0] == 1,
       "and an unknown request");
    sc_key_free(got);
    freed = 0;
    key_handoff_end(h);
    ok(freed == 1, "the agent stops and frees the key once the program's end is closed");

    /* a key in memory goes as PEM, and is gone from the sender at once */
    sc_key *plain = sc_key_generate(SC_P256);
    sl = sizeof sig;
    pl = sizeof pub;
    sc_key_public(plain, pub, &pl);
    h = key_handoff(plain);
    fd = h ? dup(key_handoff_fd(h)) : -1;
    key_handoff_parent(h);
    got = key_receive(fd, err, sizeof err);
    gl = sizeof gp;
    ok(got && !sc_key_is_external(got) && sc_key_public(got, gp, &gl) == 0 && gl == pl && !memcmp(gp, pub, pl) &&
       sc_sign(got, d, 32, sig, &sl) == 0, "a key file's key goes as PEM and works");
    ok(fcntl(fd, F_GETFD) < 0, "its descriptor is closed once read");
    key_handoff_end(h);
    sc_key_free(got);
    int p[2];
    ok(pipe(p) == 0 && write(p[1], "junk", 4) == 4 && close(p[1]) == 0 && !key_receive(p[0], err, sizeof err) &&
       strstr(err, "the key on fd"), "anything else is refused: %s", err);
    sc_key_free(peer);
}

int main(void)
{
    (void)tap_datadir;
    ok(sc_init() == 0, "sc_init");
    t_external();
    t_agent();
    return tap_done();
}
