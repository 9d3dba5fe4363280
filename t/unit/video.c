/* video.c - the record layer of simpp-videnc without a codec: seal/open with
 * every field of the clear header bound, the replay window at its edges,
 * the strict order of byte streams, epochs, the erasure code under every
 * loss pattern of small codes and random ones of large, reassembly with
 * loss, reordering and duplicates, the stream header and YUV4MPEG2 parsers,
 * and the key file checks; a must-fail twin beside every must-pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "media.h"
#include "tap.h"
#include "video.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct vid_keys ka, kb;      /* alice sends to bob */

static void keys(void)
{
    memset(&ka, 0, sizeof ka);
    sc_random(ka.stream, sizeof ka.stream);
    sc_random(ka.send, sizeof ka.send);
    sc_random(ka.recv, sizeof ka.recv);
    strcpy(ka.me, "alice@localhost");
    strcpy(ka.peer, "bob@localhost");
    kb = ka;
    strcpy(kb.me, "bob@localhost");
    strcpy(kb.peer, "alice@localhost");
    memcpy(kb.send, ka.recv, 32);
    memcpy(kb.recv, ka.send, 32);
}

/* records of one vid_tx_frame call */
static struct { uint8_t b[300][2048]; size_t len[300]; int n; } R;
static int grab(void *ctx, const uint8_t *rec, size_t len)
{
    (void)ctx;
    if (R.n >= 300 || len > sizeof R.b[0]) return -1;
    memcpy(R.b[R.n], rec, len);
    R.len[R.n++] = len;
    return 0;
}

static int open1(struct vid_rx *rx, int i, struct vid_hdr *h, uint8_t *pt, size_t *pl)
{
    return vid_rx_open(rx, R.b[i], R.len[i], h, pt, pl);
}

static void t_seal_open(void)
{
    struct vid_tx tx;
    struct vid_rx rx, rx2;
    struct vid_hdr h;
    struct vid_keys kc;
    uint8_t pt[2048], msg[500];
    size_t pl;
    int bad = 0;

    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)rnd();
    vid_tx_init(&tx, &ka, 0, 0);
    R.n = 0;
    ok(vid_tx_frame(&tx, msg, sizeof msg, 7, 1, grab, NULL) == 0 && R.n == 1, "a frame is one record on a byte stream");
    ok(R.len[0] == VID_OVERHEAD + sizeof msg, "record = 60-byte header + payload + 16-byte tag");
    vid_rx_init(&rx, &kb, 1);
    ok(open1(&rx, 0, &h, pt, &pl) == VID_OK && pl == sizeof msg && !memcmp(pt, msg, pl) && h.pts == 7 &&
       h.flags == VID_F_KEY && h.seq == 0, "bob opens it: payload, pts, key flag, sequence number");
    ok(open1(&rx, 0, &h, pt, &pl) == VID_EREPLAY, "the same record again: replayed");
    /* every bit of the record matters: header (AAD), ciphertext, tag */
    for (size_t byte = 0; byte < R.len[0]; byte++) {
        uint8_t save = R.b[0][byte];
        R.b[0][byte] ^= (uint8_t)(1u << (rnd() % 8));
        vid_rx_init(&rx2, &kb, 1);
        if (open1(&rx2, 0, &h, pt, &pl) == VID_OK) bad++;
        R.b[0][byte] = save;
    }
    ok(bad == 0, "a flipped bit anywhere in the record is refused (%zu positions)", R.len[0]);
    vid_rx_init(&rx2, &kb, 1);
    ok(open1(&rx2, 0, &h, pt, &pl) == VID_OK, "and the record restored opens");

    /* who may open it */
    vid_rx_init(&rx2, &ka, 1);
    ok(open1(&rx2, 0, &h, pt, &pl) == VID_EDEVICE, "alice's own key: not from her peer (foreign device)");
    kc = kb;
    kc.stream[0] ^= 1;
    vid_rx_init(&rx2, &kc, 1);
    ok(open1(&rx2, 0, &h, pt, &pl) == VID_ESTREAM, "another stream's key file: foreign stream");
    kc = kb;
    kc.recv[5] ^= 1;
    vid_rx_init(&rx2, &kc, 1);
    ok(open1(&rx2, 0, &h, pt, &pl) == VID_EAUTH, "a wrong recv key: fails authentication");
    kc = kb;
    strcpy(kc.peer, "carol@localhost");
    vid_rx_init(&rx2, &kc, 1);
    ok(open1(&rx2, 0, &h, pt, &pl) == VID_EDEVICE, "a stream expected from carol: foreign device");
    R.b[0][0] = 'X';
    ok(open1(&rx2, 0, &h, pt, &pl) == VID_EFORMAT, "bad magic: not a record");
    R.b[0][0] = VID_MAGIC0;
    R.b[0][2] = 2;
    ok(open1(&rx2, 0, &h, pt, &pl) == VID_EVERSION, "version 2: refused");
    ok(vid_rx_open(&rx2, R.b[0], VID_OVERHEAD - 1, &h, pt, &pl) == VID_EFORMAT, "too short: not a record");

    /* a second run of the encoder with the same key file: a new epoch, so
     * a new key, so no nonce is ever used twice */
    struct vid_tx tx2;
    vid_tx_init(&tx2, &ka, 0, 0);
    ok(memcmp(tx.epoch, tx2.epoch, VID_EPOCH_LEN) && memcmp(tx.key, tx2.key, VID_KEY_LEN),
       "each run has its own epoch and key");
    R.n = 0;
    vid_tx_frame(&tx2, msg, sizeof msg, 0, 1, grab, NULL);
    ok(open1(&rx, 0, &h, pt, &pl) == VID_EEPOCH, "a receiver following one run refuses another");
    vid_tx_free(&tx);
    vid_tx_free(&tx2);
    vid_rx_free(&rx);
    vid_rx_free(&rx2);
}

