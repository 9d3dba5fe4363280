/*
 * xmlstream.h - XMPP XML streams (RFC 6120 §4) over a libxml2 push parser.
 *
 * One xs_stream per connection direction.  Bytes go in with xs_feed(); out
 * come three events: the stream header opened, each complete top-level
 * element (a "stanza" in the loose sense: <message/>, <presence/>, <iq/>,
 * <stream:features/>, SASL and STARTTLS elements ...) as a small owned tree,
 * and the stream closed.  Any failure ends the stream with an RFC 6120 §4.9.3
 * condition name ("not-well-formed", "restricted-xml", "policy-violation",
 * ...), ready for xs_stream_error().
 *
 * Hard limits, fixed at creation and enforced before bytes reach libxml2:
 * the size of one top-level element (whitespace before it included), the
 * nesting depth inside it, the attributes on one element.  A peer that sends
 * a 10 MB stanza is refused once it has sent max_stanza bytes of it.
 *
 * Idle cost: a libxml2 push context is about 17 KB.  A stream creates it at
 * its first byte and gives it back between stanzas when trimmed (xs_trim()
 * or limits.trim_idle); an idle trimmed stream holds only its own struct and
 * the stream header, about 650 bytes.  Rebuilding the context costs about
 * 2 us, once per read with trim_idle.
 *
 * Strings are UTF-8, NUL-terminated.  Return convention: 0 success, -1
 * failure, unless stated otherwise.
 */
#ifndef SIMPP_XMLSTREAM_H
#define SIMPP_XMLSTREAM_H

#include <stddef.h>
#include <sys/types.h>

#define XS_NS_STREAMS       "http://etherx.jabber.org/streams"      /* RFC 6120 §4.8.1 */
#define XS_NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"   /* RFC 6120 §4.9.2 */
#define XS_NS_CLIENT        "jabber:client"                         /* RFC 6120 §4.8.2 */
#define XS_NS_SERVER        "jabber:server"
#define XS_NS_XML           "http://www.w3.org/XML/1998/namespace"  /* the xml: prefix */

#define XS_DEFAULT_MAX_STANZA  65536u
#define XS_DEFAULT_MAX_DEPTH   32u
#define XS_DEFAULT_MAX_ATTRS   64u

#define XS_STREAM_CLOSE "</stream:stream>"

/* ---- the stanza tree ------------------------------------------------- */

typedef struct xs_attr {
    const char *name;       /* local name */
    const char *prefix;     /* as received, NULL if unprefixed */
    const char *ns;         /* namespace URI, NULL for a plain attribute */
    const char *value;      /* decoded */
} xs_attr;

/*
 * One element or text node.  A text node has name == NULL and its characters
 * in text; adjacent character data is merged into one text node.  Read-only
 * for callers except through xs_setattr().  Namespace declarations that no
 * element or attribute uses are not kept (names are kept with their URIs).
 */
typedef struct xs_node xs_node;
struct xs_node {
    const char *name;       /* local name; NULL for a text node */
    const char *prefix;     /* as received, NULL if in the default namespace */
    const char *ns;         /* namespace URI, NULL if in no namespace */
    const char *text;       /* text nodes only */
    xs_node *parent, *children, *next;
    xs_attr *attrs;
    unsigned nattrs;
};

/* Free a tree handed over by the stanza callback (its root, parent == NULL). */
void xs_node_free(xs_node *root);

/* First child element with this local name (NULL = any) and namespace URI
 * (NULL = any); NULL if none.  Like strchr, mutable if the tree is. */
xs_node *xs_child(const xs_node *n, const char *name, const char *ns);
/* Value of the attribute name in namespace ns (NULL = a plain attribute, e.g.
 * "to"; XS_NS_XML for xml:lang); NULL if absent. */
const char *xs_getattr(const xs_node *n, const char *name, const char *ns);
/* Set or replace a plain attribute (e.g. stamp 'from', RFC 6120 §8.1.2.1).
 * Memory comes from the tree, freed with it. */
int xs_setattr(xs_node *n, const char *name, const char *value);
/* Move every element of the tree in namespace from into namespace to (a
 * string that outlives the tree, e.g. XS_NS_CLIENT): a stanza read on a
 * server stream (jabber:server) handed to a client stream. */
void xs_rename_ns(xs_node *n, const char *from, const char *to);
/* The element's character data: its first text child, "" if it has none
 * (enough for <body/>, <status/>, SASL payloads).  Never NULL for elements. */
const char *xs_text(const xs_node *n);

/* ---- the stream ----------------------------------------------------- */

typedef struct xs_nsdecl {
    const char *prefix;     /* NULL for the default namespace */
    const char *uri;
} xs_nsdecl;

/* The opening <stream:stream> (RFC 6120 §4.7). Pointers stay valid until
 * xs_reset() or xs_free(). */
typedef struct xs_header {
    const xs_node *elem;            /* every attribute, the qualified name */
    const char *to, *from, *id, *version, *lang;  /* NULL if absent */
    const char *content_ns;         /* default namespace, e.g. jabber:client; NULL if none */
    const xs_nsdecl *decls;         /* all namespace declarations on it */
    unsigned ndecls;
} xs_header;

