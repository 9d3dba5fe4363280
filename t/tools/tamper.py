#!/usr/bin/env python3
"""tamper.py LISTEN_PORT TARGET_PORT MODE - a one-connection TCP proxy on
loopback that changes the client's SIMPP frames in flight, to check that the
relay refuses them.  MODE: flip (change a base64 character of the first
frame), replay (send the first frame twice), drop (leave out the first
frame), inject (send the client a <message/> in clear, as if from the relay),
smuggle (send the relay a <message/> in clear before the first frame, as if
from the client).  Standard library only."""
import re, select, socket, sys

lport, tport, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(1)
print("listening", flush=True)         # the test waits for this, not a guess
c, _ = ls.accept()
s = socket.create_connection(("127.0.0.1", tport))
buf, done = b"", False
frame = re.compile(rb"<c xmlns='urn:simpp:1' n='1'>[^<]*</c>")
while True:
    r, _, _ = select.select([c, s], [], [], 10)
    if not r:
        break
    if s in r:
        d = s.recv(65536)
        if not d:
            break
        c.sendall(d)
    if c in r:
        d = c.recv(65536)
        if not d:
            break
        buf += d
        out = b""
        while True:
            i = buf.find(b"<c ")
            if i < 0:
                out += buf; buf = b""
                break
            j = buf.find(b"</c>", i)
            if j < 0:                       # an incomplete frame: wait for the rest
                out += buf[:i]; buf = buf[i:]
                break
            f = buf[i:j + 4]
            out += buf[:i]
            buf = buf[j + 4:]
            if not done and frame.fullmatch(f):
                done = True
                if mode == "flip":
                    k = f.index(b">") + 3
                    f = f[:k] + (b"B" if f[k:k+1] != b"B" else b"C") + f[k+1:]
                elif mode == "replay":
                    f = f + f
                elif mode == "drop":
                    f = b""
                elif mode == "inject":
                    c.sendall(b"<message from='bob@localhost/x' type='chat'><body>INJECTED</body></message>")
                elif mode == "smuggle":
                    f = b"<message to='bob@localhost' type='chat'><body>SMUGGLED</body></message>" + f
            out += f
        s.sendall(out)
c.close()
s.close()