static void t_order(void)
{
    struct vid_tx tx;
    struct vid_rx s, w;
    struct vid_hdr h;
    uint8_t pt[2048], m[16] = { 1 };
    size_t pl;
    vid_tx_init(&tx, &ka, 0, 0);
    R.n = 0;
    for (int i = 0; i < 5; i++) vid_tx_frame(&tx, m, sizeof m, (uint64_t)i, 0, grab, NULL);
    vid_rx_init(&s, &kb, 1);
    vid_rx_init(&w, &kb, 0);
    ok(open1(&s, 1, &h, pt, &pl) == VID_EORDER, "byte stream: not starting at 0 is refused");
    ok(open1(&s, 0, &h, pt, &pl) == VID_OK && open1(&s, 2, &h, pt, &pl) == VID_EORDER,
       "byte stream: a gap is refused");
    ok(open1(&s, 1, &h, pt, &pl) == VID_OK && open1(&s, 2, &h, pt, &pl) == VID_OK, "byte stream: in order is fine");
    ok(open1(&s, 1, &h, pt, &pl) == VID_EREPLAY, "byte stream: an old one is a replay");
    ok(open1(&w, 3, &h, pt, &pl) == VID_OK && open1(&w, 1, &h, pt, &pl) == VID_OK &&
       open1(&w, 4, &h, pt, &pl) == VID_OK && open1(&w, 0, &h, pt, &pl) == VID_OK,
       "datagrams: any order inside the window");
    ok(open1(&w, 1, &h, pt, &pl) == VID_EREPLAY && open1(&w, 4, &h, pt, &pl) == VID_EREPLAY,
       "datagrams: duplicates refused");
    ok(open1(&w, 2, &h, pt, &pl) == VID_OK, "datagrams: the one still missing is taken");
    vid_tx_free(&tx);
}

/* the window at its edges: sequence numbers forged into records by sealing
 * with a chosen counter */
