/*
 * simpp-videnc - secure peer-to-peer video (paper 002, Fig. 5): frames in,
 * compressed with libavcodec (MJPEG as in the paper, or H.264), every packet
 * sealed with the stream key of an accepted /video invitation; and the
 * reverse: authenticate, decrypt, decode, YUV4MPEG2 out.  The record layer,
 * the erasure code and the codec wrapper are in lib/video.c; this file reads
 * and writes, paces, and judges.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "media.h"
#include "payload.h"
#include "util.h"
#include "video.h"

#define USAGE \
"usage: simpp-videnc -e -k keyfile [-I camera] [-c mjpeg|h264] [-q quality] [-g frames] [-s WxH -r fps]\n" \
"                    [-o -|file|udp:host:port]... [-m bytes] [-f percent] [-t seconds] [--no-pace]\n" \
"                    [--plain file] [-v]\n" \
"       simpp-videnc -d -k keyfile [-i -|file|udp:[host:]port] [-o -|file] [-w seconds] [-R fd] [-v]\n" \
"       simpp-videnc -x -k keyfile -l udp:[host:]port -p host:port... [-I camera|none] [-A microphone|none]\n" \
"                    [-o video.y4m] [-a audio.wav] [-c codec] [-q quality] [-s WxH] [-r fps] [-t seconds]\n" \
"                    [-w seconds] [-R fd] [--stats file] [-v]\n" \
"\n" \
"  -e          encode: YUV4MPEG2 (or raw yuv420p with -s and -r) on stdin, or a camera\n" \
"              with -I, sealed records out, under the key file's send key\n" \
"  -d          decode: records in, authenticated with the recv key, YUV4MPEG2 out\n" \
"  -x          call: camera and microphone sealed and sent to the peer, the peer's\n" \
"              picture and sound received on the same UDP port; ends when either\n" \
"              side hangs up (SIGINT, SIGTERM, -t)\n" \
"  -I camera   an FFmpeg input as FORMAT:URL: v4l2:/dev/video0 (the default with -x),\n" \
"              lavfi:testsrc2=size=640x480:rate=30, ...; none: send no video\n" \
"  -A mic      likewise for sound: alsa:default (the default), pulse:default,\n" \
"              lavfi:sine=frequency=440; none: send no sound (Opus, 20 ms packets)\n" \
"  -l local    -x: the UDP address to send from and receive on\n" \
"  -p peer     -x: where the peer receives, host:port (up to 8 candidates: all are\n" \
"              tried until the peer answers from one)\n" \
"  -a audio    -x: where the peer's sound goes: WAV (48 kHz, mono, 16-bit)\n" \
"  -t seconds  -e, -x: stop (hang up) after this long\n" \
"  --stats f   -x: a line per picture and audio packet sent and played, with\n" \
"              its time (CLOCK_MONOTONIC, microseconds): latency measurements\n" \
"  -k keyfile  the 0600 key file of an accepted invitation ($SIMPP_HOME/video/*.key)\n" \
"  -c codec    mjpeg (default, as in the paper) or h264 (libx264, low latency)\n" \
"  -q quality  mjpeg: JPEG quantiser 2 (best) to 31, default 3;\n" \
"              h264: constant rate factor 0 (best) to 51, default 23\n" \
"  -g frames   h264: frames between key frames (default: one second)\n" \
"  -s WxH      raw input of this size (yuv420p), with -r fps (N or N/D); with a\n" \
"              camera, the size and rate asked of it\n" \
"  -o out      where records go: - (stdout, default), a file, or udp:host:port\n" \
"              (datagrams; may be given up to 8 times); with -d and -x, where\n" \
"              YUV4MPEG2 goes\n" \
"  -i in       where records come from: - (stdin, default), a file, or udp:[host:]port\n" \
"  -m bytes    datagram size, 140 to 65507 (default 1400)\n" \
"  -f percent  parity fragments for datagrams, percent of a frame's fragments + 1\n" \
"              (default 20; 0 for none)\n" \
"  -w seconds  datagrams: give up after this long without one (default 10; 0 never)\n" \
"  -R fd       datagrams: write the bound port and a newline to fd when ready\n" \
"  -B bits/s   -x: the Opus bit rate (default 32000)\n" \
"  --no-pace   datagrams: send as fast as frames come, not at the frame rate\n" \
"  --plain f   also write the unencrypted codec packets to f (testing only)\n" \
"  -v          a line per frame on stderr, and libavcodec's warnings\n" \
"  -h, --help  this text;  -V, --version  the version\n"

#define MAXDEST 8

static struct {
    int mode, codec, quality, gop, verbose, nopace, readyfd, wait, secs, abitrate;
    const char *key, *in, *out[MAXDEST], *plain, *vin, *ain, *listen, *peer[MAXDEST], *aout, *stats;
    int nout, npeer;
    unsigned w, h;
    uint32_t fnum, fden;
    unsigned long dgram, fec;
} O = { .quality = -1, .readyfd = -1, .wait = 10, .dgram = VID_DGRAM_DEF, .fec = 20, .abitrate = 32000 };

static void usage(int code)
{
    fputs(USAGE, code ? stderr : stdout);
    exit(code);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* "udp:host:port", "udp:[v6]:port", or with bind "udp:port" */
static int udp_addr(const char *spec, int passive, struct sockaddr_storage *sa, socklen_t *salen)
{
    char host[256] = "", port[16];
    const char *s = spec + 4, *colon = strrchr(s, ':');
    struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV }, *res;
    if (colon) {
        size_t hl = (size_t)(colon - s);
        if (hl && s[0] == '[' && s[hl - 1] == ']') { s++; hl -= 2; }
        if (hl >= sizeof host) return -1;
        memcpy(host, s, hl);
        host[hl] = 0;
        s = colon + 1;
    } else if (!passive)
        return -1;
    if (strlen(s) >= sizeof port || !*s) return -1;
    strcpy(port, s);
    if (passive) hints.ai_flags |= AI_PASSIVE;
    if (getaddrinfo(*host ? host : NULL, port, &hints, &res) != 0) return -1;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static FILE *open_out(const char *path, int mode)
{
    int fd;
    FILE *f;
    if (!strcmp(path, "-")) return stdout;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 || !(f = fdopen(fd, "wb"))) die_sys(EX_CANTCREAT, "unable to write %s", path);
    return f;
}

/* ---- encode ------------------------------------------------------------------ */

static struct sink {
    FILE *f;                            /* the byte stream, or NULL */
    int n, fd[MAXDEST];
    struct sockaddr_storage sa[MAXDEST];
    socklen_t salen[MAXDEST];
    uint64_t dropped;                   /* datagrams the kernel would not send */
} K;

