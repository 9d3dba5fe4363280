#!/usr/bin/env python3
"""scalarscan.py PUBKEY.pem FILE... - look for the private scalar of a P-256
public key in memory images (core dumps).  Every 8-byte-aligned place that
could hold a scalar is taken as one, multiplied by the base point, and
compared with the public key.  Forms tried:
  - 32 bytes big-endian (DER, decoded PEM, our own buffers) and little-endian;
  - libtommath's digits: five 64-bit words of 60 bits each, least
    significant first (how libtomcrypt keeps a key for its whole life).
Only places that look random are tried (a scalar's bytes are), each
distinct value once.  Prints "candidates N" and "FOUND at OFFSET (form)" for
each hit.  Exit 0 when nothing matched, 1 when the scalar was found."""
import struct
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def main():
    pub = serialization.load_pem_public_key(open(sys.argv[1], 'rb').read())
    want = pub.public_numbers()
    seen, found = set(), False

    def try_(d, off, form):
        nonlocal found
        if d in seen or not 0 < d < N:
            return
        seen.add(d)
        p = ec.derive_private_key(d, ec.SECP256R1()).public_key().public_numbers()
        if p.x == want.x and p.y == want.y:
            print('FOUND at %d (%s)' % (off, form))
            found = True

    for path in sys.argv[2:]:
        b = open(path, 'rb').read()
        words = struct.unpack_from('<%dQ' % (len(b) // 8), b)
        for i in range(len(words) - 4):
            w = words[i:i + 5]
            # five 60-bit digits: 4 x 60 + 16 bits
            if all(x >> 60 == 0 and x >> 40 for x in w[:4]) and 0 < w[4] < 1 << 16:
                try_(sum(x << (60 * j) for j, x in enumerate(w)), 8 * i, 'libtommath digits')
            # random-looking bytes: at most one zero byte a word, many distinct values
            if any(x == 0 for x in w[:4]):
                continue
            raw = b[8 * i:8 * i + 32]
            if any(raw[k:k + 8].count(0) > 1 for k in (0, 8, 16, 24)) or len(set(raw)) < 24:
                continue
            try_(int.from_bytes(raw, 'big'), 8 * i, 'big-endian')
            try_(int.from_bytes(raw, 'little'), 8 * i, 'little-endian')
    print('candidates %d' % len(seen))
    sys.exit(1 if found else 0)


main()
