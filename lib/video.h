/*
 * video.h - secure peer-to-peer video (paper 002): the key file that an
 * accepted /video invitation leaves behind, the record layer that carries
 * every compressed frame encrypted and authenticated, forward error
 * correction for datagrams, and a thin wrapper around libavcodec.
 *
 * Paper 002 (Fig. 5, steps 2-5): capture, JPEG-compress, encrypt with the
 * SIMPP key, send, decrypt, decompress; a "device tag" lets the receiver
 * tell that the stream comes from the inviter and not from someone else.
 * Here: AEAD (ChaCha20-Poly1305 from lib/crypto.h) instead of bare AES-CBC,
 * a per-direction key exported from the client-client session, a key per
 * encoder run, a sequence number per record with a replay window, and the
 * device tag bound into every record.  doc/simpp-videnc.1 has the byte
 * layouts.
 *
 * Only lib/video.c includes libavcodec headers; callers see opaque types, so
 * nothing else in simpp is compiled or linked against FFmpeg.
 *
 * Return convention: 0 on success, -1 on failure, unless stated otherwise.
 */
#ifndef SIMPP_VIDEO_H
#define SIMPP_VIDEO_H

#include <stddef.h>
#include <stdint.h>

/* ---- the key file written by simpp-session (video_keys()) ------------ */
#define VID_SID_LEN     16
#define VID_KEY_LEN     32
#define VID_JID_MAX     1023

struct vid_keys {
    uint8_t stream[VID_SID_LEN];
    char me[VID_JID_MAX + 1], peer[VID_JID_MAX + 1];    /* bare JIDs */
    uint8_t send[VID_KEY_LEN];      /* the stream this holder sends */
    uint8_t recv[VID_KEY_LEN];      /* the stream this holder receives */
};

enum { VIDK_OK = 0, VIDK_EOPEN = -1, VIDK_EMODE = -2, VIDK_EFORMAT = -3 };
/* Read and check a key file: a regular file opened without following
 * links, no access for group or others, exactly the six lines of format 1.
 * On failure err says why (errno kept for VIDK_EOPEN). */
int  vid_keys_load(const char *path, struct vid_keys *k, char *err, size_t errlen);
void vid_keys_wipe(struct vid_keys *k);

/* ---- records ---------------------------------------------------------- */
#define VID_MAGIC0      0x53        /* 'S' */
#define VID_MAGIC1      0x56        /* 'V' */
#define VID_VERSION     1
#define VID_TAG_LEN     8           /* device tag carried in each record */
#define VID_EPOCH_LEN   8
#define VID_HDR_LEN     60          /* clear header, all of it AAD */
#define VID_MAC_LEN     16          /* Poly1305 tag */
#define VID_OVERHEAD    (VID_HDR_LEN + VID_MAC_LEN)
#define VID_FRAME_MAX   (8u << 20)  /* largest compressed frame */
#define VID_RECORD_MAX  (VID_OVERHEAD + VID_FRAME_MAX)
#define VID_DGRAM_MAX   65507       /* UDP over IPv4 */
#define VID_DGRAM_DEF   1400        /* fits a 1500-byte Ethernet MTU */
#define VID_KMAX        200         /* data fragments a frame, at most */
#define VID_NMAX        255         /* data + parity: GF(2^8) code length */
#define VID_WINDOW      1024        /* replay window, in sequence numbers */

/* Record types.  A call carries three tracks, each a run of its own (its
 * own epoch, key and sequence space, so its own replay window): video
 * (types 1-3), audio (4-6) and control (7, 8: the receiver's reports and
 * the hang-up).  The type is in the AAD and picks the track's key, so a
 * record moved from one track to another does not open. */
enum vid_type {
    VID_T_PARAMS = 1, VID_T_FRAME = 2, VID_T_END = 3,
    VID_T_APARAMS = 4, VID_T_AUDIO = 5, VID_T_AEND = 6,
    VID_T_REPORT = 7, VID_T_BYE = 8,
};
enum vid_track { VID_TRACK_VIDEO = 0, VID_TRACK_AUDIO = 1, VID_TRACK_CTRL = 2, VID_TRACKS = 3 };
int vid_track_of(unsigned type);            /* -1 for an unknown type */
enum { VID_F_KEY = 1 };

/* The capturing device's identity ("v4l2 /dev/video0: <card> (<bus>)",
 * "lavfi testsrc2=...", "yuv4mpeg2 stdin"), at most this many bytes. */
#define VID_DEVID_MAX   255
#define VID_SALT_LEN    16

