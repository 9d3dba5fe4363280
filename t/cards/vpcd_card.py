#!/usr/bin/env python3
"""vpcd_card.py - a contact smart card holding the SIMPP applet, for tests.

It connects to vsmartcard's vpcd reader driver (loaded by a real pcscd) and
answers what pcscd forwards, so the programs under test go through the real
libpcsclite -> pcscd -> vpcd stack.  Python standard library only.

vpcd wire protocol (both directions): uint16 big-endian length, payload.
vpcd -> card: 1 byte 00 power off, 01 power on, 02 reset, 04 get ATR (we
answer the ATR); anything longer is a command APDU (we answer data || SW1 SW2).

The applet (doc/CARDS.md has the full table; ISO/IEC 7816-4 commands):
  SELECT by AID        00 A4 04 00 Lc AID [Le]  -> FCI 6F(84 AID, 8A LCS) 9000 | 6A82
  VERIFY               00 20 00 81 [Lc PIN]     -> 9000 | 63Cx | 6983 (blocked)
  CHANGE REF. DATA     00 24 01 81 Lc newPIN    -> 9000 | 6982 | 6A80
  RESET RETRY COUNTER  00 2C 00 81 Lc PUK(8)||newPIN -> 9000 | 63Cx | 6983
  GET DATA             00 CA 01 01 [Le]         -> record 9000 | 6982 | 6A88
  PUT DATA             00 DA 01 01 Lc record    -> 9000 | 6982 | 6A80

State (PIN, PUK, counters, the record, life cycle) lives in --state FILE
(JSON), rewritten after every change, so a test can preload a card, look at
what a program wrote, and "reinsert" the same card by starting us again.
The security state (selected applet, PIN verified) is volatile: cleared on
power on/off/reset, as on a real card.

Test hooks: --remove-after N  the card disappears when the N-th APDU arrives
(unanswered): we close the socket and exit.  --blink-after N  the same, but
the card comes back (--blink-ms later) with its state, like a user who pulls
the card out and pushes it back in; with --blink-other another card comes
back instead (another ATR of the same length, a fresh applet, no state file).  --t0 getresp: answers that carry data
come as "61 xx" and are fetched with GET RESPONSE (00 C0 00 00 Le), at most
--t0-piece bytes a round (ISO/IEC 7816-4 5.3.4, as T=0 cards do).  --t0
exactle: a command whose Le (00: up to 256) does not match its answer's
length is answered "6C xx" and must be sent again with Le = xx.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import time

SIMPP_AID = bytes.fromhex("F053494D505001")   # F0: proprietary RID; "SIMPP"; version 01
PIN_REF = 0x81                                 # ISO 7816-4: specific reference data, PIN 1
PUK_LEN = 8
PIN_MIN, PIN_MAX = 4, 16
TRIES = 3
RECORD_MAX = 250
LCS_INIT, LCS_OPERATIONAL = 0x03, 0x05         # ISO 7816-4 5.3.3.2 life cycle status


def make_atr(hist=b"\x00SIMPPEMU\x00"):
    # TS=3B, T0=8A (TD1 present, 10 historical bytes), TD1=80, TD2=01 (T=1),
    # historical bytes "\0SIMPPEMU\0", TCK = XOR of T0..last
    body = bytes([0x8A, 0x80, 0x01]) + hist
    tck = 0
    for b in body:
        tck ^= b
    return bytes([0x3B]) + body + bytes([tck])


ATR = make_atr()
OTHER_ATR = make_atr(b"\x00OTHERCRD\x00")


def hexs(b):
    return " ".join("%02X" % x for x in b)


class Card:
    def __init__(self, args):
        self.path = args.state
        self.aid = bytes.fromhex(args.aid)
        self.s = None
        if self.path and os.path.exists(self.path):
            with open(self.path) as f:
                self.s = json.load(f)
        if self.s is None:
            self.s = {"pin": args.pin.encode().hex(), "puk": args.puk.encode().hex(),
                      "tries": TRIES, "puk_tries": TRIES, "data": None, "lcs": LCS_INIT}
            self.save()
        self.reset()

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.s, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def reset(self):
        self.selected = False
        self.verified = False

    def fci(self):
        body = bytes([0x84, len(self.aid)]) + self.aid + bytes([0x8A, 1, self.s["lcs"]])
        return bytes([0x6F, len(body)]) + body

    def apdu(self, c):
        if len(c) < 4:
            return b"\x67\x00"
        cla, ins, p1, p2 = c[0], c[1], c[2], c[3]
        data = b""
        if len(c) > 5:
            lc = c[4]
            if lc == 0 or len(c) not in (5 + lc, 6 + lc):
                return b"\x67\x00"                      # wrong length (no extended APDUs)
            data = c[5:5 + lc]
        if cla != 0x00:
            return b"\x6E\x00"
        if ins == 0xA4:
            return self.select(p1, p2, data)
        if not self.selected:
            return b"\x69\x85"                          # conditions of use not satisfied
        if ins == 0x20:
            return self.verify(p1, p2, data)
        if ins == 0x24:
            return self.change(p1, p2, data)
        if ins == 0x2C:
            return self.unblock(p1, p2, data)
        if ins == 0xCA:
            return self.get_data(p1, p2)
        if ins == 0xDA:
            return self.put_data(p1, p2, data)
        return b"\x6D\x00"

    def select(self, p1, p2, data):
        if p1 != 0x04:
            return b"\x6A\x86"
        self.verified = False
        if data != self.aid:
            self.selected = False
            return b"\x6A\x82"                          # file or application not found
        self.selected = True
        if (p2 & 0x0C) == 0x0C:
            return b"\x90\x00"
        return self.fci() + b"\x90\x00"

    def tries_sw(self, key):
        n = self.s[key]
        return bytes([0x63, 0xC0 | n]) if n else b"\x69\x83"

    def verify(self, p1, p2, data):
        if p1 != 0x00 or p2 != PIN_REF:
            return b"\x6A\x86"
        if not data:                                    # status query: no try spent
            if self.s["tries"] == 0:
                return b"\x69\x83"
            return b"\x90\x00" if self.verified else self.tries_sw("tries")
        if self.s["tries"] == 0:
            return b"\x69\x83"                          # blocked, even for the right PIN
        if data == bytes.fromhex(self.s["pin"]):
            self.s["tries"] = TRIES
            self.verified = True
            self.save()
            return b"\x90\x00"
        self.verified = False
        self.s["tries"] -= 1
        self.save()
        return bytes([0x63, 0xC0 | self.s["tries"]])

    def change(self, p1, p2, data):
        if p1 != 0x01 or p2 != PIN_REF:
            return b"\x6A\x86"
        if not self.verified:
            return b"\x69\x82"                          # security status not satisfied
        if not PIN_MIN <= len(data) <= PIN_MAX:
            return b"\x6A\x80"
        self.s["pin"] = data.hex()
        self.s["tries"] = TRIES
        self.save()
        return b"\x90\x00"

    def unblock(self, p1, p2, data):
        if p1 != 0x00 or p2 != PIN_REF:
            return b"\x6A\x86"
        if not PIN_MIN <= len(data) - PUK_LEN <= PIN_MAX:
            return b"\x6A\x80"
        if self.s["puk_tries"] == 0:
            return b"\x69\x83"
        if data[:PUK_LEN] != bytes.fromhex(self.s["puk"]):
            self.s["puk_tries"] -= 1
            self.save()
            return self.tries_sw("puk_tries") if self.s["puk_tries"] else b"\x63\xC0"
        self.s["puk_tries"] = TRIES
        self.s["pin"] = data[PUK_LEN:].hex()
        self.s["tries"] = TRIES
        self.verified = False
        self.save()
        return b"\x90\x00"

    def get_data(self, p1, p2):
        if (p1, p2) != (0x01, 0x01):
            return b"\x6A\x88"
        if not self.verified:
            return b"\x69\x82"
        if self.s["data"] is None:
            return b"\x6A\x88"                          # referenced data not found
        return bytes.fromhex(self.s["data"]) + b"\x90\x00"

    def put_data(self, p1, p2, data):
        if (p1, p2) != (0x01, 0x01):
            return b"\x6A\x88"
        if not self.verified:
            return b"\x69\x82"
        if not 0 < len(data) <= RECORD_MAX:
            return b"\x6A\x80"
        self.s["data"] = data.hex()
        self.s["lcs"] = LCS_OPERATIONAL
        self.save()
        return b"\x90\x00"


class T0:
    """the rounds of a T=0 card around the applet's answers"""

    def __init__(self, mode, piece):
        self.mode, self.piece, self.pending = mode, piece, None

    def answer(self, card, c):
        if self.mode == "getresp" and len(c) == 5 and c[:4] == b"\x00\xC0\x00\x00":
            if self.pending is None:
                return b"\x69\x85"                  # nothing to get
            data, sw = self.pending
            n = min(c[4] or 256, self.piece)
            part, rest = data[:n], data[n:]
            if rest:
                self.pending = (rest, sw)
                return part + bytes([0x61, len(rest) & 0xFF])
            self.pending = None
            return part + sw
        self.pending = None
        r = card.apdu(c)
        data = r[:-2]
        if self.mode == "exactle" and data:
            # Le: the last byte of a case 2 (5 bytes) or case 4 command
            has_le = len(c) == 5 or (len(c) > 5 and len(c) == 6 + c[4])
            if has_le and (c[-1] or 256) != len(data):
                return bytes([0x6C, len(data) & 0xFF])
        if self.mode == "getresp" and data:
            self.pending = (data, r[-2:])
            return bytes([0x61, len(data) & 0xFF])
        return r


