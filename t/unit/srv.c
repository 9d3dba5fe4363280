/* srv.c - the order of XMPP SRV targets (lib/srv.c) from DNS answers made
 * here in wire form: priorities, direct TLS before STARTTLS at equal
 * priority, RFC 2782's weighted choice, "no service here", bad answers. */
#include <errno.h>
#include <string.h>

#include "srv.h"
#include "tap.h"

struct rec { unsigned prio, weight, port; const char *target; };

static size_t put_name(unsigned char *p, const char *name)
{
    size_t n = 0;
    if (!strcmp(name, ".")) { p[0] = 0; return 1; }
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        p[n++] = (unsigned char)l;
        memcpy(p + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v; }

/* a response for qname with these SRV records */
static int answer(unsigned char *m, const char *qname, const struct rec *r, int n)
{
    size_t o = 12;
    memset(m, 0, 12);
    put16(m + 2, 0x8180);
    put16(m + 4, 1);
    put16(m + 6, (unsigned)n);
    o += put_name(m + o, qname);
    put16(m + o, 33);
    put16(m + o + 2, 1);
    o += 4;
    for (int i = 0; i < n; i++) {
        put16(m + o, 0xC00C);               /* the question's name */
        put16(m + o + 2, 33);
        put16(m + o + 4, 1);
        memset(m + o + 6, 0, 4);
        size_t rd = o + 12;
        put16(m + rd, r[i].prio);
        put16(m + rd + 2, r[i].weight);
        put16(m + rd + 4, r[i].port);
        size_t tl = put_name(m + rd + 6, r[i].target);
        put16(m + o + 10, (unsigned)(6 + tl));
        o = rd + 6 + tl;
    }
    return (int)o;
}

static unsigned fixed_point;
static unsigned pick_fixed(unsigned below) { return fixed_point < below ? fixed_point : below - 1; }

int main(void)
{
    unsigned char a[1024], b[1024];
    struct srv_target t[8];
    int al, bl, n;

    struct rec tls[] = { { 10, 0, 5223, "xmpps.example.org" } };
    struct rec plain[] = { { 5, 0, 5222, "first.example.org" }, { 10, 0, 5222, "xmpp.example.org" } };
    al = answer(a, "_xmpps-client._tcp.example.org", tls, 1);
    bl = answer(b, "_xmpp-client._tcp.example.org", plain, 2);
    n = srv_parse(a, al, b, bl, t, 8, pick_fixed);
    ok(n == 3, "three targets from both answers (%d)", n);
    ok(n == 3 && !strcmp(t[0].host, "first.example.org") && !t[0].direct && !strcmp(t[0].port, "5222"),
       "the lowest priority first, with its port");
    ok(n == 3 && !strcmp(t[1].host, "xmpps.example.org") && t[1].direct && !strcmp(t[1].port, "5223"),
       "at equal priority and weight, direct TLS before STARTTLS (XEP-0368)");
    ok(n == 3 && !strcmp(t[2].host, "xmpp.example.org") && !t[2].direct, "then STARTTLS");

    /* weights 10 and 90: a point in [0, 100] picks the first whose running sum reaches it */
    struct rec w[] = { { 1, 10, 1, "light.example.org" }, { 1, 90, 2, "heavy.example.org" } };
    bl = answer(b, "_xmpp-client._tcp.example.org", w, 2);
    fixed_point = 5;
    n = srv_parse(NULL, 0, b, bl, t, 8, pick_fixed);
    ok(n == 2 && !strcmp(t[0].host, "light.example.org"), "point 5 of 100: the weight-10 target first");
    fixed_point = 50;
    n = srv_parse(NULL, 0, b, bl, t, 8, pick_fixed);
    ok(n == 2 && !strcmp(t[0].host, "heavy.example.org") && !strcmp(t[1].host, "light.example.org"),
       "point 50 of 100: the weight-90 target first, the other after it");
    /* a zero weight goes first in the running sum: only point 0 picks it */
    struct rec z[] = { { 1, 50, 1, "some.example.org" }, { 1, 0, 2, "zero.example.org" } };
    bl = answer(b, "_xmpp-client._tcp.example.org", z, 2);
    fixed_point = 0;
    n = srv_parse(NULL, 0, b, bl, t, 8, pick_fixed);
    ok(n == 2 && !strcmp(t[0].host, "zero.example.org"), "point 0: the zero weight");
    fixed_point = 1;
    n = srv_parse(NULL, 0, b, bl, t, 8, pick_fixed);
    ok(n == 2 && !strcmp(t[0].host, "some.example.org"), "point 1: the weighted one");

    /* "." alone: decidedly no service */
    struct rec dot[] = { { 0, 0, 0, "." } };
    bl = answer(b, "_xmpp-client._tcp.example.org", dot, 1);
    errno = 0;
    ok(srv_parse(NULL, 0, b, bl, t, 8, pick_fixed) == -1 && errno == ENOENT, "a lone \".\": no XMPP service here");
    /* . beside a real target is just skipped */
    bl = answer(b, "_xmpp-client._tcp.example.org", dot, 1);
    al = answer(a, "_xmpps-client._tcp.example.org", tls, 1);
    ok(srv_parse(a, al, b, bl, t, 8, pick_fixed) == 1, "\".\" for STARTTLS, a target for direct TLS: that one");

    /* cut short: refused, not read past the end */
    bl = answer(b, "_xmpp-client._tcp.example.org", plain, 2);
    ok(srv_parse(NULL, 0, b, bl - 5, t, 8, pick_fixed) == -1, "a truncated answer is an error");
    ok(srv_parse(NULL, 0, b, 7, t, 8, pick_fixed) == -1, "a header cut short is an error");
    /* more targets than room: the first ones kept */
    ok(srv_parse(NULL, 0, b, bl, t, 1, pick_fixed) == 1, "at most max targets");
    ok(srv_parse(NULL, 0, NULL, 0, t, 8, pick_fixed) == 0, "no answers: no targets (the caller uses domain:5222)");
    return tap_done();
}
