/* video.c - key file, records, replay window, reassembly, erasure code and
 * the libavcodec wrapper for simpp-videnc.  See video.h and
 * doc/simpp-videnc.1 (the byte layouts). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/videodev2.h>
#include <sys/ioctl.h>

#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
#include <opus.h>

#include "bytes.h"
#include "crypto.h"
#include "util.h"
#include "video.h"

/* ---- key file ----------------------------------------------------------- */

static int kerr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int kerr(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* a bare JID as simpp-session writes it: local@domain, no resource, no
 * space or control character */
static int bare_jid_ok(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (n == 0 || n > VID_JID_MAX || !at || at == s || at == s + n - 1) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '/') return 0;
    return 1;
}

/* "name value\n" at *p; value returned in place (not NUL-terminated) */
static int key_line(const char **p, const char *end, const char *name, const char **v, size_t *vl)
{
    size_t nl = strlen(name);
    const char *q = *p, *eol = memchr(q, '\n', (size_t)(end - q));
    if (!eol || (size_t)(eol - q) <= nl + 1 || memcmp(q, name, nl) != 0 || q[nl] != ' ') return -1;
    *v = q + nl + 1;
    *vl = (size_t)(eol - *v);
    *p = eol + 1;
    return 0;
}

int vid_keys_load(const char *path, struct vid_keys *k, char *err, size_t errlen)
{
    char buf[4096];
    const char *p = buf, *end, *v;
    size_t vl, n = 0, got;
    struct stat st;
    int fd, rc = VIDK_EFORMAT;

    memset(k, 0, sizeof *k);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        kerr(err, errlen, VIDK_EOPEN, "%s", strerror(e));
        errno = e;
        return VIDK_EOPEN;
    }
    if (fstat(fd, &st) < 0) { close(fd); return kerr(err, errlen, VIDK_EOPEN, "%s", strerror(errno)); }
    if (!S_ISREG(st.st_mode)) { close(fd); return kerr(err, errlen, VIDK_EFORMAT, "not a regular file"); }
    /* the keys are secret: like ssh with a private key, refuse a file
     * others could have read (or swapped) */
    if (st.st_mode & 077) {
        close(fd);
        return kerr(err, errlen, VIDK_EMODE, "mode %04o: a video key file must be 0600 (no access for group or others)",
                    (unsigned)(st.st_mode & 07777));
    }
    if (st.st_uid != geteuid()) {
        close(fd);
        return kerr(err, errlen, VIDK_EMODE, "owned by uid %u, not by this user", (unsigned)st.st_uid);
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { int e = errno; close(fd); sc_zero(buf, sizeof buf); return kerr(err, errlen, VIDK_EOPEN, "%s", strerror(e)); }
        if (r == 0) break;
        n += (size_t)r;
        if (n == sizeof buf) { close(fd); sc_zero(buf, sizeof buf); return kerr(err, errlen, VIDK_EFORMAT, "too long for a video key file"); }
    }
    close(fd);
    end = buf + n;

    if (key_line(&p, end, "simpp-video-key", &v, &vl) < 0 || vl != 1 || v[0] != '1') {
        kerr(err, errlen, rc, "not a simpp-video-key 1 file");
        goto done;
    }
    if (key_line(&p, end, "stream", &v, &vl) < 0 || vl != 2 * VID_SID_LEN ||
        (got = VID_SID_LEN, sc_hex_decode(v, vl, k->stream, &got)) < 0 || got != VID_SID_LEN) {
        kerr(err, errlen, rc, "line 2: expected stream <32 hex digits>");
        goto done;
    }
    if (key_line(&p, end, "me", &v, &vl) < 0 || !bare_jid_ok(v, vl)) {
        kerr(err, errlen, rc, "line 3: expected me <bare jid>");
        goto done;
    }
    memcpy(k->me, v, vl);
    if (key_line(&p, end, "peer", &v, &vl) < 0 || !bare_jid_ok(v, vl)) {
        kerr(err, errlen, rc, "line 4: expected peer <bare jid>");
        goto done;
    }
    memcpy(k->peer, v, vl);
    if (key_line(&p, end, "send", &v, &vl) < 0 || vl != 2 * VID_KEY_LEN ||
        (got = VID_KEY_LEN, sc_hex_decode(v, vl, k->send, &got)) < 0 || got != VID_KEY_LEN) {
        kerr(err, errlen, rc, "line 5: expected send <64 hex digits>");
        goto done;
    }
    if (key_line(&p, end, "recv", &v, &vl) < 0 || vl != 2 * VID_KEY_LEN ||
        (got = VID_KEY_LEN, sc_hex_decode(v, vl, k->recv, &got)) < 0 || got != VID_KEY_LEN) {
        kerr(err, errlen, rc, "line 6: expected recv <64 hex digits>");
        goto done;
    }
    if (p != end) { kerr(err, errlen, rc, "unexpected text after line 6"); goto done; }
    /* one key per direction (SPEC: separate keys per direction) */
    if (sc_ct_eq(k->send, k->recv, VID_KEY_LEN)) { kerr(err, errlen, rc, "send and recv keys are the same"); goto done; }
    rc = VIDK_OK;
done:
    sc_zero(buf, sizeof buf);
    if (rc != VIDK_OK) vid_keys_wipe(k);
    return rc;
}

void vid_keys_wipe(struct vid_keys *k)
{
    if (k) sc_zero(k, sizeof *k);
}

void vid_device_tag(const uint8_t stream[VID_SID_LEN], const char *jid, uint8_t tag[VID_TAG_LEN])
{
    static const char label[] = "simpp/1 video device";
    uint8_t h[SC_SHA256_LEN];
    sc_sha256_parts(h, label, sizeof label, stream, (size_t)VID_SID_LEN, jid, strlen(jid), (void *)NULL);
    memcpy(tag, h, VID_TAG_LEN);
}

const char *vid_strerror(int err)
{
    switch (err) {
    case VID_OK:        return "ok";
    case VID_EFORMAT:   return "not a simpp video record";
    case VID_EVERSION:  return "unsupported record version";
    case VID_ESTREAM:   return "foreign stream: not the stream of this key file";
    case VID_EDEVICE:   return "foreign device: not sent by the invited peer";
    case VID_EEPOCH:    return "from another run of this stream (a restarted sender, or an old run replayed)";
    case VID_EAUTH:     return "fails authentication (changed in transit, or a wrong key)";
    case VID_EREPLAY:   return "replayed (sequence number seen already, or too old)";
    case VID_EORDER:    return "out of order (records missing, reordered or inserted)";
    default:            return "internal error";
    }
}

/* ---- parameters and YUV4MPEG2 --------------------------------------------- */

static const char *const chroma_tags[] = { "", "420jpeg", "420mpeg2", "420paldv", "420" };
#define NCHROMA (sizeof chroma_tags / sizeof chroma_tags[0])

const char *vid_codec_name(int codec)
{
    return codec == VID_MJPEG ? "mjpeg" : codec == VID_H264 ? "h264" : NULL;
}

int vid_codec_from_name(const char *s)
{
    if (!strcmp(s, "mjpeg") || !strcmp(s, "jpeg")) return VID_MJPEG;
    if (!strcmp(s, "h264") || !strcmp(s, "H.264") || !strcmp(s, "avc")) return VID_H264;
    return 0;
}

size_t vid_frame_bytes(const struct vid_params *p)
{
    return (size_t)p->w * p->h + 2 * (size_t)(p->w / 2) * (p->h / 2);
}

static int params_ok(const struct vid_params *p)
{
    int ci = 0;
    for (size_t i = 0; i < NCHROMA; i++)
        if (!strcmp(p->chroma, chroma_tags[i])) ci = 1;
    /* even sizes: 4:2:0 chroma planes of exactly w/2 x h/2 */
    return (p->codec == VID_MJPEG || p->codec == VID_H264) && ci &&
           p->w >= 16 && p->h >= 16 && p->w <= 8192 && p->h <= 8192 && !(p->w & 1) && !(p->h & 1) &&
           p->fps_num >= 1 && p->fps_den >= 1 && p->fps_num <= 0x7fffffff && p->fps_den <= 0x7fffffff &&
           p->sar_num <= 0x7fffffff && p->sar_den <= 0x7fffffff && p->range >= 0 && p->range <= 2 &&
           strchr("ptbm?", p->interlace) && p->interlace;
}