static void t_window(void)
{
    struct vid_tx tx;
    struct vid_rx w;
    struct vid_hdr h0 = { .type = VID_T_FRAME, .k = 1, .flen = 4 }, h;
    uint8_t rec[VID_OVERHEAD + 4], pt[64], m[4] = { 1, 2, 3, 4 };
    size_t pl, rl;
    int good = 1;
    vid_tx_init(&tx, &ka, 0, 0);
    vid_rx_init(&w, &kb, 0);
#define AT(s) (tx.seq = (s), rl = vid_seal(&tx, &h0, m, 4, rec), vid_rx_open(&w, rec, rl, &h, pt, &pl))
    ok(AT(5000) == VID_OK, "first record at 5000");
    ok(AT(5000 - 1023) == VID_OK && AT(5000 - 1023) == VID_EREPLAY, "1023 below the top: inside the window");
    ok(AT(5000 - 1024) == VID_EREPLAY, "1024 below the top: too old, refused");
    /* moves of every size keep the marks still inside the window: a lost
     * mark would let the old top through a second time */
    static const uint64_t steps[] = { 1, 3, 63, 64, 65, 127, 128, 129, 511, 1023, 1024, 1500 };
    uint64_t top = 5000;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        uint64_t nt = top + steps[i];
        good &= AT(nt) == VID_OK && AT(nt) == VID_EREPLAY && AT(top) == VID_EREPLAY;
        for (uint64_t q = top + 1; q < nt; q += 1 + steps[i] / 5) {
            int inside = nt - q < 1024;
            good &= AT(q) == (inside ? VID_OK : VID_EREPLAY);
            if (inside) good &= AT(q) == VID_EREPLAY;
        }
        top = nt;
    }
    ok(good, "the window slides by 1 to 1500 (bits and whole words) and keeps its marks");
    ok(AT(top + 5000) == VID_OK && AT(top) == VID_EREPLAY, "a jump past the window forgets all below");
    /* marks spread over the whole window, then every kind of move: each
     * mark must land where it belongs, across word boundaries too */
    good = 1;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        static uint8_t marked[1024];
        const uint64_t B = 100000;
        vid_rx_init(&w, &kb, 0);
        good &= AT(B) == VID_OK;
        for (int d = 1; d < 1024; d++)
            if ((marked[d] = rnd() % 3 == 0)) good &= AT(B - (uint64_t)d) == VID_OK;
        good &= AT(B + steps[i]) == VID_OK;
        for (int d = 1; d < 1024; d++) {
            int want = d + steps[i] >= 1024 || marked[d] ? VID_EREPLAY : VID_OK;
            good &= AT(B - (uint64_t)d) == want;
        }
    }
    ok(good, "marks all over the window survive moves of 1 to 1500");
#undef AT
    vid_tx_free(&tx);
}

static void t_fec(void)
{
    enum { S = 37 };
    uint8_t buf[255][S], orig[255][S], present[255];
    uint8_t *frag[255];
    int good = 1, patterns = 0;
    for (int i = 0; i < 255; i++) frag[i] = buf[i];
    /* every loss pattern of small codes */
    for (unsigned k = 1; k <= 6; k++)
        for (unsigned r = 0; r <= 4; r++)
            for (unsigned mask = 0; mask < 1u << (k + r); mask++) {
                unsigned lost = (unsigned)__builtin_popcount(mask);
                for (unsigned i = 0; i < k; i++)
                    for (int b = 0; b < S; b++) orig[i][b] = buf[i][b] = (uint8_t)rnd();
                vid_fec_encode(k, r, S, frag);
                for (unsigned i = 0; i < k + r; i++) {
                    present[i] = !(mask >> i & 1);
                    if (!present[i]) memset(buf[i], 0xee, S);
                }
                int got = vid_fec_decode(k, r, S, frag, present);
                unsigned dlost = (unsigned)__builtin_popcount(mask & ((1u << k) - 1));
                if (lost > r) good &= got == -1 || (dlost == 0 && got == 0);
                else {
                    good &= got == (int)dlost;
                    for (unsigned i = 0; i < k; i++) good &= !memcmp(buf[i], orig[i], S);
                }
                patterns++;
            }
    ok(good, "k <= 6, r <= 4: every one of %d loss patterns rebuilt when at most r are lost, refused when more", patterns);
    /* large codes, random losses of exactly r */
    good = 1;
    for (int trial = 0; trial < 40; trial++) {
        unsigned k = 1 + (unsigned)(rnd() % 200), r = (unsigned)(rnd() % (255 - k + 1));
        if (r > 60) r = 60;
        for (unsigned i = 0; i < k; i++)
            for (int b = 0; b < S; b++) orig[i][b] = buf[i][b] = (uint8_t)rnd();
        vid_fec_encode(k, r, S, frag);
        memset(present, 1, sizeof present);
        for (unsigned n = 0; n < r;) {
            unsigned i = (unsigned)(rnd() % (k + r));
            if (present[i]) { present[i] = 0; memset(buf[i], 0, S); n++; }
        }
        good &= vid_fec_decode(k, r, S, frag, present) >= 0;
        for (unsigned i = 0; i < k; i++) good &= !memcmp(buf[i], orig[i], S);
    }
    ok(good, "k up to 200, r up to 60: r random losses always rebuilt");
    ok(vid_fec_parity(42, 20) == 10 && vid_fec_parity(1, 20) == 2 && vid_fec_parity(200, 100) == 55 &&
       vid_fec_parity(10, 0) == 0, "parity count: ceil(k * p / 100) + 1, at most 255 - k");
}

