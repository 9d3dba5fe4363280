#!/usr/bin/python3
"""xmpptls.py - a small XMPP client over TLS for the relay's TLS tests, with
its own SCRAM (RFC 5802/7677) and channel bindings written from the RFCs,
independent of the relay's code.  The password comes on stdin.

  xmpptls.py PORT JID MECH [options]
    MECH       SCRAM-SHA-1, SCRAM-SHA-256, their -PLUS variants, PLAIN, or
               "none" (only show the stream features)
    --direct   TLS from the first byte (XEP-0368) instead of STARTTLS
    --clear    no TLS at all
    --ca FILE  trust this CA (the default: the system's store)
    --cb TYPE  the -PLUS binding: tls-server-end-point (default), tls-unique
    --cb-wrong send binding data of another channel
    --tls12    at most TLS 1.2
    --flag F   the gs2 flag of a plain SCRAM exchange: n (default) or y
    --authzid J  PLAIN's authzid
    --ws-decl  send white space after </auth> in the same write, and an XML
               declaration before the restarted stream (what some clients do)
    --ask      after binding: ping and disco#info to the domain; print answers
Prints "features: ...", then "bound JID" or "failure: CONDITION".  Exit 0
when bound, 2 on a SASL failure, 3 on a TLS failure, 1 otherwise."""
import base64, hashlib, hmac, os, re, socket, ssl, sys

args = sys.argv[1:]
port, jid, mech = int(args[0]), args[1], args[2]
opt = {}
i = 3
while i < len(args):
    a = args[i]
    if a in ("--ca", "--cb", "--flag", "--authzid"):
        opt[a] = args[i + 1]
        i += 2
    else:
        opt[a] = True
        i += 1
user, domain = jid.split("@")
password = sys.stdin.readline().rstrip("\n") if mech not in ("none",) else ""
HDR = ("<stream:stream to='%s' xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" % domain)

sock = socket.create_connection(("127.0.0.1", port), timeout=10)
buf = b""


def tls_wrap(s):
    ctx = ssl.create_default_context(cafile=opt.get("--ca"))
    if "--tls12" in opt:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        return ctx.wrap_socket(s, server_hostname=domain)
    except (ssl.SSLError, ssl.CertificateError) as e:
        print("tls: %s" % e, flush=True)
        sys.exit(3)


def send(data):
    sock.sendall(data.encode() if isinstance(data, str) else data)


def until(pattern):
    """read until the buffer matches pattern; return the match, consume it"""
    global buf
    rx = re.compile(pattern, re.S)
    while True:
        m = rx.search(buf.decode("utf-8", "replace"))
        if m:
            buf = buf[len(buf.decode("utf-8", "replace")[:m.end()].encode()):]
            return m
        try:
            d = sock.recv(65536)
        except socket.timeout:
            print("timeout waiting for %s; have %r" % (pattern, buf[:300]), flush=True)
            sys.exit(1)
        if not d:
            print("closed; have %r" % buf[:500], flush=True)
            sys.exit(1)
        buf += d


def features(decl=""):
    send(decl + HDR)
    return until(r"<stream:features>(.*?)</stream:features>").group(1)


if "--direct" in opt:
    sock = tls_wrap(sock)
f = features()
if "--clear" not in opt and "--direct" not in opt:
    if "<starttls" not in f:
        print("features: %s" % f, flush=True)
        print("no starttls offered", flush=True)
        sys.exit(1)
    send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    until(r"<proceed[^>]*/>")
    buf = b""
    sock = tls_wrap(sock)
    f = features()
mechs = re.findall(r"<mechanism>([^<]*)</mechanism>", f)
print("features: %s" % " ".join(mechs), flush=True)
if "--tls12" in opt or "--direct" in opt or "--clear" not in opt:
    if hasattr(sock, "version"):
        print("tls: %s" % sock.version(), flush=True)
if mech == "none":
    sys.exit(0)


def b64(b):
    return base64.b64encode(b).decode()


def auth(m, data, tail=""):
    send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>%s" % (m, b64(data) or "=", tail))


def sasl_answer():
    m = until(r"<(challenge|success|failure)[^>]*?(?:/>|>(.*?)</\1>)")
    kind, body = m.group(1), m.group(2) or ""
    if kind == "failure":
        cond = re.search(r"<([a-z-]+)/>", body)
        print("failure: %s" % (cond.group(1) if cond else body), flush=True)
        sys.exit(2)
    return kind, base64.b64decode(body) if body and body != "=" else b""


def channel_binding(kind):
    if kind == "tls-unique":
        return sock.get_channel_binding("tls-unique")
    # tls-server-end-point (RFC 5929 4.1): the certificate's hash, SHA-256
    # for certificates signed with MD5 or SHA-1 (and for ECDSA-SHA256 ones)
    der = sock.getpeercert(binary_form=True)
    return hashlib.sha256(der).digest()


tail = "\n" if "--ws-decl" in opt else ""
if mech.startswith("SCRAM-"):
    h = hashlib.sha1 if "SHA-1" in mech else hashlib.sha256
    plus = mech.endswith("-PLUS")
    cnonce = b64(os.urandom(18))
    if plus:
        cbtype = opt.get("--cb", "tls-server-end-point")
        gs2 = "p=%s,," % cbtype
        cbdata = channel_binding(cbtype)
        if "--cb-wrong" in opt:
            cbdata = bytes(x ^ 0x55 for x in cbdata)
    else:
        gs2 = "%s,," % opt.get("--flag", "n")
        cbdata = b""
    first_bare = "n=%s,r=%s" % (user, cnonce)
    auth(mech, (gs2 + first_bare).encode())
    kind, sf = sasl_answer()
    sf = sf.decode()
    attrs = dict(x.split("=", 1) for x in sf.split(","))
    salted = hashlib.pbkdf2_hmac(h().name, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    ck = hmac.new(salted, b"Client Key", h).digest()
    sk = hmac.new(salted, b"Server Key", h).digest()
    final_wo = "c=%s,r=%s" % (b64(gs2.encode() + cbdata), attrs["r"])
    am = ",".join((first_bare, sf, final_wo)).encode()
    sig = hmac.new(h(ck).digest(), am, h).digest()
    proof = bytes(a ^ b for a, b in zip(ck, sig))
    send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>%s"
         % (b64((final_wo + ",p=" + b64(proof)).encode()), tail))
    kind, v = sasl_answer()
    want = "v=" + b64(hmac.new(sk, am, h).digest())
    if kind != "success" or v.decode() != want:
        print("server signature wrong: %r" % v, flush=True)
        sys.exit(1)
elif mech == "PLAIN":
    auth("PLAIN", ("%s\0%s\0%s" % (opt.get("--authzid", ""), user, password)).encode(), tail)
    sasl_answer()
else:
    auth(mech, b"")
    sasl_answer()
buf = b""
f = features("<?xml version='1.0'?>" if "--ws-decl" in opt else "")
send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
bound = until(r"<jid>([^<]*)</jid>").group(1)
print("bound %s" % bound, flush=True)
if "--ask" in opt:
    send("<iq type='get' id='p1' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>" % domain)
    print("ping: %s" % until(r"<iq[^>]*id='p1'[^>]*>").group(0), flush=True)
    send("<iq type='get' id='d1' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>" % domain)
    print("disco: %s" % until(r"<iq[^>]*id='d1'.*?</iq>").group(0), flush=True)
send("</stream:stream>")
sock.close()
sys.exit(0)
