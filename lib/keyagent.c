/* keyagent.c - the user's key from simpp-login to its program.  See keyagent.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keyagent.h"
#include "keyfile.h"
#include "util.h"

static const char MAGIC[16] = "SIMPP-KEYAGENT-1";

struct key_handoff {
    int mine, theirs;               /* our end (the agent's), the program's */
    sc_key *k;                      /* kept for the agent */
    pthread_t th;
    int running;
};

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* exactly n bytes; 0, or -1 on EOF or error */
static int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- the agent, in simpp-login ------------------------------------------ */

static void *serve(void *arg)
{
    struct key_handoff *h = arg;
    uint8_t hdr[2], in[256], out[2 + 255];
    int curve = sc_key_curve(h->k);
    for (;;) {
        if (read_all(h->mine, hdr, 2) < 0 || read_all(h->mine, in, hdr[1]) < 0) break;
        size_t ol = sizeof out - 2;
        int ok = 0;
        if (hdr[0] == 'S') {
            ok = sc_sign(h->k, in, hdr[1], out + 2, &ol) == 0;
        } else if (hdr[0] == 'D') {
            /* only points on the curve reach the token */
            sc_key *peer = sc_key_from_public(curve, in, hdr[1]);
            ok = peer && sc_ecdh_raw(h->k, peer, out + 2, &ol) == 0;
            sc_key_free(peer);
        }
        out[0] = ok ? 0 : 1;
        out[1] = ok ? (uint8_t)ol : 0;
        int w = write_all(h->mine, out, 2 + out[1]);
        sc_zero(out, sizeof out);
        if (w < 0) break;
    }
    sc_zero(in, sizeof in);
    return NULL;
}

struct key_handoff *key_handoff(sc_key *k)
{
    struct key_handoff *h = calloc(1, sizeof *h);
    int sv[2];
    if (!h) return NULL;
    if (!sc_key_is_external(k)) {
        /* a key in memory: its PEM through a pipe, and gone from here */
        char *pem = kf_private_pem(k, NULL, 0, 0);
        size_t pl = pem ? strlen(pem) : 0;
        int ok = pem && pl <= 4096 && pipe2(sv, O_CLOEXEC) == 0;
        if (ok && write_all(sv[1], pem, pl) < 0) {
            close(sv[0]);
            close(sv[1]);
            ok = 0;
        }
        if (pem) sc_zero(pem, pl);
        free(pem);
        sc_key_free(k);
        if (!ok) { free(h); return NULL; }
        close(sv[1]);
        h->mine = -1;
        h->theirs = sv[0];
        return h;
    }
    uint8_t g[sizeof MAGIC + 3 + SC_MAX_PUB];
    size_t pl = SC_MAX_PUB;
    int curve = sc_key_curve(k);
    memcpy(g, MAGIC, sizeof MAGIC);
    g[sizeof MAGIC] = (uint8_t)(curve >> 8);
    g[sizeof MAGIC + 1] = (uint8_t)curve;
    if (sc_key_public(k, g + sizeof MAGIC + 3, &pl) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        free(h);
        return NULL;
    }
    g[sizeof MAGIC + 2] = (uint8_t)pl;
    h->mine = sv[0];
    h->theirs = sv[1];
    h->k = k;
    if (write_all(h->mine, g, sizeof MAGIC + 3 + pl) < 0 || pthread_create(&h->th, NULL, serve, h) != 0) {
        close(sv[0]);
        close(sv[1]);
        free(h);
        return NULL;
    }
    h->running = 1;
    return h;
}

int key_handoff_fd(const struct key_handoff *h)
{
    return h->theirs;
}

void key_handoff_parent(struct key_handoff *h)
{
    if (h->theirs >= 0) close(h->theirs);
    h->theirs = -1;
}

void key_handoff_end(struct key_handoff *h)
{
    if (!h) return;
    key_handoff_parent(h);
    if (h->running) {
        /* the program is gone, so its end is closed: the agent reads EOF */
        shutdown(h->mine, SHUT_RDWR);
        pthread_join(h->th, NULL);
    }
    if (h->mine >= 0) close(h->mine);
    sc_key_free(h->k);
    free(h);
}

/* ---- the program's side ------------------------------------------------------ */

struct agent_key { int fd; };

static _Noreturn void agent_gone(void)
{
    die(EX_IOERR, "the key agent (simpp-login, holding the token) is gone or refused: the token was removed?");
}

static int ask(struct agent_key *a, char op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
    uint8_t req[2 + 255], ans[2];
    if (inlen > 255) return -1;
    req[0] = (uint8_t)op;
    req[1] = (uint8_t)inlen;
    memcpy(req + 2, in, inlen);
    if (write_all(a->fd, req, 2 + inlen) < 0 || read_all(a->fd, ans, 2) < 0 || ans[0] != 0 ||
        ans[1] > *outlen || read_all(a->fd, out, ans[1]) < 0)
        agent_gone();
    *outlen = ans[1];
    return 0;
}

static int agent_sign(void *ctx, const uint8_t *digest, size_t dlen, uint8_t *sig, size_t *siglen)
{
    return ask(ctx, 'S', digest, dlen, sig, siglen);
}

static int agent_ecdh(void *ctx, const uint8_t *peer, size_t peerlen, uint8_t *x, size_t *xlen)
{
    return ask(ctx, 'D', peer, peerlen, x, xlen);
}

static void agent_free(void *ctx)
{
    struct agent_key *a = ctx;
    close(a->fd);
    free(a);
}

static const struct sc_key_ops agent_ops = { agent_sign, agent_ecdh, agent_free };

sc_key *key_receive(int fd, char *err, size_t errlen)
{
    char buf[8192];
    size_t n = 0;
    ssize_t r;
    sc_key *k = NULL;
    /* the first bytes tell the two forms apart */
    while (n < sizeof MAGIC && (r = read(fd, buf + n, sizeof MAGIC - n)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        n += (size_t)r;
    }
    if (n == sizeof MAGIC && memcmp(buf, MAGIC, sizeof MAGIC) == 0) {
        uint8_t h[3], pub[255];
        struct agent_key *a = malloc(sizeof *a);
        if (!a || read_all(fd, h, 3) < 0 || read_all(fd, pub, h[2]) < 0 ||
            !(k = sc_key_external(h[0] << 8 | h[1], pub, h[2], &agent_ops, a))) {
            snprintf(err, errlen, "the key agent on fd %d sent no valid key", fd);
            free(a);
            close(fd);
            return NULL;
        }
        a->fd = fd;
        return k;
    }
    while (n < sizeof buf && (r = read(fd, buf + n, sizeof buf - n)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        n += (size_t)r;
    }
    close(fd);
    /* simpp-login checked this key a moment ago: no second d.G */
    if (!(k = kf_parse_handed(buf, n))) snprintf(err, errlen, "the key on fd %d: %s", fd, kf_strerror(kf_errno));
    sc_zero(buf, sizeof buf);
    return k;
}