static void t_asm(void)
{
    struct vid_tx tx;
    struct vid_rx rx;
    struct vid_asm as;
    struct vid_hdr h;
    uint8_t pt[2048], frame[3][5000];
    const uint8_t *f;
    size_t pl, fl;
    int r, out = 0, good = 1;

    vid_tx_init(&tx, &ka, 400, 20);         /* 324-byte fragments */
    vid_rx_init(&rx, &kb, 0);
    vid_asm_init(&as);
    for (int i = 0; i < 3; i++)
        for (size_t b = 0; b < sizeof frame[i]; b++) frame[i][b] = (uint8_t)rnd();
    /* frame 0: drop r data fragments; frame 1: drop r + 1 (lost); frame 2:
     * reversed order with duplicates */
    for (int fi = 0; fi < 3; fi++) {
        R.n = 0;
        vid_tx_frame(&tx, frame[fi], sizeof frame[fi], (uint64_t)fi, fi == 0, grab, NULL);
        int k = (int)((sizeof frame[fi] + 323) / 324), nr = R.n - k;
        if (fi == 0 || fi == 1) {
            ok(k == 16 && nr == 5, "5000 bytes in 400-byte datagrams: 16 data + 5 parity fragments");
            for (int i = 0; i < R.n; i++) {
                if (i % 3 == 0 && i / 3 < nr + (fi == 1)) continue;     /* lost */
                if ((r = open1(&rx, i, &h, pt, &pl)) != VID_OK) { good = 0; continue; }
                if (vid_asm_add(&as, &h, pt, pl, &f, &fl) == 1) {
                    out++;
                    good &= fi == 0 && fl == sizeof frame[0] && !memcmp(f, frame[0], fl);
                }
            }
        } else {
            for (int i = R.n - 1; i >= 0; i--)
                for (int d = 0; d < 2; d++) {
                    r = open1(&rx, i, &h, pt, &pl);
                    if (d == 1) { good &= r == VID_EREPLAY; continue; }
                    if (r == VID_OK && vid_asm_add(&as, &h, pt, pl, &f, &fl) == 1) {
                        out++;
                        good &= fl == sizeof frame[2] && !memcmp(f, frame[2], fl);
                    }
                }
        }
    }
    ok(good && out == 2, "rebuilt from r losses; reversed and duplicated fragments; one frame out each");
    /* reversed, frame 2 is whole after its 5 parity and 11 last data
     * fragments: 5 more rebuilt, and the rest arrive late */
    ok(as.rebuilt == 10 && as.abandoned == 1 && as.complete == 2 && as.late == 5,
       "counts: 10 fragments rebuilt, 1 frame abandoned (r + 1 lost), 2 complete, 5 late");
    vid_asm_finish(&as);
    vid_asm_free(&as);
    vid_tx_free(&tx);
}

static void t_params(void)
{
    struct vid_params p, q;
    char err[256], line[256];
    uint8_t b[VID_PARAMS_LEN];
    ok(vid_y4m_parse("YUV4MPEG2 W1280 H720 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED", &p,
                     err, sizeof err) == 0 && p.w == 1280 && p.h == 720 && p.fps_num == 30000 && p.fps_den == 1001 &&
       p.range == 1 && !strcmp(p.chroma, "420jpeg"), "y4m header parsed");
    p.codec = VID_H264;
    ok(vid_params_encode(&p, b) == 0 && vid_params_decode(b, sizeof b, &q) == 0 &&
       vid_y4m_header(&q, line, sizeof line) > 0 &&
       !strcmp(line, "YUV4MPEG2 W1280 H720 F30000:1001 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\n") && q.codec == VID_H264,
       "stream header round trip, and the y4m header written back");
    b[0] = 9;
    ok(vid_params_decode(b, sizeof b, &q) < 0, "an unknown codec is refused");
    static const char *bad[] = {
        "YUV4MPEG W64 H64 F25:1", "YUV4MPEG2 W64 F25:1", "YUV4MPEG2 W63 H64 F25:1", "YUV4MPEG2 W64 H64 F0:1",
        "YUV4MPEG2 W64 H64 F25:1 C444", "YUV4MPEG2 W64 H64 F25:1 C420p10", "YUV4MPEG2 W8 H8 F25:1",
        "YUV4MPEG2 W99999 H64 F25:1", "YUV4MPEG2 W64 H64 F25", "YUV4MPEG2 W64 H64 F25:1 Ix",
    };
    int refused = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) refused += vid_y4m_parse(bad[i], &p, err, sizeof err) < 0;
    ok(refused == (int)(sizeof bad / sizeof bad[0]), "bad y4m headers refused (%d of %zu)", refused,
       sizeof bad / sizeof bad[0]);
}