int vid_params_encode(const struct vid_params *p, uint8_t out[VID_PARAMS_LEN])
{
    struct wr w = { out, VID_PARAMS_LEN, 0, 0 };
    unsigned ci = 0;
    if (!params_ok(p)) return -1;
    for (unsigned i = 0; i < NCHROMA; i++)
        if (!strcmp(p->chroma, chroma_tags[i])) ci = i;
    put8(&w, (unsigned)p->codec);
    put8(&w, ci);
    put8(&w, (unsigned)p->range);
    put8(&w, (unsigned char)p->interlace);
    put16(&w, p->w);
    put16(&w, p->h);
    put16(&w, p->fps_num >> 16); put16(&w, p->fps_num & 0xffff);
    put16(&w, p->fps_den >> 16); put16(&w, p->fps_den & 0xffff);
    put16(&w, p->sar_num >> 16); put16(&w, p->sar_num & 0xffff);
    put16(&w, p->sar_den >> 16); put16(&w, p->sar_den & 0xffff);
    return w.bad || w.n != VID_PARAMS_LEN ? -1 : 0;
}

static uint32_t take32(struct rd *r)
{
    uint32_t hi = take16(r);
    return hi << 16 | take16(r);
}

int vid_params_decode(const uint8_t *in, size_t n, struct vid_params *p)
{
    struct rd r = { in, n, 0 };
    unsigned ci;
    memset(p, 0, sizeof *p);
    if (n != VID_PARAMS_LEN) return -1;
    p->codec = (int)take8(&r);
    ci = take8(&r);
    p->range = (int)take8(&r);
    p->interlace = (char)take8(&r);
    p->w = take16(&r);
    p->h = take16(&r);
    p->fps_num = take32(&r);
    p->fps_den = take32(&r);
    p->sar_num = take32(&r);
    p->sar_den = take32(&r);
    if (r.bad || ci >= NCHROMA) return -1;
    strcpy(p->chroma, chroma_tags[ci]);
    return params_ok(p) ? 0 : -1;
}

static int y4m_ratio(const char *s, uint32_t *a, uint32_t *b)
{
    char *e;
    unsigned long x, y;
    if (*s < '0' || *s > '9') return -1;
    errno = 0;
    x = strtoul(s, &e, 10);
    if (errno || *e != ':' || e[1] < '0' || e[1] > '9') return -1;
    y = strtoul(e + 1, &e, 10);
    if (errno || *e || x > 0x7fffffff || y > 0x7fffffff) return -1;
    *a = (uint32_t)x;
    *b = (uint32_t)y;
    return 0;
}

int vid_y4m_parse(const char *line, struct vid_params *p, char *err, size_t errlen)
{
    char tok[256];
    const char *s;
    int gotw = 0, goth = 0, gotf = 0;
    memset(p, 0, sizeof *p);
    p->interlace = '?';
    if (strncmp(line, "YUV4MPEG2 ", 10) != 0)
        return kerr(err, errlen, -1, "not a YUV4MPEG2 stream");
    for (s = line + 10; *s;) {
        size_t n = strcspn(s, " ");
        if (n == 0) { s++; continue; }
        if (n >= sizeof tok) return kerr(err, errlen, -1, "YUV4MPEG2 header: a field is too long");
        memcpy(tok, s, n);
        tok[n] = 0;
        s += n;
        unsigned long v;
        switch (tok[0]) {
        case 'W':
            if (parse_ulong(tok + 1, 1, 65535, &v) < 0) return kerr(err, errlen, -1, "YUV4MPEG2 header: bad %s", tok);
            p->w = (unsigned)v; gotw = 1; break;
        case 'H':
            if (parse_ulong(tok + 1, 1, 65535, &v) < 0) return kerr(err, errlen, -1, "YUV4MPEG2 header: bad %s", tok);
            p->h = (unsigned)v; goth = 1; break;
        case 'F':
            if (y4m_ratio(tok + 1, &p->fps_num, &p->fps_den) < 0 || !p->fps_num || !p->fps_den)
                return kerr(err, errlen, -1, "YUV4MPEG2 header: bad frame rate %s", tok);
            gotf = 1; break;
        case 'A':
            if (y4m_ratio(tok + 1, &p->sar_num, &p->sar_den) < 0)
                return kerr(err, errlen, -1, "YUV4MPEG2 header: bad aspect %s", tok);
            break;
        case 'I':
            if (n != 2 || !strchr("ptbm?", tok[1]) || !tok[1])
                return kerr(err, errlen, -1, "YUV4MPEG2 header: bad interlacing %s", tok);
            p->interlace = tok[1]; break;
        case 'C': {
            size_t ci = 0;
            for (size_t i = 1; i < NCHROMA; i++)
                if (!strcmp(tok + 1, chroma_tags[i])) ci = i;
            if (!ci)
                return kerr(err, errlen, -1, "YUV4MPEG2 colour space %s: only 8-bit 4:2:0 (C420jpeg, C420mpeg2, "
                            "C420paldv) is supported; convert with ffmpeg -pix_fmt yuv420p", tok);
            strcpy(p->chroma, chroma_tags[ci]);
            break;
        }
        case 'X':
            if (!strcmp(tok, "XCOLORRANGE=FULL")) p->range = 2;
            else if (!strcmp(tok, "XCOLORRANGE=LIMITED")) p->range = 1;
            break;          /* other extensions are ignored, as the format says */
        default:
            break;
        }
    }
    if (!gotw || !goth || !gotf) return kerr(err, errlen, -1, "YUV4MPEG2 header without W, H and F");
    if ((p->w & 1) || (p->h & 1) || p->w < 16 || p->h < 16 || p->w > 8192 || p->h > 8192)
        return kerr(err, errlen, -1, "frame size %ux%u: width and height must be even, 16 to 8192", p->w, p->h);
    p->codec = VID_MJPEG;       /* a placeholder until the caller picks one */
    return 0;
}

