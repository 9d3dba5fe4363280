#!/usr/bin/python3
"""dropproxy.py PORT CUT - a TCP relay on a free loopback port (printed on the
first line) to 127.0.0.1:PORT.  The first connection is cut (both sides
reset) once CUT bytes have gone from the client to the server; the others
pass whole.  A stream that drops in the middle of what it carries."""
import select, socket, struct, sys

target, cut = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
print(ls.getsockname()[1], flush=True)
pairs, first, sent = {}, None, 0


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


while True:
    r, _, _ = select.select([ls] + list(pairs), [], [])
    for s in r:
        if s is ls:
            c, _ = ls.accept()
            u = socket.create_connection(("127.0.0.1", target))
            pairs[c], pairs[u] = u, c
            if first is None:
                first = c
            continue
        if s not in pairs:
            continue
        other = pairs[s]
        try:
            d = s.recv(65536)
        except OSError:
            d = b""
        if s is first and d and sent + len(d) >= cut:
            other.sendall(d[:cut - sent])
            d = b""
            first = False
        elif s is first:
            sent += len(d)
        if not d:
            del pairs[s], pairs[other]
            reset(s)
            reset(other)
            continue
        other.sendall(d)
