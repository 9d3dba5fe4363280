#!/usr/bin/python3
"""xmppclient.py [options] PORT JID PEER [TEXT] - an ordinary XMPP client
(slixmpp, from Debian) for the interoperability tests.

Logs in to the server on loopback with standard SASL (the password is the
first line of stdin), sends presence, gets the roster, prints "online",
sends TEXT to PEER if given ("sent"), prints every chat message it
receives as "FROM: BODY", and leaves (closing the stream) after the first
one from PEER, or after --wait seconds.

Without --ca the stream stays in clear (no STARTTLS).  With --ca FILE it
uses TLS (STARTTLS, or direct TLS with --direct) and trusts only the
certificates FILE holds, checking the server's name against the JID's
domain.

Options:
  --ca FILE       trust this CA (PEM) and nothing else; TLS required
  --direct        direct TLS (XEP-0368) instead of STARTTLS
  --tls12         offer TLS 1.2 at most
  --mech NAME     use only this SASL mechanism (SCRAM-SHA-256, SCRAM-SHA-1,
                  SCRAM-SHA-256-PLUS, PLAIN, ...)
  --cb TYPE       channel binding for a -PLUS mechanism: tls-exporter,
                  tls-server-end-point or tls-unique; default: the first of
                  these the server announces (XEP-0440), else tls-exporter
                  on TLS 1.3 and tls-unique below
  --cb-flag y     with a mechanism without -PLUS, claim channel binding
                  support anyway (gs2 flag "y": a downgrade the server must
                  refuse when it offered -PLUS); default "n"
  --wait SECONDS  how long to wait for a message (20); 0: leave once sent
  --reply TEXT    answer the first message from PEER with TEXT (to the
                  full JID it came from), then leave
  --bare          answer to PEER's bare JID instead
  -v              log every stanza sent and received to stderr

Exit status: 0 a message was received (or sent, with --wait 0), 1 none
came, 2 the login failed, 3 the connection or TLS failed."""
import argparse, asyncio, ctypes, hashlib, logging, ssl, sys
logging.basicConfig(level=logging.DEBUG if "-v" in sys.argv[1:] else logging.CRITICAL,
                    format="%(message)s", stream=sys.stderr)
import slixmpp  # noqa: E402 (after logging: quiet unless -v)
from slixmpp.util.sasl import mechanisms as sasl_mechs  # noqa: E402

ap = argparse.ArgumentParser(add_help=False)
ap.add_argument("port", type=int)
ap.add_argument("jid")
ap.add_argument("peer")
ap.add_argument("text", nargs="?")
ap.add_argument("--ca")
ap.add_argument("--direct", action="store_true")
ap.add_argument("--tls12", action="store_true")
ap.add_argument("--mech")
ap.add_argument("--cb")
ap.add_argument("--cb-flag", default="n", choices=["n", "y"])
ap.add_argument("--wait", type=float, default=20)
ap.add_argument("--reply")
ap.add_argument("--bare", action="store_true")
ap.add_argument("-v", action="store_true")
args = ap.parse_args()
password = sys.stdin.readline().rstrip("\n")

CB_TYPES = ("tls-exporter", "tls-server-end-point", "tls-unique")
announced_cb = []           # XEP-0440 types in the server's stream features


def ssl_pointer(sslobj):
    """The SSL * under an ssl.SSLObject: CPython's PySSLSocket holds it right
    after PyObject_HEAD and the socket weakref.  Checked against the
    protocol version the ssl module reports before use."""
    inner = sslobj._sslobj
    ptr = ctypes.c_void_p.from_address(id(inner) + 3 * ctypes.sizeof(ctypes.c_void_p)).value
    libssl = ctypes.CDLL("libssl.so.3")
    libssl.SSL_get_version.restype = ctypes.c_char_p
    libssl.SSL_get_version.argtypes = [ctypes.c_void_p]
    if not ptr or libssl.SSL_get_version(ptr).decode() != sslobj.version():
        raise RuntimeError("cannot reach the TLS session for tls-exporter")
    return libssl, ptr


def tls_exporter(sslobj):
    """RFC 9266: 32 bytes exported with label EXPORTER-Channel-Binding"""
    libssl, ptr = ssl_pointer(sslobj)
    f = libssl.SSL_export_keying_material
    f.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                  ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    out = ctypes.create_string_buffer(32)
    label = b"EXPORTER-Channel-Binding"
    if f(ptr, out, 32, label, len(label), None, 0, 0) != 1:
        raise RuntimeError("SSL_export_keying_material failed")
    return out.raw


# signature algorithm OIDs (DER contents) whose hash tls-server-end-point uses
SIG_HASH = [(bytes.fromhex("2a8648ce3d040303"), "sha384"), (bytes.fromhex("2a8648ce3d040304"), "sha512"),
            (bytes.fromhex("2a864886f70d01010c"), "sha384"), (bytes.fromhex("2a864886f70d01010d"), "sha512")]


def tls_server_end_point(sslobj):
    """RFC 5929: the hash of the server's certificate, with the hash of its
    signature (SHA-256 for MD5, SHA-1 and SHA-256)"""
    der = sslobj.getpeercert(True)
    name = "sha256"
    for oid, h in SIG_HASH:
        if oid in der[-120:]:
            name = h
    return hashlib.new(name, der).digest()


