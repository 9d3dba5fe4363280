/* xmlstream.c - tests for lib/xmlstream (RFC 6120 streams over libxml2). */
#include "tap.h"
#include "xmlstream.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
/* from the ASan runtime (sanitizer/allocator_interface.h, not always installed) */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_now(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
#include <malloc.h>
static size_t heap_now(void) { return mallinfo2().uordblks; }
#endif

/* ---- a recorder for the three events -------------------------------- */

typedef struct rec {
    xs_stream *s;
    int opened, closed, n;
    char to[64], from[64], id[64], version[16], lang[16], cns[64];
    unsigned ndecls;
    char *out;              /* serialised stanzas, one a line */
    size_t outlen;
    const char *ser_ns;     /* context for xs_serialize, NULL = standalone */
    const char *stop_on;    /* stanza name: return XS_STOP */
    const char *reset_on;   /* stanza name: xs_reset() from the callback */
    const char *want_ns;    /* open: xs_fail unless the content ns is this */
    int free_on_close;
    uint32_t chaos;         /* nonzero: random actions from the callbacks */
    xs_node *keep;          /* last stanza, kept for inspection */
} rec;

static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* What a relay might do from a callback: stop, restart, fail, trim. */
static int chaos(rec *r)
{
    if (r->chaos == 0) return XS_CONTINUE;
    switch (rnd(&r->chaos) % 16) {
    case 0: return XS_STOP;
    case 1: xs_reset(r->s); break;
    case 2: xs_fail(r->s, "policy-violation", "from a callback"); break;
    case 3: xs_trim(r->s); break;
    }
    return XS_CONTINUE;
}

static void copy(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "(null)");
}

static int on_open(void *a, const xs_header *h)
{
    rec *r = a;
    r->opened++;
    copy(r->to, sizeof r->to, h->to);
    copy(r->from, sizeof r->from, h->from);
    copy(r->id, sizeof r->id, h->id);
    copy(r->version, sizeof r->version, h->version);
    copy(r->lang, sizeof r->lang, h->lang);
    copy(r->cns, sizeof r->cns, h->content_ns);
    r->ndecls = h->ndecls;
    if (r->want_ns && (!h->content_ns || strcmp(h->content_ns, r->want_ns) != 0))
        xs_fail(r->s, "invalid-namespace", "content namespace not supported");
    return chaos(r);
}

static int on_stanza(void *a, xs_node *n)
{
    rec *r = a;
    size_t len;
    char *str = xs_serialize(n, r->ser_ns, &len);
    r->n++;
    if (str) {
        r->out = realloc(r->out, r->outlen + len + 2);
        memcpy(r->out + r->outlen, str, len);
        r->outlen += len;
        r->out[r->outlen++] = '\n';
        r->out[r->outlen] = '\0';
        free(str);
    }
    int rc = XS_CONTINUE;
    if (r->stop_on && strcmp(n->name, r->stop_on) == 0) rc = XS_STOP;
    if (r->reset_on && strcmp(n->name, r->reset_on) == 0) xs_reset(r->s);
    xs_node_free(r->keep);
    r->keep = n;
    return rc ? rc : chaos(r);
}

static void on_close(void *a)
{
    rec *r = a;
    r->closed++;
    chaos(r);
    if (r->free_on_close) {
        xs_free(r->s);
        r->s = NULL;
    }
}

static const xs_callbacks CB = { on_open, on_stanza, on_close };

static void rec_init(rec *r, const xs_limits *lim)
{
    memset(r, 0, sizeof *r);
    r->ser_ns = XS_NS_CLIENT;
    r->s = xs_new(lim, &CB, r);
}

static void rec_done(rec *r)
{
    xs_free(r->s);
    free(r->out);
    xs_node_free(r->keep);
    memset(r, 0, sizeof *r);
}

static const char *out(const rec *r) { return r->out ? r->out : ""; }

/* Feed in pieces of step bytes (0: at once).  Returns the sum consumed, or
 * -1 at the first error. */
static ssize_t feed(rec *r, const char *in, size_t len, size_t step)
{
    size_t total = 0;
    if (step == 0) step = len ? len : 1;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        ssize_t k = xs_feed(r->s, in + off, n);
        if (k < 0) return -1;
        total += (size_t)k;
        if ((size_t)k < n) break;
    }
    return (ssize_t)total;
}

/* One stream from one string; returns the error condition or "ok". */
static const char *run(const char *in, rec *r, const xs_limits *lim)
{
    rec_init(r, lim);
    ssize_t k = feed(r, in, strlen(in), 0);
    return k < 0 ? xs_error(r->s) : "ok";
}

static const char *run1(const char *in)
{
    rec r;
    static char cond[64];
    copy(cond, sizeof cond, run(in, &r, NULL));
    rec_done(&r);
    return cond;
}

#define HDR "<stream:stream to='im.example.com' version='1.0' " \
            "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

/* RFC 6120 §9.1 style client stream */
static const char CLIENT[] =
    "<?xml version='1.0'?>"
    "<stream:stream from='juliet@im.example.com' to='im.example.com' version='1.0' "
    "xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    "<message from='juliet@im.example.com/balcony' id='ktx72v49' to='romeo@example.net' "
    "type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>"
    "\n  \r\n"
    "<presence><show>away</show><status>at the ball</status><priority>5</priority></presence> "
    "<iq from='juliet@im.example.com/balcony' id='rr82a1z7' to='juliet@im.example.com' "
    "type=\"get\"><query xmlns='jabber:iq:roster'/></iq>"
    "</stream:stream>";

