/*
 * jid.c - JIDs as simpp-relayd needs them (RFC 7622): split, check,
 * lower-case the ASCII of local and domain parts.
 */
#include <stdio.h>
#include <string.h>

#include "relay/relay.h"

/* ---- JIDs ------------------------------------------------------------------ */

/* localpart and domain: RFC 7622 3.3.1 forbids " & ' / : < > @ and controls;
 * ASCII is lower-cased (the common case of its case mapping). */
static int part_ok(char *s, int local)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255) return 0;
    for (char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch == 0x7f) return 0;
        if (local && strchr("\"&'/:<>@", ch)) return 0;
        if (!local && strchr("\"&'/<>@", ch)) return 0;
        if (ch >= 'A' && ch <= 'Z') *p = (char)(ch + 32);
    }
    return 1;
}

int jid_parse(const char *s, struct jid *j)
{
    const char *at, *slash;
    size_t n;
    memset(j, 0, sizeof *j);
    if (!s) return -1;
    slash = strchr(s, '/');
    at = memchr(s, '@', slash ? (size_t)(slash - s) : strlen(s));
    if (at) {
        n = (size_t)(at - s);
        if (n == 0 || n >= sizeof j->local) return -1;
        memcpy(j->local, s, n);
        if (!part_ok(j->local, 1)) return -1;
        s = at + 1;
    }
    n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof j->domain) return -1;
    memcpy(j->domain, s, n);
    if (!part_ok(j->domain, 0)) return -1;
    if (slash) {
        const unsigned char *p = (const unsigned char *)slash + 1;
        n = strlen(slash + 1);
        if (n == 0 || n >= sizeof j->resource) return -1;
        for (size_t i = 0; i < n; i++)
            if (p[i] < 0x20 || p[i] == 0x7f) return -1;
        memcpy(j->resource, slash + 1, n);
    }
    return 0;
}

int jid_bare(const struct jid *j, char *buf, size_t cap)
{
    int n = j->local[0] ? snprintf(buf, cap, "%s@%s", j->local, j->domain)
                        : snprintf(buf, cap, "%s", j->domain);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

