/* payload.c - what travels inside frames: file offers and names, chunks and
 * the receiving side's accounting, video messages, ACK, FILE_DONE, BYE.
 * Each layout against bytes written out by hand, each must-pass next to
 * the must-fail twin a hostile peer would send. */
#include <string.h>

#include "crypto.h"
#include "payload.h"
#include "tap.h"

static void test_names(void)
{
    ok(pl_name_ok("report.pdf", 10), "a plain name");
    ok(pl_name_ok("a", 1), "one byte");
    ok(pl_name_ok("caf\xc3\xa9 menu", 10), "UTF-8 and a space");
    ok(!pl_name_ok("", 0), "empty: refused");
    ok(!pl_name_ok(".bashrc", 7), "hidden: refused");
    ok(!pl_name_ok("..", 2), "parent: refused");
    ok(!pl_name_ok("a/b", 3) && !pl_name_ok("/etc/passwd", 11), "a slash: refused");
    ok(!pl_name_ok("a\nb", 3) && !pl_name_ok("a\tb", 3) && !pl_name_ok("\x1b[2J", 4), "control bytes: refused");
    ok(!pl_name_ok("a\x7f", 2), "DEL: refused");
    ok(!pl_name_ok("ab\0c", 4), "a NUL inside: refused (not cut short)");
    char n[PL_NAME_MAX + 2];
    memset(n, 'x', sizeof n);
    ok(pl_name_ok(n, PL_NAME_MAX), "200 bytes taken");
    ok(!pl_name_ok(n, PL_NAME_MAX + 1), "201 bytes refused");
}

static void test_offer(void)
{
    struct pl_offer o = { .size = 0x0102030405060708ull }, b;
    uint8_t w[8 + 32 + PL_NAME_MAX];
    size_t wl;
    memset(o.sha, 0xab, sizeof o.sha);
    strcpy(o.name, "notes.txt");
    ok(pl_offer_make(&o, w, &wl) == PL_OK && wl == 49, "offer made: 8 + 32 + 9 bytes");
    ok(!memcmp(w, "\1\2\3\4\5\6\7\x08", 8) && w[8] == 0xab && w[39] == 0xab && !memcmp(w + 40, "notes.txt", 9),
       "layout: u64 size big-endian || sha || name");
    ok(pl_offer_parse(w, wl, &b) == PL_OK && b.size == o.size && !memcmp(b.sha, o.sha, 32)
       && !strcmp(b.name, "notes.txt"), "read back the same");
    ok(pl_offer_parse(w, 40, &b) == PL_ESHORT, "no name: too short");
    ok(pl_offer_parse(w, 39, &b) == PL_ESHORT && pl_offer_parse(w, 0, &b) == PL_ESHORT, "cut inside the hash: too short");
    w[40] = '.';
    ok(pl_offer_parse(w, wl, &b) == PL_ENAME && b.name[0] == 0, "a hidden name: refused, nothing copied");
    w[40] = 'n';
    w[44] = 0;
    ok(pl_offer_parse(w, wl, &b) == PL_ENAME, "a NUL inside the name: refused");
    strcpy(o.name, "../x");
    ok(pl_offer_make(&o, w, &wl) == PL_ENAME, "the sender refuses a name the receiver would");
    uint8_t big[40 + PL_NAME_MAX + 1];
    memset(big, 'y', sizeof big);
    ok(pl_offer_parse(big, 40 + PL_NAME_MAX, &b) == PL_OK && strlen(b.name) == PL_NAME_MAX, "a 200-byte name taken");
    ok(pl_offer_parse(big, sizeof big, &b) == PL_ENAME, "a 201-byte name refused");
}

/* offer and receive the content, in chunks of the given size */
static int receive(const uint8_t *content, size_t n, size_t chunk, const uint8_t *sha)
{
    struct pl_offer o = { .size = n };
    struct pl_recv r;
    uint8_t buf[8 + PL_CHUNK];
    const uint8_t *b;
    size_t bl, off = 0;
    memcpy(o.sha, sha, 32);
    strcpy(o.name, "f");
    pl_recv_start(&r, 42, &o);
    int e = pl_recv_empty(&r);
    if (n == 0) return e;
    if (e != PL_OK) return -100;
    while (off < n) {
        size_t c = n - off < chunk ? n - off : chunk;
        size_t cl = pl_chunk_make(off, content + off, c, buf);
        e = pl_recv_chunk(&r, 42, buf, cl, &b, &bl);
        if (e < 0) return e;
        if (bl != c || memcmp(b, content + off, c)) return -101;
        off += c;
        if (e == 1) return off == n ? 1 : -102;
    }
    return -103;
}