static const char CLIENT_OUT[] =
    "<message from='juliet@im.example.com/balcony' id='ktx72v49' to='romeo@example.net' "
    "type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>\n"
    "<presence><show>away</show><status>at the ball</status><priority>5</priority></presence>\n"
    "<iq from='juliet@im.example.com/balcony' id='rr82a1z7' to='juliet@im.example.com' "
    "type='get'><query xmlns='jabber:iq:roster'/></iq>\n";

static int client_ok(const rec *r, ssize_t k)
{
    return k == (ssize_t)strlen(CLIENT) && r->opened == 1 && r->closed == 1 &&
           r->n == 3 && strcmp(out(r), CLIENT_OUT) == 0 &&
           xs_state(r->s) == XS_CLOSED && xs_error(r->s) == NULL;
}

static void test_client_stream(void)
{
    rec r;
    size_t len = strlen(CLIENT);

    rec_init(&r, NULL);
    ssize_t k = feed(&r, CLIENT, len, 0);
    ok(client_ok(&r, k), "client stream in one piece");
    ok(strcmp(r.to, "im.example.com") == 0 && strcmp(r.from, "juliet@im.example.com") == 0 &&
       strcmp(r.version, "1.0") == 0 && strcmp(r.lang, "en") == 0 &&
       strcmp(r.cns, "jabber:client") == 0 && strcmp(r.id, "(null)") == 0 && r.ndecls == 2,
       "header: to, from, version, xml:lang, content namespace, 2 declarations");
    rec_done(&r);

    int bad = 0;
    for (size_t cut = 1; cut < len; cut++) {
        rec_init(&r, NULL);
        ssize_t a = xs_feed(r.s, CLIENT, cut);
        ssize_t b = xs_feed(r.s, CLIENT + cut, len - cut);
        if (a != (ssize_t)cut || !client_ok(&r, a + b)) {
            if (!bad) printf("# split at %zu: %s\n", cut, xs_error(r.s));
            bad++;
        }
        rec_done(&r);
    }
    ok(bad == 0, "client stream split at each of %zu points", len - 1);

    rec_init(&r, NULL);
    ok(client_ok(&r, feed(&r, CLIENT, len, 1)), "client stream fed byte by byte");
    rec_done(&r);

    /* arbitrary chunking, fixed seed */
    uint32_t seed = 12345;
    bad = 0;
    for (int run_ = 0; run_ < 200; run_++) {
        rec_init(&r, NULL);
        size_t off = 0, total = 0;
        while (off < len) {
            seed = seed * 1103515245u + 12345u;
            size_t n = 1 + (seed >> 16) % 97;
            if (n > len - off) n = len - off;
            ssize_t k2 = xs_feed(r.s, CLIENT + off, n);
            if (k2 < 0) break;
            total += (size_t)k2;
            off += n;
        }
        if (!client_ok(&r, (ssize_t)total)) bad++;
        rec_done(&r);
    }
    ok(bad == 0, "client stream in 200 random chunkings");

    /* the same with the parser released between every read: the context is
     * rebuilt from the header's declarations and unread bytes carried over */
    xs_limits lim = { .trim_idle = 1 };
    rec_init(&r, &lim);
    ok(client_ok(&r, feed(&r, CLIENT, len, 1)), "byte by byte with trim_idle");
    rec_done(&r);
    bad = 0;
    for (size_t step = 2; step < 80; step++) {
        rec_init(&r, &lim);
        if (!client_ok(&r, feed(&r, CLIENT, len, step))) bad++;
        rec_done(&r);
    }
    ok(bad == 0, "steps of 2..79 bytes with trim_idle");
}

static void test_prefixes(void)
{
    static const char in[] =
        "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' "
        "xmlns:sm='urn:xmpp:sm:3' version='1.0'>"
        "<s:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
        "</s:features>"
        "<sm:enable resume='true'/>"
        "<message><x:data xmlns:x='jabber:x:data' x:type='form'><x:field var='a'/></x:data>"
        "<foo xmlns='urn:foo' xmlns:b='urn:b' b:attr='v'><bar/></foo><none xmlns=''/></message>";
    rec r;
    const char *c = run(in, &r, NULL);
    ok(strcmp(c, "ok") == 0 && r.n == 3 && r.ndecls == 3, "prefixed stream element and stanzas");
    ok(strcmp(out(&r),
              "<s:features xmlns:s='http://etherx.jabber.org/streams'><starttls "
              "xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></s:features>\n"
              "<sm:enable xmlns:sm='urn:xmpp:sm:3' resume='true'/>\n"
              "<message><x:data xmlns:x='jabber:x:data' x:type='form'><x:field var='a'/>"
              "</x:data><foo xmlns='urn:foo' xmlns:b='urn:b' b:attr='v'><bar/></foo>"
              "<none xmlns=''/></message>\n") == 0,
       "namespaces re-declared where the output context lacks them");
    const xs_node *m = r.keep;
    const xs_node *x = xs_child(m, "data", "jabber:x:data");
    const xs_node *foo = xs_child(m, "foo", NULL);
    ok(m && strcmp(m->ns, "jabber:client") == 0 && x && strcmp(x->prefix, "x") == 0 &&
       strcmp(xs_getattr(x, "type", "jabber:x:data"), "form") == 0 &&
       xs_getattr(x, "type", NULL) == NULL &&
       strcmp(xs_getattr(xs_child(x, "field", "jabber:x:data"), "var", NULL), "a") == 0,
       "tree: names, prefixes, namespaced attributes");
    ok(foo && strcmp(foo->ns, "urn:foo") == 0 &&
       strcmp(xs_child(foo, "bar", NULL)->ns, "urn:foo") == 0 &&
       xs_child(m, "none", NULL)->ns == NULL && xs_child(m, "nothere", NULL) == NULL,
       "default namespace inherited and undeclared");
    char *alone = xs_serialize(m, NULL, NULL);
    ok(alone && strncmp(alone, "<message xmlns='jabber:client'><x:data", 38) == 0,
       "standalone serialisation declares the content namespace");
    free(alone);
    rec_done(&r);

    /* the "stream" prefix from xs_stream_header is assumed in-stream */
    const char *in2 = HDR "<stream:features/>";
    c = run(in2, &r, NULL);
    ok(strcmp(c, "ok") == 0 && strcmp(out(&r), "<stream:features/>\n") == 0 &&
       strcmp(r.keep->ns, XS_NS_STREAMS) == 0, "<stream:features/> as is in a stream");
    rec_done(&r);

    ok(strcmp(run1(HDR "<message><a:b/></message>"), "not-well-formed") == 0,
       "undeclared prefix: not-well-formed (XML-Names)");
}