def masked(c):
    # the log is for tests, but a PIN or a password in a log is still a bad
    # habit: show their length only (the --state file holds the record)
    if len(c) > 5 and c[1] in (0x20, 0x24, 0x2C, 0xDA):
        return hexs(c[:5]) + " <%d secret bytes>" % c[4]
    return hexs(c)


def masked_resp(c, r):
    if c[1] in (0xCA, 0xC0) and len(r) > 2:      # the record, or a piece of it
        return "<%d secret bytes> " % (len(r) - 2) + hexs(r[-2:])
    return hexs(r)


def recvall(sk, n):
    b = b""
    while len(b) < n:
        r = sk.recv(n - len(b))
        if not r:
            raise EOFError
        b += r
    return b


def connect(host, port, wait_s):
    deadline = time.time() + wait_s
    while True:
        try:
            return socket.create_connection((host, port))
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser(description="SIMPP applet on a vpcd virtual card")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=35963)
    ap.add_argument("--pin", default="123456", help="PIN of a fresh card (the transport PIN)")
    ap.add_argument("--puk", default="12345678", help="PUK of a fresh card (8 characters)")
    ap.add_argument("--aid", default=SIMPP_AID.hex(), help="AID of the applet this card holds")
    ap.add_argument("--state", help="JSON file holding the card's persistent state")
    ap.add_argument("--log", help="append every C-APDU / R-APDU here")
    ap.add_argument("--remove-after", type=int, default=0, help="vanish at the N-th APDU")
    ap.add_argument("--blink-after", type=int, default=0, help="vanish at the N-th APDU, come back")
    ap.add_argument("--blink-ms", type=int, default=500)
    ap.add_argument("--blink-other", action="store_true", help="another card comes back")
    ap.add_argument("--wait", type=float, default=10, help="seconds to wait for vpcd")
    ap.add_argument("--ready", help="create this file once pcscd has powered the card up")
    ap.add_argument("--t0", choices=["getresp", "exactle"], help="answer in T=0 rounds")
    ap.add_argument("--t0-piece", type=int, default=256, help="bytes per GET RESPONSE")
    args = ap.parse_args()
    if len(args.puk.encode()) != PUK_LEN:
        ap.error("the PUK has %d characters" % PUK_LEN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    card = Card(args)
    t0 = T0(args.t0, args.t0_piece) if args.t0 else None
    log = open(args.log, "a", buffering=1) if args.log else None
    n = 0
    powered = False
    atr = ATR
    while True:
        try:
            sk = connect(args.host, args.port, args.wait)
        except OSError as e:
            print("vpcd_card: unable to connect to vpcd %s:%d: %s" % (args.host, args.port, e),
                  file=sys.stderr)
            return 69
        try:
            while True:
                ln, = struct.unpack("!H", recvall(sk, 2))
                m = recvall(sk, ln)
                if ln == 1:
                    if m[0] == 0x04:
                        sk.sendall(struct.pack("!H", len(atr)) + atr)
                        if powered and args.ready and not os.path.exists(args.ready):
                            open(args.ready, "w").close()
                    else:
                        card.reset()                    # power off / on / reset: no answer
                        powered = m[0] == 0x01
                    continue
                n += 1
                if log:
                    log.write("> " + masked(m) + "\n")
                if n in (args.remove_after, args.blink_after):
                    if log:
                        log.write("# card removed\n")
                    sk.close()
                    card.reset()
                    if n == args.remove_after:
                        return 0
                    time.sleep(args.blink_ms / 1000)
                    if args.blink_other:
                        atr = OTHER_ATR
                        card = Card(argparse.Namespace(**dict(vars(args), state=None)))
                    if log:
                        log.write("# card inserted\n")
                    break
                r = t0.answer(card, m) if t0 else card.apdu(m)
                if log:
                    log.write("< " + masked_resp(m, r) + "\n")
                sk.sendall(struct.pack("!H", len(r)) + r)
        except (EOFError, ConnectionError):
            return 0                                    # pcscd went away


if __name__ == "__main__":
    sys.exit(main())
