/*
 * payload.c - files, video invitations, ACKs, FILE_DONE and BYE inside
 * end-to-end frames (payload.h).
 */
#include <string.h>

#include "bytes.h"
#include "payload.h"
#include "util.h"

const char *pl_strerror(int err)
{
    switch (err) {
    case PL_OK: return "no error";
    case PL_ESHORT: return "too short";
    case PL_ENAME: return "unsafe file name";
    case PL_ELONG: return "too long";
    case PL_EORDER: return "chunks out of order or too long";
    case PL_EHASH: return "SHA-256 does not match";
    case PL_EKIND: return "unknown kind";
    case PL_EFILE: return "a chunk of another file";
    default: return "unknown error";
    }
}

int pl_name_ok(const char *name, size_t n)
{
    if (n == 0 || n > PL_NAME_MAX || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/') return 0;
    }
    return 1;
}

int pl_offer_parse(const uint8_t *d, size_t n, struct pl_offer *o)
{
    struct rd r = { d, n, 0 };
    memset(o, 0, sizeof *o);
    o->size = take64(&r);
    const uint8_t *sha = take(&r, SC_SHA256_LEN);
    if (r.bad || r.n == 0) return PL_ESHORT;
    memcpy(o->sha, sha, SC_SHA256_LEN);
    if (!pl_name_ok((const char *)r.p, r.n)) return PL_ENAME;
    memcpy(o->name, r.p, r.n);
    o->name[r.n] = 0;
    return PL_OK;
}

int pl_offer_make(const struct pl_offer *o, uint8_t *out, size_t *outlen)
{
    size_t nl = strnlen(o->name, sizeof o->name);
    struct wr w = { out, 8 + SC_SHA256_LEN + PL_NAME_MAX, 0, 0 };
    if (!pl_name_ok(o->name, nl)) return PL_ENAME;
    put64(&w, o->size);
    put(&w, o->sha, SC_SHA256_LEN);
    put(&w, o->name, nl);
    *outlen = w.n;
    return PL_OK;
}

int pl_chunk_parse(const uint8_t *d, size_t n, uint64_t *off, const uint8_t **bytes, size_t *len)
{
    struct rd r = { d, n, 0 };
    *off = take64(&r);
    if (r.bad) return PL_ESHORT;
    if (r.n > PL_CHUNK) return PL_ELONG;
    *bytes = r.p;
    *len = r.n;
    return PL_OK;
}

size_t pl_chunk_make(uint64_t off, const uint8_t *bytes, size_t len, uint8_t *out)
{
    struct wr w = { out, 8, 0, 0 };
    if (len) memmove(out + 8, bytes, len);     /* bytes may already be there */
    put64(&w, off);
    return 8 + len;
}

void pl_recv_start(struct pl_recv *r, uint64_t id, const struct pl_offer *o)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    r->o = *o;
    sc_sha256_init(&r->h);
}

/* after the last byte: the content against the offer */
static int finish(struct pl_recv *r)
{
    uint8_t h[SC_SHA256_LEN];
    sc_sha256_final(&r->h, h);
    int same = sc_ct_eq(h, r->o.sha, sizeof h);
    sc_zero(h, sizeof h);
    return same ? 1 : PL_EHASH;
}

int pl_recv_chunk(struct pl_recv *r, uint64_t id, const uint8_t *d, size_t n,
                  const uint8_t **bytes, size_t *len)
{
    uint64_t off;
    int e;
    if (id != r->id) return PL_EFILE;
    if ((e = pl_chunk_parse(d, n, &off, bytes, len)) != PL_OK) return e;
    /* r->got <= size always, so size - got cannot wrap */
    if (off != r->got || *len > r->o.size - r->got) return PL_EORDER;
    sc_sha256_update(&r->h, *bytes, *len);
    r->got += *len;
    return r->got == r->o.size ? finish(r) : PL_OK;
}

int pl_recv_empty(struct pl_recv *r)
{
    return r->o.size == 0 ? finish(r) : PL_OK;
}

int pl_done_ok(const uint8_t *d, size_t n)
{
    return n >= 1 && d[0] == 1;
}

const uint8_t *pl_ack_transcript(const uint8_t *d, size_t n)
{
    return n >= SC_SHA256_LEN ? d : NULL;
}

int pl_bye_parse(const uint8_t *d, size_t n, uint64_t *count, const uint8_t **transcript)
{
    struct rd r = { d, n, 0 };
    *count = take64(&r);
    *transcript = take(&r, SC_SHA256_LEN);
    if (r.bad) { *count = 0; *transcript = NULL; return PL_ESHORT; }
    return PL_OK;
}

size_t pl_bye_make(uint64_t count, const uint8_t transcript[SC_SHA256_LEN], uint8_t out[40])
{
    struct wr w = { out, 8 + SC_SHA256_LEN, 0, 0 };
    put64(&w, count);
    put(&w, transcript, SC_SHA256_LEN);
    return w.n;
}

int pl_video_parse(const uint8_t *d, size_t n, struct pl_video *v)
{
    struct rd r = { d, n, 0 };
    memset(v, 0, sizeof *v);
    unsigned kind = take8(&r);
    const uint8_t *sid = take(&r, PL_VSID);
    if (r.bad) return PL_ESHORT;
    if (kind < PL_VINVITE || kind > PL_VREFUSE) return PL_EKIND;
    if (r.n > PL_VPARAMS) return PL_ELONG;
    v->kind = (int)kind;
    memcpy(v->sid, sid, PL_VSID);
    memcpy(v->params, r.p, r.n);
    v->params[r.n] = 0;
    pl_clean(v->params, r.n);
    return PL_OK;
}

int pl_video_make(int kind, const uint8_t sid[PL_VSID], const char *params,
                  uint8_t *out, size_t *outlen)
{
    size_t pl = params ? strlen(params) : 0;
    struct wr w = { out, 1 + PL_VSID + PL_VPARAMS, 0, 0 };
    if (kind < PL_VINVITE || kind > PL_VREFUSE) return PL_EKIND;
    if (pl > PL_VPARAMS) return PL_ELONG;
    put8(&w, (unsigned)kind);
    put(&w, sid, PL_VSID);
    put(&w, params, pl);
    *outlen = w.n;
    return PL_OK;
}

/* a code point a terminal shows as itself: not C0 (tab excepted), DEL,
 * C1, a bidirectional control, or U+2028/U+2029 */
static int shown_as_is(uint32_t cp)
{
    if (cp < 0x20) return cp == '\t';
    if (cp >= 0x7F && cp <= 0x9F) return 0;         /* DEL and C1: 0x9B is CSI */
    if (cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
        return 0;                                   /* direction marks, embeddings, overrides, isolates */
    if (cp == 0x2028 || cp == 0x2029) return 0;     /* line and paragraph separators */
    return 1;
}

void pl_clean(char *s, size_t n)
{
    unsigned char *p = (unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_char(p + i, n - i, &cp);
        if (l == 0) { p[i++] = '?'; continue; }    /* not UTF-8: one byte at a time */
        if (!shown_as_is(cp)) memset(p + i, '?', l);
        i += l;
    }
}