static void test_close(void)
{
    rec r;
    rec_init(&r, NULL);
    static const char in[] = HDR "<presence/></stream:stream>  trailing <junk";
    ssize_t k = feed(&r, in, sizeof in - 1, 0);
    ok(r.closed == 1 && r.n == 1 && xs_state(r.s) == XS_CLOSED &&
       k == (ssize_t)(strstr(in, "  trailing") - in),
       "close tag: close event, consumed up to it, rest not parsed");
    ok(xs_feed(r.s, "<more/>", 7) == 0 && xs_error(r.s) == NULL, "nothing read after close");
    rec_done(&r);

    rec_init(&r, NULL);
    r.free_on_close = 1;
    k = feed(&r, in, sizeof in - 1, 0);
    ok(r.closed == 1 && r.s == NULL && k == (ssize_t)(strstr(in, "  trailing") - in),
       "xs_free from the close callback");
    rec_done(&r);
}

static void test_malformed(void)
{
    ok(strcmp(run1(HDR "<message><body>hi</message>"), "not-well-formed") == 0,
       "mismatched end tag: not-well-formed");
    ok(strcmp(run1(HDR "<message a='1' a='2'/>"), "not-well-formed") == 0,
       "duplicate attribute: not-well-formed");
    ok(strcmp(run1(HDR "<message><body>a & b;</body></message>"), "not-well-formed") == 0,
       "bare ampersand: not-well-formed");
    ok(strcmp(run1(HDR "<1message/>"), "not-well-formed") == 0, "bad name: not-well-formed");
    ok(strcmp(run1(HDR "<message to=x/>"), "not-well-formed") == 0,
       "unquoted attribute: not-well-formed");
    ok(strcmp(run1(HDR "<message><body>\x01</body></message>"), "not-well-formed") == 0,
       "control character: not-well-formed");
    ok(strcmp(run1(HDR "<message><body>&#0;</body></message>"), "not-well-formed") == 0,
       "&#0;: not-well-formed");
    ok(strcmp(run1(HDR "<presence/><?xml version='1.0'?>"), "ok") != 0,
       "second XML declaration refused");
    ok(strcmp(run1(HDR "hello<presence/>"), "bad-format") == 0,
       "text between stanzas: bad-format");
    ok(strcmp(run1("\xEF\xBB\xBF" HDR), "not-well-formed") == 0,
       "UTF-8 BOM is a character before the root (RFC 6120 §11.6)");

    rec r;
    static const char in[] = HDR "<presence/><message><x>";
    run(in, &r, NULL);
    ssize_t k = xs_feed(r.s, "</y></message>", 14);
    ok(k == -1 && strcmp(xs_error(r.s), "not-well-formed") == 0 && r.n == 1 &&
       *xs_error_text(r.s) != '\0', "error after a good stanza, with libxml2's text: %s",
       xs_error_text(r.s));
    ok(xs_feed(r.s, "<presence/>", 11) == -1 && r.n == 1, "a failed stream stays failed");
    rec_done(&r);
}

static void test_restricted(void)
{
    ok(strcmp(run1("<?xml version='1.0'?><!DOCTYPE stream:stream>" HDR), "restricted-xml") == 0,
       "DOCTYPE: restricted-xml");
    ok(strcmp(run1("<!DOCTYPE s SYSTEM 'http://127.0.0.1:9/x.dtd'>" HDR), "restricted-xml") == 0,
       "external DTD: restricted-xml, nothing fetched");
    ok(strcmp(run1(HDR "<!DOCTYPE x><presence/>"), "not-well-formed") == 0,
       "DOCTYPE inside the stream: not-well-formed");
    ok(strcmp(run1("<!DOCTYPE s [<!ENTITY x 'y'>]>" HDR "<message>&x;</message>"),
              "restricted-xml") == 0, "internal entity declaration: restricted-xml");
    ok(strcmp(run1(HDR "<message><body>&foo;</body></message>"), "restricted-xml") == 0,
       "undefined entity in text: restricted-xml");
    ok(strcmp(run1(HDR "<message to='&foo;'/>"), "restricted-xml") == 0,
       "undefined entity in an attribute: restricted-xml");
    ok(strcmp(run1("<!-- hi -->" HDR), "restricted-xml") == 0, "comment before the header");
    ok(strcmp(run1(HDR "<!-- hi --><presence/>"), "restricted-xml") == 0,
       "comment between stanzas");
    ok(strcmp(run1(HDR "<message><!-- hi --></message>"), "restricted-xml") == 0,
       "comment in a stanza");
    ok(strcmp(run1("<?foo bar?>" HDR), "restricted-xml") == 0, "PI before the header");
    ok(strcmp(run1(HDR "<message><?foo bar?></message>"), "restricted-xml") == 0,
       "PI in a stanza");

    static const char lol[] =
        "<?xml version='1.0'?>"
        "<!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        "<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
        "<!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>"
        "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
        "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
        "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"
        "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"
        "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"
        "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"
        "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>"
        "]>" HDR "<message><body>&lol9;</body></message>";
    size_t h0 = heap_now(), peak = 0;
    rec r;
    rec_init(&r, NULL);
    ssize_t k = 0;
    for (size_t off = 0; off < sizeof lol - 1 && k >= 0; off += 64) {
        size_t n = sizeof lol - 1 - off < 64 ? sizeof lol - 1 - off : 64;
        k = xs_feed(r.s, lol + off, n);
        size_t h = heap_now();
        if (h > peak) peak = h;
    }
    ok(k == -1 && strcmp(xs_error(r.s), "restricted-xml") == 0 && r.opened == 0,
       "billion laughs: restricted-xml before the header");
    ok(peak - h0 < 256 * 1024, "billion laughs: heap grew %zu bytes", peak - h0);
    rec_done(&r);
}

