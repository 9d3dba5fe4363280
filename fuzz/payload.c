/*
 * fuzz/payload.c - what simpp-session parses inside a frame once it has
 * opened (lib/payload.c): file offers and names, chunks against the
 * receiving side's accounting, video messages, BYE, ACK and FILE_DONE.
 * The peer chose every byte of these (its frames are authentic, not
 * honest), so each parser is checked against a model written here.
 *
 * Input: op (FZ_PL_*), one option byte, then the bytes.
 *   offer   parse; what parses is a plain name by the model, and makes
 *           back the same bytes
 *   recv    a file received in chunks: the option's low 4 bits give the
 *           number of chunks k, then k steps of 3 bytes (flags, u16 length),
 *           then the content.  The offer announces the content's length
 *           (option bits 4-5: exact, one more, one less) and its hash
 *           (option bit 6: a wrong one).  Step flags: bit 0 another message
 *           id, bit 1 the wrong offset, bit 2 the length as given (else cut
 *           to what is left).  Every verdict is checked against the model.
 *   video   parse; the kind is known, parameters keep their length and are
 *           shown as the model of pl_clean says, and a message that
 *           pl_clean leaves alone makes back the same bytes
 *   small   BYE, ACK and FILE_DONE on the same bytes
 *   name    pl_name_ok against the model
 *   clean   pl_clean against a model written here (its own UTF-8 decoder
 *           and list of what a terminal must not get), and idempotent
 */
#include "fuzz.h"
#include "payload.h"