typedef struct xs_limits {
    size_t   max_stanza;    /* bytes of one top-level element; 0 = default */
    unsigned max_depth;     /* element nesting inside a stanza, its root = 1 */
    unsigned max_attrs;     /* attributes + namespace declarations on one element */
    int      trim_idle;     /* release the parser after every feed that ends
                               between stanzas (see xs_trim) */
} xs_limits;

/* Callback return values. */
enum { XS_CONTINUE = 0, XS_STOP = 1 };

/*
 * Callbacks run inside xs_feed().  Returning XS_STOP ends parsing right after
 * the event: xs_feed() returns the count of bytes up to and including it,
 * and the stream accepts nothing more until xs_reset() (STARTTLS: the bytes
 * after <starttls/> must not be read as XML, RFC 6120 §5.4.3.3).  A callback
 * may call xs_fail(), xs_reset() (stream restart: the bytes after the event
 * go to the new stream, RFC 6120 §4.3.3) or xs_free().
 */
typedef struct xs_callbacks {
    int  (*open)(void *arg, const xs_header *h);
    int  (*stanza)(void *arg, xs_node *stanza);   /* owns it: xs_node_free() */
    void (*close)(void *arg);                     /* </stream:stream> */
} xs_callbacks;

typedef struct xs_stream xs_stream;

enum xs_state {
    XS_START,       /* waiting for the stream header */
    XS_OPEN,        /* header seen, stanzas flowing */
    XS_CLOSED,      /* </stream:stream> seen */
    XS_STOPPED,     /* a callback returned XS_STOP; xs_reset() to go on */
    XS_FAILED,      /* stream error, see xs_error() */
};

/* libxml2 global set-up; called by xs_new, safe to call again. */
int xs_init(void);

/* lim NULL = defaults.  cb is copied. */
xs_stream *xs_new(const xs_limits *lim, const xs_callbacks *cb, void *arg);
void xs_free(xs_stream *s);

/*
 * Parse len bytes.  Returns the count consumed: len, or fewer when the stream
 * closed or a callback returned XS_STOP (then the rest was not parsed); -1
 * on a stream error (xs_error() names it; the stream accepts nothing more).
 * Not from a callback of the same stream (EINVAL).
 */
ssize_t xs_feed(xs_stream *s, const void *buf, size_t len);

/* Forget the current stream and wait for a new header (restart after
 * STARTTLS or SASL success, RFC 6120 §5.4.3.3, §6.4.6).  Clears errors. */
int xs_reset(xs_stream *s);

/* End the stream with an RFC 6120 §4.9.3 condition (e.g. the open callback
 * refusing a content namespace: "invalid-namespace").  text may be NULL. */
int xs_fail(xs_stream *s, const char *condition, const char *text);

int xs_state(const xs_stream *s);
const char *xs_error(const xs_stream *s);        /* condition, NULL if none */
const char *xs_error_text(const xs_stream *s);   /* detail for logs, "" if none */
const xs_header *xs_header_of(const xs_stream *s); /* NULL before the header */

/* Bytes the stream holds for input not yet made into a stanza: unparsed
 * input, the partial tree, pending text.  Bounded by about max_stanza plus
 * the tree of what was parsed (at most 8 x max_stanza). */
size_t xs_buffered(const xs_stream *s);

/*
 * Release the libxml2 context while the stream sits between stanzas; it is
 * rebuilt (re-reading the header's namespace declarations) at the next feed.
 * Returns 1 if released, 0 if not possible now (inside a stanza, no header).
 */
int xs_trim(xs_stream *s);

/* ---- writing -------------------------------------------------------- */
/* Every function below returns a malloc'd NUL-terminated string (length in
 * *outlen if outlen is not NULL), NULL on failure (errno set). */

/* Escape for text and attribute values alike: & < > " ' and TAB, LF, CR as
 * character references, so the output is one line and survives attribute
 * value normalisation (XML 1.0 §3.3.3). */
char *xs_escape(const char *s, size_t n, size_t *outlen);

/*
 * Serialise a tree on one line.  content_ns is the default namespace of the
 * stream it is written into (XS_NS_CLIENT ...): elements in it get no xmlns,
 * and the "stream" prefix is taken as bound to XS_NS_STREAMS, as in every
 * header xs_stream_header() writes.  content_ns NULL: standalone, every
 * namespace declared (for logs and storage).
 */
char *xs_serialize(const xs_node *n, const char *content_ns, size_t *outlen);

/* <?xml version='1.0'?><stream:stream ...> with version='1.0' (RFC 6120
 * §4.7).  Any of from, to, id, lang may be NULL (left out). */
char *xs_stream_header(const char *content_ns, const char *from, const char *to,
                       const char *id, const char *lang, size_t *outlen);

/* <stream:error><CONDITION xmlns=.../>[<text>]</stream:error></stream:stream>
 * (RFC 6120 §4.9.2).  condition must be one of §4.9.3 (EINVAL otherwise). */
char *xs_stream_error(const char *condition, const char *text, size_t *outlen);

/* 1 if condition is an RFC 6120 §4.9.3 stream error condition. */
int xs_condition_valid(const char *condition);

#endif