static void test_recv(void)
{
    static uint8_t content[3 * PL_CHUNK + 5];
    uint8_t sha[32], bad[32];
    for (size_t i = 0; i < sizeof content; i++) content[i] = (uint8_t)(i * 7);
    sc_sha256(content, sizeof content, sha);
    memcpy(bad, sha, 32);
    bad[31] ^= 1;
    ok(receive(content, sizeof content, PL_CHUNK, sha) == 1, "3 full chunks and a short one: stored");
    ok(receive(content, sizeof content, 1000, sha) == 1, "smaller chunks: stored");
    ok(receive(content, sizeof content, PL_CHUNK, bad) == PL_EHASH, "a hash that does not match: refused at the last byte");
    uint8_t e0[32];
    sc_sha256(NULL, 0, e0);
    ok(receive(NULL, 0, 1, e0) == 1, "an empty file with the hash of nothing: stored at once");
    ok(receive(NULL, 0, 1, bad) == PL_EHASH, "an empty file with another hash: refused");

    struct pl_offer o = { .size = 10 };
    struct pl_recv r;
    uint8_t buf[8 + PL_CHUNK + 1];
    const uint8_t *b;
    size_t bl;
    sc_sha256((const uint8_t *)"0123456789", 10, o.sha);
    strcpy(o.name, "ten");
    pl_recv_start(&r, 7, &o);
    ok(pl_recv_chunk(&r, 8, buf, pl_chunk_make(0, (const uint8_t *)"01234", 5, buf), &b, &bl) == PL_EFILE,
       "a chunk of another file (message id): refused");
    ok(pl_recv_chunk(&r, 7, buf, pl_chunk_make(1, (const uint8_t *)"12345", 5, buf), &b, &bl) == PL_EORDER,
       "a chunk at the wrong offset: refused");
    ok(pl_recv_chunk(&r, 7, buf, pl_chunk_make(0, (const uint8_t *)"01234", 5, buf), &b, &bl) == PL_OK && r.got == 5,
       "the first half: more is due");
    ok(pl_recv_chunk(&r, 7, buf, pl_chunk_make(0, (const uint8_t *)"01234", 5, buf), &b, &bl) == PL_EORDER,
       "the same chunk again (a replay inside the file): refused");
    ok(pl_recv_chunk(&r, 7, buf, pl_chunk_make(5, (const uint8_t *)"567890", 6, buf), &b, &bl) == PL_EORDER,
       "past the announced size: refused");
    ok(pl_recv_chunk(&r, 7, buf, 7, &b, &bl) == PL_ESHORT, "a chunk without its offset: refused");
    ok(pl_recv_chunk(&r, 7, buf, pl_chunk_make(5, (const uint8_t *)"56789", 5, buf), &b, &bl) == 1 && r.got == 10,
       "the second half: stored");
    o.size = UINT64_MAX;
    pl_recv_start(&r, 7, &o);
    memset(buf + 8, 0, PL_CHUNK);
    ok(pl_recv_chunk(&r, 7, buf, pl_chunk_make(0, buf + 8, PL_CHUNK, buf), &b, &bl) == PL_OK, "an announced size of 2^64-1: counted");
    ok(pl_recv_chunk(&r, 7, buf, pl_chunk_make(0xffffffffffffff00ull, buf + 8, 0x200, buf), &b, &bl) == PL_EORDER,
       "an offset far ahead (near 2^64): refused");
    ok(pl_recv_chunk(&r, 7, buf, 8 + PL_CHUNK + 1, &b, &bl) == PL_ELONG, "a chunk over 16,384 bytes: refused");
}

