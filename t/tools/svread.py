#!/usr/bin/env python3
"""svread.py KEYFILE CAPTURE OUT - a second, independent reader of
simpp-videnc records, written from doc/simpp-videnc.1 (STREAM FORMAT) with
python3-cryptography, to show that the page describes what the program
does.  CAPTURE holds records each preceded by a 32-bit big-endian length:
a byte stream from simpp-videnc -e, or datagrams captured by udploss.py -c.
Every record is authenticated under the key file's recv key, the stream
header's device identity checked against the epoch it commits to; every parity
fragment is recomputed from the data fragments (the Cauchy Reed-Solomon
code of the page) and compared; the frames' plaintext is written to OUT,
one after another.  Prints "records R frames F parity P codec C WxH device D"."""
import struct, sys, hashlib
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes

key = dict(l.split(' ', 1) for l in open(sys.argv[1]).read().splitlines())
stream = bytes.fromhex(key['stream'])
recv = bytes.fromhex(key['recv'])
tag = hashlib.sha256(b'simpp/1 video device\0' + stream + key['peer'].encode()).digest()[:8]

# GF(2^8), x^8 + x^4 + x^3 + x^2 + 1
exp, log = [0] * 512, [0] * 256
x = 1
for i in range(255):
    exp[i], log[x] = x, i
    x <<= 1
    if x & 0x100:
        x ^= 0x11d
for i in range(255, 512):
    exp[i] = exp[i - 255]
mul = lambda a, b: exp[log[a] + log[b]] if a and b else 0
inv = lambda a: exp[255 - log[a]]

data = open(sys.argv[2], 'rb').read()
out = open(sys.argv[3], 'wb')
keys, frames, done = {}, {}, set()
nrec = nframes = nparity = 0
params = None
devices = set()
i = 0
while i < len(data):
    n = struct.unpack('>I', data[i:i + 4])[0]
    rec = data[i + 4:i + 4 + n]
    i += 4 + n
    hdr = rec[:60]
    magic, ver, typ, flags, idx, k, r, flen = struct.unpack('>2sBBBBBBI', hdr[:12])
    sid, dtag, epoch = hdr[12:28], hdr[28:36], hdr[36:44]
    seq, pts = struct.unpack('>QQ', hdr[44:60])
    assert magic == b'SV' and ver == 1, 'not a record'
    assert sid == stream, 'foreign stream'
    assert dtag == tag, 'foreign device'
    if epoch not in keys:
        keys[epoch] = HKDF(algorithm=hashes.SHA256(), length=32, salt=epoch,
                           info=b'simpp/1 video record\0' + stream + tag).derive(recv)
    pt = ChaCha20Poly1305(keys[epoch]).decrypt(b'\0' * 4 + struct.pack('>Q', seq), rec[60:], hdr)
    nrec += 1
    if typ == 1:
        codec, ci, rng, il, w, h, fn, fd, sn, sd = struct.unpack('>BBBcHHIIII', pt[:24])
        params = ('mjpeg' if codec == 1 else 'h264', w, h)
        # the epoch commits to the capturing device named after the salt
        salt, n = pt[24:40], pt[40]
        device = pt[41:]
        assert len(device) == n, 'device identity length'
        assert hashlib.sha256(b'simpp/1 media device\0' + stream + tag + salt + device).digest()[:8] == epoch, \
            'the epoch does not commit to the device'
        devices.add(device.decode())
    elif typ == 2 and pts not in done:
        S = -(-flen // k)
        f = frames.setdefault(pts, {})
        f[idx] = pt
        if all(j in f for j in range(k + r)):
            d = [f[j] + b'\0' * (S - len(f[j])) for j in range(k)]
            for j in range(r):
                want = bytearray(S)
                for c in range(k):
                    co = inv((k + j) ^ c)
                    for b, v in enumerate(d[c]):
                        if v:
                            want[b] ^= mul(co, v)
                assert bytes(want) == f[k + j], 'parity fragment %d of frame %d' % (j, pts)
                nparity += 1
            out.write(b''.join(f[j] for j in range(k))[:flen])
            nframes += 1
            done.add(pts)
            del frames[pts]
print('records %d frames %d parity %d codec %s %dx%d device %s' % ((nrec, nframes, nparity) + params + ('|'.join(sorted(devices)),)))