/* the receiver's rule for names, written out again (doc/PROTOCOL.md 19.12) */
static int model_name_ok(const uint8_t *p, size_t n)
{
    if (n < 1 || n > 200 || p[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 32 || p[i] == 127 || p[i] == '/') return 0;
    return 1;
}

/* pl_clean's result, computed again: a decoder by the number of leading
 * ones, the smallest code point each length may carry, and the list of
 * what a terminal must not get */
static int model_hidden(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        { 0x00, 0x08 }, { 0x0A, 0x1F }, { 0x7F, 0x9F }, { 0x200E, 0x200F },
        { 0x2028, 0x202E }, { 0x2066, 0x2069 },
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (cp >= ranges[i][0] && cp <= ranges[i][1]) return 1;
    return 0;
}

static void model_clean(const uint8_t *in, size_t n, uint8_t *out)
{
    static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t i = 0;
    while (i < n) {
        size_t len = 0;
        while (len < 8 && (in[i] << len & 0x80)) len++;
        uint32_t cp = len == 0 ? in[i] : (uint32_t)(in[i] & (0x7F >> len));
        int ok = len == 0 || (len >= 2 && len <= 4 && i + len <= n);
        for (size_t k = 1; ok && k < len; k++) {
            ok = (in[i + k] >> 6) == 2;
            cp = cp << 6 | (in[i + k] & 0x3F);
        }
        if (ok && len) ok = cp >= least[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (!ok) { out[i++] = '?'; continue; }
        if (len == 0) len = 1;
        if (model_hidden(cp)) memset(out + i, '?', len);
        else memcpy(out + i, in + i, len);
        i += len;
    }
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

static void fz_offer(const uint8_t *m, size_t n)
{
    struct pl_offer o;
    int e = pl_offer_parse(m, n, &o);
    if (n < 41) {
        FZ_CHECK(e == PL_ESHORT);
        return;
    }
    int good = model_name_ok(m + 40, n - 40);
    FZ_CHECK(good ? e == PL_OK : e == PL_ENAME);
    if (e != PL_OK) return;
    FZ_CHECK(o.size == be64(m) && memcmp(o.sha, m + 8, 32) == 0);
    FZ_CHECK(strlen(o.name) == n - 40 && pl_name_ok(o.name, strlen(o.name)));
    uint8_t out[8 + 32 + PL_NAME_MAX];
    size_t ol = 0;
    FZ_CHECK(pl_offer_make(&o, out, &ol) == PL_OK);
    if (ol != n || memcmp(out, m, n) != 0) fz_fail("an offer parses but makes different bytes");
}

static void fz_recv(fz_in *in, unsigned opt)
{
    unsigned k = opt & 15, adj = (opt >> 4) & 3;
    uint8_t steps[15][3];
    for (unsigned i = 0; i < k; i++) fz_fill(in, steps[i], 3);
    const uint8_t *content = in->p;
    size_t cn = in->n;

    struct pl_offer o;
    memset(&o, 0, sizeof o);
    o.size = cn;
    if (adj == 1) o.size = cn + 1;
    if (adj == 2 && cn) o.size = cn - 1;
    sc_sha256(content, cn, o.sha);
    if (opt & 0x40) o.sha[0] ^= 1;
    memcpy(o.name, "f", 2);

    struct pl_recv r;
    pl_recv_start(&r, 5, &o);
    int e = pl_recv_empty(&r);
    if (o.size == 0) {                      /* decided by the offer alone */
        FZ_CHECK(e == (!(opt & 0x40) && cn == 0 ? 1 : PL_EHASH));
        return;
    }
    FZ_CHECK(e == PL_OK);

    uint8_t *chunk = malloc(8 + 65535);
    sc_sha256_ctx h;                         /* the model's hash of what it accepted */
    uint64_t got = 0;
    FZ_SETUP(chunk != NULL);
    sc_sha256_init(&h);
    for (unsigned i = 0; i < k; i++) {
        unsigned fl = steps[i][0];
        size_t len = (size_t)steps[i][1] << 8 | steps[i][2];
        size_t left = got < cn ? cn - (size_t)got : 0;
        if (!(fl & 4) && len > left) len = left;
        uint64_t off = fl & 2 ? got + 1 + (fl >> 3) : got;
        uint64_t id = fl & 1 ? 6 : 5;
        /* the bytes at got, then zeros past the content */
        memset(chunk + 8, 0, len);
        if (left) memcpy(chunk + 8, content + got, len < left ? len : left);
        size_t cl = pl_chunk_make(off, chunk + 8, len, chunk);
        const uint8_t *b = NULL;
        size_t bl = 0;
        e = pl_recv_chunk(&r, id, chunk, cl, &b, &bl);

        int want;
        if (id != 5) want = PL_EFILE;
        else if (len > PL_CHUNK) want = PL_ELONG;
        else if (off != got || len > o.size - got) want = PL_EORDER;
        else {
            sc_sha256_update(&h, chunk + 8, len);
            got += len;
            want = PL_OK;
            if (got == o.size) {
                uint8_t d[32];
                sc_sha256_final(&h, d);
                want = memcmp(d, o.sha, 32) == 0 ? 1 : PL_EHASH;
            }
        }
        if (e != want) fz_fail("chunk %u: pl_recv_chunk says %d, the model %d", i, e, want);
        FZ_CHECK(r.got == got && r.got <= o.size);
        if (e == PL_OK || e == 1 || e == PL_EHASH) FZ_CHECK(b == chunk + 8 && bl == len);
        if (e == 1) FZ_CHECK(got == o.size && cn == o.size && !(opt & 0x40));
        if (e != PL_OK && e != PL_EFILE) break;     /* the file is done or refused */
    }
    free(chunk);
}

static void fz_video(const uint8_t *m, size_t n)
{
    struct pl_video v;
    int e = pl_video_parse(m, n, &v);
    if (n < 17) { FZ_CHECK(e == PL_ESHORT); return; }
    if (m[0] < 1 || m[0] > 3) { FZ_CHECK(e == PL_EKIND); return; }
    if (n - 17 > PL_VPARAMS) { FZ_CHECK(e == PL_ELONG); return; }
    FZ_CHECK(e == PL_OK && v.kind == m[0] && memcmp(v.sid, m + 1, 16) == 0);
    FZ_CHECK(strlen(v.params) == n - 17);
    uint8_t shown[PL_VPARAMS];
    model_clean(m + 17, n - 17, shown);
    if (memcmp(shown, v.params, n - 17) != 0) fz_fail("video parameters shown otherwise than the model");
    int changed = memcmp(shown, m + 17, n - 17) != 0;
    uint8_t out[1 + 16 + PL_VPARAMS];
    size_t ol = 0;
    FZ_CHECK(pl_video_make(v.kind, v.sid, v.params, out, &ol) == PL_OK && ol == n);
    if (!changed && memcmp(out, m, n) != 0) fz_fail("a video message parses but makes different bytes");
}

static void fz_small(const uint8_t *m, size_t n)
{
    uint64_t c = 1;
    const uint8_t *t = m;
    int e = pl_bye_parse(m, n, &c, &t);
    if (n < 40) FZ_CHECK(e == PL_ESHORT && c == 0 && t == NULL);
    else FZ_CHECK(e == PL_OK && c == be64(m) && t == m + 8);
    FZ_CHECK(pl_ack_transcript(m, n) == (n >= 32 ? m : NULL));
    FZ_CHECK(pl_done_ok(m, n) == (n >= 1 && m[0] == 1));
    uint64_t off;
    const uint8_t *b;
    size_t bl;
    e = pl_chunk_parse(m, n, &off, &b, &bl);
    if (n < 8) FZ_CHECK(e == PL_ESHORT);
    else if (n - 8 > PL_CHUNK) FZ_CHECK(e == PL_ELONG);
    else FZ_CHECK(e == PL_OK && off == be64(m) && b == m + 8 && bl == n - 8);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_SETUP(sc_init() == 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) % FZ_PL_NOPS, opt = fz_u8(&in);
    uint8_t *m;

    if (op == FZ_PL_RECV) {
        fz_recv(&in, opt);
        return 0;
    }
    m = fz_dup(in.p, in.n);                  /* exact size: ASan sees any over-read */
    switch (op) {
    case FZ_PL_OFFER: fz_offer(m, in.n); break;
    case FZ_PL_VIDEO: fz_video(m, in.n); break;
    case FZ_PL_SMALL: fz_small(m, in.n); break;
    case FZ_PL_NAME:
        FZ_CHECK(pl_name_ok((const char *)m, in.n) == model_name_ok(m, in.n));
        break;
    case FZ_PL_CLEAN: {
        char *c = (char *)fz_dup(m, in.n);
        uint8_t *want = fz_dup(m, in.n);
        pl_clean(c, in.n);
        model_clean(m, in.n, want);
        if (memcmp(c, want, in.n) != 0) fz_fail("pl_clean differs from the model");
        pl_clean(c, in.n);                  /* once clean, it stays as it is */
        FZ_CHECK(memcmp(c, want, in.n) == 0);
        free(want);
        free(c);
        break;
    }
    }
    free(m);
    return 0;
}