static int emit(void *ctx, const uint8_t *rec, size_t len)
{
    struct sink *s = ctx;
    if (s->f) {
        uint8_t l[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
        return fwrite(l, 1, 4, s->f) == 4 && fwrite(rec, 1, len, s->f) == len ? 0 : -1;
    }
    for (int i = 0; i < s->n; i++)
        while (sendto(s->fd[i], rec, len, 0, (struct sockaddr *)&s->sa[i], s->salen[i]) < 0) {
            if (errno == EINTR) continue;
            /* a datagram is allowed to go missing: the receiver copes */
            if (errno == ECONNREFUSED || errno == ENOBUFS || errno == EAGAIN || errno == EHOSTUNREACH ||
                errno == ENETUNREACH) { s->dropped++; break; }
            return -1;
        }
    return 0;
}

static void emit_or_die(int r)
{
    if (r < 0) die_sys(EX_IOERR, "unable to send the stream");
}

/* one line of at most cap-1 bytes; -1 at EOF before any byte */
static int read_line(FILE *in, char *buf, size_t cap)
{
    size_t n = 0;
    int c;
    while ((c = getc(in)) != EOF && c != '\n') {
        if (n + 1 >= cap) return -2;
        buf[n++] = (char)c;
    }
    if (c == EOF && n == 0) return -1;
    buf[n] = 0;
    return (int)n;
}

static struct {
    vid_enc *enc;
    struct vid_tx tx;
    struct vid_params p;
    FILE *plain;
    double t0;
    uint64_t frames, since_params;
} E;

static void send_params(int copies)
{
    /* datagrams: the header can be lost too; three copies to start with */
    for (int i = 0; i < copies; i++) emit_or_die(vid_tx_params(&E.tx, &E.p, emit, &K));
    E.since_params = 0;
}

static void drain(void)
{
    const uint8_t *d;
    size_t len;
    int64_t pts;
    int key, r;
    while ((r = vid_enc_packet(E.enc, &d, &len, &pts, &key)) > 0) {
        if (E.plain && fwrite(d, 1, len, E.plain) != len) die_sys(EX_IOERR, "unable to write %s", O.plain);
        if (len > VID_FRAME_MAX) {
            warnx("frame %lld: %zu bytes, more than a record holds: dropped", (long long)pts, len);
            continue;
        }
        if (!K.f) {
            /* a camera's pace, not a file's: a burst of a whole clip would
             * only overflow the receiver's socket buffer */
            double due = E.t0 + (double)pts * E.p.fps_den / E.p.fps_num, t = now();
            if (!O.nopace && due > t) {
                struct timespec ts = { (time_t)(due - t), (long)((due - t - (time_t)(due - t)) * 1e9) };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
            }
            if (key && E.since_params * E.p.fps_den >= E.p.fps_num) send_params(1);
        }
        uint64_t before = E.tx.records;
        if (vid_tx_frame(&E.tx, d, len, (uint64_t)pts, key, emit, &K) < 0) die_sys(EX_IOERR, "unable to send frame %lld", (long long)pts);
        if (K.f && fflush(K.f) == EOF) die_sys(EX_IOERR, "unable to write the stream");
        E.frames++;
        E.since_params++;
        if (O.verbose)
            fprintf(stderr, "%s: frame %lld%s %zu bytes, %llu records\n", progname, (long long)pts, key ? " key" : "",
                    len, (unsigned long long)(E.tx.records - before));
    }
    if (r < 0) die(EX_SOFTWARE, "the encoder failed at frame %llu", (unsigned long long)E.frames);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void catch_stop(void)
{
    struct sigaction act = { .sa_handler = on_signal };
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
}

/* the device's identity as the receiver shows it: the sender chose every
 * byte, so no control character or direction override reaches a terminal */
static void say_device(const char *what, const char *peer, const char *dev)
{
    char clean[VID_DEVID_MAX + 1];
    snprintf(clean, sizeof clean, "%s", dev);
    pl_clean(clean, strlen(clean));
    fprintf(stderr, "%s: %s from %s, device: %s\n", progname, what, peer, *clean ? clean : "(not named)");
}

/* -I: a camera (or any FFmpeg input) instead of stdin */
static vid_cap *open_camera(struct vid_params *p, struct vid_cap_info *ci)
{
    char err[512];
    struct vid_cap_want want = { .w = O.w, .h = O.h, .fps_num = O.fnum, .fps_den = O.fden };
    vid_cap *c = vid_cap_open(O.vin, 'v', &want, ci, err, sizeof err);
    if (!c) die(EX_NOINPUT, "camera: %s", err);
    *p = (struct vid_params){ .w = ci->w, .h = ci->h, .fps_num = ci->fps_num, .fps_den = ci->fps_den,
                              .interlace = 'p', .sar_num = 1, .sar_den = 1 };
    snprintf(p->chroma, sizeof p->chroma, "420jpeg");
    return c;
}

/* a captured picture's frame number: from the source's clock for a file or
 * a filter graph, from ours for a device (it keeps its own pace) */
static int64_t slot_of(const struct vid_params *p, int live, int64_t us, double t0)
{
    if (live) us = (int64_t)((now() - t0) * 1e6);
    return (us * (int64_t)p->fps_num + (int64_t)p->fps_den * 500000) / ((int64_t)p->fps_den * 1000000);
}

static int encode(struct vid_keys *k)
{
    char line[1024], err[256];
    FILE *in = stdin;
    size_t fb, got = 0;
    uint8_t *buf;
    uint64_t n = 0;
    int y4m = !O.w && !O.vin, r = 0;
    vid_cap *cam = NULL;
    struct vid_cap_info ci = { .device = "yuv4mpeg2 stdin" };

    setvbuf(in, NULL, _IOFBF, 1 << 20);
    if (O.vin) {
        cam = open_camera(&E.p, &ci);
    } else if (y4m) {
        r = read_line(in, line, sizeof line);
        if (r == -1) die(EX_DATAERR, "stdin: empty: expected a YUV4MPEG2 stream (or raw frames with -s and -r)");
        if (r < 0 || vid_y4m_parse(line, &E.p, err, sizeof err) < 0)
            die(EX_DATAERR, "stdin: %s (raw yuv420p frames need -s WxH -r fps)", r < 0 ? "not a YUV4MPEG2 stream" : err);
    } else {
        E.p = (struct vid_params){ .w = O.w, .h = O.h, .fps_num = O.fnum, .fps_den = O.fden, .interlace = 'p' };
    }
    E.p.codec = O.codec;
    if (O.quality < 0) O.quality = O.codec == VID_MJPEG ? 3 : 23;
    if (!O.gop) O.gop = (int)((E.p.fps_num + E.p.fps_den - 1) / E.p.fps_den);
    if (O.gop > 600) O.gop = 600;
    fb = vid_frame_bytes(&E.p);
    if (!(E.enc = vid_enc_open(&E.p, O.quality, O.gop, err, sizeof err))) die(EX_UNAVAILABLE, "%s", err);
    if (!(buf = malloc(fb))) die(EX_OSERR, "out of memory");

    if (K.n == 0) {
        K.f = open_out(O.nout ? O.out[0] : "-", 0666);
        setvbuf(K.f, NULL, _IOFBF, 1 << 20);
    }
    if (!O.vin && !y4m) snprintf(ci.device, sizeof ci.device, "yuv420p stdin");
    if (vid_tx_init_track(&E.tx, k, VID_TRACK_VIDEO, ci.device, K.f ? 0 : O.dgram, (unsigned)O.fec) < 0)
        die(EX_SOFTWARE, "unable to key the stream");
    vid_keys_wipe(k);                   /* the run key is all that is needed now */
    if (O.plain) E.plain = open_out(O.plain, 0600);

    send_params(K.f ? 1 : 3);
    E.t0 = now();
    catch_stop();
    for (int64_t last = -1; cam;) {
        const uint8_t *pic;
        int64_t us, slot;
        if (stop) break;
        if ((r = vid_cap_video(cam, &pic, &us)) < 0) die(EX_IOERR, "camera %s: unable to read a picture", O.vin);
        if (r == 0) break;
        if ((slot = slot_of(&E.p, ci.live, us, E.t0)) <= last) continue;
        /* -t: that much of the camera's time (a file's or a filter's too) */
        if (O.secs && (uint64_t)slot * E.p.fps_den >= (uint64_t)O.secs * E.p.fps_num) break;
        if (vid_enc_send(E.enc, pic, slot) < 0) die(EX_SOFTWARE, "the encoder refused frame %lld", (long long)slot);
        last = slot;
        n++;
        drain();
    }
    for (; !cam;) {
        if (stop || (O.secs && now() - E.t0 >= O.secs)) break;
        if (y4m) {
            r = read_line(in, line, sizeof line);
            if (r == -1) break;
            if (r < 0 || strncmp(line, "FRAME", 5) != 0 || (line[5] && line[5] != ' '))
                die(EX_DATAERR, "stdin: frame %llu: expected a FRAME line", (unsigned long long)n);
        }
        got = fread(buf, 1, fb, in);
        if (got == 0 && !y4m) break;
        if (got < fb) break;
        if (vid_enc_send(E.enc, buf, (int64_t)n) < 0) die(EX_SOFTWARE, "the encoder refused frame %llu", (unsigned long long)n);
        n++;
        drain();
    }
    if (ferror(in)) die_sys(EX_IOERR, "unable to read stdin");
    if (vid_enc_send(E.enc, NULL, 0) < 0) die(EX_SOFTWARE, "the encoder failed at the end");
    drain();
    for (int i = 0; i < (K.f ? 1 : 3); i++) emit_or_die(vid_tx_end(&E.tx, E.frames, emit, &K));
    if (K.f && (fflush(K.f) == EOF || ferror(K.f))) die_sys(EX_IOERR, "unable to write the stream");
    if (E.plain && fclose(E.plain) == EOF) die_sys(EX_IOERR, "unable to write %s", O.plain);
    if (O.verbose)
        fprintf(stderr, "%s: %llu frames, %llu records, %llu bytes sent%s\n", progname, (unsigned long long)E.frames,
                (unsigned long long)E.tx.records, (unsigned long long)E.tx.bytes, K.dropped ? " (some datagrams not sent)" : "");
    vid_enc_close(E.enc);
    vid_tx_free(&E.tx);
    vid_cap_close(cam);
    free(buf);
    /* a FRAME line with nothing after it is as cut short as half a frame */
    if (!cam && !stop && got < fb && (got || (y4m && r != -1)))
        die(EX_DATAERR, "stdin: frame %llu cut short (%zu of %zu bytes): not sent", (unsigned long long)n, got, fb);
    return 0;
}

/* ---- decode ------------------------------------------------------------------ */

static struct {
    struct vid_rx rx;
    struct vid_asm as;
    struct vid_params p;
    vid_dec *dec;
    FILE *out;
    uint8_t *pt;
    int stream, have_params, need_key, end_seen, said[16];
    int64_t last_pts;
    uint64_t nrec, cur, accepted, refused, delivered, shown, skipped, bad, end_frames, end_records;
    char peer[VID_JID_MAX + 1], sid[2 * VID_SID_LEN + 1];
} D = { .last_pts = -1 };

/* A byte stream is reliable, so anything refused means an attack or a
 * broken stream: stop there (as TLS does).  Datagrams may be forged by
 * anyone on the path: drop them, say why once, count them (as SRTP does). */
static void refuse(int err, const struct vid_hdr *h, const char *what)
{
    char why[VID_JID_MAX + 256], hex[2 * VID_SID_LEN + 1];
    D.refused++;
    if (what)
        snprintf(why, sizeof why, "%s", what);
    else if (err == VID_ESTREAM) {
        sc_hex_encode(h->stream, VID_SID_LEN, hex);
        snprintf(why, sizeof why, "foreign stream %s: the key file is for stream %s", hex, D.sid);
    } else if (err == VID_EDEVICE)
        snprintf(why, sizeof why, "foreign device: stream %s is not from %s", D.sid, D.peer);
    else if (err == VID_EREPLAY)
        snprintf(why, sizeof why, "replayed (sequence number %llu seen already, or too old)", (unsigned long long)h->seq);
    else snprintf(why, sizeof why, "%s", vid_strerror(err));
    if (D.stream) {
        if (!D.have_params && err == VID_EAUTH)
            die(EX_DATAERR, "stream header refused: %s", why);
        die(EX_DATAERR, "record %llu refused: %s", (unsigned long long)D.cur, why);
    }
    int slot = err < 0 ? -err : 15;
    if (!D.said[slot]) fprintf(stderr, "%s: refused datagrams: %s\n", progname, why);
    D.said[slot] = 1;
}

static void put_frame(const uint8_t *plane[3], const int stride[3])
{
    fputs("FRAME\n", D.out);
    for (int i = 0; i < 3; i++) {
        unsigned w = i ? D.p.w / 2 : D.p.w, h = i ? D.p.h / 2 : D.p.h;
        for (unsigned y = 0; y < h; y++)
            if (fwrite(plane[i] + (size_t)y * (size_t)stride[i], 1, w, D.out) != w) die_sys(EX_IOERR, "unable to write the video");
    }
    /* a player downstream shows it now, not when the buffer fills */
    if (fflush(D.out) == EOF) die_sys(EX_IOERR, "unable to write the video");
    D.shown++;
}

static void pictures(void)
{
    const uint8_t *plane[3];
    int stride[3], r;
    while ((r = vid_dec_frame(D.dec, plane, stride)) != 0) {
        if (r > 0) { put_frame(plane, stride); continue; }
        D.bad++;
        if (D.p.codec == VID_H264) D.need_key = 1;
    }
}

static void deliver(const uint8_t *f, size_t n, uint64_t pts, int key)
{
    D.delivered++;
    /* H.264 predicts from earlier frames: after a gap, nothing until the
     * next key frame, or the picture would be built on what was lost */
    if ((int64_t)pts != D.last_pts + 1 && D.p.codec == VID_H264) D.need_key = 1;
    D.last_pts = (int64_t)pts;
    if (D.need_key && !key) { D.skipped++; return; }
    D.need_key = 0;
    if (vid_dec_send(D.dec, f, n, (int64_t)pts) < 0) {
        D.bad++;
        if (D.p.codec == VID_H264) D.need_key = 1;
        return;
    }
    pictures();
    if (O.verbose) fprintf(stderr, "%s: frame %llu%s %zu bytes\n", progname, (unsigned long long)pts, key ? " key" : "", n);
}

static void start(const struct vid_params *p)
{
    char err[256], hdr[256];
    D.p = *p;
    if (!(D.dec = vid_dec_open(p, err, sizeof err))) die(EX_UNAVAILABLE, "%s", err);
    if (vid_y4m_header(p, hdr, sizeof hdr) < 0) die(EX_SOFTWARE, "YUV4MPEG2 header: internal error");
    if (fputs(hdr, D.out) == EOF || fflush(D.out) == EOF) die_sys(EX_IOERR, "unable to write the video");
    D.need_key = p->codec == VID_H264;
    D.have_params = 1;
}

static int same_params(const struct vid_params *a, const struct vid_params *b)
{
    uint8_t x[VID_PARAMS_LEN], y[VID_PARAMS_LEN];
    return vid_params_encode(a, x) == 0 && vid_params_encode(b, y) == 0 && !memcmp(x, y, sizeof x);
}

static void on_record(const uint8_t *rec, size_t n)
{
    struct vid_hdr h;
    struct vid_params p;
    const uint8_t *f;
    size_t pl, fl;
    char dev[VID_DEVID_MAX + 1];
    int r = vid_rx_open(&D.rx, rec, n, &h, D.pt, &pl);
    D.cur = D.nrec++;
    if (r != VID_OK) { refuse(r, &h, NULL); return; }
    if (D.end_seen) return;
    if (h.type != VID_T_END) D.accepted++;
    switch (h.type) {
    case VID_T_PARAMS:
        if (pl < VID_PARAMS_LEN || vid_params_decode(D.pt, VID_PARAMS_LEN, &p) < 0) {
            refuse(VID_EFORMAT, &h, "a stream header with parameters this program cannot use");
            return;
        }
        if ((r = vid_device_check(&h, D.pt + VID_PARAMS_LEN, pl - VID_PARAMS_LEN, dev)) != VID_OK) {
            refuse(r, &h, r == VID_EDEVICE ? "the stream header names another device than its run commits to"
                                           : "a stream header without a device identity");
            return;
        }
        if (!D.have_params) {
            start(&p);
            if (O.verbose) say_device("video", D.peer, dev);
        } else if (!same_params(&p, &D.p)) refuse(VID_EFORMAT, &h, "stream parameters changed in mid-stream");
        break;
    case VID_T_FRAME:
        if (!D.have_params) {
            if (D.stream) refuse(VID_EFORMAT, &h, "a frame before the stream header");
            return;
        }
        r = vid_asm_add(&D.as, &h, D.pt, pl, &f, &fl);
        if (r < 0) die(EX_OSERR, "out of memory");
        if (r > 0) deliver(f, fl, h.pts, h.flags & VID_F_KEY);
        break;
    case VID_T_END:
        if (pl != 16) { refuse(VID_EFORMAT, &h, "a bad end record"); return; }
        for (int i = 0; i < 8; i++) {
            D.end_frames = D.end_frames << 8 | D.pt[i];
            D.end_records = D.end_records << 8 | D.pt[8 + i];
        }
        D.end_seen = 1;
        break;
    }
}

static void read_stream(const char *path)
{
    FILE *in = stdin;
    uint8_t l[4], *rec = malloc(VID_RECORD_MAX);
    if (!rec) die(EX_OSERR, "out of memory");
    if (strcmp(path, "-") != 0) {
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || !(in = fdopen(fd, "rb"))) die_sys(EX_NOINPUT, "unable to read %s", path);
    }
    setvbuf(in, NULL, _IOFBF, 1 << 20);
    while (!D.end_seen) {
        size_t g = fread(l, 1, 4, in);
        if (g == 0 && !ferror(in)) break;
        if (g < 4) die(EX_DATAERR, "record %llu: the stream ends inside it", (unsigned long long)D.nrec);
        size_t len = (size_t)l[0] << 24 | (size_t)l[1] << 16 | (size_t)l[2] << 8 | l[3];
        if (len < VID_OVERHEAD || len > VID_RECORD_MAX)
            die(EX_DATAERR, D.nrec ? "record %llu: a length of %zu bytes: not a record" :
                "not a simpp-videnc stream (record %llu: a length of %zu bytes)", (unsigned long long)D.nrec, len);
        if (fread(rec, 1, len, in) != len) die(EX_DATAERR, "record %llu: the stream ends inside it", (unsigned long long)D.nrec);
        on_record(rec, len);
    }
    if (ferror(in)) die_sys(EX_IOERR, "unable to read %s", path);
    /* the end record closes the stream: nothing may follow it */
    if (D.end_seen && getc(in) != EOF) die(EX_DATAERR, "data after the end record");
    if (in != stdin) fclose(in);
    sc_zero(rec, VID_RECORD_MAX);
    free(rec);
}

static int read_udp(const char *spec)
{
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    uint8_t *dg = malloc(VID_DGRAM_MAX + 1);
    int fd, one = 1, big = 8 << 20, any = 0;
    if (!dg) die(EX_OSERR, "out of memory");
    if (udp_addr(spec, 1, &sa, &sl) < 0) die(EX_USAGE, "-i %s: expected udp:[host:]port", spec);
    if ((fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) die_sys(EX_OSERR, "socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* a key frame arrives as a burst of datagrams: room for several */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (bind(fd, (struct sockaddr *)&sa, sl) < 0) die_sys(EX_UNAVAILABLE, "unable to listen on %s", spec);
    if (O.readyfd >= 0) {
        sl = sizeof sa;
        getsockname(fd, (struct sockaddr *)&sa, &sl);
        unsigned port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                                 : ntohs(((struct sockaddr_in *)&sa)->sin_port);
        if (dprintf(O.readyfd, "%u\n", port) < 0) die_sys(EX_IOERR, "unable to write to fd %d", O.readyfd);
        close(O.readyfd);
    }
    catch_stop();
    while (!stop && !D.end_seen) {
        struct pollfd pf = { fd, POLLIN, 0 };
        int r = poll(&pf, 1, O.wait ? O.wait * 1000 : -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die_sys(EX_OSERR, "poll");
        if (r == 0) {
            if (!any) die(EX_UNAVAILABLE, "no video arrived on %s within %d s", spec, O.wait);
            fprintf(stderr, "%s: nothing for %d s and no end record: the sender stopped, or its end was lost\n",
                    progname, O.wait);
            break;
        }
        ssize_t n = recv(fd, dg, VID_DGRAM_MAX + 1, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ECONNREFUSED)) continue;
        if (n < 0) die_sys(EX_IOERR, "recv");
        any = 1;
        on_record(dg, (size_t)n);
    }
    close(fd);
    free(dg);
    return 0;
}

static int decode(struct vid_keys *k)
{
    const char *in = O.in ? O.in : "-";
    D.stream = strncmp(in, "udp:", 4) != 0;
    snprintf(D.peer, sizeof D.peer, "%s", k->peer);
    sc_hex_encode(k->stream, VID_SID_LEN, D.sid);
    vid_rx_init(&D.rx, k, D.stream);
    vid_keys_wipe(k);
    vid_asm_init(&D.as);
    if (!(D.pt = malloc(VID_RECORD_MAX))) die(EX_OSERR, "out of memory");
    D.out = open_out(O.nout ? O.out[0] : "-", 0666);
    setvbuf(D.out, NULL, _IOFBF, 1 << 20);
    signal(SIGPIPE, SIG_IGN);

    if (D.stream) read_stream(in);
    else read_udp(in);

    if (D.dec) {
        vid_dec_send(D.dec, NULL, 0, 0);
        pictures();
    }
    vid_asm_finish(&D.as);
    uint64_t sent = D.end_seen ? D.end_frames : (uint64_t)(D.last_pts + 1);
    uint64_t lost = sent > D.delivered ? sent - D.delivered : 0;
    char recs[64] = "";
    if (D.end_seen) snprintf(recs, sizeof recs, " of %llu", (unsigned long long)D.end_records);
    /* the drop report (stderr: stdout carries the video) */
    fprintf(stderr, "%s: %llu of %llu frames shown (%llu incomplete, %llu skipped until a key frame, %llu undecodable); "
            "%llu%s records arrived, %llu fragments rebuilt, %llu refused\n", progname,
            (unsigned long long)D.shown, (unsigned long long)sent, (unsigned long long)lost,
            (unsigned long long)D.skipped, (unsigned long long)D.bad, (unsigned long long)D.accepted, recs,
            (unsigned long long)D.as.rebuilt, (unsigned long long)D.refused);
    if (fclose(D.out) == EOF) die_sys(EX_IOERR, "unable to write the video");
    vid_dec_close(D.dec);
    vid_asm_free(&D.as);
    vid_rx_free(&D.rx);
    sc_zero(D.pt, VID_RECORD_MAX);
    free(D.pt);
    if (!D.have_params)
        die(EX_DATAERR, "no authentic stream from %s (%llu records refused)", D.peer, (unsigned long long)D.refused);
    if (D.stream && !D.end_seen)
        die(EX_DATAERR, "the stream was cut: no end record after %llu records", (unsigned long long)D.nrec);
    return 0;
}

/* ---- call -------------------------------------------------------------------
 * One process, one UDP socket: this side's camera and microphone sealed and
 * sent to the peer's address, the peer's tracks received, timed by one
 * playout clock (lip sync), and written out.  Threads: one per capture
 * input (each blocks on its device or sleeps to its source's pace, then
 * encodes, seals and sends), and the main one (receive, jitter buffer,
 * decode, playout, reports, hang-up). */

#define MAXCAND 8
#define NPIC    12                      /* decoded pictures waiting to be shown */
#define ABUF    64                      /* audio packets in the jitter buffer: 1.28 s */
#define FRAME_US 20000

static struct {
    int fd;
    pthread_mutex_t mu;
    struct sockaddr_storage cand[MAXCAND];
    socklen_t candlen[MAXCAND];
    int ncand, latched;                 /* the candidate the peer answers from, -1 none */
    double t0;
    atomic_int quit, level;
    pthread_mutex_t smu;
    FILE *stats;
    atomic_ullong dropped;
} C = { .latched = -1 };

static int64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void stat_line(const char *what, uint64_t pts, int64_t t)
{
    if (!C.stats) return;
    pthread_mutex_lock(&C.smu);
    fprintf(C.stats, "%s %llu %lld\n", what, (unsigned long long)pts, (long long)t);
    pthread_mutex_unlock(&C.smu);
}

static int call_emit(void *ctx, const uint8_t *rec, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&C.mu);
    for (int i = 0; i < C.ncand; i++) {
        if (C.latched >= 0 && i != C.latched) continue;
        while (sendto(C.fd, rec, len, 0, (struct sockaddr *)&C.cand[i], C.candlen[i]) < 0) {
            if (errno == EINTR) continue;
            C.dropped++;                /* a datagram may go missing: the receiver copes */
            break;
        }
    }
    pthread_mutex_unlock(&C.mu);
    return 0;
}

/* sleep until t (seconds on now()'s clock) or the end of the call */
static int sleep_until(double t)
{
    for (;;) {
        double d = t - now();
        if (C.quit) return -1;
        if (d <= 0) return 0;
        if (d > 0.05) d = 0.05;
        struct timespec ts = { 0, (long)(d * 1e9) };
        nanosleep(&ts, NULL);
    }
}

struct sender {
    const char *spec;
    vid_cap *cap;
    struct vid_cap_info ci;
    struct vid_tx tx;
    struct vid_params p;
    vid_enc *enc;
    vid_aenc *aenc;
    struct vid_aparams ap;
    pthread_t th;
    int running;
    uint64_t sent, late;
};
static struct sender SV, SA;

static void *video_sender(void *arg)
{
    struct sender *s = arg;
    int64_t last = -1, since = 0;
    int base = O.quality, worst = O.codec == VID_MJPEG ? 31 : 51, level = 0;
    for (int i = 0; i < 3; i++) vid_tx_params(&s->tx, &s->p, call_emit, NULL);
    while (!C.quit) {
        const uint8_t *pic, *d;
        int64_t us, slot, pts, ppts;
        size_t len;
        int key, r = vid_cap_video(s->cap, &pic, &us);
        if (r < 0) { warnx("camera %s: unable to read a picture: video stopped", s->spec); break; }
        if (r == 0) break;                  /* a file ended; the call goes on */
        if (!s->ci.live && sleep_until(C.t0 + (double)us / 1e6) < 0) break;
        /* a camera drops what its reader is too slow to take: a picture
         * more than a frame late is not sent late (that delay would stay) */
        if (!s->ci.live && now() - C.t0 - (double)us / 1e6 > (double)s->p.fps_den / s->p.fps_num) {
            s->late++;
            continue;
        }
        slot = slot_of(&s->p, s->ci.live, us, C.t0);
        if (slot <= last) continue;
        int lv = C.level;
        if (lv != level) { vid_enc_quality(s->enc, med_cc_quality(lv, base, worst)); level = lv; }
        /* MJPEG frames stand alone: the controller may drop some.  The
         * pts is the picture's slot for both codecs, the clock lip sync
         * and the jitter buffer go by: a camera that skips slots (too
         * slow a reader, or a webcam below its rate in dim light) leaves
         * gaps, which the receiver tells from losses by the records'
         * sequence numbers */
        if (O.codec == VID_MJPEG && slot % med_cc_divisor(level)) continue;
        pts = slot;
        last = slot;
        if (vid_enc_send(s->enc, pic, pts) < 0) { warnx("the encoder refused a picture: video stopped"); break; }
        while ((r = vid_enc_packet(s->enc, &d, &len, &ppts, &key)) > 0) {
            if (key && since * s->p.fps_den >= s->p.fps_num) {
                vid_tx_params(&s->tx, &s->p, call_emit, NULL);
                since = 0;
            }
            stat_line("tx-v", (uint64_t)ppts, (int64_t)(C.t0 * 1e6) + us);
            if (len <= VID_FRAME_MAX) vid_tx_frame(&s->tx, d, len, (uint64_t)ppts, key, call_emit, NULL);
            s->sent++;
            since++;
        }
        if (r < 0) { warnx("the encoder failed: video stopped"); break; }
    }
    return NULL;
}

static void *audio_sender(void *arg)
{
    struct sender *s = arg;
    int16_t acc[VID_AUDIO_FRAME];
    size_t have = 0;
    int64_t first = -1, nsent = 0;
    double hdr = 0;
    while (!C.quit) {
        const int16_t *pcm;
        size_t n;
        int64_t us;
        int r = vid_cap_audio(s->cap, &pcm, &n, &us);
        if (r < 0) { warnx("microphone %s: unable to read: audio stopped", s->spec); break; }
        if (r == 0) break;
        if (first < 0) {
            /* the shared clock: sample 0 of the call is C.t0 */
            int64_t at = s->ci.live ? (int64_t)((now() - C.t0) * 1e6) : us;
            first = at * VID_AUDIO_RATE / 1000000;
        }
        for (size_t i = 0; i < n && !C.quit; i++) {
            acc[have++] = pcm[i];
            if (have < VID_AUDIO_FRAME) continue;
            have = 0;
            int64_t pts = first + nsent * VID_AUDIO_FRAME;
            /* a frame is whole when its last sample was spoken */
            double end = C.t0 + (double)(pts + VID_AUDIO_FRAME) / VID_AUDIO_RATE;
            if (!s->ci.live && sleep_until(end) < 0) break;
            if (now() - hdr >= 1) {         /* again every second, for a header lost */
                /* three at the start, as the video's: without one the
                 * peer plays no sound until the next second's */
                for (int k = hdr == 0 ? 3 : 1; k > 0; k--) vid_tx_aparams(&s->tx, &s->ap, call_emit, NULL);
                hdr = now();
            }
            const uint8_t *pkt;
            size_t len;
            r = vid_aenc_frame(s->aenc, acc, &pkt, &len);
            if (r < 0) { warnx("the Opus encoder failed: audio stopped"); return NULL; }
            nsent++;
            if (r == 0) continue;
            stat_line("tx-a", (uint64_t)pts, (int64_t)(C.t0 * 1e6) + pts * 1000000 / VID_AUDIO_RATE);
            vid_tx_record(&s->tx, VID_T_AUDIO, (uint64_t)pts, pkt, len, call_emit, NULL);
            s->sent++;
        }
    }
    return NULL;
}

/* the receiving side */
struct pic { int used; int64_t s; uint64_t pts; uint8_t *b; };
struct apkt { int used; int64_t idx; size_t len; uint8_t d[VID_OPUS_MAX]; };
static struct {
    struct vid_rx rx[VID_TRACKS];
    uint64_t top[VID_TRACKS], prev_top[VID_TRACKS], got[VID_TRACKS], prev_got[VID_TRACKS];
    int seen[VID_TRACKS];
    struct vid_asm as;
    struct vid_params vp;
    vid_dec *vdec;
    int have_v, need_key;
    int64_t last_vpts;
    uint64_t vnext;                 /* the video record after the last frame's, if none was lost */
    struct vid_aparams ap;
    vid_adec *adec;
    int have_a;
    struct med_late late[2];
    struct pic pics[NPIC];
    uint8_t *cur;                       /* the picture on the screen */
    uint64_t cur_pts;
    int have_cur;
    struct apkt ab[ABUF];
    int64_t alast;
    FILE *vout, *aout;
    int64_t T0, delay, first_heard, last_heard;
    uint64_t vslots, ablocks;
    uint64_t shown, repeated, vlate, played, fec, plc, alate, skipped, inserted, bad, refused;
    int said[16], bye, vstarted;
    char peer[VID_JID_MAX + 1];
} Q = { .last_vpts = -1, .alast = -1 };

static int64_t vsent_us(uint64_t pts)
{
    return (int64_t)(pts * 1000000ull * Q.vp.fps_den / Q.vp.fps_num);
}

static int64_t play_base(void)
{
    int64_t b = INT64_MAX;
    for (int t = 0; t < 2; t++)
        if (Q.late[t].any && Q.late[t].base < b) b = Q.late[t].base;
    return b == INT64_MAX ? 0 : b;
}

static void call_refuse(int track, int err, const char *what)
{
    static const char *const name[] = { "video", "audio", "control" };
    int slot = err < 0 ? -err : 15;
    Q.refused++;
    if (Q.said[slot] & (1 << track)) return;
    Q.said[slot] |= 1 << track;
    if (err == VID_EREPLAY) what = "replayed (sequence number seen already, or too old)";
    fprintf(stderr, "%s: refused %s datagrams: %s\n", progname, track >= 0 ? name[track] : "unknown",
            what ? what : vid_strerror(err));
}

static void keep_picture(void)
{
    const uint8_t *plane[3];
    int stride[3], r;
    while ((r = vid_dec_frame(Q.vdec, plane, stride)) != 0) {
        if (r < 0) {
            Q.bad++;
            if (Q.vp.codec == VID_H264) Q.need_key = 1;
            continue;
        }
        int at = -1;
        for (int i = 0; i < NPIC; i++)
            if (!Q.pics[i].used && (at < 0)) at = i;
        if (at < 0) {                   /* full: the oldest goes */
            at = 0;
            for (int i = 1; i < NPIC; i++)
                if (Q.pics[i].s < Q.pics[at].s) at = i;
            Q.vlate++;
        }
        struct pic *p = &Q.pics[at];
        if (!p->b && !(p->b = malloc(vid_frame_bytes(&Q.vp)))) die(EX_OSERR, "out of memory");
        uint8_t *o = p->b;
        for (int i = 0; i < 3; i++) {
            unsigned w = i ? Q.vp.w / 2 : Q.vp.w, h = i ? Q.vp.h / 2 : Q.vp.h;
            for (unsigned y = 0; y < h; y++, o += w) memcpy(o, plane[i] + (size_t)y * (size_t)stride[i], w);
        }
        p->used = 1;
        p->pts = (uint64_t)Q.last_vpts;
        p->s = vsent_us(p->pts);
    }
}

/* a whole frame; its records were first .. first + k + r - 1 */
static void on_frame(const uint8_t *f, size_t n, uint64_t pts, int key, uint64_t first, uint64_t end, int64_t t)
{
    med_late_add(&Q.late[0], t, vsent_us(pts));
    /* H.264 pictures depend on the one before: a record missing between
     * the last frame's and this one's (a frame lost, not a slot the
     * camera skipped) means wait for a key frame */
    if (first != Q.vnext && Q.vp.codec == VID_H264) Q.need_key = 1;
    Q.vnext = end;
    Q.last_vpts = (int64_t)pts;
    if (Q.need_key && !key) return;
    Q.need_key = 0;
    if (vid_dec_send(Q.vdec, f, n, (int64_t)pts) < 0) {
        Q.bad++;
        if (Q.vp.codec == VID_H264) Q.need_key = 1;
        return;
    }
    keep_picture();
}

static void start_output(int64_t t)
{
    if (!Q.T0) Q.T0 = t + 60000;        /* the first play-out, a little after the first arrival */
}

static void call_record(const uint8_t *rec, size_t n, const struct sockaddr_storage *from, socklen_t fl, int64_t t)
{
    static uint8_t pt[VID_DGRAM_MAX];
    struct vid_hdr h;
    size_t pl;
    char dev[VID_DEVID_MAX + 1];
    int track = n >= 4 ? vid_track_of(rec[3]) : -1, r;
    if (track < 0) { call_refuse(-1, VID_EFORMAT, NULL); return; }
    if ((r = vid_rx_open(&Q.rx[track], rec, n, &h, pt, &pl)) != VID_OK) {
        if (r == VID_EDEVICE) call_refuse(track, r, "foreign device: not from the peer of this key file");
        else call_refuse(track, r, NULL);
        return;
    }
    /* authentic: the peer is there, and (if it is one of the candidates)
     * at this address */
    if (!Q.first_heard) Q.first_heard = t;
    Q.last_heard = t;
    if (!Q.seen[track]) Q.prev_top[track] = h.seq - 1;     /* loss counts from the first heard */
    if (!Q.seen[track] || h.seq > Q.top[track]) Q.top[track] = h.seq;
    Q.seen[track] = 1;
    Q.got[track]++;
    if (C.latched < 0) {
        pthread_mutex_lock(&C.mu);
        for (int i = 0; i < C.ncand; i++)
            if (C.candlen[i] == fl && !memcmp(&C.cand[i], from, fl)) C.latched = i;
        pthread_mutex_unlock(&C.mu);
    }
    switch (h.type) {
    case VID_T_PARAMS: {
        struct vid_params p;
        char err[256];
        if (h.seq == Q.vnext) Q.vnext++;        /* between two frames: no loss */
        if (Q.have_v) break;
        if (pl < VID_PARAMS_LEN || vid_params_decode(pt, VID_PARAMS_LEN, &p) < 0) {
            call_refuse(track, VID_EFORMAT, "a stream header with parameters this program cannot use");
            break;
        }
        if ((r = vid_device_check(&h, pt + VID_PARAMS_LEN, pl - VID_PARAMS_LEN, dev)) != VID_OK) {
            call_refuse(track, r, "a stream header naming another device than its run commits to");
            break;
        }
        if (!(Q.vdec = vid_dec_open(&p, err, sizeof err))) die(EX_UNAVAILABLE, "%s", err);
        Q.vp = p;
        Q.have_v = 1;
        Q.need_key = p.codec == VID_H264;
        if (!(Q.cur = calloc(1, vid_frame_bytes(&p)))) die(EX_OSERR, "out of memory");
        say_device("video", Q.peer, dev);
        break;
    }
    case VID_T_FRAME: {
        const uint8_t *f;
        size_t fl2;
        if (!Q.have_v) break;
        r = vid_asm_add(&Q.as, &h, pt, pl, &f, &fl2);
        if (r < 0) die(EX_OSERR, "out of memory");
        start_output(t);
        if (r > 0) on_frame(f, fl2, h.pts, h.flags & VID_F_KEY, h.seq - h.idx, h.seq - h.idx + h.k + h.r, t);
        break;
    }
    case VID_T_APARAMS: {
        struct vid_aparams a;
        char err[256];
        if (Q.have_a) break;
        if (pl < VID_APARAMS_LEN || vid_aparams_decode(pt, VID_APARAMS_LEN, &a) < 0 ||
            a.rate != VID_AUDIO_RATE || a.frame != VID_AUDIO_FRAME || a.channels != 1) {
            call_refuse(track, VID_EFORMAT, "an audio header this program cannot use");
            break;
        }
        if ((r = vid_device_check(&h, pt + VID_APARAMS_LEN, pl - VID_APARAMS_LEN, dev)) != VID_OK) {
            call_refuse(track, r, "an audio header naming another device than its run commits to");
            break;
        }
        if (!(Q.adec = vid_adec_open(a.channels, err, sizeof err))) die(EX_UNAVAILABLE, "%s", err);
        Q.ap = a;
        Q.have_a = 1;
        say_device("audio", Q.peer, dev);
        break;
    }
    case VID_T_AUDIO: {
        if (h.pts % VID_AUDIO_FRAME || pl > VID_OPUS_MAX || !pl) {
            call_refuse(track, VID_EFORMAT, "an audio packet of the wrong shape");
            break;
        }
        int64_t idx = (int64_t)(h.pts / VID_AUDIO_FRAME);
        med_late_add(&Q.late[1], t, idx * FRAME_US);
        start_output(t);
        if (Q.alast >= 0 && idx <= Q.alast) { Q.alate++; break; }
        struct apkt *a = &Q.ab[idx % ABUF];
        a->used = 1;
        a->idx = idx;
        a->len = pl;
        memcpy(a->d, pt, pl);
        break;
    }
    case VID_T_REPORT: {
        struct med_report rp;
        static struct med_cc cc;
        static int init;
        if (med_report_decode(pt, (unsigned)pl, &rp) < 0) { call_refuse(track, VID_EFORMAT, "a malformed report"); break; }
        if (!init) { med_cc_init(&cc, t); init = 1; }
        int lv = med_cc_report(&cc, t, rp.loss_pm, rp.queue_us);
        if (lv != C.level && O.verbose)
            fprintf(stderr, "%s: peer reports loss %u/1000, queue %u ms: sending at level %d\n", progname, rp.loss_pm,
                    rp.queue_us / 1000, lv);
        C.level = lv;
        break;
    }
    case VID_T_BYE:
        Q.bye = 1;
        break;
    default:
        break;
    }
}

static void write_picture(const uint8_t *b)
{
    if (!Q.vout) return;
    fputs("FRAME\n", Q.vout);
    if (fwrite(b, 1, vid_frame_bytes(&Q.vp), Q.vout) != vid_frame_bytes(&Q.vp) || fflush(Q.vout) == EOF)
        die_sys(EX_IOERR, "unable to write the video");
}

/* every picture slot due by t: the newest picture whose play time has come
 * (within half a frame), else the one before again */
static void play_video(int64_t t)
{
    if (!Q.have_v || !Q.T0) return;
    int64_t fr = (int64_t)(1000000ull * Q.vp.fps_den / Q.vp.fps_num), base = play_base();
    if (!Q.vstarted) {
        Q.vstarted = 1;
        char hdr[256];
        vid_y4m_header(&Q.vp, hdr, sizeof hdr);
        if (Q.vout && fputs(hdr, Q.vout) == EOF) die_sys(EX_IOERR, "unable to write the video");
        /* before the first picture: grey */
        memset(Q.cur, 16, (size_t)Q.vp.w * Q.vp.h);
        memset(Q.cur + (size_t)Q.vp.w * Q.vp.h, 128, vid_frame_bytes(&Q.vp) - (size_t)Q.vp.w * Q.vp.h);
    }
    while (Q.T0 + (int64_t)Q.vslots * fr <= t) {
        int64_t due = Q.T0 + (int64_t)Q.vslots * fr;
        int best = -1;
        for (int i = 0; i < NPIC; i++)
            if (Q.pics[i].used && Q.pics[i].s + base + Q.delay <= due + fr / 2 &&
                (best < 0 || Q.pics[i].s > Q.pics[best].s)) best = i;
        if (best >= 0) {
            for (int i = 0; i < NPIC; i++)
                if (Q.pics[i].used && Q.pics[i].s < Q.pics[best].s) { Q.pics[i].used = 0; Q.skipped++; }
            memcpy(Q.cur, Q.pics[best].b, vid_frame_bytes(&Q.vp));
            Q.pics[best].used = 0;
            Q.cur_pts = Q.pics[best].pts;
            Q.have_cur = 1;
            Q.shown++;
            stat_line("rx-v", Q.cur_pts, t);
        } else if (Q.have_cur)
            Q.repeated++;
        write_picture(Q.cur);
        Q.vslots++;
    }
}

static void write_wav_header(void)
{
    /* a stream of unknown length: the sizes say "as much as there is" */
    static const uint8_t h[44] = {
        'R', 'I', 'F', 'F', 0xff, 0xff, 0xff, 0xff, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' ', 16, 0, 0, 0, 1, 0, 1, 0,
        0x80, 0xbb, 0, 0, 0x00, 0x77, 1, 0, 2, 0, 16, 0, 'd', 'a', 't', 'a', 0xff, 0xff, 0xff, 0xff,
    };
    if (fwrite(h, 1, sizeof h, Q.aout) != sizeof h) die_sys(EX_IOERR, "unable to write the audio");
}

static void play_audio(int64_t t)
{
    int16_t out[VID_AUDIO_FRAME];
    if (!Q.T0) return;
    while (Q.T0 + (int64_t)Q.ablocks * FRAME_US <= t) {
        int64_t due = Q.T0 + (int64_t)Q.ablocks * FRAME_US;
        memset(out, 0, sizeof out);
        if (Q.have_a && Q.late[1].any) {
            /* the packets' sender times lag their first sample by pre-skip */
            int64_t base = play_base() - (int64_t)Q.ap.preskip * 1000000 / VID_AUDIO_RATE;
            int64_t idx = med_pick(Q.alast, due, base, Q.delay, FRAME_US);
            if (Q.alast < 0 && idx < 0) {
                /* the call's first sound is not due yet (a playout delay
                 * grown past the time since the first record): silence */
            } else if (Q.alast >= 0 && idx == Q.alast) {
                vid_adec_frame(Q.adec, NULL, 0, 0, out, VID_AUDIO_FRAME);
                Q.inserted++;
            } else {
                for (int64_t i = Q.alast < 0 ? idx : Q.alast + 1; i < idx; i++) {
                    if (Q.ab[i % ABUF].used && Q.ab[i % ABUF].idx == i) Q.ab[i % ABUF].used = 0;
                    Q.skipped++;
                }
                struct apkt *a = &Q.ab[idx % ABUF], *nx = &Q.ab[(idx + 1) % ABUF];
                int played = 0;
                if (a->used && a->idx == idx) {
                    played = vid_adec_frame(Q.adec, a->d, a->len, 0, out, VID_AUDIO_FRAME) >= 0;
                    a->used = 0;
                    if (played) { Q.played++; stat_line("rx-a", (uint64_t)idx * VID_AUDIO_FRAME, t); }
                } else if (Q.alast >= 0 && nx->used && nx->idx == idx + 1) {
                    /* lost, but the next packet carries a coarse copy */
                    vid_adec_frame(Q.adec, nx->d, nx->len, 1, out, VID_AUDIO_FRAME);
                    Q.fec++;
                } else if (Q.alast >= 0) {
                    vid_adec_frame(Q.adec, NULL, 0, 0, out, VID_AUDIO_FRAME);
                    Q.plc++;
                }
                Q.alast = idx;
            }
        }
        if (Q.aout) {
            if (Q.ablocks == 0) write_wav_header();
            uint8_t le[sizeof out];
            for (int i = 0; i < VID_AUDIO_FRAME; i++) {
                le[2 * i] = (uint8_t)((uint16_t)out[i] & 0xff);
                le[2 * i + 1] = (uint8_t)((uint16_t)out[i] >> 8);
            }
            if (fwrite(le, 1, sizeof le, Q.aout) != sizeof le || fflush(Q.aout) == EOF)
                die_sys(EX_IOERR, "unable to write the audio");
        }
        Q.ablocks++;
    }
}

/* the playout delay follows the lateness of both tracks */
static void adapt_delay(int64_t t)
{
    int64_t base = play_base(), la = 0, lv = 0;
    if (Q.late[1].any) la = Q.late[1].base - base + med_late_max(&Q.late[1], t);
    if (Q.late[0].any) lv = Q.late[0].base - base + med_late_max(&Q.late[0], t);
    Q.delay = med_follow(Q.delay, med_target(la, lv, 10000, 20000, 400000), 1000);
}

static void send_report(struct vid_tx *ctl, int64_t t)
{
    struct med_report r = { 0 };
    uint64_t exp = 0, got = 0;
    for (int i = 0; i < 2; i++) {
        if (!Q.seen[i]) continue;
        exp += Q.top[i] - Q.prev_top[i];
        got += Q.got[i] - Q.prev_got[i];
        Q.prev_top[i] = Q.top[i];
        Q.prev_got[i] = Q.got[i];
    }
    r.loss_pm = exp > got && exp ? (uint32_t)((exp - got) * 1000 / exp) : 0;
    int64_t q = Q.late[1].any ? med_late_max(&Q.late[1], t) : Q.late[0].any ? med_late_max(&Q.late[0], t) : 0;
    r.queue_us = (uint32_t)(q > 0 ? q : 0);
    r.jitter_us = (uint32_t)(Q.late[1].any ? Q.late[1].jitter : Q.late[0].jitter);
    r.delay_us = (uint32_t)Q.delay;
    uint8_t b[MED_REPORT_LEN];
    med_report_encode(&r, b);
    vid_tx_record(ctl, VID_T_REPORT, 0, b, sizeof b, call_emit, NULL);
}

static int start_sender(struct sender *s, int kind, const struct vid_keys *k)
{
    char err[512];
    struct vid_cap_want want = { .w = O.w, .h = O.h, .fps_num = O.fnum, .fps_den = O.fden,
                                 .rate = VID_AUDIO_RATE, .channels = 1 };
    if (!s->spec || !strcmp(s->spec, "none")) return 0;
    if (!(s->cap = vid_cap_open(s->spec, kind, &want, &s->ci, err, sizeof err)))
        die(EX_NOINPUT, "%s: %s", kind == 'v' ? "camera" : "microphone", err);
    if (kind == 'v') {
        s->p = (struct vid_params){ .codec = O.codec, .w = s->ci.w, .h = s->ci.h, .fps_num = s->ci.fps_num,
                                    .fps_den = s->ci.fps_den, .interlace = 'p', .sar_num = 1, .sar_den = 1 };
        snprintf(s->p.chroma, sizeof s->p.chroma, "420jpeg");
        if (!(s->enc = vid_enc_open(&s->p, O.quality, O.gop ? O.gop : (int)((s->p.fps_num + s->p.fps_den - 1) / s->p.fps_den),
                                    err, sizeof err)))
            die(EX_UNAVAILABLE, "%s", err);
    } else {
        if (!(s->aenc = vid_aenc_open(1, O.abitrate, 10, err, sizeof err))) die(EX_UNAVAILABLE, "%s", err);
        s->ap = (struct vid_aparams){ .codec = 1, .channels = 1, .frame = VID_AUDIO_FRAME, .rate = VID_AUDIO_RATE,
                                      .preskip = (unsigned)vid_aenc_delay(s->aenc) };
    }
    if (vid_tx_init_track(&s->tx, k, kind == 'v' ? VID_TRACK_VIDEO : VID_TRACK_AUDIO, s->ci.device,
                          O.dgram, (unsigned)O.fec) < 0)
        die(EX_SOFTWARE, "unable to key the %s track", kind == 'v' ? "video" : "audio");
    if (O.verbose) fprintf(stderr, "%s: %s: %s\n", progname, kind == 'v' ? "camera" : "microphone", s->ci.device);
    return 1;
}

static void bind_call(const char *spec)
{
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    int one = 1, big = 8 << 20;
    if (udp_addr(spec, 1, &sa, &sl) < 0) die(EX_USAGE, "-l %s: expected udp:[host:]port", spec);
    if ((C.fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) die_sys(EX_OSERR, "socket");
    setsockopt(C.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(C.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(C.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(C.fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (bind(C.fd, (struct sockaddr *)&sa, sl) < 0) die_sys(EX_UNAVAILABLE, "unable to listen on %s", spec);
    if (O.readyfd >= 0) {
        sl = sizeof sa;
        getsockname(C.fd, (struct sockaddr *)&sa, &sl);
        unsigned port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                                 : ntohs(((struct sockaddr_in *)&sa)->sin_port);
        if (dprintf(O.readyfd, "%u\n", port) < 0) die_sys(EX_IOERR, "unable to write to fd %d", O.readyfd);
        close(O.readyfd);
    }
    for (int i = 0; i < O.npeer; i++) {
        char one_spec[300];
        snprintf(one_spec, sizeof one_spec, "udp:%s", O.peer[i] + (strncmp(O.peer[i], "udp:", 4) ? 0 : 4));
        if (udp_addr(one_spec, 0, &C.cand[C.ncand], &C.candlen[C.ncand]) < 0)
            die(EX_USAGE, "-p %s: expected udp:host:port", O.peer[i]);
        C.ncand++;
    }
}

static int call(struct vid_keys *k)
{
    struct vid_tx ctl;
    uint8_t *dg = malloc(VID_DGRAM_MAX + 1);
    int64_t t, next_report, started;
    int rc = 0;
    if (!dg) die(EX_OSERR, "out of memory");
    pthread_mutex_init(&C.mu, NULL);
    pthread_mutex_init(&C.smu, NULL);
    snprintf(Q.peer, sizeof Q.peer, "%s", k->peer);
    bind_call(O.listen);
    if (O.stats && !(C.stats = open_out(O.stats, 0644))) die_sys(EX_CANTCREAT, "unable to write %s", O.stats);
    if (O.nout && !(Q.vout = open_out(O.out[0], 0666))) die_sys(EX_CANTCREAT, "unable to write %s", O.out[0]);
    if (O.aout && !(Q.aout = open_out(O.aout, 0666))) die_sys(EX_CANTCREAT, "unable to write %s", O.aout);
    if (Q.vout) setvbuf(Q.vout, NULL, _IOFBF, 1 << 20);
    for (int i = 0; i < VID_TRACKS; i++) vid_rx_init_track(&Q.rx[i], k, i, 0);
    vid_asm_init(&Q.as);
    med_late_init(&Q.late[0]);
    med_late_init(&Q.late[1]);
    Q.delay = 40000;
    if (O.quality < 0) O.quality = O.codec == VID_MJPEG ? 3 : 23;
    SV.spec = O.vin;
    SA.spec = O.ain;
    start_sender(&SV, 'v', k);
    start_sender(&SA, 'a', k);
    if (vid_tx_init_track(&ctl, k, VID_TRACK_CTRL, NULL, O.dgram, 0) < 0) die(EX_SOFTWARE, "unable to key the control track");
    vid_keys_wipe(k);
    catch_stop();
    C.t0 = now();
    started = mono_us();
    next_report = started + 500000;
    if (SV.cap) { if (pthread_create(&SV.th, NULL, video_sender, &SV)) die(EX_OSERR, "unable to start a thread"); SV.running = 1; }
    if (SA.cap) { if (pthread_create(&SA.th, NULL, audio_sender, &SA)) die(EX_OSERR, "unable to start a thread"); SA.running = 1; }

    for (;;) {
        t = mono_us();
        if (stop || (O.secs && t - started >= (int64_t)O.secs * 1000000) || Q.bye) break;
        if (O.wait && !Q.first_heard && t - started > (int64_t)O.wait * 1000000) {
            fprintf(stderr, "%s: no answer from %s within %d s\n", progname, Q.peer, O.wait);
            rc = EX_UNAVAILABLE;
            break;
        }
        if (O.wait && Q.first_heard && t - Q.last_heard > (int64_t)O.wait * 1000000) {
            fprintf(stderr, "%s: %s went silent for %d s without hanging up: the call is over\n", progname, Q.peer, O.wait);
            rc = EX_UNAVAILABLE;
            break;
        }
        adapt_delay(t);
        play_audio(t);
        play_video(t);
        if (t >= next_report) {
            if (Q.first_heard) send_report(&ctl, t);
            next_report += 500000;
        }
        /* wake for the next audio block, picture, report, or datagram */
        int64_t wake = next_report;
        if (Q.T0) {
            int64_t a = Q.T0 + (int64_t)Q.ablocks * FRAME_US;
            if (a < wake) wake = a;
            if (Q.have_v) {
                int64_t v = Q.T0 + (int64_t)(Q.vslots * 1000000ull * Q.vp.fps_den / Q.vp.fps_num);
                if (v < wake) wake = v;
            }
        }
        int ms = (int)((wake - t + 999) / 1000);
        struct pollfd pf = { C.fd, POLLIN, 0 };
        int r = poll(&pf, 1, ms < 0 ? 0 : ms > 200 ? 200 : ms);
        if (r < 0 && errno != EINTR) die_sys(EX_OSERR, "poll");
        while (r > 0) {
            struct sockaddr_storage from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(C.fd, dg, VID_DGRAM_MAX + 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
            if (n < 0) break;
            call_record(dg, (size_t)n, &from, fl, mono_us());
        }
    }
    /* hang up: both directions end; the bye goes three times (it may be lost) */
    C.quit = 1;
    if (!Q.bye && rc == 0)
        for (int i = 0; i < 3; i++) {
            vid_tx_record(&ctl, VID_T_BYE, 0, "\0", 1, call_emit, NULL);
            struct timespec ts = { 0, 20000000 };
            nanosleep(&ts, NULL);
        }
    if (SV.running) pthread_join(SV.th, NULL);
    if (SA.running) pthread_join(SA.th, NULL);
    double secs = (double)(mono_us() - started) / 1e6;
    if (Q.bye) fprintf(stderr, "%s: %s hung up\n", progname, Q.peer);
    if (SV.late) fprintf(stderr, "%s: %llu pictures dropped: the camera was read too late\n", progname, (unsigned long long)SV.late);
    fprintf(stderr, "%s: call with %s, %.1f s: sent %llu pictures, %llu audio packets; video: %llu pictures shown, "
            "%llu slots repeated; audio: %llu packets played, %llu rebuilt by FEC, %llu concealed, %llu late; "
            "delay %lld ms; %llu datagrams refused\n", progname, Q.peer, secs, (unsigned long long)SV.sent,
            (unsigned long long)SA.sent, (unsigned long long)Q.shown, (unsigned long long)Q.repeated,
            (unsigned long long)Q.played, (unsigned long long)Q.fec, (unsigned long long)Q.plc,
            (unsigned long long)Q.alate, (long long)(Q.delay / 1000), (unsigned long long)Q.refused);
    if (Q.vout && fclose(Q.vout) == EOF) die_sys(EX_IOERR, "unable to write the video");
    if (Q.aout && fclose(Q.aout) == EOF) die_sys(EX_IOERR, "unable to write the audio");
    if (C.stats) fclose(C.stats);
    vid_cap_close(SV.cap);
    vid_cap_close(SA.cap);
    vid_enc_close(SV.enc);
    vid_aenc_close(SA.aenc);
    vid_tx_free(&SV.tx);
    vid_tx_free(&SA.tx);
    vid_tx_free(&ctl);
    vid_dec_close(Q.vdec);
    vid_adec_close(Q.adec);
    vid_asm_free(&Q.as);
    for (int i = 0; i < VID_TRACKS; i++) vid_rx_free(&Q.rx[i]);
    for (int i = 0; i < NPIC; i++) free(Q.pics[i].b);
    free(Q.cur);
    free(dg);
    close(C.fd);
    return rc;
}

/* ---- main -------------------------------------------------------------------- */

static void setup_udp_out(void)
{
    int big = 4 << 20;
    for (int i = 0; i < O.nout; i++) {
        if (strncmp(O.out[i], "udp:", 4) != 0) die(EX_USAGE, "-o %s: with datagrams, every -o is udp:host:port", O.out[i]);
        if (udp_addr(O.out[i], 0, &K.sa[i], &K.salen[i]) < 0) die(EX_USAGE, "-o %s: expected udp:host:port", O.out[i]);
        if ((K.fd[i] = socket(K.sa[i].ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) die_sys(EX_OSERR, "socket");
        setsockopt(K.fd[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        K.n++;
    }
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
        { "plain", required_argument, NULL, 'P' }, { "no-pace", no_argument, NULL, 'N' },
        { "stats", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    struct vid_keys keys;
    char err[256];
    unsigned long v;
    int opt, r, enc_only = 0, dec_only = 0, call_only = 0;

    util_setprog(argv[0]);
    while ((opt = getopt_long(argc, argv, "edxk:c:q:g:s:r:o:i:m:f:w:R:I:A:l:p:a:t:B:vhV", lo, NULL)) != -1) {
        switch (opt) {
        case 'e': case 'd': case 'x':
            if (O.mode && O.mode != opt) die(EX_USAGE, "-e, -d and -x: one of them");
            O.mode = opt; break;
        case 'k': O.key = optarg; break;
        case 'c':
            if (!(O.codec = vid_codec_from_name(optarg))) die(EX_USAGE, "-c %s: mjpeg or h264", optarg);
            enc_only = 1; break;
        case 'q':
            if (parse_ulong(optarg, 0, 51, &v) < 0) die(EX_USAGE, "-q %s: a number, 2-31 (mjpeg) or 0-51 (h264)", optarg);
            O.quality = (int)v; enc_only = 1; break;
        case 'g':
            if (parse_ulong(optarg, 1, 600, &v) < 0) die(EX_USAGE, "-g %s: 1 to 600 frames", optarg);
            O.gop = (int)v; enc_only = 1; break;
        case 's': {
            unsigned w, h;
            char c;
            if (sscanf(optarg, "%ux%u%c", &w, &h, &c) != 2 || w < 16 || h < 16 || w > 8192 || h > 8192 || (w & 1) || (h & 1))
                die(EX_USAGE, "-s %s: WxH, even, 16 to 8192", optarg);
            O.w = w; O.h = h; enc_only = 1; break;
        }
        case 'r': {
            unsigned a, b = 1;
            char c;
            int n = sscanf(optarg, "%u/%u%c", &a, &b, &c);
            if ((n != 1 && n != 2) || !a || !b || a > 1000000 || b > 1000000) die(EX_USAGE, "-r %s: fps as N or N/D", optarg);
            O.fnum = a; O.fden = b; enc_only = 1; break;
        }
        case 'o':
            if (O.nout == MAXDEST) die(EX_USAGE, "-o: at most %d", MAXDEST);
            O.out[O.nout++] = optarg; break;
        case 'i': O.in = optarg; dec_only = 1; break;
        case 'm':
            if (parse_ulong(optarg, VID_OVERHEAD + 64, VID_DGRAM_MAX, &O.dgram) < 0)
                die(EX_USAGE, "-m %s: %d to %d bytes", optarg, VID_OVERHEAD + 64, VID_DGRAM_MAX);
            enc_only = 1; break;
        case 'f':
            if (parse_ulong(optarg, 0, 100, &O.fec) < 0) die(EX_USAGE, "-f %s: 0 to 100 percent", optarg);
            enc_only = 1; break;
        case 'w':
            if (parse_ulong(optarg, 0, 86400, &v) < 0) die(EX_USAGE, "-w %s: seconds", optarg);
            O.wait = (int)v; dec_only = 1; break;
        case 'R':
            if (parse_ulong(optarg, 3, 1023, &v) < 0) die(EX_USAGE, "-R %s: a file descriptor, 3 or more", optarg);
            O.readyfd = (int)v; dec_only = 1; break;
        case 'P': O.plain = optarg; enc_only = 1; break;
        case 'I': O.vin = optarg; break;
        case 'A': O.ain = optarg; call_only = 1; break;
        case 'l': O.listen = optarg; call_only = 1; break;
        case 'p':
            if (O.npeer == MAXDEST) die(EX_USAGE, "-p: at most %d", MAXDEST);
            O.peer[O.npeer++] = optarg; call_only = 1; break;
        case 'a': O.aout = optarg; call_only = 1; break;
        case 'S': O.stats = optarg; call_only = 1; break;
        case 't':
            if (parse_ulong(optarg, 1, 86400, &v) < 0) die(EX_USAGE, "-t %s: seconds, 1 to 86400", optarg);
            O.secs = (int)v; break;
        case 'B':
            if (parse_ulong(optarg, 6000, 510000, &v) < 0) die(EX_USAGE, "-B %s: 6000 to 510000 bit/s", optarg);
            O.abitrate = (int)v; call_only = 1; break;
        case 'N': O.nopace = 1; enc_only = 1; break;
        case 'v': O.verbose = 1; break;
        case 'h': usage(0); break;
        case 'V': print_version(); break;
        default: usage(EX_USAGE);
        }
    }
    if (optind != argc || !O.mode) usage(EX_USAGE);
    if (!O.key) die(EX_USAGE, "-k keyfile: the key file of an accepted video invitation");
    if (O.mode == 'x') {
        if (O.in || O.plain || O.nopace) die(EX_USAGE, "-i, --plain and --no-pace are not for -x");
        if (!O.listen || !O.npeer) die(EX_USAGE, "-x needs -l udp:[host:]port (here) and -p host:port (the peer)");
        if (O.nout > 1) die(EX_USAGE, "-x writes one video: one -o");
        if (!O.vin) O.vin = "v4l2:/dev/video0";
        if (!O.ain) O.ain = "alsa:default";
        if (!O.codec) O.codec = VID_MJPEG;
        if (O.quality >= 0 && O.codec == VID_MJPEG && (O.quality < 2 || O.quality > 31))
            die(EX_USAGE, "-q %d: the JPEG quantiser is 2 to 31", O.quality);
        if (!!O.w != !!O.h || (O.w && (O.w & 1))) die(EX_USAGE, "-s: WxH, even");
    } else if (call_only)
        die(EX_USAGE, "-A, -l, -p, -a, -B and --stats are for -x");
    if (O.mode == 'e' && dec_only) die(EX_USAGE, "-i, -w and -R are for -d");
    if (O.mode == 'd' && (enc_only || O.vin || O.secs)) die(EX_USAGE, "-c, -q, -g, -s, -r, -m, -f, -I, -t, --plain and --no-pace are for -e");
    if (O.mode != 'x' && !O.vin && !!O.w != !!O.fnum) die(EX_USAGE, "raw input needs both -s WxH and -r fps");
    if (!O.codec) O.codec = VID_MJPEG;
    if (O.quality >= 0 && O.codec == VID_MJPEG && (O.quality < 2 || O.quality > 31))
        die(EX_USAGE, "-q %d: the JPEG quantiser is 2 to 31", O.quality);
    if (O.mode == 'd' && O.nout > 1) die(EX_USAGE, "-d writes one video: one -o");
    if (O.mode == 'e' && O.nout && !strncmp(O.out[0], "udp:", 4)) setup_udp_out();
    else if (O.mode == 'e' && O.nout > 1) die(EX_USAGE, "more than one -o: only for udp:host:port");

    if (sc_init() < 0) die(EX_SOFTWARE, "crypto: unable to initialise");
    r = vid_keys_load(O.key, &keys, err, sizeof err);
    if (r == VIDK_EOPEN) die(EX_NOINPUT, "unable to read key file %s: %s", O.key, err);
    if (r == VIDK_EMODE) die(EX_NOPERM, "key file %s: %s", O.key, err);
    if (r != VIDK_OK) die(EX_DATAERR, "key file %s: %s", O.key, err);
    vid_av_log(O.verbose);
    signal(SIGPIPE, SIG_IGN);
    return O.mode == 'e' ? encode(&keys) : O.mode == 'd' ? decode(&keys) : call(&keys);
}
