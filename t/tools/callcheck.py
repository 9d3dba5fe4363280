#!/usr/bin/env python3
"""callcheck.py OUT.y4m OUT.wav SRC.y4m SRC.wav [SHOWN.y4m MATCHED.y4m] - what one side of a call
received, against what the other side captured (the same lavfi sources
rendered to files).  Prints one line of key=value:

  frames    output pictures (the screen, one a slot)
  psnr      mean PSNR (dB, luma and chroma) of each distinct picture shown
            against the source picture it matches best
  vlag      the video's delay: median over the pictures shown of (source
            time - output time), ms
  corr      the normalised cross-correlation of the output sound with the
            source: each second placed at its best fit, then each 100 ms of
            it within two packets (40 ms) of that (a jitter buffer moves the
            sound by a packet when it grows or shrinks), the mean of the
            100 ms peaks (noise in place of the sound scores about 0.03)
  alag      the sound's delay, the median of the seconds', ms
  av        alag - vlag, ms: positive when the sound comes after the picture
  frozen    the longest run of one picture on the screen, ms (after the first
            picture, before the last)

With SHOWN and MATCHED, the distinct pictures shown and the source pictures
they match are written as two YUV4MPEG2 files, frame for frame, for ffmpeg's
psnr and ssim filters.  numpy only; the pictures are compared on their luma plane at a quarter of
the size to find the match, then in full for the PSNR."""
import sys
import numpy as np


def y4m(path):
    d = open(path, 'rb').read()
    i = d.index(b'\n') + 1
    h = dict((t[0], t[1:]) for t in d[:i - 1].decode().split()[1:])
    w, hh = int(h['W']), int(h['H'])
    num, den = (int(x) for x in h['F'].split(':'))
    size = w * hh * 3 // 2
    frames = []
    while i < len(d):
        j = d.index(b'\n', i)
        frames.append(np.frombuffer(d[j + 1:j + 1 + size], dtype=np.uint8))
        i = j + 1 + size
    return np.array(frames), w, hh, num / den


def wav(path):
    d = open(path, 'rb').read()
    i = d.index(b'data') + 8
    return np.frombuffer(d[i:len(d) - (len(d) - i) % 2], dtype='<i2').astype(np.float64)


out, w, h, fps = y4m(sys.argv[1])
src, sw, sh, sfps = y4m(sys.argv[3])
assert (w, h) == (sw, sh), 'sizes differ'
small = lambda f: f[:w * h].reshape(h, w)[::4, ::4].astype(np.float64)
srcs = np.array([small(f) for f in src])

# the pictures shown: skip the grey before the first, compare each change
shown, runs, start, prev = [], [], None, None
for i, f in enumerate(out):
    if prev is not None and np.array_equal(f, prev):
        continue
    if prev is not None and start is not None:
        runs.append(i - start)
    prev = f
    if f[:w * h].std() < 1:         # the grey before the first picture
        continue
    start = i
    shown.append(i)
frozen = (max(runs) if runs else 0) * 1000 / fps

psnrs, lags, matches = [], [], []
for i in shown:
    s = small(out[i])
    err = ((srcs - s) ** 2).mean(axis=(1, 2))
    k = int(err.argmin())
    matches.append(k)
    mse = ((src[k].astype(np.float64) - out[i].astype(np.float64)) ** 2).mean()
    psnrs.append(99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse))
    lags.append(k / sfps - i / fps)
vlag = float(np.median(lags)) * 1000 if lags else float('nan')
if len(sys.argv) > 6:
    hdr = open(sys.argv[1], 'rb').readline()
    for name, pick in ((sys.argv[5], lambda i, k: out[i]), (sys.argv[6], lambda i, k: src[k])):
        with open(name, 'wb') as f:
            f.write(hdr)
            for i, k in zip(shown, matches):
                f.write(b'FRAME\n' + pick(i, k).tobytes())

a, s = wav(sys.argv[2]), wav(sys.argv[4])
# The output's sound, one second at a time, against the source: a jitter
# buffer that grows or shrinks moves what follows by a packet, so each
# second is placed on its own (within 200 ms of the first placement), and
# alag is the seconds' median delay.  Such a move inside a second would
# leave only part of it in place, so corr is taken over 100 ms pieces, each
# placed within two packets of its second's fit: the mean of their
# normalised peaks.  What was concealed or lost still counts against it.
nz = np.nonzero(np.abs(a) > 64)[0]
corr, alag = 0.0, float('nan')


def place(x, lo, hi):
    """the source offset in [lo, hi) where x fits best, and how well"""
    lo, hi = max(lo, 0), min(hi, len(s) - len(x))
    if hi <= lo:
        return None, 0.0
    seg = s[lo:hi + len(x)]
    n = 1 << int(np.ceil(np.log2(len(seg) + len(x))))
    c = np.fft.irfft(np.fft.rfft(seg, n) * np.conj(np.fft.rfft(x, n)), n)[:hi - lo]
    k = int(c.argmax())
    ref = s[lo + k:lo + k + len(x)]
    return lo + k, float(c[k] / np.sqrt(np.dot(ref, ref) * np.dot(x, x) + 1e-9))


if len(nz):
    a = a[nz[0]:nz[-1] + 1]
    first, _ = place(a[:48000], 0, len(s))
    peaks, lags = [], []
    for i in range(0, len(a) - 48000 + 1, 48000):
        if first is None:
            break
        off, p = place(a[i:i + 48000], first + i - 9600, first + i + 9600)
        if off is None:
            continue
        lags.append(off - i)
        for j in range(0, 48000, 4800):
            _, p = place(a[i + j:i + j + 4800], off + j - 1920, off + j + 1920)
            peaks.append(p)
    if peaks:
        corr = float(np.mean(peaks))
        alag = (float(np.median(lags)) - nz[0]) / 48000 * 1000
print('frames=%d shown=%d psnr=%.2f vlag=%.1f corr=%.3f alag=%.1f av=%.1f frozen=%.0f' %
      (len(out), len(shown), float(np.mean(psnrs)) if psnrs else 0, vlag, corr, alag, alag - vlag, frozen))
