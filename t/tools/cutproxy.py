#!/usr/bin/env python3
"""cutproxy.py LISTEN_PORT TARGET_PORT CONTROL - a TCP proxy on loopback for
any number of connections, whose network can be broken on command, for
tests.  CONTROL is a file the test appends commands to, one a line:
  cut             reset every connection now (as a network that drops)
  blackhole SECS  for SECS seconds nothing passes either way, and new
                  connections wait; what is sent meanwhile is lost; the
                  connections stay open (a silent network)
  cutafter N [K]  reset the connections once N more SIMPP frames (</c>)
                  have gone from the clients to the target; K times (1)
Prints "listening" once it listens, "cut" at each cut.  Standard library
only."""
import os, select, socket, struct, sys, time

lport, tport, ctl = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(16)
open(ctl, "a").close()
print("listening", flush=True)
peer = {}                       # socket -> its other end
upstream = set()                # the client-side sockets
hole_until = 0.0
cut_after = None
cuts_left = 0
every = 0
waiting = []                    # accepted while in the black hole
pos = 0


def reset(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def cut():
    for s in list(peer):
        reset(s)
    peer.clear()
    upstream.clear()
    print("cut", flush=True)


def join(c):
    try:
        t = socket.create_connection(("127.0.0.1", tport), timeout=5)
    except OSError:
        reset(c)
        return
    peer[c], peer[t] = t, c
    upstream.add(c)


while True:
    with open(ctl) as f:
        f.seek(pos)
        lines = f.read()
        pos = f.tell()
    for line in lines.splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "cut":
            cut()
        elif w[0] == "blackhole":
            hole_until = time.time() + float(w[1])
        elif w[0] == "cutafter":
            every = cut_after = int(w[1])
            cuts_left = int(w[2]) if len(w) > 2 else 1
    hole = time.time() < hole_until
    if not hole and waiting:
        for c in waiting:
            join(c)
        waiting = []
    r, _, _ = select.select([ls] + list(peer), [], [], 0.05)
    for s in r:
        if s is ls:
            c, _ = ls.accept()
            if hole:
                waiting.append(c)
            else:
                join(c)
            continue
        if s not in peer:
            continue
        try:
            d = s.recv(65536)
        except OSError:
            d = b""
        if not d:
            o = peer.pop(s)
            peer.pop(o, None)
            upstream.discard(s)
            upstream.discard(o)
            s.close()
            o.close()
            continue
        if hole:
            continue                    # lost in the network
        if s in upstream and cut_after is not None:
            cut_after -= d.count(b"</c>")
            if cut_after <= 0:
                cuts_left -= 1
                cut_after = every if cuts_left > 0 else None
                cut()
                continue
        try:
            peer[s].sendall(d)
        except OSError:
            pass
