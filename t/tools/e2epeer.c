/*
 * e2epeer - the other end of a simpp-session, played by a peer that breaks
 * the protocol in one chosen way, for the tests.  It stands where the relay
 * stands (the session's fds 6 and 7, as fifos): it answers the session's key
 * request with its own public key, starts the key exchange (C3), takes the
 * session's C4, and then sends the key confirmation (FIN) and one chat line.
 *
 *   e2epeer TO FROM MY.KEY PEER.KEY MYJID PEERJID MODE
 *     TO, FROM    fifos: the session reads TO (its fd 6), writes FROM (fd 7)
 *     MY.KEY      this peer's private key; PEER.KEY the session's key
 *     MODE        good      FIN carries h(C3 || C4), as it must
 *                 bad-fin   FIN carries h(C3 || C4) with one bit changed
 *                 short-fin FIN carries the first 31 bytes of h(C3 || C4)
 *
 * After the chat line ("after fin") it reads what the session writes for
 * two seconds and prints it.  Exit 0 when every step went through.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "keyfile.h"
#include "util.h"

static int to_fd, from_fd;
static char seen[1 << 16];
static size_t nseen;

static void put_line(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(to_fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) die_sys(EX_IOERR, "write");
        s += w;
        n -= (size_t)w;
    }
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* read what the session writes until needle is in it past *from (10 s);
 * returns where it starts */
static char *wait_for(const char *needle, size_t *from, int64_t ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        seen[nseen] = 0;
        char *p = strstr(seen + *from, needle);
        if (p) {
            *from = (size_t)(p - seen) + strlen(needle);
            return p;
        }
        int64_t left = end - now_ms();
        struct pollfd pf = { from_fd, POLLIN, 0 };
        if (left <= 0 || nseen + 1 >= sizeof seen) return NULL;
        if (poll(&pf, 1, (int)left) <= 0) continue;
        ssize_t r = read(from_fd, seen + nseen, sizeof seen - 1 - nseen);
        if (r <= 0) return NULL;
        nseen += (size_t)r;
    }
}

static void send_e2e(const char *from, const char *t, const char *extra, const uint8_t *d, size_t n)
{
    char b64[4 * E2E_MSG_MAX], line[5 * E2E_MSG_MAX];
    size_t bl = sizeof b64;
    if (sc_b64_encode(d, n, b64, &bl) < 0) die(EX_SOFTWARE, "base64");
    snprintf(line, sizeof line, "<message from='%s' type='chat'><e2e xmlns='" E2E_NS
             "' t='%s'%s>%s</e2e></message>\n", from, t, extra, b64);
    put_line(line);
}

static void send_frame(struct e2e_sess *s, const char *from, int type, uint64_t id,
                       const void *d, size_t n)
{
    uint8_t ct[256];
    size_t cl = sizeof ct;
    uint64_t seq;
    char extra[96], sid[2 * E2E_SID + 1];
    if (e2e_seal(s, type, id, d, n, ct, &cl, &seq) != E2E_OK) die(EX_SOFTWARE, "seal");
    sc_hex_encode(s->sid, E2E_SID, sid);
    snprintf(extra, sizeof extra, " sid='%s' n='%llu'", sid, (unsigned long long)seq);
    send_e2e(from, "f", extra, ct, cl);
}

int main(int argc, char **argv)
{
    util_setprog(argv[0]);
    if (argc != 8) die(EX_USAGE, "usage: e2epeer TO FROM MY.KEY PEER.KEY MYJID PEERJID MODE");
    const char *myjid = argv[5], *peer = argv[6], *mode = argv[7];
    if (strcmp(mode, "good") && strcmp(mode, "bad-fin") && strcmp(mode, "short-fin"))
        die(EX_USAGE, "%s: not a mode", mode);
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto");
    sc_key *me = kf_read(argv[3], NULL, 0, 1), *them = kf_read(argv[4], NULL, 0, 0);
    if (!me || !them) die(EX_DATAERR, "keys: %s", kf_strerror(kf_errno));
    /* the session opens its fd 6 (our TO) first */
    if ((to_fd = open(argv[1], O_WRONLY)) < 0 || (from_fd = open(argv[2], O_RDONLY)) < 0)
        die_sys(EX_NOINPUT, "fifos");

    /* the key directory: our key for the session to pin */
    size_t at = 0;
    if (!wait_for("id='simpp-c1'", &at, 10000)) die(EX_PROTOCOL, "no key request");
    uint8_t pub[SC_MAX_PUB];
    size_t pl = sizeof pub;
    char b64[256], line[1024], full[1100];
    size_t bl = sizeof b64;
    if (sc_key_public(me, pub, &pl) < 0 || sc_b64_encode(pub, pl, b64, &bl) < 0)
        die(EX_SOFTWARE, "public key");
    snprintf(line, sizeof line, "<iq type='result' id='simpp-c1'><pubkey xmlns='urn:simpp:1' "
             "jid='%.*s' curve='P-256' level='password'>%s</pubkey></iq>\n",
             (int)strcspn(myjid, "/"), myjid, b64);
    put_line(line);

    /* C3 from us (the smaller JID stays initiator), C4 from the session */
    struct e2e_hs hs;
    struct e2e_sess s;
    uint8_t msg[E2E_MSG_MAX], suite = SC_SUITE_CHACHA20_POLY1305;
    size_t ml = sizeof msg;
    snprintf(full, sizeof full, "%.*s", (int)strcspn(myjid, "/"), myjid);
    if (e2e_c3_make(&hs, full, peer, me, &suite, 1, msg, &ml) != E2E_OK) die(EX_SOFTWARE, "C3");
    send_e2e(myjid, "c3", "", msg, ml);
    char *c4 = wait_for("t='c4'>", &at, 10000), *end;
    if (!c4 || !(end = strstr(c4, "</e2e>"))) die(EX_PROTOCOL, "no C4");
    c4 += strlen("t='c4'>");
    ml = sizeof msg;
    if (sc_b64_decode(c4, (size_t)(end - c4), msg, &ml) < 0) die(EX_PROTOCOL, "C4: base64");
    int e = e2e_c4_accept(&hs, them, msg, ml, &s);
    if (e != E2E_OK) die(EX_PROTOCOL, "C4: %s", e2e_strerror(e));

    /* the key confirmation, as the mode says, then a line */
    uint8_t fin[SC_SHA256_LEN];
    size_t fl = sizeof fin;
    memcpy(fin, s.th, sizeof fin);
    if (!strcmp(mode, "bad-fin")) fin[17] ^= 0x04;
    if (!strcmp(mode, "short-fin")) fl--;
    send_frame(&s, myjid, E2E_FIN, 0, fin, fl);
    send_frame(&s, myjid, E2E_TEXT, 1, "after fin", 9);
    wait_for("\n\n", &at, 2000);            /* never comes: collect for 2 s */
    fwrite(seen, 1, nseen, stdout);
    e2e_sess_wipe(&s);
    sc_key_free(me);
    sc_key_free(them);
    return 0;
}
