/*
 * payload.h - what travels inside an opened end-to-end frame besides text
 * (doc/PROTOCOL.md 19.9-19.12 and 20): files, video invitations, ACKs,
 * FILE_DONE and BYE, as pure functions on bytes.  The peer chose every byte
 * a parser here reads (the frame's tag only says the peer sent it), so each
 * one checks lengths before it reads and never trusts a count.
 */
#ifndef SIMPP_PAYLOAD_H
#define SIMPP_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define PL_NAME_MAX   200           /* a received file's name, in bytes */
#define PL_CHUNK      16384         /* content bytes in one FILE_CHUNK */
#define PL_VSID       16            /* a video stream id */
#define PL_VPARAMS    512           /* video parameters, in bytes */

enum pl_err {
    PL_OK = 0,
    PL_ESHORT = -1,                 /* shorter than its fixed part */
    PL_ENAME = -2,                  /* a file name that is not a plain name */
    PL_ELONG = -3,                  /* longer than the format allows */
    PL_EORDER = -4,                 /* a chunk not at the next offset, or past the size */
    PL_EHASH = -5,                  /* the content does not match the offer's hash */
    PL_EKIND = -6,                  /* an unknown video message kind */
    PL_EFILE = -7,                  /* a chunk for another file */
};
const char *pl_strerror(int err);

/* A plain file name: 1 to 200 bytes, no '/', not starting with '.', no
 * byte below 0x20 and no 0x7f.  n is its length (a NUL inside is refused). */
int pl_name_ok(const char *name, size_t n);

/* FILE_OFFER: u64 size || h(content) (32) || name */
struct pl_offer {
    uint64_t size;
    uint8_t sha[SC_SHA256_LEN];
    char name[PL_NAME_MAX + 1];     /* NUL-terminated, pl_name_ok */
};
int pl_offer_parse(const uint8_t *d, size_t n, struct pl_offer *o);
/* out: at least 8 + 32 + PL_NAME_MAX bytes; PL_ENAME for a name the
 * receiver would refuse (so the sender can say so instead) */
int pl_offer_make(const struct pl_offer *o, uint8_t *out, size_t *outlen);

/* FILE_CHUNK: u64 offset || bytes (out: 8 + len bytes) */
int pl_chunk_parse(const uint8_t *d, size_t n, uint64_t *off, const uint8_t **bytes, size_t *len);
size_t pl_chunk_make(uint64_t off, const uint8_t *bytes, size_t len, uint8_t *out);

/* The receiving side of one file: the offer, and how far it has got.
 * pl_recv_chunk checks a chunk (the frame's message id, then the offset and
 * size) and hashes its bytes; the caller writes the chunk's bytes (*bytes, *len) when it is not an error.  It
 * returns 1 when the last byte came and the hash matched, PL_OK (0) while
 * more is due, or an error (the file is then refused: pl_recv_wipe). */
struct pl_recv {
    uint64_t id;                    /* the offer's message id */
    struct pl_offer o;
    uint64_t got;
    sc_sha256_ctx h;
};
void pl_recv_start(struct pl_recv *r, uint64_t id, const struct pl_offer *o);
int pl_recv_chunk(struct pl_recv *r, uint64_t id, const uint8_t *d, size_t n,
                  const uint8_t **bytes, size_t *len);
/* an empty file: done at once (1) if the offer's hash is that of nothing */
int pl_recv_empty(struct pl_recv *r);

/* FILE_DONE: u8 verdict (1 stored and checked, 0 refused); anything but a
 * leading 1 is a refusal */
int pl_done_ok(const uint8_t *d, size_t n);

/* ACK: the receiver's transcript (32), or NULL if the payload is too short
 * to hold one (an ACK without a transcript cannot confirm anything) */
const uint8_t *pl_ack_transcript(const uint8_t *d, size_t n);

/* BYE: u64 frames sent before it || the sender's t_send (32) */
int pl_bye_parse(const uint8_t *d, size_t n, uint64_t *count, const uint8_t **transcript);
size_t pl_bye_make(uint64_t count, const uint8_t transcript[SC_SHA256_LEN], uint8_t out[40]);

/* VIDEO: u8 kind || stream id (16) || parameters (an invitation's only) */
enum { PL_VINVITE = 1, PL_VACCEPT = 2, PL_VREFUSE = 3 };
struct pl_video {
    int kind;
    uint8_t sid[PL_VSID];
    char params[PL_VPARAMS + 1];    /* NUL-terminated, shown as pl_clean left it */
};
int pl_video_parse(const uint8_t *d, size_t n, struct pl_video *v);
/* out: at least 1 + 16 + PL_VPARAMS bytes */
int pl_video_make(int kind, const uint8_t sid[PL_VSID], const char *params,
                  uint8_t *out, size_t *outlen);

/* A peer's text for a terminal, in place and at the same length: every
 * byte that is not part of well-formed UTF-8 becomes '?', and so does every
 * byte of a C0 control (tab excepted), DEL, a C1 control, a bidirectional
 * control or U+2028/U+2029, so no escape sequence reaches the screen and no
 * direction override turns what is shown around. */
void pl_clean(char *s, size_t n);

#endif
