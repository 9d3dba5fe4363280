/*
 * sctool - a test driver over lib/crypto + lib/keyfile, so BATS can check
 * simpp's signatures and ECDH against the openssl command.
 *
 *   sctool sign KEY < msg > sig.der       ECDSA-SHA256, DER (as openssl dgst)
 *   sctool verify PUB SIG.der < msg       exit 0 valid, 1 invalid
 *   sctool ecdh KEY PEERPUB > secret       raw x-coordinate (openssl pkeyutl -derive)
 *   sctool ecdh-hkdf KEY PEERPUB INFO      HKDF-SHA256 of it, 32 bytes hex
 *   sctool pbkdf2 sha256|sha1 ITER LEN SALTHEX < password
 *                                          PBKDF2-HMAC, LEN bytes hex (openssl kdf)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "der.h"
#include "keyfile.h"
#include "util.h"

static size_t slurp(int fd, uint8_t **out)
{
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    ssize_t r;
    while (b && (r = read(fd, b + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap && !(b = realloc(b, cap *= 2))) break;
    }
    if (!b) die(EX_OSERR, "out of memory");
    *out = b;
    return n;
}

static sc_key *load(const char *path, int priv)
{
    sc_key *k = kf_read(path, NULL, 0, priv);
    if (!k) die(EX_DATAERR, "%s: %s", path, kf_strerror(kf_errno));
    return k;
}

int main(int argc, char **argv)
{
    uint8_t *msg, sig[SC_MAX_SIG], out[256];
    size_t ml, sl = sizeof sig, ol = sizeof out;
    util_setprog(argv[0]);
    if (sc_init() < 0 || argc < 3) die(EX_USAGE, "usage: see the source");
    if (strcmp(argv[1], "sign") == 0) {
        sc_key *k = load(argv[2], 1);
        size_t nb = sc_curve_bytes(sc_key_curve(k)), p = 0, q = 0;
        uint8_t seq[200];
        ml = slurp(0, &msg);
        if (sc_sign_msg(k, msg, ml, sig, &sl) < 0) die(EX_SOFTWARE, "sign failed");
        if (der_put_uint(seq, sizeof seq, &p, sig, nb) < 0 ||
            der_put_uint(seq, sizeof seq, &p, sig + nb, nb) < 0 ||
            der_put(out, sizeof out, &q, DER_SEQUENCE, seq, p) < 0)
            die(EX_SOFTWARE, "DER failed");
        fwrite(out, 1, q, stdout);
        free(msg);
        sc_key_free(k);
        return 0;
    }
    if (strcmp(argv[1], "verify") == 0 && argc == 4) {
        sc_key *k = load(argv[2], 0);
        size_t nb = sc_curve_bytes(sc_key_curve(k));
        uint8_t *d;
        FILE *f = fopen(argv[3], "rb");
        if (!f) die_sys(EX_NOINPUT, "%s", argv[3]);
        size_t dl = slurp(fileno(f), &d);
        der_t in = { d, dl }, s;
        int valid = 0;
        fclose(f);
        ml = slurp(0, &msg);
        if (der_take(&in, DER_SEQUENCE, &s) == 0 && der_end(&in) == 0 &&
            der_take_uint(&s, sig, nb) == 0 && der_take_uint(&s, sig + nb, nb) == 0 &&
            der_end(&s) == 0)
            valid = sc_verify_msg(k, msg, ml, sig, 2 * nb);
        free(msg);
        free(d);
        sc_key_free(k);
        return valid ? 0 : 1;
    }
    if (strcmp(argv[1], "ecdh") == 0 && argc == 4) {
        sc_key *a = load(argv[2], 1), *b = load(argv[3], 0);
        if (sc_ecdh_raw(a, b, out, &ol) < 0) die(EX_DATAERR, "ecdh failed");
        fwrite(out, 1, ol, stdout);
        sc_key_free(a);
        sc_key_free(b);
        return 0;
    }
    if (strcmp(argv[1], "ecdh-hkdf") == 0 && argc == 5) {
        sc_key *a = load(argv[2], 1), *b = load(argv[3], 0);
        char hex[65];
        if (sc_ecdh_hkdf(a, b, NULL, 0, argv[4], strlen(argv[4]), out, 32) < 0)
            die(EX_DATAERR, "ecdh failed");
        sc_hex_encode(out, 32, hex);
        puts(hex);
        sc_key_free(a);
        sc_key_free(b);
        return 0;
    }
    if (strcmp(argv[1], "pbkdf2") == 0 && argc == 6) {
        int h = strcmp(argv[2], "sha1") == 0 ? SC_HASH_SHA1 : SC_HASH_SHA256;
        unsigned long iter = strtoul(argv[3], NULL, 10), len = strtoul(argv[4], NULL, 10);
        uint8_t salt[256], *pw, *dk;
        size_t saltl = sizeof salt, pl = slurp(0, &pw);
        char *hex;
        if (len == 0 || len > 4096 || sc_hex_decode(argv[5], strlen(argv[5]), salt, &saltl) < 0)
            die(EX_USAGE, "pbkdf2: a length of 1 to 4096 and a salt in hex");
        if (!(dk = malloc(len)) || !(hex = malloc(2 * len + 1))) die(EX_OSERR, "out of memory");
        if (sc_pbkdf2(h, pw, pl, salt, saltl, iter, dk, len) < 0) die(EX_DATAERR, "pbkdf2 failed");
        sc_hex_encode(dk, len, hex);
        puts(hex);
        free(dk);
        free(hex);
        free(pw);
        return 0;
    }
    die(EX_USAGE, "unknown command: %s", argv[1]);
}