static int write_key(const char *path, const char *text, mode_t mode)
{
    FILE *f;
    unlink(path);
    if (!(f = fopen(path, "w"))) return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, mode);
}

static void t_keyfile(void)
{
    char dir[] = "/tmp/simpp-vid.XXXXXX", path[64], err[256];
    struct vid_keys k;
    const char *good =
        "simpp-video-key 1\nstream 000102030405060708090a0b0c0d0e0f\nme alice@localhost\npeer bob@localhost\n"
        "send 1111111111111111111111111111111111111111111111111111111111111111\n"
        "recv 2222222222222222222222222222222222222222222222222222222222222222\n";
    if (!mkdtemp(dir)) { ok(0, "mkdtemp"); return; }
    snprintf(path, sizeof path, "%s/k", dir);
    write_key(path, good, 0600);
    ok(vid_keys_load(path, &k, err, sizeof err) == VIDK_OK && k.stream[15] == 0x0f && k.send[0] == 0x11 &&
       k.recv[31] == 0x22 && !strcmp(k.peer, "bob@localhost"), "a key file as simpp-session writes it");
    write_key(path, good, 0640);
    ok(vid_keys_load(path, &k, err, sizeof err) == VIDK_EMODE, "mode 0640 refused: %s", err);
    write_key(path, good, 0604);
    ok(vid_keys_load(path, &k, err, sizeof err) == VIDK_EMODE, "mode 0604 refused");
    static const struct { const char *from, *to; } edits[] = {
        { "key 1", "key 2" }, { "0e0f\n", "0e\n" }, { "me alice@localhost", "me alice" },
        { "peer bob@localhost", "peer bob@localhost/phone" }, { "send 1", "send x" }, { "recv 2", "recv  2" },
        { "2222\n", "2222\nextra\n" }, { "recv 2222222222222222222222222222222222222222222222222222222222222222",
          "recv 1111111111111111111111111111111111111111111111111111111111111111" },
    };
    int refused = 0;
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char text[1024];
        const char *at = strstr(good, edits[i].from);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, edits[i].to, at + strlen(edits[i].from));
        write_key(path, text, 0600);
        refused += vid_keys_load(path, &k, err, sizeof err) == VIDK_EFORMAT;
    }
    ok(refused == (int)(sizeof edits / sizeof edits[0]), "malformed key files refused (%d of %zu)", refused,
       sizeof edits / sizeof edits[0]);
    unlink(path);
    rmdir(dir);
}

/* tracks: an audio packet opens only with the audio track's key and
 * window; a record moved to another track, or another run, is refused */
