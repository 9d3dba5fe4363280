#!/usr/bin/python3
"""s2speer.py PORT FROM TO CERT KEY STANZA [N] - a server of domain FROM (or one
that says so) opening a server-to-server stream to TO on loopback: STARTTLS
(the CA in ca.pem checks TO's certificate; CERT and KEY, or "-", are shown as
ours), SASL EXTERNAL, then STANZA (N times, as fast as it goes, then the close).
Prints what the other side answers.
With CERT "dialback" no certificate is shown and FROM proves itself by Server
Dialback (XEP-0220): KEY is the file of FROM's dialback secret (the key is
made as XEP-0185 says), or "-" for a wrong key; DB_FROM in the environment
names another domain in <db:result/>, DB_NOWAIT=1 sends STANZA at once
without waiting for the answer.
Exit 0 once logged in (whatever happens to STANZA), 2 if the login is
refused or not offered, 1 otherwise."""
import base64, hashlib, hmac, os, socket, ssl, sys
from xmppwire import Wire

port, dfrom, dto, cert, key, stanza = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
HDR = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' "
       "xmlns:stream='http://etherx.jabber.org/streams' from='%s' to='%s' version='1.0'>" % (dfrom, dto))
s = socket.create_connection(("127.0.0.1", port), timeout=10)
w = Wire(s)
until = w.until


s.sendall(HDR.encode())
if not until(r"</stream:features>"):
    sys.exit(1)
s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
if not until(r"<proceed[^>]*/>"):
    sys.exit(1)
ctx = ssl.create_default_context(cafile="ca.pem")
if cert not in ("-", "dialback"):
    ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(s, server_hostname=dto)
w.restart(s)
s.sendall(HDR.encode())
m = until(r"<stream:stream[^>]*\bid='([^']*)'")
if not m:
    sys.exit(1)
sid = m.group(1)
m = until(r"<stream:features>(.*?)</stream:features>|<stream:features/>")
if not m:
    sys.exit(1)
if cert == "dialback":
    if key == "-":
        dbkey = "0" * 64
    else:
        with open(key, "rb") as f:
            secret = hashlib.sha256(f.read()).digest()
        dbkey = hmac.new(secret, ("%s %s %s" % (dto, dfrom, sid)).encode(), hashlib.sha256).hexdigest()
    s.sendall(("<db:result from='%s' to='%s'>%s</db:result>" % (os.environ.get("DB_FROM", dfrom), dto, dbkey)).encode())
    if os.environ.get("DB_NOWAIT"):
        s.sendall(stanza.encode())
    m = until(r"<db:result[^>]*type='valid'[^>]*/>|<db:result[^>]*type=.*?(/>|</db:result>)|<stream:error>.*?</stream:error>")
    if not m or "'valid'" not in m.group(0):
        print("refused: %s" % (m.group(0) if m else "closed"), flush=True)
        sys.exit(2)
    print("dialback: %s" % m.group(0), flush=True)
    if not os.environ.get("DB_NOWAIT"):
        s.sendall(stanza.encode())
    s.sendall(b"</stream:stream>")
    m = until(r"<stream:error>.*?</stream:error>|</stream:stream>")
    print("answer: %s" % (m.group(0) if m else ""), flush=True)
    sys.exit(0)
if "EXTERNAL" not in (m.group(1) or ""):
    s.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>%s</auth>"
               % base64.b64encode(dfrom.encode()).decode()).encode())
    m = until(r"<failure.*?</failure>|<success[^>]*/>")
    print("not offered; %s" % (m.group(0) if m else "closed"), flush=True)
    sys.exit(2)
s.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>%s</auth>"
           % base64.b64encode(dfrom.encode()).decode()).encode())
m = until(r"<failure.*?</failure>|<success[^>]*/>")
if not m or "failure" in m.group(0):
    print("refused: %s" % (m.group(0) if m else "closed"), flush=True)
    sys.exit(2)
w.restart(s)
s.sendall(HDR.encode())
until(r"<stream:features.*?(/>|</stream:features>)")
n = int(sys.argv[7]) if len(sys.argv) > 7 else 1
s.sendall(stanza.encode() * n)
if n > 1:
    s.sendall(b"</stream:stream>")
m = until(r"<stream:error>.*?</stream:error>|</stream:stream>")
print("answer: %s" % (m.group(0) if m else ""), flush=True)
sys.exit(0)
