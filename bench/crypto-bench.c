/*
 * crypto-bench - speed of simpp's crypto core, measured through lib/crypto.h
 * only, so the numbers include everything a caller pays (argument checks,
 * point validation, per-message key setup, wiping).
 *
 *   crypto-bench [-m] [-t seconds] [-l] [item...]
 *
 * Every item runs for at least -t seconds of process CPU time (default 1).
 * CPU time rather than wall time, so a busy shared machine shows up as fewer
 * operations in the same CPU time instead of as a slower library.
 * -m prints one "name value unit" line per item (for bench/crypto), else a
 * table.  Items named on the command line run alone; -l lists them.
 *
 * MB/s means 10^6 bytes per second of plaintext, the unit openssl speed uses
 * (it counts in 1000s of bytes), so the two can be divided directly.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"

#define BIG   65536     /* large message: steady-state throughput */
#define SMALL 1024      /* a typical chat message: per-message setup shows */

struct item {
    const char *name;
    const char *unit;                   /* "ops/s" or "MB/s" */
    int (*op)(const struct item *);     /* one operation; 0 ok, -1 failed */
    int curve;                          /* public-key items */
    int suite;                          /* seal items */
    size_t len;                         /* bytes per operation, 0: ops/s */
};

/* Keys and messages made once before timing, so only the operation itself
 * is measured. */
struct curve_state {
    sc_key *priv;       /* signs, and is our side of ECDH */
    sc_key *pub;        /* priv's public half, imported as a receiver would */
    sc_key *peer;       /* another party's public key, for ECDH */
    uint8_t sig[SC_MAX_SIG];
    size_t siglen;
};
static struct curve_state p256, p384;

static uint8_t digest[SC_SHA256_LEN];
static uint8_t msg[BIG];
static uint8_t sealed[BIG + SC_MAX_OVERHEAD];
static uint8_t suite_key[SC_SUITE_AES128_CBC_HMAC + 1][SC_MAX_KEY];
static uint8_t mac_key[32];
/* 13 bytes: the TLS record header that openssl speed -aead also feeds as AAD */
static uint8_t aad[13];
static uint64_t seq;    /* message counter: a nonce never repeats, as in use */

static struct curve_state *curve_state(int curve)
{
    return curve == SC_P384 ? &p384 : &p256;
}

static int op_keygen(const struct item *it)
{
    sc_key *k = sc_key_generate(it->curve);
    if (!k) return -1;
    sc_key_free(k);
    return 0;
}

static int op_ecdh(const struct item *it)
{
    const struct curve_state *cs = curve_state(it->curve);
    uint8_t z[SC_MAX_SCALAR];
    size_t zl = sizeof z;
    return sc_ecdh_raw(cs->priv, cs->peer, z, &zl);
}

static int op_sign(const struct item *it)
{
    const struct curve_state *cs = curve_state(it->curve);
    uint8_t sig[SC_MAX_SIG];
    size_t sl = sizeof sig;
    return sc_sign(cs->priv, digest, sizeof digest, sig, &sl);
}

static int op_verify(const struct item *it)
{
    const struct curve_state *cs = curve_state(it->curve);
    /* a valid signature, so the whole verification runs every time */
    return sc_verify(cs->pub, digest, sizeof digest, cs->sig, cs->siglen) == 1 ? 0 : -1;
}

static int op_seal(const struct item *it)
{
    uint8_t nonce[SC_NONCE_LEN] = { 0 };
    size_t ol = sizeof sealed;
    uint64_t s = ++seq;
    for (int i = SC_NONCE_LEN - 1; i >= SC_NONCE_LEN - 8; i--, s >>= 8)
        nonce[i] = (uint8_t)s;
    return sc_seal(it->suite, suite_key[it->suite], nonce, aad, sizeof aad, msg, it->len,
                   sealed, &ol);
}

static int op_sha256(const struct item *it)
{
    uint8_t h[SC_SHA256_LEN];
    sc_sha256(msg, it->len, h);
    return 0;
}