static void t_tracks(void)
{
    struct vid_tx ta, tv;
    struct vid_rx ra, rv, rc;
    struct vid_hdr h;
    uint8_t pt[2048], pkt[80];
    size_t pl;
    memset(pkt, 0x5a, sizeof pkt);
    ok(vid_tx_init_track(&ta, &ka, VID_TRACK_AUDIO, "alsa hw:0: USB mic", 1400, 0) == 0, "an audio track");
    vid_tx_init_track(&tv, &ka, VID_TRACK_VIDEO, "v4l2 /dev/video0: cam", 1400, 20);
    vid_rx_init_track(&ra, &kb, VID_TRACK_AUDIO, 0);
    vid_rx_init_track(&rv, &kb, VID_TRACK_VIDEO, 0);
    vid_rx_init_track(&rc, &kb, VID_TRACK_CTRL, 0);
    R.n = 0;
    ok(vid_tx_record(&ta, VID_T_AUDIO, 960, pkt, sizeof pkt, grab, NULL) == 0 && R.n == 1, "one packet, one record");
    ok(vid_tx_record(&ta, VID_T_FRAME, 0, pkt, sizeof pkt, grab, NULL) < 0, "a video type on the audio track: not sealed");
    ok(vid_tx_record(&ta, VID_T_AUDIO, 0, pkt, 1501, grab, NULL) < 0, "a packet larger than a record of one piece");
    ok(open1(&ra, 0, &h, pt, &pl) == VID_OK && h.type == VID_T_AUDIO && h.pts == 960 && pl == sizeof pkt &&
       !memcmp(pt, pkt, pl), "the audio track opens it");
    ok(open1(&ra, 0, &h, pt, &pl) == VID_EREPLAY, "again: replayed");
    ok(open1(&rv, 0, &h, pt, &pl) == VID_EFORMAT, "the video track's receiver does not take it");
    /* the type changed to a video one: the header is AAD, and the key is
     * the audio track's, so the video receiver cannot open it */
    R.b[0][3] = VID_T_FRAME;
    ok(open1(&rv, 0, &h, pt, &pl) == VID_EAUTH, "relabelled as video: fails authentication");
    R.b[0][3] = VID_T_REPORT;
    ok(open1(&rc, 0, &h, pt, &pl) == VID_EAUTH, "relabelled as a report: fails authentication");
    ok(vid_track_of(VID_T_AEND) == VID_TRACK_AUDIO && vid_track_of(VID_T_BYE) == VID_TRACK_CTRL &&
       vid_track_of(0) < 0 && vid_track_of(9) < 0, "types map to tracks");
    /* both tracks of one sender: separate epochs, keys, sequence numbers */
    ok(memcmp(ta.epoch, tv.epoch, VID_EPOCH_LEN) && memcmp(ta.key, tv.key, VID_KEY_LEN) && tv.seq == 0,
       "each track its own run");
    vid_tx_free(&ta);
    vid_tx_free(&tv);
    vid_rx_free(&ra);
    vid_rx_free(&rv);
    vid_rx_free(&rc);
}