/* 10 MB in one stanza, 4 KB a read: refused once max_stanza bytes of it are
 * in, without the heap growing past a few times the limit. */
/* A watchdog for the checks that, broken, would not fail but spin: the
 * stanza limit (xs_feed with no room left under the limit and no error
 * would loop for ever).  The alarm prints a failing TAP line and ends the
 * test at once. */
static char hung_line[256];
static size_t hung_len;

static void hung(int sig)
{
    (void)sig;
    if (write(STDOUT_FILENO, hung_line, hung_len) < 0) _exit(2);
    _exit(1);
}

static void watch(const char *what)
{
    enum { SECONDS = 10 };
    int n = snprintf(hung_line, sizeof hung_line, "not ok %d - %s: no answer in %d s\n",
                     tap_n + 1, what, SECONDS);
    hung_len = n > 0 && (size_t)n < sizeof hung_line ? (size_t)n : 0;
    fflush(stdout);
    signal(SIGALRM, hung);
    alarm(SECONDS);
}

static void unwatch(void)
{
    alarm(0);
}

static void oversize(const char *open, const char *what)
{
    enum { CH = 4096, TOTAL = 10 * 1024 * 1024 };
    char *buf = malloc(CH);
    memset(buf, 'A', CH);
    rec r;
    rec_init(&r, NULL);
    size_t h0 = heap_now(), peak = h0, maxbuf = 0, sent = 0;
    char label[96];
    snprintf(label, sizeof label, "10 MB %s", what);
    watch(label);
    ssize_t k = xs_feed(r.s, HDR, strlen(HDR));
    k = k < 0 ? k : xs_feed(r.s, open, strlen(open));
    sent = strlen(open);
    while (k >= 0 && sent < TOTAL) {
        k = xs_feed(r.s, buf, CH);
        if (k < 0) break;
        sent += CH;
        size_t h = heap_now(), b = xs_buffered(r.s);
        if (h > peak) peak = h;
        if (b > maxbuf) maxbuf = b;
    }
    unwatch();
    ok(k == -1 && strcmp(xs_error(r.s), "policy-violation") == 0 &&
       sent <= XS_DEFAULT_MAX_STANZA, "10 MB %s: policy-violation after %zu bytes", what, sent);
    ok(maxbuf <= 3 * XS_DEFAULT_MAX_STANZA, "10 MB %s: at most %zu bytes buffered", what, maxbuf);
    ok(peak - h0 <= 6 * XS_DEFAULT_MAX_STANZA, "10 MB %s: heap grew at most %zu bytes",
       what, peak - h0);
    rec_done(&r);
    free(buf);
}

