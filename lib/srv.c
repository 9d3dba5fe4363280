/* srv.c - DNS SRV look-ups for XMPP clients.  See srv.h. */
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "srv.h"

static unsigned random_below(unsigned below)
{
    uint32_t r = 0;
    if (below <= 1) return 0;
    sc_random(&r, sizeof r);
    return r % below;
}

/* the SRV records of one answer appended to out; -1 on a malformed answer,
 * -2 when the only record is "." (the service is decidedly not here) */
static int parse_one(const unsigned char *msg, int len, int direct, struct srv_target *out, size_t *n,
                     size_t max)
{
    ns_msg h;
    int nrec, dot = 0, seen = 0;
    if (ns_initparse(msg, len, &h) < 0) return -1;
    nrec = ns_msg_count(h, ns_s_an);
    for (int i = 0; i < nrec; i++) {
        ns_rr rr;
        if (ns_parserr(&h, ns_s_an, i, &rr) < 0) return -1;
        if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in) continue;
        if (ns_rr_rdlen(rr) < 7) return -1;
        const unsigned char *rd = ns_rr_rdata(rr);
        char name[NS_MAXDNAME];
        if (ns_name_uncompress(ns_msg_base(h), ns_msg_end(h), rd + 6, name, sizeof name) < 0) return -1;
        seen++;
        if (!strcmp(name, ".") || !name[0]) { dot = 1; continue; }
        if (*n == max || strlen(name) >= sizeof out->host) continue;
        struct srv_target *t = &out[(*n)++];
        memcpy(t->host, name, strlen(name) + 1);
        snprintf(t->port, sizeof t->port, "%u", (unsigned)ns_get16(rd + 4));
        t->prio = ns_get16(rd);
        t->weight = ns_get16(rd + 2);
        t->direct = direct;
    }
    return dot && seen == 1 ? -2 : 0;
}

int srv_parse(const unsigned char *tls, int tlslen, const unsigned char *plain, int plainlen,
              struct srv_target *out, size_t max, unsigned (*pick)(unsigned below))
{
    size_t n = 0;
    int dots = 0, r;
    if (!pick) pick = random_below;
    if (tls && tlslen > 0) {
        if ((r = parse_one(tls, tlslen, 1, out, &n, max)) == -1) { errno = EPROTO; return -1; }
        dots += r == -2;
    }
    if (plain && plainlen > 0) {
        if ((r = parse_one(plain, plainlen, 0, out, &n, max)) == -1) { errno = EPROTO; return -1; }
        dots += r == -2;
    }
    if (n == 0 && dots) { errno = ENOENT; return -1; }
    /* RFC 2782: lowest priority first (direct TLS before STARTTLS at equal
     * priority, XEP-0368 3); within a priority a weighted random order:
     * zero weights first, a running sum, a random point in [0, sum], the
     * first record whose running sum reaches it, then again for the rest */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            struct srv_target *x = &out[j - 1], *y = &out[j];
            int zx = x->weight == 0, zy = y->weight == 0;
            if (x->prio < y->prio || (x->prio == y->prio && (zx > zy || (zx == zy && x->direct >= y->direct))))
                break;
            struct srv_target tmp = *x;
            *x = *y;
            *y = tmp;
        }
    for (size_t i = 0; i < n; i++) {
        size_t end = i, k;
        unsigned sum = 0, run = 0, point;
        while (end < n && out[end].prio == out[i].prio) sum += out[end++].weight;
        if (end - i < 2) continue;
        point = pick(sum + 1);
        for (k = i; k < end - 1; k++) {
            run += out[k].weight;
            if (run >= point) break;
        }
        struct srv_target tmp = out[k];
        memmove(&out[i + 1], &out[i], (k - i) * sizeof *out);
        out[i] = tmp;
    }
    return (int)n;
}

int srv_lookup(const char *domain, struct srv_target *out, size_t max)
{
    unsigned char a[NS_PACKETSZ * 4], b[NS_PACKETSZ * 4];
    char q[NS_MAXDNAME];
    int al, bl, temp = 0;
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st) < 0) { errno = EAGAIN; return -1; }
    snprintf(q, sizeof q, "_xmpps-client._tcp.%s", domain);
    al = res_nquery(&st, q, ns_c_in, ns_t_srv, a, sizeof a);
    if (al < 0 && st.res_h_errno == TRY_AGAIN) temp = 1;
    snprintf(q, sizeof q, "_xmpp-client._tcp.%s", domain);
    bl = res_nquery(&st, q, ns_c_in, ns_t_srv, b, sizeof b);
    if (bl < 0 && st.res_h_errno == TRY_AGAIN) temp = 1;
    res_nclose(&st);
    if (al < 0 && bl < 0) {
        if (temp) { errno = EAGAIN; return -1; }
        return 0;
    }
    return srv_parse(al > 0 ? a : NULL, al, bl > 0 ? b : NULL, bl, out, max, NULL);
}
