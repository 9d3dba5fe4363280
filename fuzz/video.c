/*
 * fuzz/video.c - what simpp-videnc -d reads from the network (lib/video.c):
 * records through vid_rx_open (strict byte-stream mode and the UDP replay
 * window), the stream parameters, and the reassembly of fragments.
 *
 * Input: op, then:
 *   0/1  records, each u16 length || bytes, into one receiver (strict /
 *        windowed): whatever opens must carry our stream id and the peer's
 *        device tag, and a record never opens twice
 *   2    vid_params_decode
 *   3    fragments for vid_asm_add: per fragment a header made of input
 *        bytes (idx, k, r, frame length, pts, key flag) and a payload
 *   4    a YUV4MPEG2 header line (simpp-videnc's input): what parses is
 *        written back by vid_y4m_header and parses to the same parameters
 *   5    a call's other plaintexts: an audio header (what decodes encodes
 *        back to the same bytes), a stream header's device tail against
 *        an epoch of input bytes (what passes is NUL-free, as long as said),
 *        a receiver's report
 *   6/7/8 records into the audio / control / video track's receiver of a
 *        call (the UDP window): nothing opens
 * Nothing here holds a valid key for the stream, so "opens" is the bug.
 */
#include "fuzz.h"
#include "media.h"
#include "video.h"

static struct vid_keys keys;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FZ_SETUP(sc_init() == 0);
    memset(&keys, 0, sizeof keys);
    for (int i = 0; i < VID_SID_LEN; i++) keys.stream[i] = (uint8_t)i;
    snprintf(keys.me, sizeof keys.me, "bob@localhost");
    snprintf(keys.peer, sizeof keys.peer, "alice@localhost");
    memset(keys.send, 0x11, sizeof keys.send);
    memset(keys.recv, 0x22, sizeof keys.recv);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    unsigned op = fz_u8(&in) % 9;
    if (op <= 1 || op >= 6) {
        struct vid_rx rx;
        int track = op == 6 ? VID_TRACK_AUDIO : op == 7 ? VID_TRACK_CTRL : VID_TRACK_VIDEO;
        FZ_CHECK(vid_rx_init_track(&rx, &keys, track, op == 0) == 0);
        while (in.n) {
            size_t want = fz_u16(&in), got;
            const uint8_t *rec = fz_take(&in, want, &got);
            uint8_t *pt = malloc(got ? got : 1);
            size_t pl = got;
            struct vid_hdr h;
            FZ_CHECK(pt != NULL);
            if (vid_rx_open(&rx, rec, got, &h, pt, &pl) == VID_OK)
                fz_fail("a record opened without the stream key");
            free(pt);
        }
        vid_rx_free(&rx);
    } else if (op == 5) {
        struct vid_aparams a;
        struct med_report r;
        struct vid_hdr h;
        uint8_t b[VID_APARAMS_LEN];
        char id[VID_DEVID_MAX + 1];
        size_t got;
        const uint8_t *e = fz_take(&in, VID_EPOCH_LEN + VID_SID_LEN + VID_TAG_LEN, &got);
        memset(&h, 0, sizeof h);
        if (got == VID_EPOCH_LEN + VID_SID_LEN + VID_TAG_LEN) {
            memcpy(h.epoch, e, VID_EPOCH_LEN);
            memcpy(h.stream, e + VID_EPOCH_LEN, VID_SID_LEN);
            memcpy(h.tag, e + VID_EPOCH_LEN + VID_SID_LEN, VID_TAG_LEN);
        }
        if (vid_aparams_decode(in.p, in.n, &a) == 0) {
            FZ_CHECK(vid_aparams_encode(&a, b) == 0 && !memcmp(b, in.p, sizeof b));
        }
        if (vid_device_check(&h, in.p, in.n, id) == VID_OK)
            FZ_CHECK(strlen(id) == in.n - VID_SALT_LEN - 1);
        else
            FZ_CHECK(id[0] == 0);
        if (med_report_decode(in.p, (unsigned)in.n, &r) == 0) FZ_CHECK(r.loss_pm <= 1000 && in.n == MED_REPORT_LEN);
    } else if (op == 2) {
        struct vid_params p;
        (void)vid_params_decode(in.p, in.n, &p);
    } else if (op == 4) {
        char *line = malloc(in.n + 1), err[128], out[512];
        struct vid_params p, q;
        FZ_SETUP(line != NULL);
        if (in.n) memcpy(line, in.p, in.n);
        line[in.n] = 0;                     /* as simpp-videnc reads it: a C string */
        memset(&p, 0, sizeof p);
        if (vid_y4m_parse(line, &p, err, sizeof err) == 0) {
            int n = vid_y4m_header(&p, out, sizeof out);
            FZ_CHECK(n > 0 && out[n - 1] == '\n');
            out[n - 1] = 0;
            memset(&q, 0, sizeof q);
            if (vid_y4m_parse(out, &q, err, sizeof err) != 0)
                fz_fail("a y4m header parses, but its rewrite does not: %s", err);
            FZ_CHECK(p.w == q.w && p.h == q.h && p.fps_num == q.fps_num && p.fps_den == q.fps_den);
            FZ_CHECK(p.sar_num == q.sar_num && p.sar_den == q.sar_den && p.interlace == q.interlace);
            FZ_CHECK(p.range == q.range && strcmp(p.chroma, q.chroma) == 0);
        } else
            FZ_CHECK(strnlen(err, sizeof err) < sizeof err && err[0] != 0);
        free(line);
    } else {
        struct vid_asm a;
        vid_asm_init(&a);
        for (int i = 0; i < 64 && in.n; i++) {
            struct vid_hdr h;
            memset(&h, 0, sizeof h);
            h.type = VID_T_FRAME;
            h.k = fz_u8(&in) % (VID_KMAX + 2);
            h.r = fz_u8(&in) % 64;
            h.idx = fz_u8(&in);
            h.flen = fz_u16(&in) * 8u;
            h.pts = fz_u8(&in);
            h.flags = fz_u8(&in) & VID_F_KEY;
            size_t got;
            const uint8_t *p = fz_take(&in, fz_u16(&in) % 2048, &got);
            const uint8_t *frame;
            size_t flen;
            int r = vid_asm_add(&a, &h, p, got, &frame, &flen);
            FZ_CHECK(r >= -1 && r <= 1);
            if (r == 1) FZ_CHECK(flen == h.flen);
        }
        vid_asm_finish(&a);
        vid_asm_free(&a);
    }
    return 0;
}
