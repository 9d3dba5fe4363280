#!/usr/bin/python3
"""tlsstall.py TLSPORT PORT N [PLAIN] - load on the relay's TLS: N connections
to the direct TLS port that stall (half of them send nothing, half send part
of a ClientHello), and a thread doing full handshakes one after another (or,
with PLAIN, 8 threads of PLAIN logins of carol one after another: each costs the relay a
10,000-round derivation), while a user logged in with PLAIN over direct TLS
(carol@localhost, password "pass 1", CA in ca.pem) measures 50 ping round
trips.  Loopback only, bounded in time.
Prints "stalled N handshakes=H logins=L rtt p50_ms=... p90_ms=... max_ms=...
over20=K" (K: round trips over 20 ms)."""
import socket, ssl, sys, threading, time, base64, re

tport, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
plain = len(sys.argv) > 4 and sys.argv[4] == "PLAIN"
ctx = ssl.create_default_context(cafile="ca.pem")
HDR = ("<stream:stream to='localhost' xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")


def until(s, buf, pat):
    rx = re.compile(pat, re.S)
    while not rx.search(buf.decode("utf-8", "replace")):
        d = s.recv(65536)
        if not d:
            sys.exit("closed: %r" % buf[-300:])
        buf += d
    m = rx.search(buf.decode("utf-8", "replace"))
    return m, buf[len(buf.decode("utf-8", "replace")[:m.end()].encode()):]


def login():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tport), timeout=10), server_hostname="localhost")
    buf = b""
    s.sendall(HDR.encode())
    _, buf = until(s, buf, r"</stream:features>")
    s.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
               % base64.b64encode(b"\0carol\0pass 1").decode()).encode())
    _, buf = until(s, buf, r"<success[^>]*/>|<success.*?</success>")
    return s, buf


s, buf = login()
s.sendall(HDR.encode())
_, buf = until(s, buf, r"</stream:features>")
s.sendall(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
_, buf = until(s, buf, r"</iq>")

stalled = []
hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40
for i in range(n):
    c = socket.create_connection(("127.0.0.1", tport))
    if i % 2:
        c.sendall(hello)
    stalled.append(c)

stop = False
hs = logins = 0


def handshakes():
    global hs, logins
    end = time.time() + 20
    while not stop and time.time() < end:
        if plain:
            try:
                login()[0].close()
                logins += 1
            except OSError:
                pass
            continue
        try:
            t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tport), timeout=5), server_hostname="localhost")
            t.close()
            hs += 1
        except OSError:
            pass


ths = [threading.Thread(target=handshakes) for _ in range(8 if plain else 1)]
for th in ths:
    th.start()
time.sleep(0.5)
rtt = []
for i in range(50):
    t0 = time.perf_counter()
    s.sendall(("<iq type='get' id='p%d' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>" % i).encode())
    _, buf = until(s, buf, r"id='p%d'[^>]*/>" % i)
    rtt.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.02)
stop = True
for th in ths:
    th.join()
for c in stalled:
    c.close()
s.close()
rtt.sort()
print("stalled %d handshakes=%d logins=%d rtt p50_ms=%.2f p90_ms=%.2f max_ms=%.2f over20=%d"
      % (n, hs, logins, rtt[len(rtt) // 2], rtt[len(rtt) * 9 // 10], rtt[-1], sum(1 for r in rtt if r > 20)))