int vid_y4m_header(const struct vid_params *p, char *out, size_t cap)
{
    int n = snprintf(out, cap, "YUV4MPEG2 W%u H%u F%u:%u I%c A%u:%u%s%s%s\n", p->w, p->h, p->fps_num,
                     p->fps_den, p->interlace, p->sar_num, p->sar_den, p->chroma[0] ? " C" : "", p->chroma,
                     p->range == 2 ? " XCOLORRANGE=FULL" : p->range == 1 ? " XCOLORRANGE=LIMITED" : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* ---- records ------------------------------------------------------------- */

static void put32(struct wr *w, uint32_t v) { put16(w, v >> 16); put16(w, v & 0xffff); }

/* The clear header: all of it is AAD, so the stream id, the device tag, the
 * run (epoch), the sequence number, the flags and pts are authenticated
 * together with the payload. */
static void hdr_write(uint8_t out[VID_HDR_LEN], const struct vid_hdr *h)
{
    struct wr w = { out, VID_HDR_LEN, 0, 0 };
    put8(&w, VID_MAGIC0);
    put8(&w, VID_MAGIC1);
    put8(&w, VID_VERSION);
    put8(&w, h->type);
    put8(&w, h->flags);
    put8(&w, h->idx);
    put8(&w, h->k);
    put8(&w, h->r);
    put32(&w, h->flen);
    put(&w, h->stream, VID_SID_LEN);
    put(&w, h->tag, VID_TAG_LEN);
    put(&w, h->epoch, VID_EPOCH_LEN);
    put64(&w, h->seq);
    put64(&w, h->pts);
}

static int hdr_read(const uint8_t *in, size_t n, struct vid_hdr *h)
{
    struct rd r = { in, n, 0 };
    memset(h, 0, sizeof *h);
    if (n < VID_OVERHEAD || take8(&r) != VID_MAGIC0 || take8(&r) != VID_MAGIC1) return VID_EFORMAT;
    if (take8(&r) != VID_VERSION) return VID_EVERSION;
    h->type = take8(&r);
    h->flags = take8(&r);
    h->idx = take8(&r);
    h->k = take8(&r);
    h->r = take8(&r);
    h->flen = take32(&r);
    memcpy(h->stream, take(&r, VID_SID_LEN), VID_SID_LEN);
    memcpy(h->tag, take(&r, VID_TAG_LEN), VID_TAG_LEN);
    memcpy(h->epoch, take(&r, VID_EPOCH_LEN), VID_EPOCH_LEN);
    h->seq = take64(&r);
    h->pts = take64(&r);
    if (r.bad) return VID_EFORMAT;
    /* shape checks before any work: a fragment index inside k + r, at most
     * 255 fragments (the code length of GF(2^8)), a bounded frame */
    if (h->type < VID_T_PARAMS || h->type > VID_T_BYE || h->k < 1 || h->k > VID_KMAX ||
        h->k + h->r > VID_NMAX || h->idx >= h->k + h->r || h->flen > VID_FRAME_MAX || (h->flags & ~VID_F_KEY))
        return VID_EFORMAT;
    return VID_OK;
}

static void nonce_of(uint64_t seq, uint8_t nonce[SC_NONCE_LEN])
{
    /* 0^32 || seq: unique per key because every run has its own key */
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++) nonce[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

/* key of one run: HKDF(salt = epoch, ikm = direction key, info = label ||
 * stream id || device tag).  A key file may be used for more than one run
 * (a sender restarted after a crash): a fresh epoch keeps (key, nonce) from
 * ever repeating, which ChaCha20-Poly1305 cannot survive. */
int vid_track_of(unsigned type)
{
    if (type >= VID_T_PARAMS && type <= VID_T_END) return VID_TRACK_VIDEO;
    if (type >= VID_T_APARAMS && type <= VID_T_AEND) return VID_TRACK_AUDIO;
    if (type == VID_T_REPORT || type == VID_T_BYE) return VID_TRACK_CTRL;
    return -1;
}

static const char *const track_label[VID_TRACKS] = {
    "simpp/1 video record", "simpp/1 audio record", "simpp/1 media control",
};

static int run_key(int track, const uint8_t master[VID_KEY_LEN], const uint8_t epoch[VID_EPOCH_LEN],
                   const uint8_t stream[VID_SID_LEN], const uint8_t tag[VID_TAG_LEN], uint8_t out[VID_KEY_LEN])
{
    const char *label = track_label[track];
    size_t ll = strlen(label) + 1;
    uint8_t info[32 + VID_SID_LEN + VID_TAG_LEN];
    memcpy(info, label, ll);
    memcpy(info + ll, stream, VID_SID_LEN);
    memcpy(info + ll + VID_SID_LEN, tag, VID_TAG_LEN);
    return sc_hkdf_sha256(epoch, VID_EPOCH_LEN, master, VID_KEY_LEN, info, ll + VID_SID_LEN + VID_TAG_LEN,
                          out, VID_KEY_LEN);
}

/* the epoch as a commitment to the capturing device (video.h) */
static void device_epoch(const uint8_t stream[VID_SID_LEN], const uint8_t tag[VID_TAG_LEN],
                         const uint8_t salt[VID_SALT_LEN], const char *id, size_t idlen,
                         uint8_t epoch[VID_EPOCH_LEN])
{
    static const char label[] = "simpp/1 media device";
    uint8_t h[SC_SHA256_LEN];
    sc_sha256_parts(h, label, sizeof label, stream, (size_t)VID_SID_LEN, tag, (size_t)VID_TAG_LEN,
                    salt, (size_t)VID_SALT_LEN, id, idlen, (void *)NULL);
    memcpy(epoch, h, VID_EPOCH_LEN);
}

int vid_tx_init_track(struct vid_tx *tx, const struct vid_keys *k, int track, const char *device,
                      size_t dgram, unsigned fec)
{
    memset(tx, 0, sizeof *tx);
    if (dgram && (dgram < VID_OVERHEAD + 64 || dgram > VID_DGRAM_MAX)) return -1;
    if (track < 0 || track >= VID_TRACKS || (device && strlen(device) > VID_DEVID_MAX)) return -1;
    tx->track = track;
    snprintf(tx->device, sizeof tx->device, "%s", device ? device : "");
    memcpy(tx->stream, k->stream, VID_SID_LEN);
    vid_device_tag(k->stream, k->me, tx->tag);
    if (sc_random(tx->salt, VID_SALT_LEN) < 0) goto fail;
    device_epoch(tx->stream, tx->tag, tx->salt, tx->device, strlen(tx->device), tx->epoch);
    if (run_key(track, k->send, tx->epoch, tx->stream, tx->tag, tx->key) < 0) goto fail;
    tx->dgram = dgram;
    tx->fec = fec > 100 ? 100 : fec;
    return 0;
fail:
    sc_zero(tx, sizeof *tx);
    return -1;
}

int vid_tx_init(struct vid_tx *tx, const struct vid_keys *k, size_t dgram, unsigned fec)
{
    return vid_tx_init_track(tx, k, VID_TRACK_VIDEO, NULL, dgram, fec);
}

int vid_device_check(const struct vid_hdr *h, const uint8_t *tail, size_t n, char id[VID_DEVID_MAX + 1])
{
    uint8_t e[VID_EPOCH_LEN];
    size_t l;
    id[0] = 0;
    if (n < VID_SALT_LEN + 1 || (l = tail[VID_SALT_LEN]) != n - VID_SALT_LEN - 1) return VID_EFORMAT;
    if (memchr(tail + VID_SALT_LEN + 1, 0, l)) return VID_EFORMAT;
    device_epoch(h->stream, h->tag, tail, (const char *)tail + VID_SALT_LEN + 1, l, e);
    if (memcmp(e, h->epoch, VID_EPOCH_LEN) != 0) return VID_EDEVICE;
    memcpy(id, tail + VID_SALT_LEN + 1, l);
    id[l] = 0;
    return VID_OK;
}

void vid_tx_free(struct vid_tx *tx)
{
    if (!tx) return;
    if (tx->buf) { sc_zero(tx->buf, tx->bufcap); free(tx->buf); }
    sc_zero(tx, sizeof *tx);
}

size_t vid_seal(struct vid_tx *tx, const struct vid_hdr *h0, const void *pt, size_t n, uint8_t *out)
{
    struct vid_hdr h = *h0;
    uint8_t nonce[SC_NONCE_LEN];
    size_t ol = n + VID_MAC_LEN;
    memcpy(h.stream, tx->stream, VID_SID_LEN);
    memcpy(h.tag, tx->tag, VID_TAG_LEN);
    memcpy(h.epoch, tx->epoch, VID_EPOCH_LEN);
    h.seq = tx->seq;
    hdr_write(out, &h);
    nonce_of(h.seq, nonce);
    if (sc_seal(SC_SUITE_CHACHA20_POLY1305, tx->key, nonce, out, VID_HDR_LEN, pt, n, out + VID_HDR_LEN, &ol) < 0)
        return 0;
    tx->seq++;
    tx->records++;
    tx->bytes += VID_HDR_LEN + ol;
    return VID_HDR_LEN + ol;
}

static uint8_t *tx_scratch(struct vid_tx *tx, size_t need)
{
    if (need > tx->bufcap) {
        uint8_t *b = malloc(need);
        if (!b) return NULL;
        if (tx->buf) { sc_zero(tx->buf, tx->bufcap); free(tx->buf); }
        tx->buf = b;
        tx->bufcap = need;
    }
    return tx->buf;
}

#define ONE_MAX 1500               /* the largest record of one piece (an audio packet) */

int vid_tx_record(struct vid_tx *tx, unsigned type, uint64_t pts, const void *pt, size_t n,
                  vid_emit_fn emit, void *ctx)
{
    struct vid_hdr h = { .type = type, .k = 1, .flen = (uint32_t)n, .pts = pts };
    uint8_t rec[VID_OVERHEAD + ONE_MAX];
    size_t rl;
    if (n > ONE_MAX || vid_track_of(type) != tx->track || !(rl = vid_seal(tx, &h, pt, n, rec))) return -1;
    return emit(ctx, rec, rl);
}

static int tx_one(struct vid_tx *tx, unsigned type, const void *pt, size_t n, vid_emit_fn emit, void *ctx)
{
    return vid_tx_record(tx, type, 0, pt, n, emit, ctx);
}

/* a stream header: the fixed part, then salt || u8 n || device identity */
static int tx_header(struct vid_tx *tx, unsigned type, const uint8_t *fixed, size_t fl, vid_emit_fn emit, void *ctx)
{
    uint8_t b[64 + VID_SALT_LEN + 1 + VID_DEVID_MAX];
    size_t l = strlen(tx->device);
    memcpy(b, fixed, fl);
    memcpy(b + fl, tx->salt, VID_SALT_LEN);
    b[fl + VID_SALT_LEN] = (uint8_t)l;
    memcpy(b + fl + VID_SALT_LEN + 1, tx->device, l);
    return tx_one(tx, type, b, fl + VID_SALT_LEN + 1 + l, emit, ctx);
}

int vid_tx_params(struct vid_tx *tx, const struct vid_params *p, vid_emit_fn emit, void *ctx)
{
    uint8_t b[VID_PARAMS_LEN];
    if (vid_params_encode(p, b) < 0) return -1;
    return tx_header(tx, VID_T_PARAMS, b, sizeof b, emit, ctx);
}

int vid_aparams_encode(const struct vid_aparams *a, uint8_t out[VID_APARAMS_LEN])
{
    struct wr w = { out, VID_APARAMS_LEN, 0, 0 };
    if (a->codec != 1 || a->channels < 1 || a->channels > 2 || a->frame < 1 || a->frame > 5760 ||
        (a->rate != 8000 && a->rate != 12000 && a->rate != 16000 && a->rate != 24000 && a->rate != 48000))
        return -1;
    put8(&w, a->codec);
    put8(&w, a->channels);
    put16(&w, a->frame);
    put32(&w, a->rate);
    put16(&w, a->preskip);
    return w.bad || a->preskip > 4800 ? -1 : 0;
}

int vid_aparams_decode(const uint8_t *in, size_t n, struct vid_aparams *a)
{
    struct rd r = { in, n, 0 };
    uint8_t chk[VID_APARAMS_LEN];
    memset(a, 0, sizeof *a);
    if (n != VID_APARAMS_LEN) return -1;
    a->codec = take8(&r);
    a->channels = take8(&r);
    a->frame = take16(&r);
    a->rate = take32(&r);
    a->preskip = take16(&r);
    return r.bad ? -1 : vid_aparams_encode(a, chk);
}

int vid_tx_aparams(struct vid_tx *tx, const struct vid_aparams *a, vid_emit_fn emit, void *ctx)
{
    uint8_t b[VID_APARAMS_LEN];
    if (vid_aparams_encode(a, b) < 0) return -1;
    return tx_header(tx, VID_T_APARAMS, b, sizeof b, emit, ctx);
}

int vid_tx_end(struct vid_tx *tx, uint64_t frames, vid_emit_fn emit, void *ctx)
{
    uint8_t b[16];
    struct wr w = { b, sizeof b, 0, 0 };
    put64(&w, frames);
    put64(&w, tx->seq);         /* records sent before this one */
    return tx_one(tx, VID_T_END, b, sizeof b, emit, ctx);
}

unsigned vid_fec_parity(unsigned k, unsigned pct)
{
    unsigned r;
    if (!pct || !k) return 0;
    /* a percentage, plus one: small frames (H.264 P-frames of 1-3
     * fragments) still get a parity fragment to lose */
    r = (k * pct + 99) / 100 + 1;
    return k + r > VID_NMAX ? VID_NMAX - k : r;
}

int vid_tx_frame(struct vid_tx *tx, const uint8_t *pkt, size_t len, uint64_t pts, int key,
                 vid_emit_fn emit, void *ctx)
{
    struct vid_hdr h = { .type = VID_T_FRAME, .flags = key ? VID_F_KEY : 0, .pts = pts };
    size_t S, k, r;
    uint8_t *frag[VID_NMAX], *rec, *b;

    if (!len || len > VID_FRAME_MAX) return -1;
    h.flen = (uint32_t)len;
    if (!tx->dgram) {
        /* a reliable byte stream: the whole frame is one record */
        h.k = 1;
        if (!(rec = tx_scratch(tx, VID_OVERHEAD + len))) return -1;
        size_t rl = vid_seal(tx, &h, pkt, len, rec);
        return rl ? emit(ctx, rec, rl) : -1;
    }
    /* datagrams: k fragments of S bytes (the last one shorter), then r
     * parity fragments over them, each sealed as its own record so a
     * forged datagram can never reach the erasure decoder */
    S = tx->dgram - VID_OVERHEAD;
    k = (len + S - 1) / S;
    if (k > VID_KMAX) {
        S = (len + VID_KMAX - 1) / VID_KMAX;
        k = (len + S - 1) / S;
        if (S + VID_OVERHEAD > VID_DGRAM_MAX) return -1;
    }
    S = (len + k - 1) / k;          /* equal fragments; the receiver derives S the same way */
    r = vid_fec_parity((unsigned)k, tx->fec);
    if (!(b = tx_scratch(tx, (k + r) * S + VID_OVERHEAD + S))) return -1;
    rec = b + (k + r) * S;
    memcpy(b, pkt, len);
    memset(b + len, 0, k * S - len);        /* the code works on whole fragments */
    for (size_t i = 0; i < k + r; i++) frag[i] = b + i * S;
    if (r) vid_fec_encode((unsigned)k, (unsigned)r, S, frag);
    h.k = (unsigned)k;
    h.r = (unsigned)r;
    for (size_t i = 0; i < k + r; i++) {
        size_t n = i == k - 1 ? len - (k - 1) * S : S;
        h.idx = (unsigned)i;
        size_t rl = vid_seal(tx, &h, frag[i], n, rec);
        if (!rl || emit(ctx, rec, rl) < 0) return -1;
    }
    return 0;
}

/* ---- receiver -------------------------------------------------------------- */

int vid_rx_init(struct vid_rx *rx, const struct vid_keys *k, int strict)
{
    return vid_rx_init_track(rx, k, VID_TRACK_VIDEO, strict);
}

int vid_rx_init_track(struct vid_rx *rx, const struct vid_keys *k, int track, int strict)
{
    memset(rx, 0, sizeof *rx);
    if (track < 0 || track >= VID_TRACKS) return -1;
    rx->track = track;
    memcpy(rx->master, k->recv, VID_KEY_LEN);
    memcpy(rx->stream, k->stream, VID_SID_LEN);
    /* the tag the invited peer's records must carry */
    vid_device_tag(k->stream, k->peer, rx->tag);
    rx->strict = strict;
    return 0;
}

void vid_rx_free(struct vid_rx *rx)
{
    if (rx) sc_zero(rx, sizeof *rx);
}

#define WORDS (VID_WINDOW / 64)

static int window_seen(const struct vid_rx *rx, uint64_t seq)
{
    uint64_t d;
    if (!rx->any || seq > rx->top) return 0;
    d = rx->top - seq;
    if (d >= VID_WINDOW) return 1;          /* too old to tell: refused */
    return (int)(rx->bits[d / 64] >> (d % 64) & 1);
}

/* bit d of the window is sequence number top - d */
static void window_mark(struct vid_rx *rx, uint64_t seq)
{
    if (!rx->any || seq > rx->top) {
        uint64_t s = rx->any ? seq - rx->top : VID_WINDOW;
        if (s >= VID_WINDOW) memset(rx->bits, 0, sizeof rx->bits);
        else {
            unsigned ws = (unsigned)(s / 64), bs = (unsigned)(s % 64);
            for (int i = WORDS - 1; i >= 0; i--) {
                uint64_t v = 0;
                if (i - (int)ws >= 0) {
                    v = rx->bits[i - ws] << bs;
                    if (bs && i - (int)ws - 1 >= 0) v |= rx->bits[i - ws - 1] >> (64 - bs);
                }
                rx->bits[i] = v;
            }
        }
        rx->top = seq;
        rx->any = 1;
    }
    uint64_t d = rx->top - seq;
    rx->bits[d / 64] |= (uint64_t)1 << (d % 64);
}

int vid_rx_open(struct vid_rx *rx, const uint8_t *rec, size_t n, struct vid_hdr *h, uint8_t *pt, size_t *ptlen)
{
    uint8_t nonce[SC_NONCE_LEN], key[VID_KEY_LEN];
    const uint8_t *use = rx->key;
    int r = hdr_read(rec, n, h);
    if (r != VID_OK) return r;
    if (vid_track_of(h->type) != rx->track) return VID_EFORMAT;
    /* paper 002, IV: a stream whose tag is not the inviter's is not
     * decrypted at all */
    if (memcmp(h->stream, rx->stream, VID_SID_LEN) != 0) return VID_ESTREAM;
    if (memcmp(h->tag, rx->tag, VID_TAG_LEN) != 0) return VID_EDEVICE;
    if (rx->have_epoch && memcmp(h->epoch, rx->epoch, VID_EPOCH_LEN) != 0) return VID_EEPOCH;
    if (rx->strict) {
        /* a byte stream is reliable: the next record or nothing */
        uint64_t want = rx->any ? rx->top + 1 : 0;
        if (h->seq != want) return rx->any && h->seq <= rx->top ? VID_EREPLAY : VID_EORDER;
    } else if (window_seen(rx, h->seq))
        return VID_EREPLAY;
    if (!rx->have_epoch) {
        if (run_key(rx->track, rx->master, h->epoch, rx->stream, h->tag, key) < 0) return VID_EINTERNAL;
        use = key;
    }
    nonce_of(h->seq, nonce);
    *ptlen = n - VID_HDR_LEN;
    r = sc_open(SC_SUITE_CHACHA20_POLY1305, use, nonce, rec, VID_HDR_LEN, rec + VID_HDR_LEN,
                n - VID_HDR_LEN, pt, ptlen);
    if (r < 0) {
        sc_zero(key, sizeof key);
        return VID_EAUTH;
    }
    if (!rx->have_epoch) {
        /* the first authentic record fixes the run; the direction key is
         * not needed any more */
        memcpy(rx->key, key, VID_KEY_LEN);
        memcpy(rx->epoch, h->epoch, VID_EPOCH_LEN);
        rx->have_epoch = 1;
        sc_zero(key, sizeof key);
        sc_zero(rx->master, sizeof rx->master);
    }
    window_mark(rx, h->seq);
    return VID_OK;
}

/* ---- GF(2^8) and the erasure code -------------------------------------- */

static uint8_t gf_exp[512], gf_log[256];

static void gf_init(void)
{
    static int done;
    unsigned x = 1;
    if (done) return;
    for (int i = 0; i < 255; i++) {
        gf_exp[i] = (uint8_t)x;
        gf_log[x] = (uint8_t)i;
        x <<= 1;
        if (x & 0x100) x ^= 0x11d;          /* x^8 + x^4 + x^3 + x^2 + 1 */
    }
    for (int i = 255; i < 512; i++) gf_exp[i] = gf_exp[i - 255];
    done = 1;
}

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
    return a && b ? gf_exp[gf_log[a] + gf_log[b]] : 0;
}

static uint8_t gf_inv(uint8_t a)
{
    return gf_exp[255 - gf_log[a]];         /* a != 0 */
}

/* out ^= c * in, over S bytes, with a 256-entry product table for c */
static void gf_muladd(uint8_t *out, const uint8_t *in, uint8_t c, size_t S)
{
    uint8_t t[256];
    if (c == 0) return;
    if (c == 1) {
        for (size_t i = 0; i < S; i++) out[i] ^= in[i];
        return;
    }
    for (int x = 0; x < 256; x++) t[x] = gf_mul(c, (uint8_t)x);
    for (size_t i = 0; i < S; i++) out[i] ^= t[in[i]];
}

/* Cauchy matrix entry for parity row i, data column j: 1 / (x_i + y_j) with
 * x_i = k + i, y_j = j, all distinct, so every square submatrix is
 * invertible and any k fragments suffice. */
static uint8_t cauchy(unsigned k, unsigned i, unsigned j)
{
    return gf_inv((uint8_t)((k + i) ^ j));
}

void vid_fec_encode(unsigned k, unsigned r, size_t S, uint8_t *const frag[])
{
    gf_init();
    for (unsigned i = 0; i < r; i++) {
        memset(frag[k + i], 0, S);
        for (unsigned j = 0; j < k; j++) gf_muladd(frag[k + i], frag[j], cauchy(k, i, j), S);
    }
}

int vid_fec_decode(unsigned k, unsigned r, size_t S, uint8_t *const frag[], const uint8_t present[])
{
    unsigned miss[VID_NMAX], par[VID_NMAX], m = 0, np = 0;
    uint8_t *a, *inv;
    gf_init();
    for (unsigned j = 0; j < k; j++)
        if (!present[j]) miss[m++] = j;
    if (!m) return 0;
    for (unsigned i = 0; i < r && np < m; i++)
        if (present[k + i]) par[np++] = i;
    if (np < m) return -1;
    if (!(a = malloc(2 * (size_t)m * m))) return -1;
    inv = a + (size_t)m * m;
    /* the parity fragments, less what the received data contributes,
     * leave m equations in the m missing fragments */
    for (unsigned q = 0; q < m; q++) {
        for (unsigned j = 0; j < k; j++)
            if (present[j]) gf_muladd(frag[k + par[q]], frag[j], cauchy(k, par[q], j), S);
        for (unsigned c = 0; c < m; c++) {
            a[q * m + c] = cauchy(k, par[q], miss[c]);
            inv[q * m + c] = q == c;
        }
    }
    /* Gauss-Jordan over GF(2^8); a Cauchy submatrix always has a pivot */
    for (unsigned c = 0; c < m; c++) {
        unsigned p = c;
        while (p < m && !a[p * m + c]) p++;
        if (p == m) { free(a); return -1; }
        if (p != c)
            for (unsigned x = 0; x < m; x++) {
                uint8_t t = a[c * m + x]; a[c * m + x] = a[p * m + x]; a[p * m + x] = t;
                t = inv[c * m + x]; inv[c * m + x] = inv[p * m + x]; inv[p * m + x] = t;
            }
        uint8_t f = gf_inv(a[c * m + c]);
        for (unsigned x = 0; x < m; x++) {
            a[c * m + x] = gf_mul(a[c * m + x], f);
            inv[c * m + x] = gf_mul(inv[c * m + x], f);
        }
        for (unsigned q = 0; q < m; q++) {
            uint8_t g = a[q * m + c];
            if (q == c || !g) continue;
            for (unsigned x = 0; x < m; x++) {
                a[q * m + x] ^= gf_mul(g, a[c * m + x]);
                inv[q * m + x] ^= gf_mul(g, inv[c * m + x]);
            }
        }
    }
    for (unsigned c = 0; c < m; c++) {
        memset(frag[miss[c]], 0, S);
        for (unsigned q = 0; q < m; q++) gf_muladd(frag[miss[c]], frag[k + par[q]], inv[c * m + q], S);
    }
    free(a);
    return (int)m;
}

/* ---- reassembly -------------------------------------------------------------- */

struct vid_slot {
    uint64_t pts;
    unsigned k, r, flags, count;
    uint32_t flen;
    size_t S;
    uint8_t present[VID_NMAX];
    uint8_t *buf;                   /* (k + r) * S */
};

void vid_asm_init(struct vid_asm *a)
{
    memset(a, 0, sizeof *a);
    a->last = -1;
}

static void slot_drop(struct vid_asm *a, int i)
{
    struct vid_slot *s = a->slot[i];
    if (!s) return;
    sc_zero(s->buf, (size_t)(s->k + s->r) * s->S);
    free(s->buf);
    free(s);
    a->slot[i] = NULL;
}

void vid_asm_free(struct vid_asm *a)
{
    for (int i = 0; i < VID_SLOTS; i++) slot_drop(a, i);
    if (a->out) { sc_zero(a->out, a->outcap); free(a->out); }
    a->out = NULL;
}

void vid_asm_finish(struct vid_asm *a)
{
    for (int i = 0; i < VID_SLOTS; i++)
        if (a->slot[i]) { a->abandoned++; slot_drop(a, i); }
}

int vid_asm_add(struct vid_asm *a, const struct vid_hdr *h, const uint8_t *p, size_t n,
                const uint8_t **frame, size_t *flen)
{
    struct vid_slot *s = NULL;
    size_t S, want;
    int free_i = -1, old_i = -1;

    if (h->type != VID_T_FRAME) return 0;
    if (a->last >= 0 && h->pts <= (uint64_t)a->last) { a->late++; return 0; }
    /* the record layer checked these already; a caller that did not must not
     * divide by zero or index past the fragments */
    if (h->k < 1 || h->k > VID_KMAX || h->k + h->r > VID_NMAX || h->idx >= h->k + h->r ||
        h->flen > VID_FRAME_MAX) {
        a->inconsistent++;
        return 0;
    }
    S = (h->flen + h->k - 1) / h->k;
    want = h->idx == h->k - 1 ? h->flen - (size_t)(h->k - 1) * S : S;
    /* k must be the fragment count of flen, and this fragment its size */
    if (!h->flen || (size_t)(h->k - 1) * S >= h->flen || n != want) { a->inconsistent++; return 0; }
    for (int i = 0; i < VID_SLOTS; i++) {
        if (!a->slot[i]) { if (free_i < 0) free_i = i; continue; }
        if (a->slot[i]->pts == h->pts) s = a->slot[i];
        if (old_i < 0 || a->slot[i]->pts < a->slot[old_i]->pts) old_i = i;
    }
    if (!s) {
        if (free_i < 0) { a->abandoned++; slot_drop(a, old_i); free_i = old_i; }
        if (!(s = calloc(1, sizeof *s))) return -1;
        if (!(s->buf = calloc(h->k + h->r, S))) { free(s); return -1; }
        s->pts = h->pts; s->k = h->k; s->r = h->r; s->flags = h->flags; s->flen = h->flen; s->S = S;
        a->slot[free_i] = s;
    } else if (s->k != h->k || s->r != h->r || s->flen != h->flen || s->flags != h->flags) {
        a->inconsistent++;
        return 0;
    }
    if (s->present[h->idx]) return 0;
    memcpy(s->buf + (size_t)h->idx * S, p, n);
    s->present[h->idx] = 1;
    if (++s->count < s->k) return 0;

    /* k fragments: the frame is whole, after the erasure decoder fills in
     * any data fragment that did not arrive */
    uint8_t *frag[VID_NMAX];
    for (unsigned i = 0; i < s->k + s->r; i++) frag[i] = s->buf + (size_t)i * S;
    int rb = vid_fec_decode(s->k, s->r, S, frag, s->present);
    if (rb < 0) { a->inconsistent++; return 0; }
    a->rebuilt += (uint64_t)rb;
    if (s->flen > a->outcap) {
        uint8_t *o = malloc(s->flen);
        if (!o) return -1;
        if (a->out) { sc_zero(a->out, a->outcap); free(a->out); }
        a->out = o;
        a->outcap = s->flen;
    }
    memcpy(a->out, s->buf, s->flen);
    *frame = a->out;
    *flen = s->flen;
    a->last = (int64_t)s->pts;
    a->complete++;
    for (int i = 0; i < VID_SLOTS; i++) {
        if (!a->slot[i]) continue;
        if (a->slot[i] == s) slot_drop(a, i);
        else if (a->slot[i]->pts < (uint64_t)a->last) { a->abandoned++; slot_drop(a, i); }
    }
    return 1;
}

/* ---- libavcodec ------------------------------------------------------------- */

static void av_log_cb(void *avcl, int level, const char *fmt, va_list vl)
{
    char buf[512];
    size_t n;
    (void)avcl;
    if (level > av_log_get_level()) return;
    vsnprintf(buf, sizeof buf, fmt, vl);
    n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
    if (n) fprintf(stderr, "%s: libavcodec: %s\n", progname, buf);
}

void vid_av_log(int verbose)
{
    av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_ERROR);
    av_log_set_callback(av_log_cb);
}

struct vid_enc {
    AVCodecContext *c;
    AVFrame *f;
    AVPacket *pkt;
    struct vid_params p;
    int newq;                       /* a quality to switch to, -1 none */
};

void vid_enc_quality(vid_enc *e, int quality)
{
    e->newq = quality;
}

static int averr(char *err, size_t errlen, const char *what, int e)
{
    char b[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(e, b, sizeof b);
    return kerr(err, errlen, -1, "%s: %s", what, b);
}

void vid_enc_close(vid_enc *e)
{
    if (!e) return;
    avcodec_free_context(&e->c);
    av_frame_free(&e->f);
    av_packet_free(&e->pkt);
    free(e);
}

vid_enc *vid_enc_open(const struct vid_params *p, int quality, int gop, char *err, size_t errlen)
{
    const AVCodec *codec;
    vid_enc *e;
    int r;

    if (!params_ok(p)) { kerr(err, errlen, -1, "bad video parameters"); return NULL; }
    if (p->codec == VID_MJPEG) codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    else codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) {
        kerr(err, errlen, -1, "this libavcodec has no %s encoder", p->codec == VID_MJPEG ? "MJPEG" : "H.264 (libx264)");
        return NULL;
    }
    if (!(e = calloc(1, sizeof *e)) || !(e->c = avcodec_alloc_context3(codec)) ||
        !(e->f = av_frame_alloc()) || !(e->pkt = av_packet_alloc())) {
        kerr(err, errlen, -1, "out of memory");
        vid_enc_close(e);
        return NULL;
    }
    e->p = *p;
    e->newq = -1;
    AVCodecContext *c = e->c;
    c->width = (int)p->w;
    c->height = (int)p->h;
    c->time_base = (AVRational){ (int)p->fps_den, (int)p->fps_num };
    c->framerate = (AVRational){ (int)p->fps_num, (int)p->fps_den };
    c->sample_aspect_ratio = (AVRational){ (int)p->sar_num, (int)(p->sar_den ? p->sar_den : 1) };
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->color_range = p->range == 2 ? AVCOL_RANGE_JPEG : p->range == 1 ? AVCOL_RANGE_MPEG : AVCOL_RANGE_UNSPECIFIED;
    /* one thread, no frame threading: a frame out for every frame in, on
     * one core (the latency goal of a call, not the throughput of a file) */
    c->thread_count = 1;
    if (p->codec == VID_MJPEG) {
        /* paper 002 step 2: every frame a JPEG.  Samples go in as they are;
         * JPEG proper is full range, so limited-range input needs the
         * "unofficial" flag; the range is restored from the stream header
         * on output. */
        c->flags |= AV_CODEC_FLAG_QSCALE;
        c->global_quality = FF_QP2LAMBDA * quality;
        if (p->range != 2) c->strict_std_compliance = FF_COMPLIANCE_UNOFFICIAL;
    } else {
        /* low latency first: no B-frames (no reordering delay), no
         * lookahead, SPS/PPS repeated in-band before every key frame so a
         * receiver can join or recover at any key frame */
        c->max_b_frames = 0;
        c->gop_size = gop;
        c->keyint_min = 1;
        if ((r = av_opt_set(c->priv_data, "preset", "ultrafast", 0)) < 0 ||
            (r = av_opt_set(c->priv_data, "tune", "zerolatency", 0)) < 0 ||
            (r = av_opt_set_double(c->priv_data, "crf", quality, 0)) < 0) {
            averr(err, errlen, "libx264 options", r);
            vid_enc_close(e);
            return NULL;
        }
    }
    if ((r = avcodec_open2(c, codec, NULL)) < 0) {
        averr(err, errlen, "unable to open the encoder", r);
        vid_enc_close(e);
        return NULL;
    }
    e->f->format = c->pix_fmt;
    e->f->width = c->width;
    e->f->height = c->height;
    if ((r = av_frame_get_buffer(e->f, 0)) < 0) {
        averr(err, errlen, "frame buffer", r);
        vid_enc_close(e);
        return NULL;
    }
    return e;
}

int vid_enc_send(vid_enc *e, const uint8_t *yuv, int64_t pts)
{
    if (!yuv) return avcodec_send_frame(e->c, NULL) < 0 ? -1 : 0;
    /* the encoder may still hold the previous picture */
    if (av_frame_make_writable(e->f) < 0) return -1;
    int w = (int)e->p.w, h = (int)e->p.h;
    av_image_copy_plane(e->f->data[0], e->f->linesize[0], yuv, w, w, h);
    av_image_copy_plane(e->f->data[1], e->f->linesize[1], yuv + (size_t)w * h, w / 2, w / 2, h / 2);
    av_image_copy_plane(e->f->data[2], e->f->linesize[2], yuv + (size_t)w * h + (size_t)(w / 2) * (h / 2),
                        w / 2, w / 2, h / 2);
    e->f->pts = pts;
    if (e->newq >= 0) {
        if (e->p.codec == VID_MJPEG) e->c->global_quality = FF_QP2LAMBDA * e->newq;
        /* libx264 reconfigures itself when its crf option changes */
        else if (av_opt_set_double(e->c->priv_data, "crf", e->newq, 0) < 0) return -1;
        e->newq = -1;
    }
    /* with a fixed quantiser the MPEG-video family reads it per picture */
    e->f->quality = e->c->global_quality;
    e->f->pict_type = AV_PICTURE_TYPE_NONE;
    return avcodec_send_frame(e->c, e->f) < 0 ? -1 : 0;
}

int vid_enc_packet(vid_enc *e, const uint8_t **data, size_t *len, int64_t *pts, int *key)
{
    av_packet_unref(e->pkt);
    int r = avcodec_receive_packet(e->c, e->pkt);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
    if (r < 0) return -1;
    *data = e->pkt->data;
    *len = (size_t)e->pkt->size;
    *pts = e->pkt->pts;
    *key = !!(e->pkt->flags & AV_PKT_FLAG_KEY);
    return 1;
}

struct vid_dec {
    AVCodecContext *c;
    AVFrame *f;
    AVPacket *pkt;
    struct vid_params p;
};

void vid_dec_close(vid_dec *d)
{
    if (!d) return;
    avcodec_free_context(&d->c);
    av_frame_free(&d->f);
    av_packet_free(&d->pkt);
    free(d);
}

vid_dec *vid_dec_open(const struct vid_params *p, char *err, size_t errlen)
{
    const AVCodec *codec;
    vid_dec *d;
    int r;
    if (!params_ok(p)) { kerr(err, errlen, -1, "bad video parameters"); return NULL; }
    codec = avcodec_find_decoder(p->codec == VID_MJPEG ? AV_CODEC_ID_MJPEG : AV_CODEC_ID_H264);
    if (!codec) {
        kerr(err, errlen, -1, "this libavcodec has no %s decoder", p->codec == VID_MJPEG ? "MJPEG" : "H.264");
        return NULL;
    }
    if (!(d = calloc(1, sizeof *d)) || !(d->c = avcodec_alloc_context3(codec)) ||
        !(d->f = av_frame_alloc()) || !(d->pkt = av_packet_alloc())) {
        kerr(err, errlen, -1, "out of memory");
        vid_dec_close(d);
        return NULL;
    }
    d->p = *p;
    d->c->width = (int)p->w;
    d->c->height = (int)p->h;
    d->c->thread_count = 1;
    d->c->flags |= AV_CODEC_FLAG_LOW_DELAY;   /* a picture out for every frame in */
    if ((r = avcodec_open2(d->c, codec, NULL)) < 0) {
        averr(err, errlen, "unable to open the decoder", r);
        vid_dec_close(d);
        return NULL;
    }
    return d;
}

int vid_dec_send(vid_dec *d, const uint8_t *data, size_t len, int64_t pts)
{
    int r;
    if (!data) return avcodec_send_packet(d->c, NULL) < 0 ? -1 : 0;
    if (len > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE) return -1;
    /* a padded copy: libavcodec's bitstream readers read past the end */
    if (av_new_packet(d->pkt, (int)len) < 0) return -1;
    memcpy(d->pkt->data, data, len);
    d->pkt->pts = pts;
    r = avcodec_send_packet(d->c, d->pkt);
    av_packet_unref(d->pkt);
    return r < 0 ? -1 : 0;
}

int vid_dec_frame(vid_dec *d, const uint8_t *plane[3], int stride[3])
{
    int r = avcodec_receive_frame(d->c, d->f);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
    if (r < 0) return -1;
    /* never hand on a picture of another size or layout than the stream
     * header promised, nor one the decoder says is damaged */
    if (d->f->width != (int)d->p.w || d->f->height != (int)d->p.h ||
        (d->f->format != AV_PIX_FMT_YUV420P && d->f->format != AV_PIX_FMT_YUVJ420P) ||
        (d->f->flags & AV_FRAME_FLAG_CORRUPT) || d->f->decode_error_flags) {
        av_frame_unref(d->f);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        plane[i] = d->f->data[i];
        stride[i] = d->f->linesize[i];
    }
    return 1;
}

/* ---- capture ---------------------------------------------------------------- */

struct vid_cap {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *f;
    AVRational tb;
    int si, kind, eof, sent_eof;
    struct SwsContext *sws;
    SwrContext *swr;
    unsigned w, h, rate, ch;
    uint8_t *yuv;
    int16_t *pcm;
    size_t pcmcap;
    int64_t first, last_us, frame_us;
};

void vid_cap_close(vid_cap *c)
{
    if (!c) return;
    avcodec_free_context(&c->dec);
    avformat_close_input(&c->fmt);
    av_packet_free(&c->pkt);
    av_frame_free(&c->f);
    sws_freeContext(c->sws);
    swr_free(&c->swr);
    free(c->yuv);
    free(c->pcm);
    free(c);
}

/* what the device says it is: a V4L2 card and its bus, or the description
 * libavdevice lists for the name */
static void cap_identity(const AVInputFormat *ifmt, const char *fname, const char *url, char *out, size_t cap)
{
    snprintf(out, cap, "%s %s", fname, url);
    if (!strcmp(fname, "v4l2") || !strcmp(fname, "video4linux2")) {
        struct v4l2_capability vc;
        int fd = open(url, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        memset(&vc, 0, sizeof vc);
        if (fd >= 0 && ioctl(fd, VIDIOC_QUERYCAP, &vc) == 0)
            snprintf(out, cap, "%s %s: %.32s (%.16s, %.32s)", fname, url, (const char *)vc.card,
                     (const char *)vc.driver, (const char *)vc.bus_info);
        if (fd >= 0) close(fd);
    } else if (strcmp(fname, "lavfi") != 0) {
        AVDeviceInfoList *l = NULL;
        if (avdevice_list_input_sources(ifmt, NULL, NULL, &l) >= 0 && l) {
            for (int i = 0; i < l->nb_devices; i++)
                if (l->devices[i]->device_name && !strcmp(l->devices[i]->device_name, url) &&
                    l->devices[i]->device_description)
                    snprintf(out, cap, "%s %s: %s", fname, url, l->devices[i]->device_description);
        }
        avdevice_free_list_devices(&l);
    }
}

/* a capture device proper (not a file, not a filter graph): it keeps its
 * own pace */
static int is_device(const AVInputFormat *ifmt)
{
    const AVInputFormat *d = NULL;
    if (!strcmp(ifmt->name, "lavfi")) return 0;
    while ((d = av_input_video_device_next(d)))
        if (d == ifmt) return 1;
    while ((d = av_input_audio_device_next(d)))
        if (d == ifmt) return 1;
    return 0;
}

vid_cap *vid_cap_open(const char *spec, int kind, const struct vid_cap_want *want, struct vid_cap_info *info,
                      char *err, size_t errlen)
{
    static int registered;
    const char *colon = strchr(spec, ':');
    char fname[32], b[64];
    const AVInputFormat *ifmt;
    const AVCodec *codec;
    AVDictionary *o = NULL;
    vid_cap *c;
    int r;

    memset(info, 0, sizeof *info);
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof fname || !colon[1]) {
        kerr(err, errlen, -1, "%s: expected FORMAT:URL, such as v4l2:/dev/video0, alsa:default or lavfi:testsrc2", spec);
        return NULL;
    }
    memcpy(fname, spec, (size_t)(colon - spec));
    fname[colon - spec] = 0;
    if (!registered) { avdevice_register_all(); registered = 1; }
    if (!(ifmt = av_find_input_format(fname))) {
        kerr(err, errlen, -1, "%s: this FFmpeg has no input format %s", spec, fname);
        return NULL;
    }
    if (!(c = calloc(1, sizeof *c)) || !(c->pkt = av_packet_alloc()) || !(c->f = av_frame_alloc())) {
        kerr(err, errlen, -1, "out of memory");
        vid_cap_close(c);
        return NULL;
    }
    c->kind = kind;
    c->first = AV_NOPTS_VALUE;
    if (kind == 'v' && want->w) {
        snprintf(b, sizeof b, "%ux%u", want->w, want->h);
        av_dict_set(&o, "video_size", b, 0);
    }
    if (kind == 'v' && want->fps_num) {
        snprintf(b, sizeof b, "%u/%u", (unsigned)want->fps_num, (unsigned)want->fps_den);
        av_dict_set(&o, "framerate", b, 0);
    }
    if (kind == 'a') {
        av_dict_set_int(&o, "sample_rate", want->rate, 0);
        av_dict_set_int(&o, "channels", want->channels, 0);
    }
    info->live = is_device(ifmt);
    r = avformat_open_input(&c->fmt, colon + 1, ifmt, &o);
    av_dict_free(&o);
    if (r < 0) { averr(err, errlen, spec, r); vid_cap_close(c); return NULL; }
    /* a device describes its stream in its header; probing would hold
     * back frames it already captured */
    if (!info->live && (r = avformat_find_stream_info(c->fmt, NULL)) < 0) {
        averr(err, errlen, spec, r);
        vid_cap_close(c);
        return NULL;
    }
    c->si = av_find_best_stream(c->fmt, kind == 'v' ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (c->si < 0) {
        kerr(err, errlen, -1, "%s: no %s stream", spec, kind == 'v' ? "video" : "audio");
        vid_cap_close(c);
        return NULL;
    }
    AVStream *st = c->fmt->streams[c->si];
    c->tb = st->time_base;
    if (!(codec = avcodec_find_decoder(st->codecpar->codec_id)) || !(c->dec = avcodec_alloc_context3(codec)) ||
        avcodec_parameters_to_context(c->dec, st->codecpar) < 0) {
        kerr(err, errlen, -1, "%s: no decoder for its %s", spec, avcodec_get_name(st->codecpar->codec_id));
        vid_cap_close(c);
        return NULL;
    }
    c->dec->thread_count = 1;
    if ((r = avcodec_open2(c->dec, codec, NULL)) < 0) {
        averr(err, errlen, spec, r);
        vid_cap_close(c);
        return NULL;
    }
    if (kind == 'v') {
        AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
        c->w = (want->w ? want->w : (unsigned)st->codecpar->width) & ~1u;
        c->h = (want->h ? want->h : (unsigned)st->codecpar->height) & ~1u;
        if (c->w < 16 || c->h < 16 || c->w > 8192 || c->h > 8192) {
            kerr(err, errlen, -1, "%s: a picture of %ux%u", spec, c->w, c->h);
            vid_cap_close(c);
            return NULL;
        }
        if (fr.num <= 0 || fr.den <= 0) fr = want->fps_num ? (AVRational){ (int)want->fps_num, (int)want->fps_den }
                                                           : (AVRational){ 30, 1 };
        info->w = c->w;
        info->h = c->h;
        info->fps_num = (uint32_t)fr.num;
        info->fps_den = (uint32_t)fr.den;
        c->frame_us = av_rescale(1000000, fr.den, fr.num);
        if (!(c->yuv = malloc((size_t)c->w * c->h * 3 / 2))) { kerr(err, errlen, -1, "out of memory"); vid_cap_close(c); return NULL; }
    } else {
        c->rate = want->rate;
        c->ch = want->channels;
    }
    cap_identity(ifmt, fname, colon + 1, info->device, sizeof info->device);
    return c;
}

/* the next decoded frame of the stream: 1, 0 at the end, -1 on error */
static int cap_next(vid_cap *c)
{
    for (;;) {
        int r = avcodec_receive_frame(c->dec, c->f);
        if (r == 0) return 1;
        if (r == AVERROR_EOF) return 0;
        if (r != AVERROR(EAGAIN)) return -1;
        if (c->sent_eof) return 0;
        r = av_read_frame(c->fmt, c->pkt);
        if (r == AVERROR(EAGAIN)) { usleep(1000); continue; }
        if (r < 0) {
            c->sent_eof = 1;
            if (avcodec_send_packet(c->dec, NULL) < 0) return 0;
            continue;
        }
        if (c->pkt->stream_index == c->si && avcodec_send_packet(c->dec, c->pkt) < 0 && c->kind == 'v') {
            /* a damaged picture from a camera: skip it */
        }
        av_packet_unref(c->pkt);
    }
}

static int64_t cap_time(vid_cap *c)
{
    int64_t ts = c->f->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE) return c->last_us + (c->kind == 'v' ? c->frame_us : 0);
    ts = av_rescale_q(ts, c->tb, AV_TIME_BASE_Q);
    if (c->first == AV_NOPTS_VALUE) c->first = ts;
    return ts - c->first;
}

int vid_cap_video(vid_cap *c, const uint8_t **yuv, int64_t *us)
{
    int r = cap_next(c);
    if (r <= 0) return r;
    AVFrame *f = c->f;
    uint8_t *dst[4] = { c->yuv, c->yuv + (size_t)c->w * c->h, c->yuv + (size_t)c->w * c->h * 5 / 4, NULL };
    int ds[4] = { (int)c->w, (int)c->w / 2, (int)c->w / 2, 0 };
    if (f->format == AV_PIX_FMT_YUV420P && f->width == (int)c->w && f->height == (int)c->h) {
        for (int i = 0; i < 3; i++)
            av_image_copy_plane(dst[i], ds[i], f->data[i], f->linesize[i], i ? (int)c->w / 2 : (int)c->w,
                                i ? (int)c->h / 2 : (int)c->h);
    } else {
        c->sws = sws_getCachedContext(c->sws, f->width, f->height, f->format, (int)c->w, (int)c->h,
                                      AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
        if (!c->sws || sws_scale(c->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, ds) < 0) {
            av_frame_unref(f);
            return -1;
        }
    }
    *us = c->last_us = cap_time(c);
    *yuv = c->yuv;
    av_frame_unref(f);
    return 1;
}

int vid_cap_audio(vid_cap *c, const int16_t **pcm, size_t *n, int64_t *us)
{
    int r = cap_next(c);
    if (r <= 0) return r;
    AVFrame *f = c->f;
    if (!c->swr) {
        AVChannelLayout in = { 0 }, out = { 0 };
        if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || !f->ch_layout.nb_channels)
            av_channel_layout_default(&in, f->ch_layout.nb_channels ? f->ch_layout.nb_channels : 1);
        else if (av_channel_layout_copy(&in, &f->ch_layout) < 0) return -1;
        av_channel_layout_default(&out, (int)c->ch);
        r = swr_alloc_set_opts2(&c->swr, &out, AV_SAMPLE_FMT_S16, (int)c->rate, &in, f->format, f->sample_rate, 0, NULL);
        av_channel_layout_uninit(&in);
        av_channel_layout_uninit(&out);
        if (r < 0 || swr_init(c->swr) < 0) { av_frame_unref(f); return -1; }
    }
    int want = swr_get_out_samples(c->swr, f->nb_samples);
    if (want < 0) { av_frame_unref(f); return -1; }
    if ((size_t)want * c->ch > c->pcmcap) {
        int16_t *p = realloc(c->pcm, (size_t)want * c->ch * sizeof *p);
        if (!p) { av_frame_unref(f); return -1; }
        c->pcm = p;
        c->pcmcap = (size_t)want * c->ch;
    }
    uint8_t *o = (uint8_t *)c->pcm;
    int got = swr_convert(c->swr, &o, want, (const uint8_t **)f->extended_data, f->nb_samples);
    *us = c->last_us = cap_time(c);
    av_frame_unref(f);
    if (got < 0) return -1;
    *pcm = c->pcm;
    *n = (size_t)got;
    return 1;
}

/* ---- Opus ---------------------------------------------------------------------- */

struct vid_aenc {
    AVCodecContext *c;
    AVFrame *f;
    AVPacket *pkt;
    int64_t n;
};

void vid_aenc_close(vid_aenc *e)
{
    if (!e) return;
    avcodec_free_context(&e->c);
    av_frame_free(&e->f);
    av_packet_free(&e->pkt);
    free(e);
}

vid_aenc *vid_aenc_open(unsigned channels, int bitrate, int loss, char *err, size_t errlen)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("libopus");
    vid_aenc *e;
    int r;
    if (!codec) { kerr(err, errlen, -1, "this libavcodec has no Opus encoder (libopus)"); return NULL; }
    if (!(e = calloc(1, sizeof *e)) || !(e->c = avcodec_alloc_context3(codec)) || !(e->f = av_frame_alloc()) ||
        !(e->pkt = av_packet_alloc())) {
        kerr(err, errlen, -1, "out of memory");
        vid_aenc_close(e);
        return NULL;
    }
    AVCodecContext *c = e->c;
    c->sample_rate = VID_AUDIO_RATE;
    c->sample_fmt = AV_SAMPLE_FMT_S16;
    c->bit_rate = bitrate;
    c->time_base = (AVRational){ 1, VID_AUDIO_RATE };
    av_channel_layout_default(&c->ch_layout, (int)channels);
    /* 20 ms packets; speech first; in-band FEC sized for the loss expected */
    if ((r = av_opt_set(c->priv_data, "application", "voip", 0)) < 0 ||
        (r = av_opt_set_double(c->priv_data, "frame_duration", 20, 0)) < 0 ||
        (r = av_opt_set_int(c->priv_data, "packet_loss", loss, 0)) < 0 ||
        (r = av_opt_set_int(c->priv_data, "fec", loss > 0, 0)) < 0 ||
        (r = avcodec_open2(c, codec, NULL)) < 0) {
        averr(err, errlen, "unable to open the Opus encoder", r);
        vid_aenc_close(e);
        return NULL;
    }
    e->f->format = c->sample_fmt;
    e->f->nb_samples = VID_AUDIO_FRAME;
    if (c->frame_size != VID_AUDIO_FRAME || av_channel_layout_copy(&e->f->ch_layout, &c->ch_layout) < 0 ||
        av_frame_get_buffer(e->f, 0) < 0) {
        kerr(err, errlen, -1, "the Opus encoder: not 20 ms frames");
        vid_aenc_close(e);
        return NULL;
    }
    return e;
}