/* the stream header's device identity against the epoch it commits to */
static void t_device(void)
{
    struct vid_tx tx;
    struct vid_rx rx;
    struct vid_hdr h;
    struct vid_params p = { .codec = VID_MJPEG, .w = 64, .h = 48, .fps_num = 30, .fps_den = 1, .interlace = 'p' };
    struct vid_aparams ap = { 1, 1, 960, 48000, 312 }, aq;
    uint8_t pt[2048], b[VID_APARAMS_LEN];
    char id[VID_DEVID_MAX + 1];
    size_t pl;
    vid_tx_init_track(&tx, &ka, VID_TRACK_VIDEO, "v4l2 /dev/video0: Integrated Camera (uvcvideo, usb-1)", 0, 0);
    vid_rx_init(&rx, &kb, 1);
    R.n = 0;
    vid_tx_params(&tx, &p, grab, NULL);
    ok(open1(&rx, 0, &h, pt, &pl) == VID_OK && pl > VID_PARAMS_LEN, "the stream header opens");
    ok(vid_device_check(&h, pt + VID_PARAMS_LEN, pl - VID_PARAMS_LEN, id) == VID_OK &&
       !strcmp(id, "v4l2 /dev/video0: Integrated Camera (uvcvideo, usb-1)"), "its device: %s", id);
    uint8_t *tail = pt + VID_PARAMS_LEN;
    size_t tl = pl - VID_PARAMS_LEN;
    tail[VID_SALT_LEN + 1 + 5] ^= 1;
    ok(vid_device_check(&h, tail, tl, id) == VID_EDEVICE && !id[0], "another name: not what the epoch commits to");
    tail[VID_SALT_LEN + 1 + 5] ^= 1;
    tail[0] ^= 1;
    ok(vid_device_check(&h, tail, tl, id) == VID_EDEVICE, "another salt: likewise");
    tail[0] ^= 1;
    h.epoch[7] ^= 1;
    ok(vid_device_check(&h, tail, tl, id) == VID_EDEVICE, "another epoch: likewise");
    h.epoch[7] ^= 1;
    ok(vid_device_check(&h, tail, tl - 1, id) == VID_EFORMAT, "a length that disagrees: malformed");
    ok(vid_device_check(&h, tail, VID_SALT_LEN, id) == VID_EFORMAT, "no length byte: malformed");
    tail[VID_SALT_LEN + 1] = 0;
    ok(vid_device_check(&h, tail, tl, id) == VID_EFORMAT, "a NUL in the name: malformed");
    char longname[VID_DEVID_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ok(vid_tx_init_track(&tx, &ka, VID_TRACK_VIDEO, longname, 0, 0) < 0, "a name over 255 bytes: refused");
    ok(vid_aparams_encode(&ap, b) == 0 && vid_aparams_decode(b, sizeof b, &aq) == 0 && aq.rate == 48000 &&
       aq.frame == 960 && aq.preskip == 312, "audio header round trip");
    ap.rate = 44100;
    ok(vid_aparams_encode(&ap, b) < 0, "44.1 kHz: not an Opus rate");
    b[1] = 3;
    ok(vid_aparams_decode(b, sizeof b, &aq) < 0 && vid_aparams_decode(b, sizeof b - 1, &aq) < 0,
       "three channels, or short: refused");
    vid_tx_free(&tx);
    vid_rx_free(&rx);
}

/* the timing of a call (media.h) */
static void t_media(void)
{
    struct med_late l;
    med_late_init(&l);
    ok(med_late_add(&l, 1000000, 0) == 0, "the first arrival is the base");
    ok(med_late_add(&l, 1030000, 20000) == 10000, "10 ms later than the base");
    ok(med_late_add(&l, 1035000, 40000) == 0 && l.base == 995000, "a faster one moves the base");
    ok(med_late_max(&l, 1040000) == 15000, "the earlier one is now 15 ms late");
    ok(med_late_max(&l, 1040000 + 2 * MED_BUCKETS * MED_BUCKET_US) == 0, "after the window: forgotten");
    ok(med_target(30000, 50000, 10000, 20000, 400000) == 60000, "target: the later track plus the margin");
    ok(med_target(0, 0, 10000, 20000, 400000) == 20000 && med_target(900000, 0, 10000, 20000, 400000) == 400000,
       "within its bounds");
    ok(med_follow(40000, 60000, 1000) == 60000 && med_follow(60000, 40000, 1000) == 59000 &&
       med_follow(40500, 40000, 1000) == 40000, "up at once, down slowly");
    ok(med_pick(-1, 100000, 0, 40000, 20000) == 3, "the first packet: the one due");
    ok(med_pick(3, 120000, 0, 40000, 20000) == 4, "then the next");
    ok(med_pick(4, 140000, 0, 60000, 20000) == 4, "delay up by a packet: the same index (a concealed block)");
    ok(med_pick(4, 140000, 0, 0, 20000) == 6, "delay down by more than a packet: at most one skipped");
    ok(med_pick(4, -100000, 0, 0, 20000) == 4, "never backwards");
    struct med_cc c;
    med_cc_init(&c, 0);
    ok(med_cc_report(&c, 500000, 0, 100000) == 1, "a queue over 80 ms: one level up");
    ok(med_cc_report(&c, 1000000, 0, 100000) == 1, "not again within a second");
    ok(med_cc_report(&c, 1600000, 200, 0) == 2, "a loss of 200 per mille: up again");
    ok(med_cc_report(&c, 2000000, 0, 0) == 2 && med_cc_report(&c, 4000000, 0, 0) == 2, "calm, but not for 3 s");
    ok(med_cc_report(&c, 5100000, 0, 0) == 1, "3 s calm: one level down");
    ok(med_cc_report(&c, 5600000, 50, 50000) == 1 && med_cc_report(&c, 8200000, 0, 0) == 1,
       "a middling report restarts the calm");
    ok(med_cc_quality(2, 3, 31) == 11 && med_cc_quality(9, 3, 31) == 31 && med_cc_divisor(1) == 1 &&
       med_cc_divisor(3) == 3, "quality and frame divisor per level");
    struct med_report r = { 12, 34000, 5600, 78000 }, q;
    uint8_t b[MED_REPORT_LEN];
    med_report_encode(&r, b);
    ok(med_report_decode(b, sizeof b, &q) == 0 && q.loss_pm == 12 && q.queue_us == 34000 && q.jitter_us == 5600 &&
       q.delay_us == 78000, "report round trip");
    b[0] = 1;
    ok(med_report_decode(b, sizeof b, &q) < 0 && med_report_decode(b, 15, &q) < 0, "loss over 1000, or short: refused");
}

int main(void)
{
    if (sc_init() < 0) { ok(0, "sc_init"); return tap_done(); }
    keys();
    t_seal_open();
    t_order();
    t_window();
    t_fec();
    t_asm();
    t_params();
    t_keyfile();
    t_tracks();
    t_device();
    t_media();
    return tap_done();
}