static int op_hmac(const struct item *it)
{
    uint8_t h[SC_SHA256_LEN];
    return sc_hmac_sha256(mac_key, sizeof mac_key, msg, it->len, h);
}

static const struct item items[] = {
    { "p256-keygen", "ops/s", op_keygen, SC_P256, 0, 0 },
    { "p256-ecdh",   "ops/s", op_ecdh,   SC_P256, 0, 0 },
    { "p256-sign",   "ops/s", op_sign,   SC_P256, 0, 0 },
    { "p256-verify", "ops/s", op_verify, SC_P256, 0, 0 },
    { "p384-sign",   "ops/s", op_sign,   SC_P384, 0, 0 },
    { "p384-verify", "ops/s", op_verify, SC_P384, 0, 0 },
    { "seal-chacha20-poly1305-64k",      "MB/s", op_seal, 0, SC_SUITE_CHACHA20_POLY1305, BIG },
    { "seal-chacha20-poly1305-1k",       "MB/s", op_seal, 0, SC_SUITE_CHACHA20_POLY1305, SMALL },
    { "seal-aes128-gcm-64k",             "MB/s", op_seal, 0, SC_SUITE_AES128_GCM, BIG },
    { "seal-aes128-gcm-1k",              "MB/s", op_seal, 0, SC_SUITE_AES128_GCM, SMALL },
    { "seal-aes128-cbc-hmac-sha256-64k", "MB/s", op_seal, 0, SC_SUITE_AES128_CBC_HMAC, BIG },
    { "seal-aes128-cbc-hmac-sha256-1k",  "MB/s", op_seal, 0, SC_SUITE_AES128_CBC_HMAC, SMALL },
    { "sha256-64k",      "MB/s", op_sha256, 0, 0, BIG },
    { "hmac-sha256-64k", "MB/s", op_hmac,   0, 0, BIG },
};
#define NITEMS (sizeof items / sizeof items[0])

static double cpu_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
        perror("crypto-bench: clock_gettime");
        exit(1);
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Run it->op until at least min_s seconds of CPU time have passed.  The ops
 * run in batches that double until one batch takes about 1% of min_s: the
 * process CPU clock is a system call, too slow to read after every
 * microsecond-sized seal, and a batch overshoots min_s by a few % at most
 * (the rate uses the real count and time, so overshoot does not bias it).
 */
static int measure(const struct item *it, double min_s, double *rate, double *per_op)
{
    unsigned long n = 0, batch = 1;
    /* one untimed run: first-touch page faults and lazy set-up stay out */
    if (it->op(it) < 0) return -1;
    double t0 = cpu_now(), prev = t0, now;
    for (;;) {
        for (unsigned long i = 0; i < batch; i++)
            if (it->op(it) < 0) return -1;
        n += batch;
        now = cpu_now();
        if (now - t0 >= min_s) break;
        if (now - prev < min_s / 100) batch *= 2;
        prev = now;
    }
    double el = now - t0;
    *per_op = el / (double)n;
    *rate = it->len ? (double)n * (double)it->len / el / 1e6 : (double)n / el;
    return 0;
}

static int curve_setup(struct curve_state *cs, int curve)
{
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    sc_key *other = sc_key_generate(curve);
    int ok = 0;
    cs->priv = sc_key_generate(curve);
    if (other && cs->priv && sc_key_public(other, pub, &pl) == 0 &&
        (cs->peer = sc_key_from_public(curve, pub, pl)) != NULL &&
        (pl = sizeof pub, sc_key_public(cs->priv, pub, &pl) == 0) &&
        (cs->pub = sc_key_from_public(curve, pub, pl)) != NULL) {
        cs->siglen = sizeof cs->sig;
        ok = sc_sign(cs->priv, digest, sizeof digest, cs->sig, &cs->siglen) == 0 &&
             sc_verify(cs->pub, digest, sizeof digest, cs->sig, cs->siglen) == 1;
    }
    sc_key_free(other);
    return ok ? 0 : -1;
}

