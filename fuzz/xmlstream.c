/*
 * fuzz/xmlstream.c - the XMPP stream parser (lib/xmlstream.c) on arbitrary
 * bytes, as a relay reads them from a socket.
 *
 * Input: 8 option bytes, then the stream.
 *   o[0..1]  where the bytes are cut in two feeds (a read boundary anywhere:
 *            inside a tag, a UTF-8 sequence, a CR LF)
 *   o[2]     max_stanza = 64 << (o[2] & 7): 64 B .. 8 KB, so the limit is
 *            met by inputs the fuzzer can grow to
 *   o[3]     max_depth = 1 + (o[3] & 15); bit 6: stamp 'from' on each
 *            stanza (xs_setattr); bit 7: trim_idle
 *   o[4]     max_attrs = 1 + (o[4] & 31)
 *   o[5..7]  seed of what the callbacks do (stop, restart, fail, trim, now
 *            and then free the stream), as a relay's handlers may; 0: nothing
 *
 * Properties checked besides memory safety:
 *   - a failed stream names an RFC 6120 4.9.3 condition;
 *   - every stanza serialises (standalone and for its stream's content
 *     namespace), the result parses again as exactly one stanza, and that
 *     stanza serialises to the same bytes: xs_serialize writes what the
 *     parser reads, with every namespace right;
 *   - xs_buffered stays within the bound xmlstream.h gives.
 */
#include "fuzz.h"
#include "xmlstream.h"

/* serialised stanzas waiting to be parsed again (after xs_feed returns:
 * the check must not run inside the callback of the stream it checks) */
#define MAXPEND 64
struct pending {
    char *alone;            /* xs_serialize(n, NULL) */
    char *ctx;              /* xs_serialize(n, content_ns), NULL if no content ns */
    char *ns;               /* a copy of that content namespace */
};

struct run {
    xs_stream *s;
    uint32_t chaos;
    int stamp;
    unsigned max_depth, max_attrs;
    size_t max_stanza;
    struct pending pend[MAXPEND];
    int npend;
};

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* what a relay's handler might do in the middle of a feed */
static int chaos(struct run *r)
{
    if (r->chaos == 0) return XS_CONTINUE;
    switch (next_rand(&r->chaos) % 16) {
    case 0: return XS_STOP;
    case 1: xs_reset(r->s); break;
    case 2: xs_fail(r->s, "policy-violation", "from a callback"); break;
    case 3: xs_trim(r->s); break;
    case 4:
        /* the connection dropped: xmlstream.h allows xs_free from a callback */
        if (next_rand(&r->chaos) % 4 == 0) {
            xs_free(r->s);
            r->s = NULL;
        }
        break;
    }
    return XS_CONTINUE;
}

static int on_open(void *arg, const xs_header *h)
{
    struct run *r = arg;
    /* the header's fields point into it: touch them all */
    FZ_CHECK(h->elem != NULL && h->elem->name != NULL);
    for (unsigned i = 0; i < h->ndecls; i++) FZ_CHECK(h->decls[i].uri != NULL);
    size_t n = 0;
    const char *f[] = { h->to, h->from, h->id, h->version, h->lang, h->content_ns };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) n += f[i] ? strlen(f[i]) : 0;
    (void)n;
    return chaos(r);
}

/* every accessor on every element; xs_text never NULL for an element */
static void walk(const xs_node *n, unsigned depth)
{
    FZ_CHECK(depth <= 64);
    for (const xs_node *c = n->children; c; c = c->next) {
        FZ_CHECK(c->parent == n);
        if (c->name == NULL) {
            FZ_CHECK(c->text != NULL);
            continue;
        }
        FZ_CHECK(xs_text(c) != NULL);
        for (unsigned i = 0; i < c->nattrs; i++)
            FZ_CHECK(xs_getattr(c, c->attrs[i].name, c->attrs[i].ns) != NULL);
        FZ_CHECK(xs_child(n, c->name, c->ns) != NULL);
        walk(c, depth + 1);
    }
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    FZ_SETUP(d != NULL);
    memcpy(d, s, n);
    return d;
}

static int on_stanza(void *arg, xs_node *n)
{
    struct run *r = arg;
    FZ_CHECK(n->name != NULL && n->parent == NULL);
    walk(n, 1);
    /* stamp 'from' as a relay does (RFC 6120 8.1.2.1), with every character
     * the escaper must handle */
    if (r->stamp) FZ_CHECK(xs_setattr(n, "from", "a'b\"c<d>&e\tf\ng\rh@x/y") == 0);
    if (r->npend < MAXPEND) {
        const xs_header *h = xs_header_of(r->s);
        struct pending *p = &r->pend[r->npend++];
        p->alone = xs_serialize(n, NULL, NULL);
        FZ_CHECK(p->alone != NULL);
        p->ctx = p->ns = NULL;
        if (h && h->content_ns) {
            p->ns = dupstr(h->content_ns);
            p->ctx = xs_serialize(n, h->content_ns, NULL);
            FZ_CHECK(p->ctx != NULL);
        }
    }
    xs_node_free(n);
    return chaos(r);
}

static void on_close(void *arg)
{
    (void)arg;
}

/* ---- the round trip -------------------------------------------------- */

struct again {
    xs_node *got;
    int n;
};

static int again_stanza(void *arg, xs_node *n)
{
    struct again *a = arg;
    if (a->n++ == 0) a->got = n;
    else xs_node_free(n);
    return XS_CONTINUE;
}