int vid_aenc_delay(const vid_aenc *e)
{
    return e->c->initial_padding;
}

int vid_aenc_frame(vid_aenc *e, const int16_t *pcm, const uint8_t **pkt, size_t *len)
{
    int r;
    if (pcm) {
        if (av_frame_make_writable(e->f) < 0) return -1;
        memcpy(e->f->data[0], pcm, (size_t)VID_AUDIO_FRAME * (size_t)e->c->ch_layout.nb_channels * 2);
        e->f->pts = e->n;
        e->n += VID_AUDIO_FRAME;
        if (avcodec_send_frame(e->c, e->f) < 0) return -1;
    }
    av_packet_unref(e->pkt);
    r = avcodec_receive_packet(e->c, e->pkt);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
    if (r < 0) return -1;
    *pkt = e->pkt->data;
    *len = (size_t)e->pkt->size;
    return 1;
}

struct vid_adec {
    OpusDecoder *d;
    unsigned ch;
};

vid_adec *vid_adec_open(unsigned channels, char *err, size_t errlen)
{
    int e;
    vid_adec *d = calloc(1, sizeof *d);
    if (!d) { kerr(err, errlen, -1, "out of memory"); return NULL; }
    d->ch = channels;
    if (!(d->d = opus_decoder_create(VID_AUDIO_RATE, (int)channels, &e))) {
        kerr(err, errlen, -1, "the Opus decoder: %s", opus_strerror(e));
        free(d);
        return NULL;
    }
    return d;
}

void vid_adec_close(vid_adec *d)
{
    if (!d) return;
    opus_decoder_destroy(d->d);
    free(d);
}

int vid_adec_frame(vid_adec *d, const uint8_t *pkt, size_t len, int fec, int16_t *out, int frame)
{
    int n;
    if (len > VID_OPUS_MAX) n = -1;
    else n = opus_decode(d->d, pkt, pkt ? (opus_int32)len : 0, out, frame, pkt ? fec : 0);
    if (n < 0) {
        memset(out, 0, (size_t)frame * d->ch * sizeof *out);
        return -1;
    }
    if (n < frame) memset(out + (size_t)n * d->ch, 0, (size_t)(frame - n) * d->ch * sizeof *out);
    return n;
}