static void test_video(void)
{
    uint8_t sid[16], w[1 + 16 + PL_VPARAMS + 1];
    struct pl_video v;
    size_t wl;
    for (int i = 0; i < 16; i++) sid[i] = (uint8_t)(0xa0 + i);
    ok(pl_video_make(PL_VINVITE, sid, "720p mjpeg", w, &wl) == PL_OK && wl == 27 && w[0] == 1
       && !memcmp(w + 1, sid, 16) && !memcmp(w + 17, "720p mjpeg", 10), "invitation: kind || sid || parameters");
    ok(pl_video_parse(w, wl, &v) == PL_OK && v.kind == PL_VINVITE && !memcmp(v.sid, sid, 16)
       && !strcmp(v.params, "720p mjpeg"), "read back the same");
    ok(pl_video_make(PL_VACCEPT, sid, NULL, w, &wl) == PL_OK && wl == 17, "an answer has no parameters");
    ok(pl_video_parse(w, wl, &v) == PL_OK && v.kind == PL_VACCEPT && v.params[0] == 0, "accept read back");
    ok(pl_video_parse(w, 16, &v) == PL_ESHORT, "cut inside the stream id: too short");
    w[0] = 4;
    ok(pl_video_parse(w, 17, &v) == PL_EKIND, "kind 4: unknown");
    w[0] = 0;
    ok(pl_video_parse(w, 17, &v) == PL_EKIND, "kind 0: unknown");
    ok(pl_video_make(9, sid, NULL, w, &wl) == PL_EKIND, "the sender cannot make kind 9");
    w[0] = PL_VINVITE;
    memcpy(w + 17, "a\x1b[31mred\0b", 11);
    ok(pl_video_parse(w, 28, &v) == PL_OK && !strcmp(v.params, "a?[31mred?b"),
       "escape sequences and NULs in parameters are shown as '?'");
    memset(w + 17, 'p', PL_VPARAMS + 1);
    ok(pl_video_parse(w, 17 + PL_VPARAMS, &v) == PL_OK && strlen(v.params) == PL_VPARAMS, "512 bytes of parameters taken");
    ok(pl_video_parse(w, 17 + PL_VPARAMS + 1, &v) == PL_ELONG, "513 refused");
    char lp[PL_VPARAMS + 2];
    memset(lp, 'q', sizeof lp - 1);
    lp[sizeof lp - 1] = 0;
    ok(pl_video_make(PL_VINVITE, sid, lp, w, &wl) == PL_ELONG, "the sender cannot make 513");
}

static void test_small(void)
{
    uint8_t t[32], w[40];
    const uint8_t *tp;
    uint64_t c;
    memset(t, 0x5c, sizeof t);
    ok(pl_bye_make(0x1122334455667788ull, t, w) == 40 && w[0] == 0x11 && w[7] == 0x88 && w[8] == 0x5c,
       "BYE: u64 count || transcript");
    ok(pl_bye_parse(w, 40, &c, &tp) == PL_OK && c == 0x1122334455667788ull && tp == w + 8, "BYE read back");
    ok(pl_bye_parse(w, 39, &c, &tp) == PL_ESHORT && c == 0 && tp == NULL, "a BYE without its whole transcript: too short");
    ok(pl_ack_transcript(w, 32) == w && pl_ack_transcript(w, 31) == NULL, "an ACK holds a transcript only if 32 bytes are there");
    ok(pl_done_ok((const uint8_t *)"\1", 1), "FILE_DONE 1: stored");
    ok(!pl_done_ok((const uint8_t *)"\0", 1) && !pl_done_ok((const uint8_t *)"\2", 1) && !pl_done_ok(NULL, 0),
       "0, 2, or nothing: refused");
    static const struct { const char *in, *out, *what; } cl[] = {
        { "ok\ttab\r\n\x1b\x7f", "ok\ttab????", "tab kept; CR, LF, ESC, DEL shown as '?'" },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", "UTF-8 of 2, 3 and 4 bytes kept" },
        { "a\xc2\x9b" "2Jb", "a??2Jb", "C1 CSI (U+009B) as UTF-8: both bytes '?'" },
        { "\xc2\x85|\xc2\xa0", "??|\xc2\xa0", "C1 NEL goes, the no-break space after C1 stays" },
        { "gpj.\xe2\x80\xae" "exe", "gpj.???exe", "a right-to-left override (U+202E) goes" },
        { "\xe2\x81\xa6x\xe2\x80\x8f\xe2\x80\xa8", "???x??????", "isolates, marks, line separators go" },
        { "\x80\xbf", "??", "lone continuation bytes" },
        { "\xc0\xaf\xe0\x80\xaf", "?????", "overlong forms (of '/')" },
        { "\xed\xa0\x80", "???", "a surrogate" },
        { "\xf4\x90\x80\x80\xf5", "?????", "past U+10FFFF, and a byte that never starts one" },
        { "x\xe2\x82", "x??", "a sequence cut at the end" },
        { "\xe2(\xa1", "?(?", "a sequence broken in the middle: the rest is read again" },
    };
    for (size_t i = 0; i < sizeof cl / sizeof cl[0]; i++) {
        char b[64];
        size_t n = strlen(cl[i].in);
        memcpy(b, cl[i].in, n + 1);
        pl_clean(b, n);
        ok(!strcmp(b, cl[i].out), "clean: %s", cl[i].what);
    }
    ok(!strcmp(pl_strerror(PL_EHASH), "SHA-256 does not match") && strcmp(pl_strerror(-99), ""), "error strings");
}

int main(void)
{
    if (sc_init() < 0) return 1;
    test_names();
    test_offer();
    test_recv();
    test_video();
    test_small();
    return tap_done();
}
