/*
 * der.h - a strict, small DER reader and writer (ITU-T X.690), enough for
 * the key formats simpp reads and writes: SPKI (RFC 5480), PKCS#8 (RFC 5208,
 * 5958), SEC1 ECPrivateKey (RFC 5915) and PBES2 (RFC 8018).
 *
 * The reader refuses BER leniency: indefinite lengths, non-minimal lengths,
 * non-minimal or negative integers where a positive one is due, and trailing
 * bytes.  Nothing is allocated; a "der" is a window into the caller's buffer.
 */
#ifndef SIMPP_DER_H
#define SIMPP_DER_H

#include <stddef.h>
#include <stdint.h>

enum {
    DER_INTEGER = 0x02, DER_BITSTRING = 0x03, DER_OCTETSTRING = 0x04, DER_NULL = 0x05,
    DER_OID = 0x06, DER_SEQUENCE = 0x30,
    DER_CTX0 = 0xa0, DER_CTX1 = 0xa1,          /* [0] / [1] constructed, explicit */
};

typedef struct { const uint8_t *p; size_t n; } der_t;

/* Take the next TLV, which must carry tag; its contents go to *val. */
int der_take(der_t *in, uint8_t tag, der_t *val);
/* Peek at the next tag (-1 at end). */
int der_peek(const der_t *in);
/* The window must be empty now. */
int der_end(const der_t *in);
/* Contents equal to the given bytes (for OIDs) */
int der_eq(const der_t *v, const uint8_t *bytes, size_t n);
/* A non-negative INTEGER that fits in width bytes, left-padded. */
int der_take_uint(der_t *in, uint8_t *out, size_t width);
/* A small non-negative INTEGER. */
int der_take_ulong(der_t *in, unsigned long *v);
/* A BIT STRING with no unused bits: its bytes. */
int der_take_bits(der_t *in, der_t *bits);

/* Writer: append to out[0..cap), *pos advances; -1 if it does not fit. */
int der_put(uint8_t *out, size_t cap, size_t *pos, uint8_t tag, const void *val, size_t n);
/* Put an unsigned big-endian number as a minimal INTEGER. */
int der_put_uint(uint8_t *out, size_t cap, size_t *pos, const uint8_t *num, size_t n);
int der_put_ulong(uint8_t *out, size_t cap, size_t *pos, unsigned long v);
/* Put a BIT STRING with 0 unused bits. */
int der_put_bits(uint8_t *out, size_t cap, size_t *pos, const void *val, size_t n);

#endif
