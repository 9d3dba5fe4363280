#!/usr/bin/env python3
"""scalarscan.py PUBKEY.pem (FILE|pid:N)... - look for the private scalar of
a P-256 public key in memory images: core dump files, or a live process's
memory as its core dump would hold it (pid:N: every readable mapping of
/proc/N/smaps not marked MADV_DONTDUMP, read through /proc/N/mem).  Every 8-byte-aligned place that
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


def image(what):
    """a file, or pid:N's memory as the kernel's core dump would hold it
    (coredump_filter 0x33): anonymous mappings, and private file mappings
    that were written to (their .data, .bss), none marked MADV_DONTDUMP"""
    if not what.startswith('pid:'):
        return open(what, 'rb').read()
    pid, regions, cur = what[4:], [], None
    for line in open('/proc/%s/smaps' % pid):
        f = line.split()
        if '-' in f[0] and not f[0].endswith(':'):
            lo, hi = (int(x, 16) for x in f[0].split('-'))
            cur = {'lo': lo, 'hi': hi, 'r': 'r' in f[1], 'p': 'p' in f[1], 'anonmap': f[4] == '0',
                   'path': f[5] if len(f) > 5 else '', 'written': False, 'dd': False}
            regions.append(cur)
        elif f[0] == 'Anonymous:':
            cur['written'] = int(f[1]) > 0
        elif f[0] == 'VmFlags:':
            cur['dd'] = 'dd' in f[1:]
    out = []
    with open('/proc/%s/mem' % pid, 'rb', buffering=0) as mem:
        for r in regions:
            if not r['r'] or r['dd'] or r['path'] in ('[vvar]', '[vsyscall]'):
                continue
            if not (r['anonmap'] or (r['p'] and r['written'])):
                continue
            try:
                mem.seek(r['lo'])
                out.append(mem.read(r['hi'] - r['lo']))
            except OSError:
                pass
    return b''.join(out)


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

    zero, size, pages = bytes(4096), 0, 0
    for path in sys.argv[2:]:
        b = image(path)
        size += len(b)
        # page by page (a window may run 32 bytes into the next); a page of
        # zeros, most of a process, holds no scalar
        for p in range(0, len(b) - 32, 4096):
            if b[p:p + 4096] == zero:
                continue
            pages += 1
            chunk = b[p:p + 4096 + 32]
            words = struct.unpack_from('<%dQ' % (len(chunk) // 8), chunk)
            for i in range(min(512, len(words) - 4)):
                w = words[i:i + 5]
                # five 60-bit digits: 4 x 60 + 16 bits
                if all(x >> 60 == 0 and x >> 40 for x in w[:4]) and 0 < w[4] < 1 << 16:
                    try_(sum(x << (60 * j) for j, x in enumerate(w)), p + 8 * i, 'libtommath digits')
                # random-looking bytes: at most one zero byte a word, many distinct values
                if 0 in w[:4]:
                    continue
                raw = chunk[8 * i:8 * i + 32]
                if any(raw[k:k + 8].count(0) > 1 for k in (0, 8, 16, 24)) or len(set(raw)) < 24:
                    continue
                try_(int.from_bytes(raw, 'big'), p + 8 * i, 'big-endian')
                try_(int.from_bytes(raw, 'little'), p + 8 * i, 'little-endian')
    print('scanned %d bytes, %d pages not zero' % (size, pages))
    print('candidates %d' % len(seen))
    sys.exit(1 if found else 0)


main()
