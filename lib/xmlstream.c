/*
 * xmlstream.c - XMPP XML streams over a libxml2 SAX2 push parser.
 *
 * Why the pieces are shaped as they are:
 *
 * Own tree, not xmlNode.  A stanza is built into a per-stanza arena (a few
 * malloc'd chunks) from our own 72-byte xs_node: one free() walk releases it,
 * its size is counted exactly against the limit, names repeated inside one
 * stanza are stored once, and callers (routing, logging, the SIMPP layer)
 * never include libxml2 headers.  An xmlNode is 120 bytes, each xmlAttr 96
 * plus a text child node for its value, and namespaces need xmlNs structs
 * and a document; freeing is a recursive walk of single allocations.
 *
 * Limits before the parser.  libxml2's push parser keeps a whole start tag
 * (and a whole comment, a whole DTD) in memory until its closing '>' comes,
 * and its own ceilings are 10 MB of text and a 10 MB dictionary a context.
 * So xs_feed() hands it at most max_stanza bytes past the last point where a
 * top-level element ended: a 10 MB stanza costs max_stanza bytes, then
 * <policy-violation/>.  Depth and attribute counts are checked in the SAX
 * callbacks, the tree size against 8 x max_stanza, the dictionary of names
 * against XS_DICT_BYTES.
 *
 * Restricted XML (RFC 6120 §11.1).  No comments, processing instructions,
 * DTDs or entity references other than the five predefined ones: each SAX
 * hook for them ends the stream with <restricted-xml/>, and the parser runs
 * without XML_PARSE_NOENT / DTDLOAD / HUGE, with XML_PARSE_NONET, so even a
 * missed hook cannot expand or fetch anything.  UTF-8 only (§11.6): bytes are
 * checked before the parser sees them, encoding autodetection is switched
 * off, and a declared encoding other than UTF-8 is <unsupported-encoding/>.
 *
 * Lazy parser.  A libxml2 push context (context, SAX copy, dictionary, 8 KB
 * input buffer, stacks) costs about 17 KB; 10,000 idle connections would
 * hold 170 MB doing nothing.  Between stanzas the context can be dropped
 * (xs_trim) and rebuilt on the next byte by feeding it a copy of the stream
 * header's namespace declarations, so the stanzas that follow resolve their
 * prefixes exactly as before.  The same rebuild bounds the per-context
 * dictionary, where libxml2 interns every element and attribute name it
 * sees, and returns the input buffer after a large stanza.
 */
#include "xmlstream.h"

#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <threads.h>

#include <libxml/parser.h>
#include <libxml/dict.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#if LIBXML_VERSION >= 21200
typedef const xmlError *xs_errp;
#else
typedef xmlErrorPtr xs_errp;
#endif

/* A stanza larger than this has grown libxml2's input buffer; give it back
 * at the next point between stanzas. */
#define XS_BIG_STANZA   16384u
/* Hard cap on the dictionary's string pools (xmlDictSetLimit).  libxml2 2.9
 * checks it before adding a pool and grows pools 1000, 4000, 16000 bytes, so
 * this stops it at 21,000 bytes: some 2,500 short names, ~200 KB with the
 * hash table, which the limit does not count. */
#define XS_DICT_BYTES   16384
/* Rebuild the context at the next read that ends between stanzas once it
 * holds this many names or half the cap in pools: far above the vocabulary
 * of a real stream, far enough below the cap for one read's new names. */
#define XS_DICT_MAX     1024
/* Per-stanza name cache slots (power of two). */
#define XS_CACHE        32u

/* ---- RFC 6120 §4.9.3 conditions ------------------------------------- */

static const char *const conditions[] = {
    "bad-format", "bad-namespace-prefix", "conflict", "connection-timeout",
    "host-gone", "host-unknown", "improper-addressing",
    "internal-server-error", "invalid-from", "invalid-namespace",
    "invalid-xml", "not-authorized", "not-well-formed", "policy-violation",
    "remote-connection-failed", "reset", "resource-constraint",
    "restricted-xml", "see-other-host", "system-shutdown",
    "undefined-condition", "unsupported-encoding", "unsupported-feature",
    "unsupported-stanza-type", "unsupported-version",
};

static const char *condition_find(const char *c)
{
    if (c == NULL) return NULL;
    for (size_t i = 0; i < sizeof conditions / sizeof conditions[0]; i++)
        if (strcmp(c, conditions[i]) == 0) return conditions[i];
    return NULL;
}

int xs_condition_valid(const char *condition)
{
    return condition_find(condition) != NULL;
}

/* ---- tree arena ----------------------------------------------------- */

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
} chunk;
#define CHUNK_HDR ((sizeof(chunk) + 15) & ~(size_t)15)
#define CHUNK_MAX 65536u

typedef struct tree {
    chunk *head;        /* newest chunk; the list ends with the one holding this */
    size_t bytes;       /* malloc'd, headers included */
    size_t limit;
    int over;           /* an allocation hit limit (not malloc) */
    xs_node root;
} tree;

static tree *tree_of(const xs_node *root)
{
    return (tree *)(void *)((char *)(uintptr_t)root - offsetof(tree, root));
}

static tree *tree_new(size_t cap, size_t limit)
{
    if (cap < sizeof(tree)) cap = sizeof(tree);
    if (CHUNK_HDR + cap > limit) return NULL;
    chunk *c = malloc(CHUNK_HDR + cap);
    if (c == NULL) return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = (sizeof(tree) + 15) & ~(size_t)15;
    tree *t = (tree *)(void *)((char *)c + CHUNK_HDR);
    memset(t, 0, sizeof *t);
    t->head = c;
    t->bytes = CHUNK_HDR + cap;
    t->limit = limit;
    return t;
}