/* Parse hdr + text as a new stream; return the standalone serialisation of
 * its single stanza. */
static char *reparse(const struct run *r, const char *hdr, const char *text)
{
    size_t tl = strlen(text);
    /* the serialisation may declare namespaces the original inherited:
     * more attributes, more bytes, never deeper; it may also be shorter
     * (<a></a> becomes <a/>) for the same tree, and the tree's cap follows
     * the byte limit, so never less than the limit the original passed */
    size_t lb = 2 * tl + 1024 > r->max_stanza ? 2 * tl + 1024 : r->max_stanza;
    xs_limits lim = { lb, r->max_depth, 2 * r->max_attrs + 8, 0 };
    xs_callbacks cb = { NULL, again_stanza, NULL };
    struct again a = { NULL, 0 };
    xs_stream *s = xs_new(&lim, &cb, &a);
    FZ_SETUP(s != NULL);
    ssize_t k1 = xs_feed(s, hdr, strlen(hdr));
    ssize_t k2 = xs_feed(s, text, tl);
    if (k1 < 0 || k2 != (ssize_t)tl || a.n != 1)
        fz_fail("serialised stanza does not parse back (%s: %s; %d stanzas): %s%s",
                xs_error(s) ? xs_error(s) : "-", xs_error_text(s), a.n, hdr, text);
    char *out = xs_serialize(a.got, NULL, NULL);
    FZ_CHECK(out != NULL);
    xs_node_free(a.got);
    xs_free(s);
    return out;
}

static void check_pending(struct run *r)
{
    /* the standalone form binds every namespace itself: a header that
     * declares only the stream prefix */
    static const char bare[] =
        "<stream:stream xmlns:stream='" XS_NS_STREAMS "'>";
    for (int i = 0; i < r->npend; i++) {
        struct pending *p = &r->pend[i];
        char *back = reparse(r, bare, p->alone);
        if (strcmp(back, p->alone) != 0)
            fz_fail("round trip changed a stanza:\n  was %s\n  now %s", p->alone, back);
        free(back);
        if (p->ctx) {
            char *hdr = xs_stream_header(p->ns, NULL, NULL, NULL, NULL, NULL);
            FZ_CHECK(hdr != NULL);
            back = reparse(r, hdr, p->ctx);
            if (strcmp(back, p->alone) != 0)
                fz_fail("round trip in '%s' changed a stanza:\n  was %s\n  sent %s\n  now %s",
                        p->ns, p->alone, p->ctx, back);
            free(back);
            free(hdr);
        }
        free(p->alone);
        free(p->ctx);
        free(p->ns);
    }
    r->npend = 0;
}

/* ---- the target ------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_SETUP(xs_init() == 0);
    return 0;
}

/* Feed p[0..n): after a stop (as after <starttls/> or SASL success) or a
 * close the relay restarts the stream and goes on with the rest. */
static void feed(struct run *r, const uint8_t *p, size_t n, size_t max_stanza)
{
    int restarts = 0;
    while (n > 0) {
        ssize_t k = xs_feed(r->s, p, n);
        check_pending(r);
        if (r->s == NULL) return;           /* freed by a callback */
        FZ_CHECK(xs_buffered(r->s) <= 10 * max_stanza + 65536);
        int st = xs_state(r->s);
        if (k < 0) {
            FZ_CHECK(st == XS_FAILED);
            FZ_CHECK(xs_error(r->s) != NULL && xs_condition_valid(xs_error(r->s)));
            /* the error element the relay would send */
            char *e = xs_stream_error(xs_error(r->s), xs_error_text(r->s), NULL);
            FZ_CHECK(e != NULL);
            free(e);
            return;
        }
        FZ_CHECK((size_t)k <= n);
        if ((size_t)k == n) return;
        FZ_CHECK(st == XS_STOPPED || st == XS_CLOSED);
        if (++restarts > 8) return;
        FZ_CHECK(xs_reset(r->s) == 0);
        p += k;
        n -= (size_t)k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned cut = fz_u16(&in);
    unsigned o2 = fz_u8(&in), o3 = fz_u8(&in), o4 = fz_u8(&in);
    uint32_t seed = fz_u8(&in) << 16;
    seed |= fz_u8(&in) << 8;
    seed |= fz_u8(&in);
    struct run r = { 0 };
    r.max_depth = 1 + (o3 & 15);
    r.max_attrs = 1 + (o4 & 31);
    r.chaos = seed;
    r.stamp = (o3 >> 6) & 1;
    xs_limits lim = { (size_t)64 << (o2 & 7), r.max_depth, r.max_attrs, (int)(o3 >> 7) };
    r.max_stanza = lim.max_stanza;
    xs_callbacks cb = { on_open, on_stanza, on_close };
    r.s = xs_new(&lim, &cb, &r);
    FZ_SETUP(r.s != NULL);

    /* each feed from its own buffer, so a read past the end of one read()
     * is an ASan report, not a look at the next bytes */
    size_t k = in.n ? cut % (in.n + 1) : 0;
    uint8_t *a = fz_dup(in.p, k), *b = fz_dup(in.p + k, in.n - k);
    feed(&r, a, k, lim.max_stanza);
    if (r.s && xs_state(r.s) != XS_FAILED) feed(&r, b, in.n - k, lim.max_stanza);
    check_pending(&r);
    free(a);
    free(b);
    xs_free(r.s);
    return 0;
}