struct vid_hdr {
    unsigned type, flags;
    unsigned idx, k, r;             /* fragment idx of k data + r parity */
    uint32_t flen;                  /* bytes of the whole compressed frame */
    uint8_t stream[VID_SID_LEN], tag[VID_TAG_LEN], epoch[VID_EPOCH_LEN];
    uint64_t seq, pts;
};

/* The device tag (paper 002, IV: the tag that shows "the carrier is the
 * inviter"): h("simpp/1 video device" || 0 || stream id || sender's JID),
 * first 8 bytes.  The AEAD key is what authenticates; the tag names which
 * of the two parties a record claims to come from, so a stream that is not
 * the invited peer's is recognised and refused by name. */
void vid_device_tag(const uint8_t stream[VID_SID_LEN], const char *jid, uint8_t tag[VID_TAG_LEN]);

enum vid_err {
    VID_OK = 0, VID_EFORMAT = -1, VID_EVERSION = -2, VID_ESTREAM = -3, VID_EDEVICE = -4,
    VID_EEPOCH = -5, VID_EAUTH = -6, VID_EREPLAY = -7, VID_EORDER = -8, VID_EINTERNAL = -9,
};
const char *vid_strerror(int err);

/* codec parameters, carried in the (authenticated, encrypted) stream
 * header record and in YUV4MPEG2 headers */
enum vid_codec { VID_MJPEG = 1, VID_H264 = 2 };
struct vid_params {
    int codec;
    unsigned w, h;
    uint32_t fps_num, fps_den, sar_num, sar_den;
    char chroma[12];                /* y4m C tag: "420jpeg", "420mpeg2", "420paldv" */
    char interlace;                 /* y4m I tag: 'p', 't', 'b', 'm', '?' */
    int range;                      /* 0 unspecified, 1 limited (tv), 2 full (pc) */
};
#define VID_PARAMS_LEN  24
int  vid_params_encode(const struct vid_params *p, uint8_t out[VID_PARAMS_LEN]);
int  vid_params_decode(const uint8_t *in, size_t n, struct vid_params *p);
const char *vid_codec_name(int codec);
int  vid_codec_from_name(const char *s);        /* 0 if unknown */
size_t vid_frame_bytes(const struct vid_params *p);   /* planar 4:2:0 */

/* YUV4MPEG2: parse a header line (without its newline); write one */
int  vid_y4m_parse(const char *line, struct vid_params *p, char *err, size_t errlen);
int  vid_y4m_header(const struct vid_params *p, char *out, size_t cap);

/* ---- sender ------------------------------------------------------------ */
struct vid_tx {
    int track;
    uint8_t key[VID_KEY_LEN];       /* this run's key, from the send key */
    uint8_t salt[VID_SALT_LEN];     /* the device commitment's salt */
    char device[VID_DEVID_MAX + 1]; /* the capturing device's identity */
    uint8_t stream[VID_SID_LEN], tag[VID_TAG_LEN], epoch[VID_EPOCH_LEN];
    uint64_t seq;
    size_t dgram;                   /* 0: stream (one record a frame); else datagram size */
    unsigned fec;                   /* parity, percent of data fragments (+1), 0 none */
    uint8_t *buf;                   /* scratch for fragments and records */
    size_t bufcap;
    uint64_t records, bytes;        /* statistics */
};
typedef int (*vid_emit_fn)(void *ctx, const uint8_t *rec, size_t len);

/* The run of one track.  The epoch commits to the capturing device:
 *   epoch = SHA-256("simpp/1 media device" || 0 || stream || tag || salt ||
 *                   device)[0..7], salt random,
 * and key = HKDF(epoch, send, label || stream || tag), the label naming the
 * track ("simpp/1 video record", "simpp/1 audio record", "simpp/1 media
 * control").  The epoch is in every record's AAD, so every record is bound
 * to the device named (salt and name travel encrypted in the track's
 * stream header).  dgram 0 for a byte stream, else the datagram size.
 * vid_tx_init: the video track of an unnamed device. */
int  vid_tx_init(struct vid_tx *tx, const struct vid_keys *k, size_t dgram, unsigned fec);
int  vid_tx_init_track(struct vid_tx *tx, const struct vid_keys *k, int track, const char *device,
                       size_t dgram, unsigned fec);
void vid_tx_free(struct vid_tx *tx);
/* seal one record into out (capacity VID_OVERHEAD + n); returns its length */
size_t vid_seal(struct vid_tx *tx, const struct vid_hdr *h, const void *pt, size_t n, uint8_t *out);
int  vid_tx_params(struct vid_tx *tx, const struct vid_params *p, vid_emit_fn emit, void *ctx);
/* one compressed frame: one record, or k data + r parity fragments */
int  vid_tx_frame(struct vid_tx *tx, const uint8_t *pkt, size_t len, uint64_t pts, int key,
                  vid_emit_fn emit, void *ctx);
