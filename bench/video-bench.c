/*
 * video-bench - the secure video pipeline of simpp-videnc, measured in one
 * process through lib/video.h: encode (libavcodec) + seal (ChaCha20-Poly1305)
 * on one side, open + decode on the other, a frame at a time, as a call
 * would run them.
 *
 *   video-bench [-n frames] [-c mjpeg|h264] file.y4m...
 *
 * For every YUV4MPEG2 file and codec: -n frames (default 300; the file's
 * frames are used in a loop, after 10 frames of warm-up) go through
 *   encode -> seal (one record a frame, as on a byte stream)
 *          -> open -> decode
 * and, beside the chain, the datagram path of the same packet (fragments of
 * 1400 bytes, 20% parity, each sealed; then opened and reassembled).
 * Latencies are wall-clock per frame (p50, p99); frames/s are from the
 * thread's CPU time, i.e. what one core does.  The encryption share is seal
 * + open against the whole chain and against a 30 fps frame budget.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "util.h"
#include "video.h"

#define WARMUP 10

enum { ENC, SEAL, OPEN, DEC, UTX, URX, NM };

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* records sealed by one vid_tx_frame call */
static struct recs {
    uint8_t *buf;
    size_t cap, used, n, off[VID_NMAX + 1], len[VID_NMAX + 1];
} R;

static int collect(void *ctx, const uint8_t *rec, size_t len)
{
    struct recs *r = ctx;
    if (r->n > VID_NMAX) return -1;
    if (r->used + len > r->cap) {
        size_t cap = (r->used + len) * 2;
        uint8_t *b = realloc(r->buf, cap);
        if (!b) return -1;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->used, rec, len);
    r->off[r->n] = r->used;
    r->len[r->n++] = len;
    r->used += len;
    return 0;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmpd);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static uint8_t *load(const char *path, struct vid_params *p, size_t *nframes)
{
    char *text, err[256], *nl;
    size_t len, fb, n = 0, cap = 0;
    uint8_t *frames = NULL;
    if (read_file(path, (size_t)4 << 30, &text, &len) < 0) die_sys(EX_NOINPUT, "unable to read %s", path);
    if (!(nl = memchr(text, '\n', len))) die(EX_DATAERR, "%s: not YUV4MPEG2", path);
    *nl = 0;
    if (vid_y4m_parse(text, p, err, sizeof err) < 0) die(EX_DATAERR, "%s: %s", path, err);
    fb = vid_frame_bytes(p);
    for (char *s = nl + 1; s < text + len;) {
        char *e = memchr(s, '\n', (size_t)(text + len - s));
        if (!e || (size_t)(text + len - e - 1) < fb) break;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            if (!(frames = realloc(frames, cap * fb))) die(EX_OSERR, "out of memory");
        }
        memcpy(frames + n * fb, e + 1, fb);
        n++;
        s = e + 1 + fb;
    }
    free(text);
    if (!n) die(EX_DATAERR, "%s: no frames", path);
    *nframes = n;
    return frames;
}