static void test_limits(void)
{
    oversize("<message><body>", "of text");
    oversize("<message to='", "in an attribute value");
    oversize("<message><", "in an element name");

    /* exactly max_stanza bytes pass, one more does not */
    xs_limits lim = { .max_stanza = 1000 };
    char st[1200];
    const char *pre = "<message><body>", *post = "</body></message>";
    for (int extra = 0; extra <= 1; extra++) {
        size_t body = 1000 + (size_t)extra - strlen(pre) - strlen(post);
        size_t n = (size_t)snprintf(st, sizeof st, "%s%*s%s", pre, (int)body, "", post);
        rec r;
        rec_init(&r, &lim);
        watch(extra ? "a stanza one byte over max_stanza" : "a stanza of max_stanza bytes");
        ssize_t k = feed(&r, HDR, strlen(HDR), 0);
        ssize_t k2 = feed(&r, st, n, 7);
        unwatch();
        ok(extra ? (k2 == -1 && strcmp(xs_error(r.s), "policy-violation") == 0)
                 : (k >= 0 && k2 == (ssize_t)n && r.n == 1),
           "stanza of %zu bytes with max_stanza 1000: %s", n, extra ? "refused" : "accepted");
        rec_done(&r);
    }

    /* whitespace keepalives between stanzas never add up (RFC 6120 §11.7) */
    {
        rec r;
        rec_init(&r, &lim);
        char sp[4096];
        memset(sp, ' ', sizeof sp);
        ssize_t k = feed(&r, HDR "<presence/>", strlen(HDR "<presence/>"), 0);
        for (int i = 0; i < 256 && k >= 0; i++) k = xs_feed(r.s, sp, sizeof sp);
        if (k >= 0) k = feed(&r, "<presence/>", 11, 0);
        ok(k == 11 && r.n == 2, "1 MB of whitespace between stanzas with max_stanza 1000");
        rec_done(&r);
    }

    /* depth bomb */
    {
        rec r;
        rec_init(&r, NULL);
        size_t sent = 0;
        ssize_t k = feed(&r, HDR, strlen(HDR), 0);
        char a[3000];
        for (size_t i = 0; i < sizeof a; i += 3) memcpy(a + i, "<a>", 3);
        for (int i = 0; i < 1000 && k >= 0; i++) {
            k = xs_feed(r.s, a, sizeof a);
            if (k > 0) sent += (size_t)k;
        }
        ok(k == -1 && strcmp(xs_error(r.s), "policy-violation") == 0 && sent == 0,
           "depth bomb: policy-violation (%s)", xs_error_text(r.s));
        rec_done(&r);
    }
    /* the limit itself: a stanza 32 deep (its root is 1) passes, 33 does not */
    for (unsigned d = XS_DEFAULT_MAX_DEPTH; d <= XS_DEFAULT_MAX_DEPTH + 1; d++) {
        char in[512];
        char *p = in + sprintf(in, HDR);
        for (unsigned i = 0; i < d; i++) p += sprintf(p, "<a>");
        for (unsigned i = 0; i < d; i++) p += sprintf(p, "</a>");
        const char *c = run1(in);
        ok(d == XS_DEFAULT_MAX_DEPTH ? strcmp(c, "ok") == 0 : strcmp(c, "policy-violation") == 0,
           "a stanza %u elements deep: %s", d, c);
    }

    /* attributes */
    for (unsigned na = XS_DEFAULT_MAX_ATTRS; na <= XS_DEFAULT_MAX_ATTRS + 1; na++) {
        char in[2048];
        char *p = in + sprintf(in, HDR "<message");
        for (unsigned i = 0; i < na; i++) p += sprintf(p, " a%u='%u'", i, i);
        sprintf(p, "/>");
        const char *c = run1(in);
        ok(na == XS_DEFAULT_MAX_ATTRS ? strcmp(c, "ok") == 0 : strcmp(c, "policy-violation") == 0,
           "%u attributes: %s", na, c);
    }

    /* libxml2 interns every name in a per-context dictionary: distinct names
     * are fine when reads end between stanzas (the context is rebuilt), and
     * capped when a peer makes every read end inside one */
    for (int mid = 0; mid <= 1; mid++) {
        rec r;
        rec_init(&r, NULL);
        char b[128], prev[8] = "", rd[160];
        ssize_t k = feed(&r, HDR, strlen(HDR), 0);
        size_t h0 = heap_now(), peak = 0;
        int i;
        for (i = 0; i < 20000 && k >= 0; i++) {
            int n = sprintf(b, "<message><element-name-%06d attribute-%06d='x'/></message>", i, i);
            if (mid) {      /* the end of the last stanza + all but the end of this */
                int m = sprintf(rd, "%s%.*s", prev, n - 5, b);
                memcpy(prev, b + n - 5, 6);
                k = xs_feed(r.s, rd, (size_t)m);
            } else {
                k = xs_feed(r.s, b, (size_t)n);
            }
            size_t h = heap_now();
            if (h > h0 && h - h0 > peak) peak = h - h0;
        }
        if (mid)
            ok(k == -1 && strcmp(xs_error(r.s), "policy-violation") == 0 && i < 2000 &&
               peak < 256 * 1024, "distinct names, no read ends between stanzas: refused "
               "after %d stanzas, heap grew %zu bytes (%s)", i, peak, xs_error_text(r.s));
        else
            ok(k >= 0 && r.n == 20000, "20000 stanzas of distinct names, one a read");
        rec_done(&r);
    }

    /* a stanza of empty elements costs more tree than bytes: capped */
    {
        size_t n = 16000;
        char *in = malloc(strlen(HDR) + 4 * n + 32);
        char *p = in + sprintf(in, HDR "<message>");
        for (size_t i = 0; i < n; i++) p += sprintf(p, "<a/>");
        sprintf(p, "</message>");
        size_t h0 = heap_now();
        rec r;
        rec_init(&r, NULL);
        ssize_t k = feed(&r, in, strlen(in), 4096);
        size_t grew = heap_now() - h0;
        ok(k == -1 && strcmp(xs_error(r.s), "policy-violation") == 0,
           "tree bomb (16000 <a/>): %s", xs_error_text(r.s));
        ok(grew < 12 * XS_DEFAULT_MAX_STANZA, "tree bomb: %zu bytes held at refusal", grew);
        rec_done(&r);
        free(in);
    }
}

static void test_namespace_checks(void)
{
    ok(strcmp(run1("<stream:stream xmlns='jabber:client' "
                   "xmlns:stream='http://example.com/streams'>"), "invalid-namespace") == 0,
       "wrong stream namespace: invalid-namespace");
    ok(strcmp(run1("<stream xmlns='jabber:client'>"), "invalid-namespace") == 0,
       "stream element in jabber:client: invalid-namespace");
    ok(strcmp(run1("<stream:foo xmlns:stream='http://etherx.jabber.org/streams'>"),
              "bad-format") == 0, "root not named stream: bad-format");

    rec r;
    rec_init(&r, NULL);
    r.want_ns = XS_NS_SERVER;
    ssize_t k = feed(&r, HDR "<presence/>", strlen(HDR "<presence/>"), 0);
    ok(k == -1 && strcmp(xs_error(r.s), "invalid-namespace") == 0 && r.opened == 1 && r.n == 0,
       "open callback refuses jabber:client with xs_fail");
    rec_done(&r);
}