static void tree_free(tree *t)
{
    if (t == NULL) return;
    /* the chunk holding t is the last one visited; t is not read after it */
    for (chunk *c = t->head, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
}

static void *tree_alloc(tree *t, size_t n, size_t align)
{
    chunk *c = t->head;
    size_t off = (c->used + align - 1) & ~(align - 1);
    if (off > c->cap || n > c->cap - off) {
        size_t cap = c->cap < CHUNK_MAX / 2 ? c->cap * 2 : CHUNK_MAX;
        if (cap < n) cap = n;
        if (t->bytes > t->limit || CHUNK_HDR + cap > t->limit - t->bytes) {
            t->over = 1;
            return NULL;
        }
        chunk *nc = malloc(CHUNK_HDR + cap);
        if (nc == NULL) return NULL;
        nc->next = c;
        nc->cap = cap;
        nc->used = 0;
        t->head = c = nc;
        t->bytes += CHUNK_HDR + cap;
        off = 0;
    }
    c->used = off + n;
    return (char *)c + CHUNK_HDR + off;
}

static char *tree_strndup(tree *t, const char *s, size_t n)
{
    char *p = tree_alloc(t, n + 1, 1);
    if (p == NULL) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void xs_node_free(xs_node *root)
{
    if (root == NULL || root->parent != NULL) return;
    tree_free(tree_of(root));
}

/* ---- node access ---------------------------------------------------- */

xs_node *xs_child(const xs_node *n, const char *name, const char *ns)
{
    if (n == NULL) return NULL;
    for (xs_node *c = n->children; c != NULL; c = c->next) {
        if (c->name == NULL) continue;
        if (name != NULL && strcmp(c->name, name) != 0) continue;
        if (ns != NULL && (c->ns == NULL || strcmp(c->ns, ns) != 0)) continue;
        return c;
    }
    return NULL;
}

static xs_attr *attr_find(const xs_node *n, const char *name, const char *ns)
{
    for (unsigned i = 0; i < n->nattrs; i++) {
        xs_attr *a = &n->attrs[i];
        if (strcmp(a->name, name) != 0) continue;
        if (ns == NULL ? a->ns == NULL : (a->ns != NULL && strcmp(a->ns, ns) == 0))
            return a;
    }
    return NULL;
}

const char *xs_getattr(const xs_node *n, const char *name, const char *ns)
{
    if (n == NULL || name == NULL) return NULL;
    const xs_attr *a = attr_find(n, name, ns);
    return a ? a->value : NULL;
}

const char *xs_text(const xs_node *n)
{
    if (n == NULL) return NULL;
    if (n->name == NULL) return n->text;
    for (const xs_node *c = n->children; c != NULL; c = c->next)
        if (c->name == NULL) return c->text;
    return "";
}

void xs_rename_ns(xs_node *n, const char *from, const char *to)
{
    for (; n; n = n->next) {
        if (n->name && n->ns && strcmp(n->ns, from) == 0) n->ns = to;
        xs_rename_ns(n->children, from, to);
        if (!n->parent) break;              /* the root's siblings are not its tree */
    }
}

int xs_setattr(xs_node *n, const char *name, const char *value)
{
    if (n == NULL || n->name == NULL || name == NULL || value == NULL ||
        *name == '\0' || strpbrk(name, " \t\r\n<>&'\"=/:") != NULL) {
        errno = EINVAL;
        return -1;
    }
    xs_node *root = n;
    while (root->parent != NULL) root = root->parent;
    tree *t = tree_of(root);
    char *v = tree_strndup(t, value, strlen(value));
    if (v == NULL) goto nomem;
    xs_attr *a = attr_find(n, name, NULL);
    if (a != NULL) {
        a->value = v;
        return 0;
    }
    xs_attr *na = tree_alloc(t, (n->nattrs + 1) * sizeof *na, alignof(xs_attr));
    char *nm = na ? tree_strndup(t, name, strlen(name)) : NULL;
    if (nm == NULL) goto nomem;
    if (n->nattrs) memcpy(na, n->attrs, n->nattrs * sizeof *na);
    na[n->nattrs] = (xs_attr){ .name = nm, .prefix = NULL, .ns = NULL, .value = v };
    n->attrs = na;
    n->nattrs++;
    return 0;
nomem:
    errno = ENOMEM;
    return -1;
}

/* ---- the stream ----------------------------------------------------- */

/* What exists only while a libxml2 context does. */
typedef struct work {
    xmlParserCtxtPtr ctxt;
    int cr_held;            /* the piece being parsed ends in CR, held back by
                               xmlParseChunk until it returns */
    char *text;             /* character data of the element being built */
    size_t tlen, tcap;
    struct { const xmlChar *key; const char *val; } cache[XS_CACHE];
} work;

enum { WANT_STOP = 1, WANT_RESET = 2, WANT_FREE = 4 };

struct xs_stream {
    xs_callbacks cb;
    void *arg;
    size_t max_stanza, max_tree;
    unsigned max_depth, max_attrs;
    unsigned depth;         /* open elements, the stream root included */
    unsigned char state, trim_idle, trim_hint, in_parse, replaying, replay_ok, want;
    unsigned char u_need, u_lo, u_hi;   /* UTF-8 check carried across feeds */
    const char *cond;       /* condition (static), NULL if none */
    char *detail;
    work *w;                /* NULL while trimmed or not yet fed */
    tree *hdr;              /* the stream header, until reset */
    xs_header *h;
    tree *st;               /* stanza being built */
    xs_node *cur;           /* its open element */
    char *carry;            /* unparsed bytes kept across a trim */
    size_t ncarry;
    /* Byte positions since the document began: fed to the parser; end of the
     * last top-level element, header or inter-stanza whitespace; end of the
     * last event delivered. */
    uint64_t fed, bound, evpos;
};

static xmlSAXHandler sax;
static once_flag init_flag = ONCE_FLAG_INIT;

static void work_free(xs_stream *s)
{
    if (s->w == NULL) return;
    if (s->w->ctxt != NULL) xmlFreeParserCtxt(s->w->ctxt);
    free(s->w->text);
    free(s->w);
    s->w = NULL;
}

/* Record the first failure.  Does not touch the parser: also called from
 * libxml2's error and entity hooks, where halting it is not safe. */
static void fail(xs_stream *s, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(xs_stream *s, const char *cond, const char *fmt, ...)
{
    if (s->state == XS_FAILED) return;
    s->state = XS_FAILED;
    s->cond = cond;
    free(s->detail);
    s->detail = NULL;
    if (fmt != NULL) {
        char buf[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        size_t n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = '\0';
        s->detail = strdup(buf);
    }
}

/* Stop the parser from inside a SAX event callback, where libxml2 expects
 * xmlStopParser (it checks for XML_PARSER_EOF after each of them). */
static void halt(xs_stream *s)
{
    s->want |= WANT_STOP;
    if (s->w != NULL && s->w->ctxt != NULL) xmlStopParser(s->w->ctxt);
}

/* Absolute position of libxml2's read pointer. */
static uint64_t now_pos(const xs_stream *s)
{
    const xmlParserCtxt *c = s->w->ctxt;
    uint64_t avail = (uint64_t)s->w->cr_held;
    if (c->input != NULL && c->input->end >= c->input->cur)
        avail += (uint64_t)(c->input->end - c->input->cur);
    return avail > s->fed ? 0 : s->fed - avail;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Names and namespaces every stream repeats point at these instead of a
 * copy: the stream header of each idle connection, and every stanza, is
 * smaller for it. */
static const char *const common[] = {
    XS_NS_STREAMS, XS_NS_CLIENT, XS_NS_SERVER, XS_NS_XML, XS_NS_STREAM_ERRORS,
    "urn:ietf:params:xml:ns:xmpp-stanzas", "urn:ietf:params:xml:ns:xmpp-sasl",
    "urn:ietf:params:xml:ns:xmpp-tls", "urn:ietf:params:xml:ns:xmpp-bind",
    "stream", "xml", "lang", "to", "from", "id", "type", "version",
    "message", "presence", "iq", "body", "error", "query", "features",
    "show", "status", "priority", "subject", "thread", "text", "item",
};

static const char *common_find(const char *k, size_t n)
{
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        if (common[i][0] == k[0] && strlen(common[i]) == n && memcmp(common[i], k, n) == 0)
            return common[i];
    return NULL;
}

/* Bytes intern() takes from a tree for k (alignment 1). */
static size_t intern_cost(const xmlChar *k)
{
    if (k == NULL) return 0;
    size_t n = strlen((const char *)k);
    return common_find((const char *)k, n) ? 0 : n + 1;
}

/* Names come from libxml2's dictionary, so one pointer is one string for the
 * life of the context; the strcmp guards the cache against any that is not. */
static const char *intern(xs_stream *s, tree *t, const xmlChar *k, int cached)
{
    if (k == NULL) return NULL;
    size_t n = strlen((const char *)k);
    const char *c = common_find((const char *)k, n);
    if (c != NULL) return c;
    if (!cached || s->w == NULL) return tree_strndup(t, (const char *)k, n);
    uintptr_t h = (uintptr_t)k;
    h = (h >> 4) ^ (h >> 11);
    unsigned i = (unsigned)h & (XS_CACHE - 1);
    if (s->w->cache[i].key == k && strcmp(s->w->cache[i].val, (const char *)k) == 0)
        return s->w->cache[i].val;
    char *v = tree_strndup(t, (const char *)k, n);
    if (v != NULL) {
        s->w->cache[i].key = k;
        s->w->cache[i].val = v;
    }
    return v;
}

/* Attribute value.  Without entity substitution libxml2 2.9 (and later)
 * hands '&' in attribute values over as "&#38;" for its own tree builder to
 * re-parse; every '&' it delivers starts that sequence, so undo it. */
static const char *attr_value(tree *t, const xmlChar *v, const xmlChar *end)
{
    size_t n = (size_t)(end - v);
    char *p = tree_alloc(t, n + 1, 1), *o = p;
    if (p == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '&' && n - i >= 5 && memcmp(v + i, "&#38;", 5) == 0) {
            *o++ = '&';
            i += 4;
        } else {
            *o++ = (char)v[i];
        }
    }
    *o = '\0';
    return p;
}

static int build_elem(xs_stream *s, tree *t, xs_node *n, const xmlChar *local,
                      const xmlChar *prefix, const xmlChar *uri,
                      int nattrs, const xmlChar **atts, int cached)
{
    n->name = intern(s, t, local, cached);
    n->prefix = intern(s, t, prefix, cached);
    n->ns = intern(s, t, uri, cached);
    if (n->name == NULL || (prefix && !n->prefix) || (uri && !n->ns)) return -1;
    if (nattrs <= 0) return 0;
    n->attrs = tree_alloc(t, (size_t)nattrs * sizeof(xs_attr), alignof(xs_attr));
    if (n->attrs == NULL) return -1;
    for (int i = 0; i < nattrs; i++) {
        const xmlChar **a = atts + 5 * i;   /* localname, prefix, URI, value, end */
        xs_attr *x = &n->attrs[i];
        x->name = intern(s, t, a[0], cached);
        x->prefix = intern(s, t, a[1], cached);
        x->ns = intern(s, t, a[2], cached);
        x->value = attr_value(t, a[3], a[4]);
        if (!x->name || (a[1] && !x->prefix) || (a[2] && !x->ns) || !x->value) return -1;
    }
    n->nattrs = (unsigned)nattrs;
    return 0;
}

static void tree_fail(xs_stream *s, tree *t)
{
    if (t != NULL && t->over)
        fail(s, "policy-violation", "stanza tree larger than %zu bytes", s->max_tree);
    else
        fail(s, "resource-constraint", "out of memory");
    halt(s);
}

/* ---- SAX handlers --------------------------------------------------- */

static void open_header(xs_stream *s, const xmlChar *local, const xmlChar *prefix,
                        const xmlChar *uri, int nns, const xmlChar **nsp,
                        int nattrs, const xmlChar **atts)
{
    /* RFC 6120 §4.8.1: the stream element is qualified by the streams
     * namespace, whatever prefix names it; §4.9.3.10 otherwise. */
    if (uri == NULL || strcmp((const char *)uri, XS_NS_STREAMS) != 0) {
        fail(s, "invalid-namespace", "stream element not in %s", XS_NS_STREAMS);
        halt(s);
        return;
    }
    if (strcmp((const char *)local, "stream") != 0) {
        fail(s, "bad-format", "root element is not <stream>");
        halt(s);
        return;
    }
    if ((unsigned)(nattrs + nns) > s->max_attrs) {
        fail(s, "policy-violation", "more than %u attributes", s->max_attrs);
        halt(s);
        return;
    }
    /* Sized exactly, in one chunk: this tree lives as long as the stream,
     * idle or not.  Three aligned arrays, at most 7 bytes of padding each. */
    size_t need = ((sizeof(tree) + 15) & ~(size_t)15) + sizeof(xs_header) +
                  (size_t)nns * sizeof(xs_nsdecl) + (size_t)nattrs * sizeof(xs_attr) + 24 +
                  intern_cost(local) + intern_cost(prefix) + intern_cost(uri);
    for (int i = 0; i < nns; i++)
        need += intern_cost(nsp[2 * i]) + intern_cost(nsp[2 * i + 1]);
    for (int i = 0; i < nattrs; i++)
        need += intern_cost(atts[5 * i]) + intern_cost(atts[5 * i + 1]) +
                intern_cost(atts[5 * i + 2]) + (size_t)(atts[5 * i + 4] - atts[5 * i + 3]) + 1;
    tree *t = tree_new(need, SIZE_MAX);
    if (t == NULL) {
        tree_fail(s, NULL);
        return;
    }
    xs_header *h = tree_alloc(t, sizeof *h, alignof(xs_header));
    xs_nsdecl *d = nns > 0 ? tree_alloc(t, (size_t)nns * sizeof *d, alignof(xs_nsdecl)) : NULL;
    if (h == NULL || (nns > 0 && d == NULL) ||
        build_elem(s, t, &t->root, local, prefix, uri, nattrs, atts, 0) < 0)
        goto nomem;
    memset(h, 0, sizeof *h);
    for (int i = 0; i < nns; i++) {
        d[i].prefix = intern(s, t, nsp[2 * i], 0);
        d[i].uri = intern(s, t, nsp[2 * i + 1], 0);
        if ((nsp[2 * i] && !d[i].prefix) || d[i].uri == NULL) goto nomem;
        if (d[i].prefix == NULL) h->content_ns = d[i].uri;
    }
    h->elem = &t->root;
    h->decls = d;
    h->ndecls = (unsigned)nns;
    h->to = xs_getattr(&t->root, "to", NULL);
    h->from = xs_getattr(&t->root, "from", NULL);
    h->id = xs_getattr(&t->root, "id", NULL);
    h->version = xs_getattr(&t->root, "version", NULL);
    h->lang = xs_getattr(&t->root, "lang", XS_NS_XML);
    s->hdr = t;
    s->h = h;
    s->depth = 1;
    s->state = XS_OPEN;

    /* libxml2 calls this with its read pointer on the '>' (or "/>") that ends
     * the tag; the event ends after it. */
    const xmlParserInput *in = s->w->ctxt->input;
    uint64_t pos = now_pos(s);
    if (in != NULL && in->cur < in->end)
        pos += in->cur[0] == '>' ? 1 : in->cur[0] == '/' ? 2 : 0;
    if (pos > s->fed) pos = s->fed;
    s->bound = s->evpos = pos;
    if (s->cb.open != NULL && s->cb.open(s->arg, h) == XS_STOP) {
        if (s->state == XS_OPEN) s->state = XS_STOPPED;
        halt(s);
    }
    return;
nomem:
    tree_free(t);
    tree_fail(s, NULL);
}

static int flush_text(xs_stream *s)
{
    work *w = s->w;
    if (w->tlen == 0) return 0;
    xs_node *n = tree_alloc(s->st, sizeof *n, alignof(xs_node));
    char *txt = n ? tree_strndup(s->st, w->text, w->tlen) : NULL;
    if (txt == NULL) return -1;
    memset(n, 0, sizeof *n);
    n->text = txt;
    n->parent = s->cur;
    n->next = s->cur->children;     /* prepended; reversed at the end tag */
    s->cur->children = n;
    w->tlen = 0;
    return 0;
}

static void sax_start(void *ctx, const xmlChar *local, const xmlChar *prefix,
                      const xmlChar *uri, int nns, const xmlChar **nsp,
                      int nattrs, int ndefaulted, const xmlChar **atts)
{
    xs_stream *s = ctx;
    (void)ndefaulted;   /* no DTD, so never any */
    if (s->replaying) {
        s->replay_ok = 1;
        return;
    }
    if (s->state != XS_OPEN && s->state != XS_START) {
        halt(s);
        return;
    }
    if (s->depth == 0) {
        open_header(s, local, prefix, uri, nns, nsp, nattrs, atts);
        return;
    }
    /* s->depth is the level of the new element inside its stanza */
    if (s->depth > s->max_depth) {
        fail(s, "policy-violation", "elements nested deeper than %u", s->max_depth);
        halt(s);
        return;
    }
    if ((unsigned)(nattrs + nns) > s->max_attrs) {
        fail(s, "policy-violation", "more than %u attributes on <%s>", s->max_attrs,
             (const char *)local);
        halt(s);
        return;
    }
    xs_node *n;
    if (s->depth == 1) {
        s->st = tree_new(1024, s->max_tree);
        if (s->st == NULL) {
            fail(s, "resource-constraint", "out of memory");
            halt(s);
            return;
        }
        memset(s->w->cache, 0, sizeof s->w->cache);
        n = &s->st->root;
    } else {
        if (flush_text(s) < 0 ||
            (n = tree_alloc(s->st, sizeof *n, alignof(xs_node))) == NULL) {
            tree_fail(s, s->st);
            return;
        }
        memset(n, 0, sizeof *n);
        n->parent = s->cur;
        n->next = s->cur->children;
        s->cur->children = n;
    }
    if (build_elem(s, s->st, n, local, prefix, uri, nattrs, atts, 1) < 0) {
        tree_fail(s, s->st);
        return;
    }
    s->cur = n;
    s->depth++;
}

static void sax_end(void *ctx, const xmlChar *local, const xmlChar *prefix,
                    const xmlChar *uri)
{
    xs_stream *s = ctx;
    (void)local; (void)prefix; (void)uri;   /* libxml2 matched them to the start tag */
    if (s->replaying) return;
    if (s->state != XS_OPEN || s->depth == 0) {
        halt(s);
        return;
    }
    if (s->depth == 1) {
        /* </stream:stream>, RFC 6120 §4.4: nothing after it is read */
        s->depth = 0;
        s->state = XS_CLOSED;
        s->evpos = now_pos(s);
        halt(s);
        if (s->cb.close != NULL) s->cb.close(s->arg);
        return;
    }
    if (flush_text(s) < 0) {
        tree_fail(s, s->st);
        return;
    }
    xs_node *n = s->cur, *rev = NULL;
    for (xs_node *c = n->children, *next; c != NULL; c = next) {
        next = c->next;
        c->next = rev;
        rev = c;
    }
    n->children = rev;
    s->cur = n->parent;
    s->depth--;
    if (s->depth > 1) return;

    /* a top-level element is complete */
    uint64_t pos = now_pos(s);
    if (pos - s->bound > XS_BIG_STANZA) s->trim_hint = 1;
    s->bound = s->evpos = pos;
    tree *t = s->st;
    s->st = NULL;
    s->cur = NULL;
    t->limit = SIZE_MAX;    /* the caller's now: xs_setattr may grow it */
    if (s->w->tcap > 4096) {
        free(s->w->text);
        s->w->text = NULL;
        s->w->tcap = 0;
    }
    int rc = XS_CONTINUE;
    if (s->cb.stanza != NULL)
        rc = s->cb.stanza(s->arg, &t->root);
    else
        tree_free(t);
    if (rc == XS_STOP) {
        if (s->state == XS_OPEN) s->state = XS_STOPPED;
        halt(s);
    }
}

static void sax_chars(void *ctx, const xmlChar *ch, int len)
{
    xs_stream *s = ctx;
    if (s->replaying || len <= 0) return;
    if (s->state != XS_OPEN) {
        halt(s);
        return;
    }
    if (s->depth <= 1) {
        /* Between stanzas only whitespace (RFC 6120 §11.7; keepalives). */
        for (int i = 0; i < len; i++) {
            if (!is_ws(ch[i])) {
                fail(s, "bad-format", "character data between stanzas");
                halt(s);
                return;
            }
        }
        /* The run ends at ch + len.  libxml2's fast path passes a pointer
         * into its input and moves its read pointer only afterwards; its
         * slow path copies, having read past the run already. */
        const xmlParserInput *in = s->w->ctxt->input;
        uint64_t pos = now_pos(s);
        if (in != NULL && ch >= in->base && ch + len <= in->end) {
            uint64_t after = (uint64_t)(in->end - (ch + len)) + (uint64_t)s->w->cr_held;
            pos = after > s->fed ? 0 : s->fed - after;
        }
        if (pos > s->bound) s->bound = pos;
        return;
    }
    work *w = s->w;
    size_t n = (size_t)len;
    if (s->st->bytes + w->tlen + n > s->max_tree) {
        s->st->over = 1;
        tree_fail(s, s->st);
        return;
    }
    if (w->tlen + n + 1 > w->tcap) {
        size_t cap = w->tcap ? w->tcap : 256;
        while (cap < w->tlen + n + 1) cap *= 2;
        char *p = realloc(w->text, cap);
        if (p == NULL) {
            tree_fail(s, NULL);
            return;
        }
        w->text = p;
        w->tcap = cap;
    }
    memcpy(w->text + w->tlen, ch, n);
    w->tlen += n;
}

/* RFC 6120 §11.6: refuse a declared encoding other than UTF-8.
 * libxml2 has switched to a converter by now; nothing is parsed with it. */
static void sax_start_document(void *ctx)
{
    xs_stream *s = ctx;
    const xmlParserCtxt *c = s->w->ctxt;
    const char *enc = (const char *)c->encoding;
    if (enc == NULL && c->input != NULL) enc = (const char *)c->input->encoding;
    if (enc != NULL && strcasecmp(enc, "UTF-8") != 0 && strcasecmp(enc, "UTF8") != 0) {
        fail(s, "unsupported-encoding", "encoding '%s' declared; XMPP is UTF-8 only", enc);
        halt(s);
    }
}

/* RFC 6120 §11.1.  The event hooks halt the parser at once; the declaration
 * and entity hooks only record (libxml2 may be mid-token there) and libxml2
 * then fails the reference itself. */
static void restricted(xs_stream *s, const char *what)
{
    fail(s, "restricted-xml", "%s is not allowed in XMPP (RFC 6120 §11.1)", what);
}

static void sax_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext,
                                const xmlChar *sys)
{
    (void)name; (void)ext; (void)sys;
    restricted(ctx, "a document type declaration");
    halt(ctx);
}

static void sax_external_subset(void *ctx, const xmlChar *name, const xmlChar *ext,
                                const xmlChar *sys)
{
    (void)name; (void)ext; (void)sys;
    restricted(ctx, "an external DTD subset");
}

static void sax_comment(void *ctx, const xmlChar *value)
{
    (void)value;
    restricted(ctx, "a comment");
    halt(ctx);
}

static void sax_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    (void)target; (void)data;
    restricted(ctx, "a processing instruction");
    halt(ctx);
}

static xmlEntityPtr sax_get_entity(void *ctx, const xmlChar *name)
{
    (void)name;     /* the five predefined ones never reach this hook */
    restricted(ctx, "an entity reference");
    return NULL;
}

static void sax_entity_decl(void *ctx, const xmlChar *name, int type,
                            const xmlChar *pub, const xmlChar *sys, xmlChar *content)
{
    (void)name; (void)type; (void)pub; (void)sys; (void)content;
    restricted(ctx, "an entity declaration");
}

static void sax_attribute_decl(void *ctx, const xmlChar *elem, const xmlChar *name,
                               int type, int def, const xmlChar *dflt,
                               xmlEnumerationPtr tree_)
{
    (void)elem; (void)name; (void)type; (void)def; (void)dflt;
    xmlFreeEnumeration(tree_);  /* the handler owns it */
    restricted(ctx, "an attribute-list declaration");
}

static void sax_element_decl(void *ctx, const xmlChar *name, int type,
                             xmlElementContentPtr content)
{
    (void)name; (void)type; (void)content;
    restricted(ctx, "an element declaration");
}

static void sax_notation_decl(void *ctx, const xmlChar *name, const xmlChar *pub,
                              const xmlChar *sys)
{
    (void)name; (void)pub; (void)sys;
    restricted(ctx, "a notation declaration");
}

static void sax_unparsed_decl(void *ctx, const xmlChar *name, const xmlChar *pub,
                              const xmlChar *sys, const xmlChar *notation)
{
    (void)name; (void)pub; (void)sys; (void)notation;
    restricted(ctx, "an unparsed entity declaration");
}

static void sax_reference(void *ctx, const xmlChar *name)
{
    (void)name;
    restricted(ctx, "an entity reference");
}

static xmlParserInputPtr sax_resolve(void *ctx, const xmlChar *pub, const xmlChar *sys)
{
    (void)pub; (void)sys;
    restricted(ctx, "an external entity");
    return NULL;
}

/* Errors: level ERROR (namespace errors) and FATAL (well-formedness) end the
 * stream; warnings do not. */
static void sax_serror(void *ctx, xs_errp e)
{
    xs_stream *s = ctx;
    if (e == NULL || e->level < XML_ERR_ERROR) return;
    const char *cond;
    switch (e->code) {
    case XML_ERR_NO_MEMORY:
        /* also what libxml2 reports when the dictionary reaches its cap */
        if (s->w != NULL && s->w->ctxt->dict != NULL &&
            xmlDictGetUsage(s->w->ctxt->dict) >= XS_DICT_BYTES) {
            fail(s, "policy-violation", "too many distinct names (over %d bytes)",
                 XS_DICT_BYTES);
            return;
        }
        cond = "resource-constraint";
        break;
    case XML_ERR_UNSUPPORTED_ENCODING:
    case XML_ERR_UNKNOWN_ENCODING:
    case XML_ERR_INVALID_ENCODING:
        cond = "unsupported-encoding";      /* RFC 6120 §11.6 */
        break;
    case XML_ERR_UNDECLARED_ENTITY:
    case XML_WAR_UNDECLARED_ENTITY:
    case XML_ERR_ENTITY_LOOP:
    case XML_ERR_ENTITY_PE_INTERNAL:
        cond = "restricted-xml";            /* RFC 6120 §11.1 */
        break;
    default:
        cond = "not-well-formed";           /* RFC 6120 §4.9.3.13: XML or XML-Names */
        break;
    }
    fail(s, cond, "%s", e->message ? e->message : "XML error");
}

static void init_once(void)
{
    LIBXML_TEST_VERSION
    xmlInitParser();

    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;   /* use startElementNs & co and serror */
    sax.startDocument = sax_start_document;
    sax.startElementNs = sax_start;
    sax.endElementNs = sax_end;
    sax.characters = sax_chars;
    sax.ignorableWhitespace = sax_chars;
    sax.cdataBlock = NULL;              /* CDATA sections arrive as characters */
    sax.internalSubset = sax_internal_subset;
    sax.externalSubset = sax_external_subset;
    sax.comment = sax_comment;
    sax.processingInstruction = sax_pi;
    sax.getEntity = sax_get_entity;
    sax.getParameterEntity = sax_get_entity;
    sax.entityDecl = sax_entity_decl;
    sax.attributeDecl = sax_attribute_decl;
    sax.elementDecl = sax_element_decl;
    sax.notationDecl = sax_notation_decl;
    sax.unparsedEntityDecl = sax_unparsed_decl;
    sax.reference = sax_reference;
    sax.resolveEntity = sax_resolve;
    sax.serror = sax_serror;
}

int xs_init(void)
{
    call_once(&init_flag, init_once);
    return 0;
}

/* ---- parser context ------------------------------------------------- */

/* No NOENT (no entity substitution), no DTDLOAD/DTDATTR/DTDVALID (no DTD),
 * no HUGE (keep libxml2's own ceilings), NONET (never fetch anything). */
#define XS_PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOCDATA | XS_PARSE_NO_XXE)
#if LIBXML_VERSION >= 21300
#define XS_PARSE_NO_XXE XML_PARSE_NO_XXE
#else
#define XS_PARSE_NO_XXE 0
#endif

static char *replay_header(const xs_stream *s, size_t *len);

/* Push bytes the stream already counted (replayed header, carried input). */
static int push_internal(xs_stream *s, const char *p, size_t n)
{
    s->w->cr_held = n > 0 && p[n - 1] == '\r';
    s->in_parse = 1;
    int rc = xmlParseChunk(s->w->ctxt, p, (int)n, 0);
    s->in_parse = 0;
    s->w->cr_held = 0;
    return rc;
}

static int work_new(xs_stream *s)
{
    work *w = calloc(1, sizeof *w);
    if (w == NULL) goto nomem;
    /* No initial bytes: libxml2 would guess an encoding from them. */
    w->ctxt = xmlCreatePushParserCtxt(&sax, s, NULL, 0, NULL);
    if (w->ctxt == NULL) {
        free(w);
        goto nomem;
    }
    s->w = w;
    if (xmlCtxtUseOptions(w->ctxt, XS_PARSE_OPTIONS) != 0) {
        fail(s, "internal-server-error", "libxml2 refused the parser options");
        return -1;
    }
    /* The rebuild above XS_DICT_MAX needs a point between stanzas at the end
     * of a read; a peer can avoid those.  Real streams draw their names from
     * a small vocabulary, so cap the dictionary well below libxml2's 10 MB. */
    if (w->ctxt->dict != NULL) xmlDictSetLimit(w->ctxt->dict, XS_DICT_BYTES);
    /* UTF-8, decided here: stops the autodetection from the first bytes
     * (UTF-16, UCS-4, EBCDIC), and a BOM is then just a stray character,
     * RFC 6120 §11.6. */
    w->ctxt->charset = XML_CHAR_ENCODING_UTF8;

    if (s->state == XS_OPEN) {
        size_t hl;
        char *hs = replay_header(s, &hl);
        if (hs == NULL) goto nomem;
        s->replaying = 1;
        s->replay_ok = 0;
        int rc = push_internal(s, hs, hl);
        s->replaying = 0;
        free(hs);
        if (rc != 0 || !s->replay_ok || s->state != XS_OPEN) {
            fail(s, "internal-server-error", "could not rebuild the parser");
            return -1;
        }
    }
    if (s->carry != NULL) {
        char *c = s->carry;
        size_t n = s->ncarry;
        s->carry = NULL;
        s->ncarry = 0;
        push_internal(s, c, n);
        free(c);
        if (s->state == XS_FAILED) return -1;
    }
    return 0;
nomem:
    fail(s, "resource-constraint", "out of memory");
    return -1;
}

int xs_trim(xs_stream *s)
{
    if (s == NULL) return 0;
    if (s->w == NULL) return 1;
    if (s->in_parse || s->state != XS_OPEN || s->depth != 1 || s->st != NULL) return 0;
    const xmlParserCtxt *c = s->w->ctxt;
    /* Between two top-level elements libxml2 keeps no state but its unread
     * bytes: it waits in CONTENT (whitespace, '<' not yet followed by a name)
     * or START_TAG (the next start tag, not yet whole). */
    if (c->errNo != XML_ERR_OK || c->input == NULL ||
        (c->instate != XML_PARSER_CONTENT && c->instate != XML_PARSER_START_TAG))
        return 0;
    const xmlChar *p = c->input->cur;
    size_t n = (size_t)(c->input->end - p), i = 0;
    while (i < n && is_ws(p[i])) i++;
    if (i < n) {
        s->carry = malloc(n);
        if (s->carry == NULL) return 0;
        memcpy(s->carry, p, n);
        s->ncarry = n;
    } else {
        s->bound = s->fed;      /* the whitespace is dropped */
    }
    work_free(s);
    s->trim_hint = 0;
    return 1;
}

/* ---- public stream API ---------------------------------------------- */

xs_stream *xs_new(const xs_limits *lim, const xs_callbacks *cb, void *arg)
{
    xs_init();
    xs_stream *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    if (cb != NULL) s->cb = *cb;
    s->arg = arg;
    s->max_stanza = lim && lim->max_stanza ? lim->max_stanza : XS_DEFAULT_MAX_STANZA;
    if (s->max_stanza > INT_MAX) s->max_stanza = INT_MAX;   /* xmlParseChunk takes int */
    s->max_depth = lim && lim->max_depth ? lim->max_depth : XS_DEFAULT_MAX_DEPTH;
    s->max_attrs = lim && lim->max_attrs ? lim->max_attrs : XS_DEFAULT_MAX_ATTRS;
    s->trim_idle = lim && lim->trim_idle;
    s->max_tree = s->max_stanza > SIZE_MAX / 8 ? SIZE_MAX : 8 * s->max_stanza;
    if (s->max_tree < 8192) s->max_tree = 8192;
    s->u_lo = 0x80;
    s->u_hi = 0xBF;
    s->state = XS_START;
    return s;
}

static void clear(xs_stream *s)
{
    /* A restart gets a new context, not xmlCtxtResetPush: in libxml2 2.9
     * xmlCtxtReset leaves nsNr alone, and a restarted stream was never
     * closed, so the old header's namespace bindings would stay in scope. */
    work_free(s);
    tree_free(s->st);
    tree_free(s->hdr);
    free(s->carry);
    free(s->detail);
    s->st = s->hdr = NULL;
    s->h = NULL;
    s->cur = NULL;
    s->carry = s->detail = NULL;
    s->ncarry = 0;
}

void xs_free(xs_stream *s)
{
    if (s == NULL) return;
    if (s->in_parse) {      /* from a callback: after xmlParseChunk returns */
        s->want |= WANT_FREE;
        halt(s);
        return;
    }
    clear(s);
    free(s);
}

int xs_reset(xs_stream *s)
{
    if (s == NULL) return -1;
    if (s->in_parse) {
        s->want |= WANT_RESET;
        halt(s);
        return 0;
    }
    clear(s);
    s->depth = 0;
    s->state = XS_START;
    s->trim_hint = s->want = 0;
    s->u_need = 0;
    s->u_lo = 0x80;
    s->u_hi = 0xBF;
    s->cond = NULL;
    s->fed = s->bound = s->evpos = 0;
    return 0;
}

int xs_fail(xs_stream *s, const char *condition, const char *text)
{
    const char *c = condition_find(condition);
    if (s == NULL || c == NULL) {
        errno = EINVAL;
        return -1;
    }
    fail(s, c, text ? "%s" : NULL, text);
    if (s->in_parse) halt(s);
    return 0;
}

int xs_state(const xs_stream *s) { return s ? s->state : XS_FAILED; }
const char *xs_error(const xs_stream *s) { return s ? s->cond : NULL; }
const char *xs_error_text(const xs_stream *s) { return s && s->detail ? s->detail : ""; }
const xs_header *xs_header_of(const xs_stream *s) { return s ? s->h : NULL; }

size_t xs_buffered(const xs_stream *s)
{
    size_t n = s->ncarry;
    if (s->st != NULL) n += s->st->bytes;
    if (s->w != NULL) {
        const xmlParserCtxt *c = s->w->ctxt;
        n += s->w->tcap;
        if (c != NULL && c->input != NULL && c->input->end >= c->input->base)
            n += (size_t)(c->input->end - c->input->base);
    }
    return n;
}

/* UTF-8 as RFC 3629 §4 (no overlongs, surrogates, or beyond U+10FFFF), plus
 * no NUL, which XML 1.0 §2.2 forbids and libxml2 takes as end of input.
 * Returns the index of the first bad byte, n if none. */
static size_t scan_input(xs_stream *s, const unsigned char *p, size_t n, int *nul)
{
    unsigned need = s->u_need, lo = s->u_lo, hi = s->u_hi;
    *nul = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned b = p[i];
        if (need > 0) {
            if (b < lo || b > hi) return i;
            need--;
            lo = 0x80;
            hi = 0xBF;
            continue;
        }
        if (b < 0x80) {
            if (b == 0) {
                *nul = 1;
                return i;
            }
            continue;
        }
        if (b < 0xC2) return i;
        if (b < 0xE0) {
            need = 1;
        } else if (b < 0xF0) {
            need = 2;
            if (b == 0xE0) lo = 0xA0;
            else if (b == 0xED) hi = 0x9F;
        } else if (b < 0xF5) {
            need = 3;
            if (b == 0xF0) lo = 0x90;
            else if (b == 0xF4) hi = 0x8F;
        } else {
            return i;
        }
    }
    s->u_need = (unsigned char)need;
    s->u_lo = (unsigned char)lo;
    s->u_hi = (unsigned char)hi;
    return n;
}

static int dict_big(const xs_stream *s)
{
    if (s->w == NULL || s->w->ctxt->dict == NULL) return 0;
    return xmlDictSize(s->w->ctxt->dict) > XS_DICT_MAX ||
           xmlDictGetUsage(s->w->ctxt->dict) > XS_DICT_BYTES / 2;
}

ssize_t xs_feed(xs_stream *s, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t off = 0;
    if (s == NULL || (p == NULL && len > 0) || s->in_parse) {
        errno = EINVAL;
        return -1;
    }
    if (len > SSIZE_MAX) len = SSIZE_MAX;
    if (s->state == XS_FAILED) return -1;
    if (s->state == XS_CLOSED || s->state == XS_STOPPED) return 0;

    while (off < len) {
        /* White space before a stream's first byte is not XML of that stream:
         * the old stream's trailing "\n" after </auth> then "<?xml ...?>"
         * opening the restarted one (an XML declaration must come first). */
        if (s->state == XS_START && s->fed == 0) {
            while (off < len && (p[off] == ' ' || p[off] == '\t' || p[off] == '\r' || p[off] == '\n')) off++;
            if (off == len) break;
        }
        if (s->w == NULL && work_new(s) < 0) return -1;
        /* The stanza limit: never give libxml2 more than max_stanza bytes past
         * the end of the last top-level element. */
        uint64_t pending = s->fed - s->bound;
        if (pending >= s->max_stanza) {
            fail(s, "policy-violation", "stanza larger than %zu bytes", s->max_stanza);
            return -1;
        }
        size_t n = len - off;
        if (n > s->max_stanza - pending) n = (size_t)(s->max_stanza - pending);
        int nul;
        size_t good = scan_input(s, p + off, n, &nul);
        int bad = good < n;
        n = good;   /* parse what precedes a bad byte: its stanzas are fine */

        if (n > 0) {
            uint64_t base = s->fed;
            s->fed += n;
            s->w->cr_held = p[off + n - 1] == '\r';
            s->in_parse = 1;
            int rc = xmlParseChunk(s->w->ctxt, (const char *)p + off, (int)n, 0);
            s->in_parse = 0;
            if (s->w != NULL) s->w->cr_held = 0;

            if (s->want) {
                uint64_t e = s->evpos;
                if (e < base) e = base;
                if (e > s->fed) e = s->fed;
                size_t used = off + (size_t)(e - base);
                unsigned char want = s->want;
                s->want = 0;
                if (want & WANT_FREE) {
                    s->in_parse = 0;
                    xs_free(s);
                    return (ssize_t)used;
                }
                if (want & WANT_RESET) {
                    xs_reset(s);
                    off = used;
                    continue;
                }
                if (s->state == XS_FAILED) return -1;
                if (s->state == XS_OPEN) s->state = XS_STOPPED;
                return (ssize_t)used;
            }
            if (s->state == XS_FAILED) return -1;
            if (rc != 0) {
                fail(s, "not-well-formed", "parser error %d", rc);
                return -1;
            }
        }
        if (bad) {
            if (nul)
                fail(s, "not-well-formed", "NUL byte in the stream");
            else
                fail(s, "unsupported-encoding", "invalid UTF-8 (RFC 6120 §11.6)");
            return -1;
        }
        off += n;
    }
    if (s->w != NULL && s->state == XS_OPEN && s->depth == 1 &&
        (s->trim_idle || s->trim_hint || dict_big(s)))
        xs_trim(s);
    return (ssize_t)len;
}

/* ---- writing -------------------------------------------------------- */

typedef struct sb {
    char *p;
    size_t n, cap;
    int err;
} sb;

static void sb_put(sb *b, const char *s, size_t n)
{
    if (b->err) return;
    if (n >= b->cap - b->n || b->p == NULL) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n <= n) {
            if (cap > SIZE_MAX / 2) {
                b->err = ENOMEM;
                return;
            }
            cap *= 2;
        }
        char *q = realloc(b->p, cap);
        if (q == NULL) {
            b->err = ENOMEM;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_puts(sb *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_esc(sb *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *r;
        switch (s[i]) {
        case '&':  r = "&amp;"; break;
        case '<':  r = "&lt;"; break;
        case '>':  r = "&gt;"; break;   /* also keeps "]]>" out of text */
        case '"':  r = "&quot;"; break;
        case '\'': r = "&apos;"; break;
        case '\t': r = "&#9;"; break;   /* whitespace kept through attribute */
        case '\n': r = "&#10;"; break;  /* normalisation and line-end handling */
        case '\r': r = "&#13;"; break;  /* (XML 1.0 §2.11, §3.3.3) */
        default:   continue;
        }
        sb_put(b, s + run, i - run);
        sb_puts(b, r);
        run = i + 1;
    }
    sb_put(b, s + run, n - run);
}

static char *sb_done(sb *b, size_t *outlen)
{
    sb_put(b, "", 1);
    if (b->err) {
        free(b->p);
        errno = b->err;
        return NULL;
    }
    if (outlen != NULL) *outlen = b->n - 1;
    return b->p;
}

char *xs_escape(const char *s, size_t n, size_t *outlen)
{
    sb b = {0};
    if (s == NULL && n > 0) {
        errno = EINVAL;
        return NULL;
    }
    sb_esc(&b, s ? s : "", n);
    return sb_done(&b, outlen);
}

/* In-scope namespace bindings while writing: a stack, innermost last. */
typedef struct ser {
    sb b;
    struct { const char *prefix, *uri; } *st;
    size_t n, cap;
} ser;

static int same(const char *a, const char *b)
{
    if (a == NULL || b == NULL) return a == b;
    return strcmp(a, b) == 0;
}

static const char *ser_lookup(const ser *z, const char *prefix)
{
    for (size_t i = z->n; i-- > 0;)
        if (same(z->st[i].prefix, prefix)) return z->st[i].uri;
    return NULL;
}

static void ser_bind(ser *z, const char *prefix, const char *uri)
{
    if (z->n == z->cap) {
        size_t cap = z->cap ? 2 * z->cap : 16;
        void *q = realloc(z->st, cap * sizeof *z->st);
        if (q == NULL) {
            z->b.err = ENOMEM;
            return;
        }
        z->st = q;
        z->cap = cap;
    }
    z->st[z->n].prefix = prefix;
    z->st[z->n].uri = uri;
    z->n++;
    sb_puts(&z->b, prefix ? " xmlns:" : " xmlns");
    if (prefix) sb_puts(&z->b, prefix);
    sb_puts(&z->b, "='");
    sb_esc(&z->b, uri, strlen(uri));
    sb_puts(&z->b, "'");
}

static void ser_qname(ser *z, const char *prefix, const char *name)
{
    if (prefix != NULL) {
        sb_puts(&z->b, prefix);
        sb_puts(&z->b, ":");
    }
    sb_puts(&z->b, name);
}

static void ser_node(ser *z, const xs_node *n)
{
    if (n->name == NULL) {
        sb_esc(&z->b, n->text, strlen(n->text));
        return;
    }
    size_t mark = z->n;
    sb_puts(&z->b, "<");
    ser_qname(z, n->prefix, n->name);
    /* Declare what the element's and its attributes' names need and the
     * output context does not already bind (XML-Names §6). */
    const char *want = n->ns ? n->ns : "";
    if (n->prefix == NULL) {
        const char *have = ser_lookup(z, NULL);
        if (!same(have ? have : "", want)) ser_bind(z, NULL, want);
    } else if (strcmp(n->prefix, "xml") != 0) {
        if (!same(ser_lookup(z, n->prefix), want)) ser_bind(z, n->prefix, want);
    }
    for (unsigned i = 0; i < n->nattrs; i++) {
        const xs_attr *a = &n->attrs[i];
        if (a->ns == NULL || a->prefix == NULL || strcmp(a->prefix, "xml") == 0) continue;
        if (!same(ser_lookup(z, a->prefix), a->ns)) ser_bind(z, a->prefix, a->ns);
    }
    for (unsigned i = 0; i < n->nattrs; i++) {
        const xs_attr *a = &n->attrs[i];
        sb_puts(&z->b, " ");
        ser_qname(z, a->ns ? a->prefix : NULL, a->name);
        sb_puts(&z->b, "='");
        sb_esc(&z->b, a->value, strlen(a->value));
        sb_puts(&z->b, "'");
    }
    if (n->children == NULL) {
        sb_puts(&z->b, "/>");
    } else {
        sb_puts(&z->b, ">");
        for (const xs_node *c = n->children; c != NULL; c = c->next) ser_node(z, c);
        sb_puts(&z->b, "</");
        ser_qname(z, n->prefix, n->name);
        sb_puts(&z->b, ">");
    }
    z->n = mark;
}

char *xs_serialize(const xs_node *n, const char *content_ns, size_t *outlen)
{
    if (n == NULL) {
        errno = EINVAL;
        return NULL;
    }
    ser z = {0};
    if (content_ns != NULL) {
        /* as declared by the stream header (xs_stream_header) */
        z.st = malloc(16 * sizeof *z.st);
        if (z.st == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        z.cap = 16;
        z.st[0].prefix = NULL;
        z.st[0].uri = content_ns;
        z.st[1].prefix = "stream";
        z.st[1].uri = XS_NS_STREAMS;
        z.n = 2;
    }
    ser_node(&z, n);
    free(z.st);
    return sb_done(&z.b, outlen);
}

static void attr_out(sb *b, const char *name, const char *v)
{
    if (v == NULL) return;
    sb_puts(b, " ");
    sb_puts(b, name);
    sb_puts(b, "='");
    sb_esc(b, v, strlen(v));
    sb_puts(b, "'");
}

char *xs_stream_header(const char *content_ns, const char *from, const char *to,
                       const char *id, const char *lang, size_t *outlen)
{
    sb b = {0};
    /* RFC 6120 §11.5: the XML declaration may start each stream. */
    sb_puts(&b, "<?xml version='1.0'?><stream:stream");
    attr_out(&b, "xmlns", content_ns ? content_ns : XS_NS_CLIENT);
    attr_out(&b, "xmlns:stream", XS_NS_STREAMS);
    attr_out(&b, "from", from);
    attr_out(&b, "to", to);
    attr_out(&b, "id", id);
    attr_out(&b, "version", "1.0");
    attr_out(&b, "xml:lang", lang);
    sb_puts(&b, ">");
    return sb_done(&b, outlen);
}

char *xs_stream_error(const char *condition, const char *text, size_t *outlen)
{
    const char *c = condition_find(condition);
    if (c == NULL) {
        errno = EINVAL;
        return NULL;
    }
    sb b = {0};
    sb_puts(&b, "<stream:error><");
    sb_puts(&b, c);
    sb_puts(&b, " xmlns='" XS_NS_STREAM_ERRORS "'/>");
    if (text != NULL && *text != '\0') {
        sb_puts(&b, "<text xmlns='" XS_NS_STREAM_ERRORS "'>");
        sb_esc(&b, text, strlen(text));
        sb_puts(&b, "</text>");
    }
    /* RFC 6120 §4.9.1.1: the error is followed by the close tag */
    sb_puts(&b, "</stream:error>" XS_STREAM_CLOSE);
    return sb_done(&b, outlen);
}

/* The stream header's name and namespace declarations, which is all that
 * parsing the stanzas after it needs. */
static char *replay_header(const xs_stream *s, size_t *len)
{
    sb b = {0};
    const xs_node *e = s->h->elem;
    sb_puts(&b, "<");
    if (e->prefix) {
        sb_puts(&b, e->prefix);
        sb_puts(&b, ":");
    }
    sb_puts(&b, e->name);
    for (unsigned i = 0; i < s->h->ndecls; i++) {
        const xs_nsdecl *d = &s->h->decls[i];
        sb_puts(&b, d->prefix ? " xmlns:" : " xmlns");
        if (d->prefix) sb_puts(&b, d->prefix);
        sb_puts(&b, "='");
        sb_esc(&b, d->uri, strlen(d->uri));
        sb_puts(&b, "'");
    }
    sb_puts(&b, ">");
    return sb_done(&b, len);
}