def channel_binding(sslobj, cbtype):
    if cbtype == "tls-exporter":
        return tls_exporter(sslobj)
    if cbtype == "tls-server-end-point":
        return tls_server_end_point(sslobj)
    return sslobj.get_channel_binding("tls-unique")


def scram_first(self, challenge):
    """SCRAM client-first: gs2 header with the chosen channel binding"""
    self.step = 1
    self.cnonce = hashlib.sha256(ssl.RAND_bytes(24)).hexdigest().encode()
    sslobj = client.socket if isinstance(client.socket, ssl.SSLObject) else None
    self.cb_data = b""
    if self.use_channel_binding:
        if sslobj is None:
            raise sasl_mechs.SASLCancelled("-PLUS without TLS")
        cbtype = args.cb
        if not cbtype:
            cbtype = next((t for t in CB_TYPES if t in announced_cb), None)
        if not cbtype:
            cbtype = "tls-exporter" if sslobj.version() == "TLSv1.3" else "tls-unique"
        self.cb_data = channel_binding(sslobj, cbtype)
        flag = b"p=" + cbtype.encode()
    else:
        flag = b"y" if args.cb_flag == "y" and sslobj is not None else b"n"
    self.gs2_header = flag + b",,"
    self.client_first_message_bare = b"n=" + self.saslname(self.credentials["username"]) + b",r=" + self.cnonce
    self.client_first_message = self.gs2_header + self.client_first_message_bare
    return self.client_first_message


sasl_mechs.SCRAM.process_1 = scram_first
# the channel binding data: the one computed in client-first, not slixmpp's tls-unique
_scram_second = sasl_mechs.SCRAM.process_2


def scram_second(self, challenge):
    self.credentials["channel_binding"] = self.cb_data
    return _scram_second(self, challenge)


sasl_mechs.SCRAM.process_2 = scram_second


class Client(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(args.jid, password)
        self.got = False
        self.sent = False
        self.failed = None
        self.started = False
        if args.mech:
            self["feature_mechanisms"].use_mech = args.mech
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.message)
        for ev in ("failed_auth", "failed_all_auth", "no_auth"):
            self.add_event_handler(ev, self.auth_fail)
        self.add_event_handler("ssl_invalid_chain", self.tls_fail)
        self.add_event_handler("connection_failed", self.tls_fail)
        self.add_event_handler("disconnected", self.finish)
        self.finished = asyncio.get_event_loop().create_future()
        self.add_filter("in", self.note_cb_types)

    def note_cb_types(self, stanza):
        cb = stanza.xml.find("{urn:xmpp:sasl-cb:0}sasl-channel-binding")
        if cb is not None:
            announced_cb[:] = [e.get("type") for e in cb]
        return stanza

    async def start(self, _):
        self.started = True
        self.send_presence()
        await self.get_roster()
        print("online", flush=True)
        if args.text is not None:
            self.send_message(mto=args.peer, mbody=args.text, mtype="chat")
            self.sent = True
            print("sent", flush=True)
        if args.wait == 0 or self.got:
            self.disconnect()

    def message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            print("%s: %s" % (msg["from"].bare, msg["body"]), flush=True)
            if msg["from"].bare == slixmpp.JID(args.peer).bare:
                self.got = True
                if args.reply is not None:
                    to = msg["from"].bare if args.bare else msg["from"]
                    self.send_message(mto=to, mbody=args.reply, mtype="chat")
                    print("replied", flush=True)
                # leave once TEXT is out, not before
                if self.sent or args.text is None:
                    self.disconnect()

    def auth_fail(self, _):
        if self.failed is None:
            print("login failed", flush=True)
        self.failed = 2
        self.disconnect()

    def tls_fail(self, err):
        if self.failed is None:
            print("connection failed: %s" % err, flush=True)
        self.failed = 3
        self.abort()
        self.finish()

    def finish(self, *_):
        if not self.finished.done():
            self.finished.set_result(True)


client = Client()


async def no_dns(*_):
    return None


# connected to 127.0.0.1, slixmpp would take the address for the server's
# name and check the certificate against no name at all: the name to check
# is the JID's domain, and the address stays as given
client._pick_dns_answer = no_dns
if args.ca:
    # a context that trusts the test CA only: not the system's store
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=args.ca)
    if args.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    client.ssl_context = ctx
    client.ca_certs = args.ca
    client.connect(("127.0.0.1", args.port), use_ssl=args.direct, force_starttls=not args.direct,
                   disable_starttls=args.direct)
    client.default_domain = client.boundjid.domain
else:
    # loopback in clear: SASL over the plain stream
    client.connect(("127.0.0.1", args.port), force_starttls=False, disable_starttls=True)
loop = asyncio.get_event_loop()
# 10 seconds to log in, then --wait for a message; then leave, closing the stream
loop.run_until_complete(asyncio.wait([client.finished], timeout=args.wait + 10))
if client.failed:
    sys.exit(client.failed)
if not client.finished.done():
    loop.run_until_complete(client.disconnect(wait=3))
if not client.started:
    print("no session", flush=True)
    sys.exit(3)
if args.wait == 0:
    sys.exit(0 if client.sent else 1)
sys.exit(0 if client.got else 1)