static void test_escaping(void)
{
    static const char raw[] = "a&b<c>d\"e'f\tg\nh\ri]]>j";
    size_t n;
    char *e = xs_escape(raw, strlen(raw), &n);
    ok(e && strcmp(e, "a&amp;b&lt;c&gt;d&quot;e&apos;f&#9;g&#10;h&#13;i]]&gt;j") == 0 &&
       n == strlen(e), "xs_escape: %s", e);

    char in[512];
    snprintf(in, sizeof in, HDR "<message to='%s'><body>%s</body></message>", e, e);
    rec r;
    const char *c = run(in, &r, NULL);
    ok(strcmp(c, "ok") == 0 && strcmp(xs_getattr(r.keep, "to", NULL), raw) == 0 &&
       strcmp(xs_text(xs_child(r.keep, "body", NULL)), raw) == 0,
       "escaped text and attribute parse back to the original");
    char want[512];
    snprintf(want, sizeof want, "<message to='%s'><body>%s</body></message>\n", e, e);
    ok(strcmp(out(&r), want) == 0, "and serialise back to the same bytes");
    rec_done(&r);
    free(e);
    e = xs_escape("", 0, &n);
    ok(e && *e == '\0' && n == 0, "xs_escape of nothing");
    free(e);
}

static void test_entities(void)
{
    rec r;
    const char *c = run(HDR "<message to='a&amp;b&lt;c&gt;d&quot;e&apos;f&#38;g&amp;#38;'>"
                        "<body>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1F600;&#233;&#xa;"
                        "<![CDATA[<b>&amp;</b>]]></body></message>", &r, NULL);
    ok(strcmp(c, "ok") == 0 &&
       strcmp(xs_getattr(r.keep, "to", NULL), "a&b<c>d\"e'f&g&#38;") == 0,
       "predefined entities and &#38; in an attribute: %s", xs_getattr(r.keep, "to", NULL));
    ok(strcmp(xs_text(xs_child(r.keep, "body", NULL)),
              "<>&\"'AB\xF0\x9F\x98\x80\xC3\xA9\n<b>&amp;</b>") == 0,
       "predefined entities, character references and CDATA in text");
    rec_done(&r);
}

