#!/usr/bin/env python3
"""udploss.py TARGET_PORT [-l LOSS] [-j MS] [-s SEED] [-d] [-x] [-w SECONDS] - a UDP
relay on loopback for simpp-videnc tests: binds 127.0.0.1 on a port the
kernel picks, prints that port and a newline on stdout (readiness), and
forwards every datagram to 127.0.0.1:TARGET_PORT, dropping a fraction LOSS
of them (a seeded generator, so every run drops the same ones); -d sends
every datagram twice (a network that duplicates, or an attacker who
replays); -x flips one bit in the payload of every tenth datagram; -c FILE
keeps a copy of every datagram that arrives, each preceded by its length
(32 bits, big-endian), for t/tools/svread.py; -j MS holds every datagram
for a random time between 0 and MS milliseconds (jitter: datagrams
overtake one another as on a real path).  Stops
after -w seconds without a datagram and prints its counts on stderr.
Standard library only."""
import argparse, heapq, random, select, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("target", type=int)
ap.add_argument("-l", "--loss", type=float, default=0.0)
ap.add_argument("-s", "--seed", type=int, default=1)
ap.add_argument("-d", "--dup", action="store_true")
ap.add_argument("-x", "--flip", action="store_true")
ap.add_argument("-w", "--wait", type=float, default=10.0)
ap.add_argument("-c", "--capture")
ap.add_argument("-j", "--jitter", type=float, default=0.0)
a = ap.parse_args()

rng = random.Random(a.seed)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# a key frame is a burst of datagrams: the relay must not be the bottleneck
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", 0))
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
out.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
print(s.getsockname()[1], flush=True)
seen = dropped = sent = 0
cap = open(a.capture, "wb") if a.capture else None
held = []                       # (due, n, datagram): the jitter's queue
last = time.monotonic()


def release(now):
    global sent
    while held and held[0][0] <= now:
        _, _, d = heapq.heappop(held)
        out.sendto(d, ("127.0.0.1", a.target))
        sent += 1


while True:
    now = time.monotonic()
    release(now)
    if not held and now - last >= a.wait:
        break
    timeout = a.wait - (now - last) if not held else max(0.0, held[0][0] - now)
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        continue
    d = s.recv(65536)
    last = time.monotonic()
    seen += 1
    if cap:
        cap.write(len(d).to_bytes(4, "big") + d)
        cap.flush()
    if a.loss and rng.random() < a.loss:
        dropped += 1
        continue
    if a.flip and seen % 10 == 0 and len(d) > 80:
        d = bytearray(d)
        d[70] ^= 0x01           # inside the ciphertext, after the 60-byte header
        d = bytes(d)
    for _ in range(2 if a.dup else 1):
        if a.jitter:
            heapq.heappush(held, (last + rng.random() * a.jitter / 1000, seen, d))
            continue
        out.sendto(d, ("127.0.0.1", a.target))
        sent += 1
print(f"udploss: {seen} in, {dropped} dropped, {sent} out", file=sys.stderr)