int  vid_tx_end(struct vid_tx *tx, uint64_t frames, vid_emit_fn emit, void *ctx);
/* one record of any type with k = 1: an audio packet, a report, a bye */
int  vid_tx_record(struct vid_tx *tx, unsigned type, uint64_t pts, const void *pt, size_t n,
                   vid_emit_fn emit, void *ctx);

/* ---- receiver ---------------------------------------------------------- */
struct vid_rx {
    int track;
    uint8_t master[VID_KEY_LEN];    /* recv key: wiped once the epoch is known */
    uint8_t key[VID_KEY_LEN];
    uint8_t stream[VID_SID_LEN], tag[VID_TAG_LEN], epoch[VID_EPOCH_LEN];
    int have_epoch, strict;         /* strict: a byte stream, seq must be next */
    uint64_t top, bits[VID_WINDOW / 64];  /* highest seq accepted; window below it */
    int any;
};
/* strict for a reliable byte stream (any gap or reorder is refused), else
 * a sliding replay window of VID_WINDOW (RFC 4303 3.4.3, RFC 6479) */
int  vid_rx_init(struct vid_rx *rx, const struct vid_keys *k, int strict);
int  vid_rx_init_track(struct vid_rx *rx, const struct vid_keys *k, int track, int strict);
void vid_rx_free(struct vid_rx *rx);
/* Check, authenticate and decrypt one record; pt needs n bytes.  Returns
 * VID_OK with h and pt filled, or a vid_err (h holds the clear header
 * whenever the format was right). */
int  vid_rx_open(struct vid_rx *rx, const uint8_t *rec, size_t n, struct vid_hdr *h,
                 uint8_t *pt, size_t *ptlen);

/* A stream header's tail (after its fixed part): salt || u8 n || device
 * identity (n bytes, UTF-8).  VID_OK with the identity in id (NUL-ended)
 * when the record's epoch is the commitment to them, VID_EDEVICE when it is
 * not, VID_EFORMAT when the tail is malformed. */
int  vid_device_check(const struct vid_hdr *h, const uint8_t *tail, size_t n, char id[VID_DEVID_MAX + 1]);

/* ---- audio stream header (type 4): u8 codec (1 Opus) || u8 channels ||
 * u16 samples a packet || u32 sample rate || u16 pre-skip (samples the
 * decoder's output lags the input), then the device tail */
#define VID_APARAMS_LEN 10
struct vid_aparams { unsigned codec, channels, frame, rate, preskip; };
int  vid_aparams_encode(const struct vid_aparams *a, uint8_t out[VID_APARAMS_LEN]);
int  vid_aparams_decode(const uint8_t *in, size_t n, struct vid_aparams *a);
int  vid_tx_aparams(struct vid_tx *tx, const struct vid_aparams *a, vid_emit_fn emit, void *ctx);

/* ---- reassembly of fragments into frames (datagrams) ------------------ */
#define VID_SLOTS 6
struct vid_slot;
struct vid_asm {
    struct vid_slot *slot[VID_SLOTS];
    int64_t last;                   /* pts of the last frame handed out, -1 none */
    uint8_t *out;                   /* the frame handed out */
    size_t outcap;
    uint64_t complete, abandoned, rebuilt, late, inconsistent;
};
void vid_asm_init(struct vid_asm *a);
void vid_asm_free(struct vid_asm *a);
/* Add one authenticated fragment.  Returns 1 and a whole frame (valid until
 * the next call) when one completes, 0 when none does, -1 out of memory.
 * Frames come out in increasing pts; older unfinished ones are abandoned. */
int  vid_asm_add(struct vid_asm *a, const struct vid_hdr *h, const uint8_t *p, size_t n,
                 const uint8_t **frame, size_t *flen);
/* frames still unfinished (at the end of a stream) count as abandoned */
void vid_asm_finish(struct vid_asm *a);

/* ---- erasure code: systematic Reed-Solomon over GF(2^8), Cauchy matrix
 * (RFC 5510 family): any k of the k + r fragments give back the k data
 * fragments.  frag[i] points at S bytes each; present[i] says which arrived.
 * decode fills in the missing data fragments; returns how many it rebuilt,
 * or -1 when fewer than k arrived. */
void vid_fec_encode(unsigned k, unsigned r, size_t S, uint8_t *const frag[]);
int  vid_fec_decode(unsigned k, unsigned r, size_t S, uint8_t *const frag[], const uint8_t present[]);
unsigned vid_fec_parity(unsigned k, unsigned pct);

/* ---- libavcodec ------------------------------------------------------- */
/* libav's log lines through the simpp error grammar; verbose shows warnings */
void vid_av_log(int verbose);