static void run(const char *path, int codec, size_t iters)
{
    struct vid_params p;
    struct vid_keys ktx, krx;
    struct vid_tx txs, txu;
    struct vid_rx rxs, rxu;
    struct vid_asm as;
    size_t nf, fb, bytes = 0;
    char err[256];
    double *m[NM], *e2e, *e2ew;
    uint8_t *frames = load(path, &p, &nf), *pt = malloc(VID_RECORD_MAX);

    p.codec = codec;
    fb = vid_frame_bytes(&p);
    for (int i = 0; i < NM; i++)
        if (!(m[i] = calloc(iters, sizeof(double)))) die(EX_OSERR, "out of memory");
    if (!(e2e = calloc(iters, sizeof(double))) || !(e2ew = calloc(iters, sizeof(double))) || !pt)
        die(EX_OSERR, "out of memory");

    /* alice sends, bob receives: the two halves of one invitation */
    memset(&ktx, 0, sizeof ktx);
    sc_random(ktx.stream, sizeof ktx.stream);
    sc_random(ktx.send, sizeof ktx.send);
    strcpy(ktx.me, "alice@localhost");
    strcpy(ktx.peer, "bob@localhost");
    krx = ktx;
    strcpy(krx.me, "bob@localhost");
    strcpy(krx.peer, "alice@localhost");
    memcpy(krx.recv, ktx.send, sizeof krx.recv);

    int gop = (int)((p.fps_num + p.fps_den - 1) / p.fps_den);
    vid_enc *enc = vid_enc_open(&p, codec == VID_MJPEG ? 3 : 23, gop, err, sizeof err);
    if (!enc) die(EX_UNAVAILABLE, "%s", err);
    vid_dec *dec = vid_dec_open(&p, err, sizeof err);
    if (!dec) die(EX_UNAVAILABLE, "%s", err);
    if (vid_tx_init(&txs, &ktx, 0, 0) < 0 || vid_tx_init(&txu, &ktx, VID_DGRAM_DEF, 20) < 0)
        die(EX_SOFTWARE, "tx init");
    vid_rx_init(&rxs, &krx, 1);
    vid_rx_init(&rxu, &krx, 0);
    vid_asm_init(&as);

    for (long i = -WARMUP; i < (long)iters; i++) {
        const uint8_t *pkt, *plane[3], *f;
        size_t len, pl, fl;
        int64_t pts;
        int key, stride[3];
        double t[7], c[7];
        struct vid_hdr h;

        /* each boundary read on both clocks: CPU time is what the stage
         * costs, wall time also holds whatever else the machine ran */
#define MARK(k) (c[k] = cpu(), t[k] = wall())
        MARK(0);
        if (vid_enc_send(enc, frames + (size_t)((i + WARMUP) % (long)nf) * fb, i + WARMUP) < 0 ||
            vid_enc_packet(enc, &pkt, &len, &pts, &key) != 1)
            die(EX_SOFTWARE, "the encoder gave no packet for frame %ld", i);
        MARK(1);
        R.n = R.used = 0;
        if (vid_tx_frame(&txs, pkt, len, (uint64_t)pts, key, collect, &R) < 0) die(EX_SOFTWARE, "seal");
        MARK(2);
        if (vid_rx_open(&rxs, R.buf, R.len[0], &h, pt, &pl) != VID_OK) die(EX_SOFTWARE, "open");
        MARK(3);
        if (vid_dec_send(dec, pt, pl, pts) < 0 || vid_dec_frame(dec, plane, stride) != 1)
            die(EX_SOFTWARE, "the decoder gave no picture for frame %ld", i);
        MARK(4);
        /* the datagram path of the same packet, beside the chain */
        R.n = R.used = 0;
        if (vid_tx_frame(&txu, pkt, len, (uint64_t)pts, key, collect, &R) < 0) die(EX_SOFTWARE, "udp seal");
        MARK(5);
        int whole = 0;
        for (size_t r = 0; r < R.n && !whole; r++) {
            if (vid_rx_open(&rxu, R.buf + R.off[r], R.len[r], &h, pt, &pl) != VID_OK) die(EX_SOFTWARE, "udp open");
            whole = vid_asm_add(&as, &h, pt, pl, &f, &fl);
        }
        MARK(6);
#undef MARK
        if (whole != 1 || fl != len) die(EX_SOFTWARE, "reassembly");
        if (i < 0) continue;
        for (int k = 0; k < NM; k++) m[k][i] = c[k + 1] - c[k];
        e2e[i] = c[4] - c[0];
        e2ew[i] = t[4] - t[0];
        bytes += len;
    }

    double sum[NM] = { 0 }, *tx = calloc(iters, sizeof *tx), *rx = calloc(iters, sizeof *rx);
    if (!tx || !rx) die(EX_OSERR, "out of memory");
    for (size_t i = 0; i < iters; i++) {
        for (int k = 0; k < NM; k++) sum[k] += m[k][i];
        tx[i] = m[ENC][i] + m[SEAL][i];
        rx[i] = m[OPEN][i] + m[DEC][i];
    }
    double n = (double)iters, crypto = (sum[SEAL] + sum[OPEN]) / n;
    double chain = (sum[ENC] + sum[SEAL] + sum[OPEN] + sum[DEC]) / n;
    char size[16];
    snprintf(size, sizeof size, "%ux%u", p.w, p.h);
    printf("%-9s %-5s %7.0f %6.2f %6.2f  %7.0f %6.2f %6.2f  %6.2f %6.2f %7.1f  %6.0f %6.0f %6.2f%% %6.2f%%  %6.0f %6.0f\n",
           size, vid_codec_name(codec), n / (sum[ENC] + sum[SEAL]), pct(tx, iters, .5) * 1e3,
           pct(tx, iters, .99) * 1e3, n / (sum[OPEN] + sum[DEC]), pct(rx, iters, .5) * 1e3,
           pct(rx, iters, .99) * 1e3, pct(e2e, iters, .99) * 1e3, pct(e2ew, iters, .99) * 1e3,
           (double)bytes / n / 1e3, sum[SEAL] / n * 1e6, sum[OPEN] / n * 1e6, crypto / (1.0 / 30) * 100,
           crypto / chain * 100, sum[UTX] / n * 1e6, sum[URX] / n * 1e6);
    fflush(stdout);

    vid_enc_close(enc);
    vid_dec_close(dec);
    vid_tx_free(&txs);
    vid_tx_free(&txu);
    vid_rx_free(&rxs);
    vid_rx_free(&rxu);
    vid_asm_free(&as);
    for (int i = 0; i < NM; i++) free(m[i]);
    free(e2e);
    free(e2ew);
    free(tx);
    free(rx);
    free(pt);
    free(frames);
}

