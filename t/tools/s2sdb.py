#!/usr/bin/python3
"""s2sdb.py DOMAIN CERT KEY SECRET - the receiving server of DOMAIN for one
server-to-server stream, on a free loopback port (printed on the first
line): STARTTLS with CERT and KEY, stream ids of 36 characters (as
Prosody's UUIDs), Server Dialback offered and nothing else.  The key the
other side shows is checked against the one XEP-0185 makes from the file
SECRET (the other domain's s2s_dialback_secret); then the first message.
Prints "key valid" or "key invalid", and the message.  Exit 0 with a valid
key and a message, 2 with an invalid key, 1 otherwise."""
import hashlib, hmac, socket, ssl, sys, uuid
from xmppwire import Wire

domain, cert, key, secretfile = sys.argv[1:5]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
print(ls.getsockname()[1], flush=True)
s, _ = ls.accept()
s.settimeout(20)
w = Wire(s)


def until(pat):
    m = w.until(pat)
    if not m:
        sys.exit(1)
    return m


def header(other, features):
    sid = str(uuid.uuid4())
    s.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' "
               "xmlns:stream='http://etherx.jabber.org/streams' from='%s' to='%s' id='%s' version='1.0'>"
               "<stream:features>%s</stream:features>" % (domain, other, sid, features)).encode())
    return sid


m = until(r"<stream:stream[^>]*\bfrom='([^']*)'[^>]*>")
other = m.group(1)
header(other, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>")
until(r"<starttls[^>]*/>")
s.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(s, server_side=True)
w.restart(s)
until(r"<stream:stream[^>]*>")
sid = header(other, "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>")
m = until(r"<db:result[^>]*>([^<]*)</db:result>")
with open(secretfile, "rb") as f:
    secret = hashlib.sha256(f.read()).digest()
want = hmac.new(secret, ("%s %s %s" % (domain, other, sid)).encode(), hashlib.sha256).hexdigest()
ok = hmac.compare_digest(want, m.group(1))
print("key %s" % ("valid" if ok else "invalid"), flush=True)
s.sendall(("<db:result from='%s' to='%s' type='%s'/>" % (domain, other, "valid" if ok else "invalid")).encode())
if not ok:
    sys.exit(2)
m = until(r"<message.*?</message>")
print(m.group(0), flush=True)
sys.exit(0)