static void test_utf8(void)
{
    static const char text[] = "Gr\xC3\xBC\xC3\x9F" "e, \xD0\xBC\xD0\xB8\xD1\x80, "
                               "\xE6\x97\xA5\xE6\x9C\xAC, \xF0\x9F\x98\x80";
    char in[512];
    snprintf(in, sizeof in, HDR "<message to='%s'><body>%s</body></message>", text, text);
    rec r;
    rec_init(&r, NULL);
    ssize_t k = feed(&r, in, strlen(in), 1);
    char want[512];
    snprintf(want, sizeof want, "<message to='%s'><body>%s</body></message>\n", text, text);
    ok(k == (ssize_t)strlen(in) && strcmp(xs_text(xs_child(r.keep, "body", NULL)), text) == 0 &&
       strcmp(out(&r), want) == 0, "non-ASCII UTF-8 survives, fed byte by byte");
    rec_done(&r);

    static const struct { const char *bytes, *what; } bad[] = {
        { "\xC0\xAF", "overlong" }, { "\xE0\x80\xAF", "overlong 3-byte" },
        { "\xED\xA0\x80", "surrogate" }, { "\xF4\x90\x80\x80", "beyond U+10FFFF" },
        { "\xFF", "0xFF" }, { "\x80", "lone continuation" }, { "\xE2\x82<", "truncated" },
        { "\xFE\xFF", "UTF-16 BOM" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(in, sizeof in, HDR "<presence/><message><body>%s</body></message>", bad[i].bytes);
        rec_init(&r, NULL);
        k = feed(&r, in, strlen(in), 0);
        ok(k == -1 && strcmp(xs_error(r.s), "unsupported-encoding") == 0 && r.n == 1,
           "invalid UTF-8 (%s) refused, the stanza before it delivered", bad[i].what);
        rec_done(&r);
    }
    rec_init(&r, NULL);
    k = feed(&r, HDR "<message><body>a\0b</body></message>", strlen(HDR) + 27, 0);
    ok(k == -1 && strcmp(xs_error(r.s), "not-well-formed") == 0, "NUL byte refused");
    rec_done(&r);

    ok(strcmp(run1("<?xml version='1.0' encoding='ISO-8859-1'?>" HDR), "unsupported-encoding") == 0,
       "declared ISO-8859-1: unsupported-encoding");
    ok(strcmp(run1("<?xml version='1.0' encoding='UTF-16'?>" HDR), "unsupported-encoding") == 0,
       "declared UTF-16: unsupported-encoding");
    ok(strcmp(run1("<?xml version='1.0' encoding='utf-8'?>" HDR "<presence/>"), "ok") == 0,
       "declared utf-8 accepted");
}

static void test_restart_and_stop(void)
{
    static const char first[] =
        "<?xml version='1.0'?>" HDR
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>";
    static const char second[] =
        "<?xml version='1.0'?><stream:stream to='im.example.com' id='second' version='1.0' "
        "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><iq type='set' id='b1'/>";
    char both[1024];
    snprintf(both, sizeof both, "%s%s", first, second);

    /* RFC 6120 §6.4.6: restart after SASL success, new header pipelined */
    rec r;
    rec_init(&r, NULL);
    r.reset_on = "auth";
    ssize_t k = feed(&r, both, strlen(both), 0);
    ok(k == (ssize_t)strlen(both) && r.opened == 2 && r.n == 2 && strcmp(r.id, "second") == 0 &&
       xs_state(r.s) == XS_OPEN && strcmp(xs_header_of(r.s)->id, "second") == 0,
       "xs_reset from the stanza callback: the rest is a new stream");
    ok(r.keep && strcmp(r.keep->name, "iq") == 0, "stanza of the restarted stream");
    rec_done(&r);

    rec_init(&r, NULL);
    k = feed(&r, first, strlen(first), 0);
    xs_reset(r.s);
    ok(xs_state(r.s) == XS_START && xs_header_of(r.s) == NULL, "xs_reset outside a callback");
    k = feed(&r, second, strlen(second), 3);
    ok(k == (ssize_t)strlen(second) && r.opened == 2 && r.n == 2, "new stream after xs_reset");
    rec_done(&r);

    /* RFC 6120 §5.4.3.3: after <starttls/> nothing more is XML */
    static const char tls[] = HDR "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                              "\x16\x03\x01\x02\x00\x01\xFF<injected/>";
    rec_init(&r, NULL);
    r.stop_on = "starttls";
    k = xs_feed(r.s, tls, sizeof tls - 1);
    ok(k == (ssize_t)(strstr(tls, "\x16") - tls) && xs_state(r.s) == XS_STOPPED && r.n == 1,
       "XS_STOP: xs_feed returns the bytes up to <starttls/> (%zd)", k);
    ok(xs_feed(r.s, "<presence/>", 11) == 0 && r.n == 1, "nothing parsed until xs_reset");
    xs_reset(r.s);
    k = feed(&r, HDR "<presence/>", strlen(HDR "<presence/>"), 0);
    ok(k > 0 && r.n == 2 && r.opened == 2, "stream restarted after STARTTLS");
    rec_done(&r);

    /* an idle stream: 1000 streams after a header and one stanza */
    enum { N = 1000 };
    static xs_stream *ss[N];
    static const char idle[] = HDR "<presence/>";
    size_t h0 = heap_now();
    for (int i = 0; i < N; i++) {
        ss[i] = xs_new(NULL, NULL, NULL);
        xs_feed(ss[i], idle, sizeof idle - 1);
    }
    size_t h1 = heap_now();
    int trimmed = 0;
    for (int i = 0; i < N; i++) trimmed += xs_trim(ss[i]) == 1;
    size_t h2 = heap_now();
    int fine = 1;
    for (int i = 0; i < N; i++) {
        fine &= xs_feed(ss[i], "<presence/>", 11) == 11 && xs_state(ss[i]) == XS_OPEN;
        xs_trim(ss[i]);
    }
    size_t h3 = heap_now();
    for (int i = 0; i < N; i++) xs_free(ss[i]);
    size_t h4 = heap_now();
    printf("# idle stream with its libxml2 context: %zu bytes\n", (h1 - h0) / N);
    printf("# idle stream trimmed (xs_trim): %zu bytes\n", (h2 - h0) / N);
    printf("# sizeof(xs_node) %zu, sizeof(xs_attr) %zu\n", sizeof(xs_node), sizeof(xs_attr));
    ok(trimmed == N && h2 - h0 < (size_t)N * 1024, "xs_trim: %zu bytes per idle stream",
       (h2 - h0) / N);
    ok(fine && h3 - h0 < (size_t)N * 1024, "trimmed streams parse on and trim again");
    /* exact under ASan; glibc's mallinfo2 counts chunks parked in its
     * per-thread cache as in use */
    ok(h4 <= h0 + 16384, "all freed (%zd bytes left)", (ssize_t)(h4 - h0));

    /* trim with unread bytes: they are carried into the next context */
    rec_init(&r, NULL);
    k = feed(&r, HDR "<presence/><mess", strlen(HDR) + 16, 0);
    ok(xs_trim(r.s) == 1 && xs_buffered(r.s) == 5, "xs_trim keeps 5 unread bytes");
    k = feed(&r, "age><body>x</body></message>", 28, 0);
    ok(k == 28 && r.n == 2 && strcmp(r.keep->name, "message") == 0, "and parses them on");
    ok(xs_feed(r.s, "<mess", 5) == 5 && xs_feed(r.s, "age>", 4) == 4 && xs_trim(r.s) == 0,
       "no trim inside a stanza");
    rec_done(&r);
}

static void test_nodes(void)
{
    rec r;
    const char *c = run(HDR "<message from='a@b/c' xml:lang='de'><body>hallo</body>"
                        "<thread/></message>", &r, NULL);
    xs_node *m = r.keep;
    ok(strcmp(c, "ok") == 0 && strcmp(xs_getattr(m, "lang", XS_NS_XML), "de") == 0 &&
       xs_getattr(m, "lang", NULL) == NULL && strcmp(xs_text(xs_child(m, "body", XS_NS_CLIENT)),
       "hallo") == 0 && strcmp(xs_text(xs_child(m, "thread", NULL)), "") == 0 &&
       xs_child(m, "body", "urn:other") == NULL, "accessors: xml:lang, child by name+ns, text");
    ok(xs_setattr(m, "from", "juliet@example.com/balcony") == 0 &&
       xs_setattr(m, "to", "romeo@example.net") == 0 &&
       xs_setattr(xs_child(m, "thread", NULL), "parent", "e&'") == 0 &&
       xs_setattr(m, "bad name", "x") == -1, "xs_setattr replaces, adds, refuses bad names");
    char *s = xs_serialize(m, XS_NS_CLIENT, NULL);
    ok(s && strcmp(s, "<message from='juliet@example.com/balcony' xml:lang='de' "
                      "to='romeo@example.net'><body>hallo</body>"
                      "<thread parent='e&amp;&apos;'/></message>") == 0, "stamped: %s", s);
    free(s);
    rec_done(&r);
}

static void test_writers(void)
{
    size_t n;
    char *h = xs_stream_header(XS_NS_CLIENT, "im.example.com", "juliet@im.example.com",
                               "t7AMCin9zjMNwQKDnplntZPIDEI=", "en", &n);
    ok(h && n == strlen(h) &&
       strcmp(h, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams' from='im.example.com' "
                 "to='juliet@im.example.com' id='t7AMCin9zjMNwQKDnplntZPIDEI=' version='1.0' "
                 "xml:lang='en'>") == 0, "xs_stream_header");
    char *e = xs_stream_error("policy-violation", "stanza > 64 KiB & more", NULL);
    ok(e && strcmp(e, "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                      "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>stanza &gt; 64 KiB "
                      "&amp; more</text></stream:error></stream:stream>") == 0,
       "xs_stream_error with text");

    /* what we write, we read */
    char in[1024];
    snprintf(in, sizeof in, "%s%s", h, e);
    rec r;
    const char *c = run(in, &r, NULL);
    ok(strcmp(c, "ok") == 0 && r.opened == 1 && r.closed == 1 && r.n == 1 &&
       strcmp(r.id, "t7AMCin9zjMNwQKDnplntZPIDEI=") == 0 &&
       strcmp(r.keep->name, "error") == 0 && strcmp(r.keep->ns, XS_NS_STREAMS) == 0 &&
       xs_child(r.keep, "policy-violation", XS_NS_STREAM_ERRORS) != NULL &&
       strcmp(xs_text(xs_child(r.keep, "text", XS_NS_STREAM_ERRORS)), "stanza > 64 KiB & more") == 0,
       "header and error parse back");
    rec_done(&r);
    free(h);
    free(e);

    e = xs_stream_error("not-well-formed", NULL, NULL);
    ok(e && strcmp(e, "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                      "</stream:error></stream:stream>") == 0, "xs_stream_error without text");
    free(e);
    errno = 0;
    ok(xs_stream_error("no-such-condition", NULL, NULL) == NULL && errno == EINVAL &&
       xs_condition_valid("restricted-xml") && !xs_condition_valid("bogus") &&
       xs_condition_valid("unsupported-version") && xs_condition_valid("bad-format"),
       "conditions checked against RFC 6120 §4.9.3");
    h = xs_stream_header(XS_NS_SERVER, NULL, NULL, NULL, NULL, NULL);
    ok(h && strcmp(h, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>") == 0,
       "xs_stream_header leaves out absent attributes");
    free(h);
}


/* Mutated streams in random pieces, with random trims, limits and callback
 * actions: every run must end cleanly (ASan watching) with no error or an
 * RFC 6120 condition. */
static void test_mutations(void)
{
    static const char base[] =
        "<?xml version='1.0'?>" HDR
        "<message to='a&amp;b' xml:lang='en'><body>x &lt; y &#x263A; \xC3\xA9</body>"
        "<x:y xmlns:x='urn:x' x:z='1'><![CDATA[a]]></x:y></message>\r\n "
        "<presence><status>s</status></presence><iq type='get' id='1'><q xmlns='urn:q'/></iq>"
        "</stream:stream>";
    static const char pool[] = "<>&;/'\" =\n\r!?-[]#x:\x80\xC3\xBF\xF0" "a";
    uint32_t x = 2463534242u;
    int bad = 0, runs = 3000, failed = 0, clean = 0;
    char buf[sizeof base * 2];
    for (int i = 0; i < runs; i++) {
        size_t len = sizeof base - 1;
        memcpy(buf, base, len);
        for (int m = rnd(&x) % 4; m >= 0; m--) {
            size_t at = rnd(&x) % len;
            switch (rnd(&x) % 3) {
            case 0: buf[at] = pool[rnd(&x) % (sizeof pool - 1)]; break;
            case 1: memmove(buf + at, buf + at + 1, len - at - 1); len--; break;
            case 2: if (len + 8 < sizeof buf) {
                        memmove(buf + at + 8, buf + at, len - at);
                        len += 8;
                    }
                    break;
            }
        }
        xs_limits lim = { .trim_idle = rnd(&x) % 2,
                          .max_stanza = rnd(&x) % 5 == 0 ? 64 + rnd(&x) % 200 : 0,
                          .max_depth = 1 + rnd(&x) % 4 };
        rec r;
        rec_init(&r, &lim);
        r.chaos = i % 2 ? rnd(&x) | 1 : 0;
        r.ser_ns = rnd(&x) % 2 ? XS_NS_CLIENT : NULL;
        size_t off = 0;
        ssize_t k = 0;
        while (off < len && r.s) {
            size_t n = 1 + rnd(&x) % 40;
            if (n > len - off) n = len - off;
            k = xs_feed(r.s, buf + off, n);
            if (k < 0) break;
            off += (size_t)k;
            if ((size_t)k < n) {                    /* stopped or closed */
                if (rnd(&x) % 2) break;
                xs_reset(r.s);
            }
            if (rnd(&x) % 8 == 0) xs_trim(r.s);
            (void)xs_buffered(r.s);
        }
        const char *e = r.s ? xs_error(r.s) : NULL;
        if (e != NULL && !xs_condition_valid(e)) bad++;
        if (k < 0 && e == NULL) bad++;
        if (e) failed++; else clean++;
        rec_done(&r);
    }
    ok(bad == 0, "%d mutated streams: %d refused with a condition, %d not", runs, failed, clean);
}

int main(void)
{
    ok(xs_init() == 0, "xs_init");
    test_client_stream();
    test_prefixes();
    test_close();
    test_malformed();
    test_restricted();
    test_limits();
    test_namespace_checks();
    test_escaping();
    test_entities();
    test_utf8();
    test_restart_and_stop();
    test_nodes();
    test_writers();
    test_mutations();
    return tap_done();
}