int main(int argc, char **argv)
{
    unsigned long n = 300;
    int opt, codecs[2] = { VID_MJPEG, VID_H264 }, nc = 2;
    util_setprog(argv[0]);
    while ((opt = getopt(argc, argv, "n:c:")) != -1) {
        switch (opt) {
        case 'n':
            if (parse_ulong(optarg, 10, 100000, &n) < 0) die(EX_USAGE, "-n %s: 10 to 100000 frames", optarg);
            break;
        case 'c':
            if (!(codecs[0] = vid_codec_from_name(optarg))) die(EX_USAGE, "-c %s: mjpeg or h264", optarg);
            nc = 1;
            break;
        default:
            die(EX_USAGE, "usage: video-bench [-n frames] [-c mjpeg|h264] file.y4m...");
        }
    }
    if (optind == argc) die(EX_USAGE, "usage: video-bench [-n frames] [-c mjpeg|h264] file.y4m...");
    if (sc_init() < 0) die(EX_SOFTWARE, "crypto init");
    vid_av_log(0);
    printf("# simpp video pipeline in one process (lib/video.h), %lu frames each after %d of warm-up\n", n, WARMUP);
    printf("# tx = encode + seal, rx = open + decode, one thread; every figure is the CPU time\n"
           "# a frame takes (fps = frames per CPU second, i.e. on one core; p50/p99 in ms),\n"
           "# except 'wall': e2e p99 by the clock, which also holds what else the machine ran;\n"
           "# e2e = tx + rx; seal/open: us per frame (one record a frame, as on a byte stream);\n"
           "# crypto = seal + open, as a share of a 33.3 ms frame (30 fps) and of the chain;\n"
           "# udp tx/rx: the same packet as 1400-byte datagrams with 20%% parity (split + parity\n"
           "# + seal; open + reassemble), us per frame, measured beside the chain\n");
    printf("%-9s %-5s %7s %6s %6s  %7s %6s %6s  %6s %6s %7s  %6s %6s %7s %7s  %6s %6s\n", "size", "codec", "tx fps",
           "p50", "p99", "rx fps", "p50", "p99", "e2e99", "wall", "kB/frm", "seal", "open", "%33ms", "%chain",
           "udp tx", "udp rx");
    for (int i = optind; i < argc; i++)
        for (int c = 0; c < nc; c++) run(argv[i], codecs[c], (size_t)n);
    return 0;
}
