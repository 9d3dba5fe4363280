#!/usr/bin/python3
"""xmppclient.py PORT JID PEER TEXT - an ordinary XMPP client (slixmpp, from
Debian) for the interoperability tests: logs in to the relay on loopback
with standard SASL (password on stdin), sends presence and TEXT to PEER,
prints every chat message it receives as "FROM: BODY", and leaves after the
first reply or 20 seconds.  Exit 0 if it got a reply, 1 if not, 2 if the
login failed."""
import asyncio, logging, sys
import slixmpp

port, jid, peer, text = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
password = sys.stdin.readline().rstrip("\n")


class Client(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(jid, password)
        self.got = False
        self.failed = False
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.message)
        self.add_event_handler("failed_auth", self.fail)

    async def start(self, _):
        self.send_presence()
        await self.get_roster()
        self.send_message(mto=peer, mbody=text, mtype="chat")
        print("sent", flush=True)

    def message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            print("%s: %s" % (msg["from"].bare, msg["body"]), flush=True)
            self.got = True
            self.disconnect()

    def fail(self, _):
        print("login failed", flush=True)
        self.failed = True
        self.disconnect()


logging.basicConfig(level=logging.ERROR)
c = Client()
# loopback, no TLS on the relay's port: SCRAM-SHA-256 over the plain stream
c.connect(("127.0.0.1", port), force_starttls=False, disable_starttls=True)
loop = asyncio.get_event_loop()
loop.run_until_complete(asyncio.wait([c.disconnected], timeout=20))
sys.exit(0 if c.got else 2 if c.failed else 1)
