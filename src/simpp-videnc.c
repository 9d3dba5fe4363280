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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "util.h"
#include "video.h"

#define USAGE \
"usage: simpp-videnc -e -k keyfile [-c mjpeg|h264] [-q quality] [-g frames] [-s WxH -r fps]\n" \
"                    [-o -|file|udp:host:port]... [-m bytes] [-f percent] [--no-pace] [--plain file] [-v]\n" \
"       simpp-videnc -d -k keyfile [-i -|file|udp:[host:]port] [-o -|file] [-w seconds] [-R fd] [-v]\n" \
"\n" \
"  -e          encode: YUV4MPEG2 (or raw yuv420p with -s and -r) on stdin, sealed\n" \
"              records out, under the key file's send key\n" \
"  -d          decode: records in, authenticated with the recv key, YUV4MPEG2 out\n" \
"  -k keyfile  the 0600 key file of an accepted invitation ($SIMPP_HOME/video/*.key)\n" \
"  -c codec    mjpeg (default, as in the paper) or h264 (libx264, low latency)\n" \
"  -q quality  mjpeg: JPEG quantiser 2 (best) to 31, default 3;\n" \
"              h264: constant rate factor 0 (best) to 51, default 23\n" \
"  -g frames   h264: frames between key frames (default: one second)\n" \
"  -s WxH      raw input of this size (yuv420p), with -r fps (N or N/D)\n" \
"  -o out      where records go: - (stdout, default), a file, or udp:host:port\n" \
"              (datagrams; may be given up to 8 times); with -d, where YUV4MPEG2 goes\n" \
"  -i in       where records come from: - (stdin, default), a file, or udp:[host:]port\n" \
"  -m bytes    datagram size, 140 to 65507 (default 1400)\n" \
"  -f percent  parity fragments for datagrams, percent of a frame's fragments + 1\n" \
"              (default 20; 0 for none)\n" \
"  -w seconds  datagrams: give up after this long without one (default 10; 0 never)\n" \
"  -R fd       datagrams: write the bound port and a newline to fd when ready\n" \
"  --no-pace   datagrams: send as fast as frames come, not at the frame rate\n" \
"  --plain f   also write the unencrypted codec packets to f (testing only)\n" \
"  -v          a line per frame on stderr, and libavcodec's warnings\n" \
"  -h, --help  this text;  -V, --version  the version\n"

#define MAXDEST 8

static struct {
    int mode, codec, quality, gop, verbose, nopace, readyfd, wait;
    const char *key, *in, *out[MAXDEST], *plain;
    int nout;
    unsigned w, h;
    uint32_t fnum, fden;
    unsigned long dgram, fec;
} O = { .quality = -1, .readyfd = -1, .wait = 10, .dgram = VID_DGRAM_DEF, .fec = 20 };

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

static int encode(struct vid_keys *k)
{
    char line[1024], err[256];
    FILE *in = stdin;
    size_t fb, got = 0;
    uint8_t *buf;
    uint64_t n = 0;
    int y4m = !O.w, r = 0;

    setvbuf(in, NULL, _IOFBF, 1 << 20);
    if (y4m) {
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
    if (vid_tx_init(&E.tx, k, K.f ? 0 : O.dgram, (unsigned)O.fec) < 0) die(EX_SOFTWARE, "unable to key the stream");
    vid_keys_wipe(k);                   /* the run key is all that is needed now */
    if (O.plain) E.plain = open_out(O.plain, 0600);

    send_params(K.f ? 1 : 3);
    E.t0 = now();
    for (;;) {
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
    free(buf);
    /* a FRAME line with nothing after it is as cut short as half a frame */
    if (got < fb && (got || (y4m && r != -1)))
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

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* A byte stream is reliable, so anything refused means an attack or a
 * broken stream: stop there (as TLS does).  Datagrams may be forged by
 * anyone on the path: drop them, say why once, count them (as SRTP does). */
static void refuse(int err, const struct vid_hdr *h, const char *what)
{
    char why[VID_JID_MAX + 256], hex[2 * VID_SID_LEN + 1];
    D.refused++;
    if (err == VID_ESTREAM) {
        sc_hex_encode(h->stream, VID_SID_LEN, hex);
        snprintf(why, sizeof why, "foreign stream %s: the key file is for stream %s", hex, D.sid);
    } else if (err == VID_EDEVICE)
        snprintf(why, sizeof why, "foreign device: stream %s is not from %s", D.sid, D.peer);
    else if (err == VID_EREPLAY)
        snprintf(why, sizeof why, "replayed (sequence number %llu seen already, or too old)", (unsigned long long)h->seq);
    else snprintf(why, sizeof why, "%s", what ? what : vid_strerror(err));
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
    int r = vid_rx_open(&D.rx, rec, n, &h, D.pt, &pl);
    D.cur = D.nrec++;
    if (r != VID_OK) { refuse(r, &h, NULL); return; }
    if (D.end_seen) return;
    if (h.type != VID_T_END) D.accepted++;
    switch (h.type) {
    case VID_T_PARAMS:
        if (vid_params_decode(D.pt, pl, &p) < 0) { refuse(VID_EFORMAT, &h, "a stream header with parameters this program cannot use"); return; }
        if (!D.have_params) start(&p);
        else if (!same_params(&p, &D.p)) refuse(VID_EFORMAT, &h, "stream parameters changed in mid-stream");
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
    struct sigaction act = { .sa_handler = on_signal };
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
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
        { NULL, 0, NULL, 0 },
    };
    struct vid_keys keys;
    char err[256];
    unsigned long v;
    int opt, r, enc_only = 0, dec_only = 0;

    util_setprog(argv[0]);
    while ((opt = getopt_long(argc, argv, "edk:c:q:g:s:r:o:i:m:f:w:R:vhV", lo, NULL)) != -1) {
        switch (opt) {
        case 'e': case 'd':
            if (O.mode && O.mode != opt) die(EX_USAGE, "-e and -d: one or the other");
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
        case 'N': O.nopace = 1; enc_only = 1; break;
        case 'v': O.verbose = 1; break;
        case 'h': usage(0); break;
        case 'V': print_version(); break;
        default: usage(EX_USAGE);
        }
    }
    if (optind != argc || !O.mode) usage(EX_USAGE);
    if (!O.key) die(EX_USAGE, "-k keyfile: the key file of an accepted video invitation");
    if (O.mode == 'e' && dec_only) die(EX_USAGE, "-i, -w and -R are for -d");
    if (O.mode == 'd' && enc_only) die(EX_USAGE, "-c, -q, -g, -s, -r, -m, -f, --plain and --no-pace are for -e");
    if (!!O.w != !!O.fnum) die(EX_USAGE, "raw input needs both -s WxH and -r fps");
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
    return O.mode == 'e' ? encode(&keys) : decode(&keys);
}
