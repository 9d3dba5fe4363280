#!/usr/bin/python3
"""s2s-idle.py PORT FROM TO CERT KEY CA N - for bench/relay: N server-to-server
streams from domain FROM to the server of TO on 127.0.0.1:PORT, each in TLS
(CERT and KEY shown, the server checked against CA), authenticated with SASL
EXTERNAL and restarted, then idle.  Prints "ready N" once all are up and
keeps them open until its standard input ends."""
import base64, re, socket, ssl, sys

port, dfrom, dto, cert, key, ca, n = sys.argv[1:8]
port, n = int(port), int(n)
HDR = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' "
       "xmlns:stream='http://etherx.jabber.org/streams' from='%s' to='%s' version='1.0'>" % (dfrom, dto)).encode()
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)


def until(s, buf, pat):
    rx = re.compile(pat, re.S)
    while not rx.search(buf.decode("utf-8", "replace")):
        d = s.recv(65536)
        if not d:
            sys.exit("s2s-idle: the server closed a stream: %s" % buf.decode("utf-8", "replace")[-300:])
        buf += d
    return b""


streams = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(HDR)
    until(s, b"", r"</stream:features>")
    s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    until(s, b"", r"<proceed[^>]*/>")
    s = ctx.wrap_socket(s, server_hostname=dto)
    s.sendall(HDR)
    until(s, b"", r"</stream:features>")
    s.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>%s</auth>"
               % base64.b64encode(dfrom.encode()).decode()).encode())
    until(s, b"", r"<success[^>]*/>")
    s.sendall(HDR)
    until(s, b"", r"</stream:features>|<stream:features/>")
    streams.append(s)
print("ready %d" % len(streams), flush=True)
sys.stdin.read()