typedef struct vid_enc vid_enc;
/* quality: MJPEG JPEG quantiser scale 2 (best) to 31; H.264 CRF 0 (best) to
 * 51.  gop: frames between H.264 key frames. */
vid_enc *vid_enc_open(const struct vid_params *p, int quality, int gop, char *err, size_t errlen);
/* yuv: one planar 4:2:0 frame (Y, then U, then V, no padding); NULL drains */
int  vid_enc_send(vid_enc *e, const uint8_t *yuv, int64_t pts);
/* from the next frame on: quality as for vid_enc_open (congestion control) */
void vid_enc_quality(vid_enc *e, int quality);
/* 1: a packet (valid until the next call), 0: none ready, -1: error */
int  vid_enc_packet(vid_enc *e, const uint8_t **data, size_t *len, int64_t *pts, int *key);
void vid_enc_close(vid_enc *e);

typedef struct vid_dec vid_dec;
vid_dec *vid_dec_open(const struct vid_params *p, char *err, size_t errlen);
/* one whole compressed frame; NULL drains.  -1: the decoder refused it */
int  vid_dec_send(vid_dec *d, const uint8_t *data, size_t len, int64_t pts);
/* 1: a picture of exactly the stream's size in plane/stride (valid until
 * the next call), 0: none ready, -1: a picture that was damaged, or of the
 * wrong size or format (dropped) */
int  vid_dec_frame(vid_dec *d, const uint8_t *plane[3], int stride[3]);
void vid_dec_close(vid_dec *d);

/* ---- capture through libavformat and libavdevice ---------------------- */
/* spec: "FORMAT:URL", an FFmpeg input format and what it opens:
 * "v4l2:/dev/video0", "alsa:default", "pulse:default", "lavfi:testsrc2",
 * "lavfi:sine=frequency=440", "matroska:clip.mkv".  Video comes out as
 * planar 4:2:0 of the size asked (0: the input's own), audio as signed
 * 16-bit samples, interleaved, at the rate and channel count asked. */
typedef struct vid_cap vid_cap;
struct vid_cap_want {
    unsigned w, h;                  /* video: 0 keeps the input's size */
    uint32_t fps_num, fps_den;      /* video: asked of a device (0: its own) */
    unsigned rate, channels;        /* audio */
};
struct vid_cap_info {
    unsigned w, h;
    uint32_t fps_num, fps_den;
    int live;                       /* a capture device: frames come at their own pace */
    char device[VID_DEVID_MAX + 1]; /* the device's identity */
};
/* kind 'v' or 'a' */
vid_cap *vid_cap_open(const char *spec, int kind, const struct vid_cap_want *want, struct vid_cap_info *info,
                      char *err, size_t errlen);
/* 1: a picture (w x h, planar 4:2:0, no padding) and its time in
 * microseconds from the first; 0: the input ended; -1: an error */
int  vid_cap_video(vid_cap *c, const uint8_t **yuv, int64_t *us);
/* 1: n samples (per channel) and the time of the first; 0 end; -1 error */
int  vid_cap_audio(vid_cap *c, const int16_t **pcm, size_t *n, int64_t *us);
void vid_cap_close(vid_cap *c);

/* ---- Opus: libavcodec's libopus encoder, libopus's decoder (for its
 * packet-loss concealment and in-band FEC) ----------------------------- */
#define VID_AUDIO_RATE  48000
#define VID_AUDIO_FRAME 960         /* 20 ms at 48 kHz */
#define VID_OPUS_MAX    1275        /* the largest Opus packet */
typedef struct vid_aenc vid_aenc;
/* bitrate in bit/s; loss: expected percent (turns in-band FEC on) */
vid_aenc *vid_aenc_open(unsigned channels, int bitrate, int loss, char *err, size_t errlen);
/* one 20 ms frame in; 1 and a packet out, 0 none yet, -1 error */
int  vid_aenc_frame(vid_aenc *e, const int16_t *pcm, const uint8_t **pkt, size_t *len);
/* samples the encoder delays its output by (Opus pre-skip) */
int  vid_aenc_delay(const vid_aenc *e);
void vid_aenc_close(vid_aenc *e);

typedef struct vid_adec vid_adec;
vid_adec *vid_adec_open(unsigned channels, char *err, size_t errlen);
/* frame samples (per channel) into out: pkt decoded; with fec, the FEC copy
 * of the packet before pkt; pkt NULL: concealment.  Returns the samples
 * written, or -1 for a packet that does not decode (out is then silence). */
int  vid_adec_frame(vid_adec *d, const uint8_t *pkt, size_t len, int fec, int16_t *out, int frame);
void vid_adec_close(vid_adec *d);

#endif