static int setup(void)
{
    static const char text[] = "simpp crypto-bench";
    if (sc_init() < 0 || sc_random(msg, sizeof msg) < 0 || sc_random(aad, sizeof aad) < 0 ||
        sc_random(mac_key, sizeof mac_key) < 0)
        return -1;
    for (int s = SC_SUITE_CHACHA20_POLY1305; s <= SC_SUITE_AES128_CBC_HMAC; s++)
        if (sc_random(suite_key[s], sc_suite_keylen(s)) < 0) return -1;
    sc_sha256(text, sizeof text - 1, digest);
    return curve_setup(&p256, SC_P256) == 0 && curve_setup(&p384, SC_P384) == 0 ? 0 : -1;
}

static void cleanup(void)
{
    struct curve_state *all[] = { &p256, &p384 };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sc_key_free(all[i]->priv);
        sc_key_free(all[i]->pub);
        sc_key_free(all[i]->peer);
    }
    sc_zero(suite_key, sizeof suite_key);
    sc_zero(mac_key, sizeof mac_key);
}

static void usage(FILE *f)
{
    fputs("usage: crypto-bench [-m] [-t seconds] [-l] [item...]\n"
          "  -m          machine-readable: one \"name value unit\" line per item\n"
          "  -t seconds  minimum CPU time per item (default 1; e.g. 0.1 for a quick run)\n"
          "  -l          list the items and exit\n", f);
}

/* "1.07 ms": the time one operation takes, the figure callers reason with */
static void fmt_time(char *buf, size_t n, double s)
{
    if (s >= 1e-3)
        snprintf(buf, n, "%.2f ms", s * 1e3);
    else
        snprintf(buf, n, "%.2f us", s * 1e6);
}

int main(int argc, char **argv)
{
    int machine = 0, c;
    double min_s = 1.0;
    char *end;

    while ((c = getopt(argc, argv, "mt:lh")) != -1) {
        switch (c) {
        case 'm':
            machine = 1;
            break;
        case 't':
            errno = 0;
            min_s = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(min_s) || min_s <= 0 ||
                min_s > 3600) {
                fprintf(stderr, "crypto-bench: -t wants seconds in (0, 3600]: %s\n", optarg);
                return 2;
            }
            break;
        case 'l':
            for (size_t i = 0; i < NITEMS; i++) printf("%s %s\n", items[i].name, items[i].unit);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    /* reject unknown names before spending time on set-up */
    for (int a = optind; a < argc; a++) {
        size_t i = 0;
        while (i < NITEMS && strcmp(argv[a], items[i].name) != 0) i++;
        if (i == NITEMS) {
            fprintf(stderr, "crypto-bench: unknown item %s (-l lists them)\n", argv[a]);
            return 2;
        }
    }
    if (setup() < 0) {
        fputs("crypto-bench: set-up failed (sc_init, RNG or key generation)\n", stderr);
        cleanup();
        return 1;
    }

    if (!machine)
        printf("# simpp crypto core, lib/crypto.h; >= %g s CPU time per item; MB = 10^6 bytes\n"
               "%-34s %12s %-6s %10s\n", min_s, "item", "value", "unit", "per op");
    int rc = 0;
    for (size_t i = 0; i < NITEMS; i++) {
        const struct item *it = &items[i];
        double rate, per_op;
        char t[32];
        if (optind < argc) {
            int want = 0;
            for (int a = optind; a < argc && !want; a++) want = strcmp(argv[a], it->name) == 0;
            if (!want) continue;
        }
        if (measure(it, min_s, &rate, &per_op) < 0) {
            /* a failing operation would be timed as a fast one: report, go on */
            fprintf(stderr, "crypto-bench: %s: operation failed\n", it->name);
            rc = 1;
            continue;
        }
        if (machine) {
            printf("%s %.1f %s\n", it->name, rate, it->unit);
        } else {
            fmt_time(t, sizeof t, per_op);
            printf("%-34s %12.1f %-6s %10s\n", it->name, rate, it->unit, t);
        }
        /* bench/crypto and a watching user see each line as it is done */
        fflush(stdout);
    }
    cleanup();
    return rc;
}
