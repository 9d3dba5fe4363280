#!/usr/bin/python3
"""smclient.py TLSPORT SCENARIO - XEP-0198 stream resumption against the
relay's direct TLS port (CA in ca.pem), as written in the XEP, with two
password accounts: carol (password "pass 1", the one whose connection
breaks) and dave ("pass 3", who writes to her).  Every wait is bounded.

  resume   carol enables resumption; dave sends m1..m5; carol handles them
           and acknowledges 3; her connection breaks (no close); dave sends
           m6, m7; dave tries to resume carol's session (refused); carol
           logs in again and resumes with h=3: she gets m4..m7, once each,
           in order.  Prints what happened; exit 0 if all was as said.
  break    carol enables resumption, dave sends m1..m3, carol acknowledges
           none and her connection breaks; prints the resumption id.
  fresh    carol logs in, binds, sends presence and prints every message
           body she gets in 3 seconds (offline delivery)."""
import base64, re, socket, ssl, sys, time

port, scenario = int(sys.argv[1]), sys.argv[2]
HDR = ("<stream:stream to='localhost' xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
ctx = ssl.create_default_context(cafile="ca.pem")


class Conn:
    def __init__(self, user, pw, bind=True):
        self.s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
        self.buf = b""
        self.s.sendall(HDR.encode())
        self.until(r"</stream:features>")
        cred = base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()
        self.s.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>" % cred).encode())
        self.until(r"<success[^>]*/>|<success.*?</success>")
        self.s.sendall(HDR.encode())
        self.until(r"</stream:features>")
        if bind:
            self.s.sendall(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                           b"<resource>r</resource></bind></iq>")
            self.until(r"</iq>")

    def send(self, x):
        self.s.sendall(x.encode())

    def until(self, pat, t=10):
        rx = re.compile(pat, re.S)
        end = time.time() + t
        while True:
            m = rx.search(self.buf.decode("utf-8", "replace"))
            if m:
                self.buf = self.buf[len(self.buf.decode("utf-8", "replace")[:m.end()].encode()):]
                return m
            if time.time() > end:
                sys.exit("timeout waiting for %s; have %r" % (pat, self.buf[-500:]))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                d = None
            if d == b"":
                sys.exit("closed waiting for %s" % pat)
            if d:
                self.buf += d

    def bodies(self, secs):
        """every <body> that comes in secs, in order"""
        end = time.time() + secs
        self.s.settimeout(0.2)
        while time.time() < end:
            try:
                d = self.s.recv(65536)
                if d:
                    self.buf += d
            except (socket.timeout, ssl.SSLWantReadError):
                pass
        return re.findall(r"<body>([^<]*)</body>", self.buf.decode("utf-8", "replace"))

    def kill(self):
        """the network goes: no </stream:stream>, no close_notify"""
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        socket.socket.close(self.s)


def enable(c):
    c.send("<presence/>")
    c.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    return c.until(r"<enabled[^>]*id='([0-9a-f]+)'[^>]*/>").group(1)


def msgs(d, a, b):
    for i in range(a, b + 1):
        d.send("<message to='carol@localhost/r' type='chat'><body>m%d</body></message>" % i)


if scenario == "resume":
    dave = Conn("dave", "pass 3")
    carol = Conn("carol", "pass 1")
    token = enable(carol)
    msgs(dave, 1, 5)
    for i in range(1, 6):
        carol.until(r"<body>m%d</body>" % i)
    carol.send("<a xmlns='urn:xmpp:sm:3' h='3'/>")
    time.sleep(0.3)
    carol.kill()
    time.sleep(0.5)
    msgs(dave, 6, 7)
    time.sleep(0.3)
    # dave may not take carol's session, id or not
    thief = Conn("dave", "pass 3", bind=False)
    thief.send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>" % token)
    f = thief.until(r"<failed[^>]*>.*?</failed>|<resumed[^>]*/>").group(0)
    thief_refused = "failed" in f
    print("thief: %s" % ("refused" if thief_refused else "RESUMED"), flush=True)
    carol2 = Conn("carol", "pass 1", bind=False)
    carol2.send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='3'/>" % token)
    r = carol2.until(r"<resumed[^>]*/>|<failed.*?</failed>").group(0)
    print("resume: %s" % r, flush=True)
    got = carol2.bodies(2)
    print("after resume: %s" % " ".join(got), flush=True)
    ok = "previd='%s'" % token in r and got == ["m4", "m5", "m6", "m7"] and "failed" not in r
    sys.exit(0 if ok and thief_refused else 1)
elif scenario == "break":
    dave = Conn("dave", "pass 3")
    carol = Conn("carol", "pass 1")
    token = enable(carol)
    msgs(dave, 1, 3)
    for i in range(1, 4):
        carol.until(r"<body>m%d</body>" % i)
    carol.kill()
    print("id=%s" % token, flush=True)
elif scenario == "fresh":
    carol = Conn("carol", "pass 1")
    carol.send("<presence/>")
    print("got: %s" % " ".join(carol.bodies(3)), flush=True)
