#!/usr/bin/env python3
"""hsreplay.py LISTEN_PORT TARGET_PORT MODE LOG [COUNT] - a one-connection
TCP proxy on loopback that replays a client's first handshake message to
the relay on the same stream, as anyone on the path can, and records every
answer.  MODE s1: when the relay answers the client's S1 (<auth
mechanism='SIMPP'/>) with S2, the proxy holds that S2 back and sends the
relay <abort/> and the same <auth/> again, COUNT times (default 1).  MODE
r1: when the relay answers the client's R1 iq with R2, it holds R2 back
and sends the same R1 iq again, COUNT times.  The answers to the replays
go to LOG only; then the held S2 or R2 goes on to the client and the proxy
passes everything through.  LOG is created once the proxy listens; it gets one line for each of the relay's
handshake answers, in order: "S2 b64", "R2 b64", "failure CONDITION",
"error CONDITION", "stream-error CONDITION".  Standard library only."""
import re, select, socket, sys

lport, tport, mode, logname = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
count = int(sys.argv[5]) if len(sys.argv) > 5 else 1

ASK = {"s1": re.compile(rb"<auth [^>]*mechanism='SIMPP'[^>]*>[^<]*</auth>"),
       "r1": re.compile(rb"<iq [^>]*>(?:(?!</iq>).)*<r1>[^<]*</r1>(?:(?!</iq>).)*</iq>", re.S)}[mode]
# the relay's answers: SASL elements, iqs, stream errors
ANSWER = re.compile(rb"<(challenge|success|failure) [^>]*?(?:/>|>.*?</\1>)|<iq [^>]*?(?:/>|>.*?</iq>)"
                    rb"|<stream:error>.*?</stream:error>", re.S)
# where an answer may begin: nothing from here on is passed on before it is whole
START = re.compile(rb"<(?:challenge|success|failure|iq|stream:error)[ >/]")
COND = re.compile(rb"<([a-z-]+) xmlns='urn:ietf:params:xml:ns:xmpp-(?:stanzas|streams)'")


def record(el):
    """log one answer; returns whether it is the S2 or R2 the replay aims at"""
    m = re.search(rb"<challenge [^>]*>([^<]*)</challenge>", el) or re.search(rb"<r2>([^<]*)</r2>", el)
    if m:
        log.write("%s %s\n" % ("S2" if mode == "s1" else "R2", m.group(1).decode()))
        return True
    if el.startswith(b"<failure"):
        c = re.search(rb"<failure [^>]*><([a-z-]+)", el)
        log.write("failure %s\n" % (c.group(1).decode() if c else "?"))
    elif el.startswith(b"<stream:error"):
        c = COND.search(el)
        log.write("stream-error %s\n" % (c.group(1).decode() if c else "?"))
    elif el.startswith(b"<iq") and b"type='error'" in el:
        c = COND.search(el)
        log.write("error %s\n" % (c.group(1).decode() if c else "?"))
    elif el.startswith(b"<iq"):
        log.write("result\n")
    elif el.startswith(b"<success"):
        log.write("success\n")
    return False


def answers(buf):
    """split buf into (passed-on bytes, answer) pairs as far as complete"""
    out = []
    while True:
        s = START.search(buf)
        if not s:
            # keep a possible start of an answer cut at the end of the buffer
            i = buf.rfind(b"<")
            if i >= 0 and b">" not in buf[i:]:
                out.append((buf[:i], None)); return out, buf[i:]
            out.append((buf, None)); return out, b""
        m = ANSWER.match(buf, s.start())
        if not m:
            out.append((buf[:s.start()], None)); return out, buf[s.start():]
        out.append((buf[:s.start()], m.group(0)))
        buf = buf[m.end():]


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(1)
log = open(logname, "w", buffering=1)     # the sign that the proxy listens
ls.settimeout(30)
c, _ = ls.accept()
s = socket.create_connection(("127.0.0.1", tport))
cbuf, sbuf, ask = b"", b"", None
held, replaying, replays, waiting = None, False, 0, 0
per_replay = 2 if mode == "s1" else 1    # s1: <failure><aborted/> and the answer to S1


def replay():
    global replays, waiting
    replays += 1
    waiting = per_replay
    s.sendall((b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" if mode == "s1" else b"") + ask)


while True:
    r, _, _ = select.select([c, s], [], [], 10)
    if not r:
        break
    if c in r:
        d = c.recv(65536)
        if not d:
            break
        s.sendall(d)
        if ask is None:
            cbuf += d
            m = ASK.search(cbuf)
            if m:
                ask = m.group(0)
    if s in r:
        d = s.recv(65536)
        sbuf += d
        parts, sbuf = answers(sbuf)
        for text, el in parts:
            if not replaying:
                c.sendall(text)
            if el is None:
                continue
            aimed = record(el)
            if held is None and aimed and ask is not None:
                held, replaying = el, True           # the first S2/R2: keep it back, replay
                replay()
            elif replaying:
                waiting -= 1
                if el.startswith(b"<stream:error"):  # the relay gave up on the stream
                    c.sendall(held + el)
                    replaying = False
                elif waiting == 0 and replays < count:
                    replay()
                elif waiting == 0:
                    c.sendall(held)                  # now the client gets its answer
                    replaying = False
            else:
                c.sendall(el)
        if not d:
            if replaying:
                c.sendall(held)
            c.sendall(sbuf)
            break
c.close()
s.close()
