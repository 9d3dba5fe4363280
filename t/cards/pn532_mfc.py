#!/usr/bin/env python3
"""pn532_mfc.py - a PN532 reader on a pseudo-terminal with one MIFARE Classic
1K card in its field, for tests.  Python standard library only.

libnfc's real pn532_uart driver opens the pty (--link PATH points at it:
LIBNFC_DEVICE=pn532_uart:PATH), so the programs under test go through the
real libnfc stack.  Frames follow NXP UM0701-02 (PN532 user manual):

  host -> PN532   00 00 FF LEN LCS D4 CMD params DCS 00
  PN532 -> host   00 00 FF 00 FF 00 (ACK), then 00 00 FF LEN LCS D5 CMD+1 data DCS 00

The card (NXP MF1S50 data sheet): 16 sectors of 4 blocks of 16 bytes; the
last block of a sector is its trailer, key A | access bits (3 bytes) |
GPB | key B.  The PN532 runs Crypto1 itself, so the emulator only compares
keys.  Access conditions are enforced, after the data sheet's tables: a key
may read or write a block only if the sector's access bits allow it, key A
reads back as zeros, and a trailer write whose access bits are not
self-consistent is refused (a real card would accept it and lock the sector
for ever).  Not modelled: value blocks, 4K cards, 7-byte UIDs, key B
readable-implies-unusable.

--dump FILE holds the 1024-byte image (the .mfd layout of nfc-mfclassic),
saved after every WRITE.  --no-card: an empty field.  --fail-after-writes N:
the card leaves the field after the N-th successful WRITE (a card pulled
away in the middle of provisioning); with --back-after S it is held back
into the field S seconds later.
"""
import argparse
import os
import select
import signal
import sys
import time
import tty

ACK = bytes.fromhex("0000FF00FF00")
ERROR_FRAME = bytes.fromhex("0000FF01FF7F8100")      # PN532 application-level error
TRANSPORT_TRAILER = bytes.fromhex("FFFFFFFFFFFF" "FF078069" "FFFFFFFFFFFF")

# Data blocks: (C1,C2,C3) -> (read by, write by); "A", "B", "AB" or ""
DATA_AC = {
    (0, 0, 0): ("AB", "AB"), (0, 1, 0): ("AB", ""), (1, 0, 0): ("AB", "B"),
    (1, 1, 0): ("AB", "B"), (0, 0, 1): ("AB", ""), (0, 1, 1): ("B", "B"),
    (1, 0, 1): ("B", ""), (1, 1, 1): ("", ""),
}
# Trailer: (C1,C2,C3) -> (write key A, read access bits, write access bits,
#                         read key B, write key B)
TRAILER_AC = {
    (0, 0, 0): ("A", "A", "", "A", "A"), (0, 1, 0): ("", "A", "", "A", ""),
    (1, 0, 0): ("B", "AB", "", "", "B"), (1, 1, 0): ("", "AB", "", "", ""),
    (0, 0, 1): ("A", "A", "A", "A", "A"), (0, 1, 1): ("B", "AB", "B", "", "B"),
    (1, 0, 1): ("", "AB", "B", "", ""), (1, 1, 1): ("", "AB", "", "", ""),
}


def access_bits_ok(t):
    b6, b7, b8 = t[6], t[7], t[8]
    return (b6 & 0x0F) == (~b7 >> 4) & 0x0F and (b6 >> 4) == (~b8) & 0x0F and \
        (b7 & 0x0F) == (~b8 >> 4) & 0x0F


def conditions(t, j):
    """(C1, C2, C3) of block j (0..3) from trailer t"""
    b7, b8 = t[7], t[8]
    return ((b7 >> (4 + j)) & 1, (b8 >> j) & 1, (b8 >> (4 + j)) & 1)


class Card:
    def __init__(self, uid, path):
        self.uid = uid
        self.path = path
        if path and os.path.exists(path):
            with open(path, "rb") as f:
                self.mem = bytearray(f.read())
            if len(self.mem) != 1024:
                sys.exit("pn532_mfc: %s is not a 1024-byte MIFARE Classic 1K image" % path)
            self.uid = bytes(self.mem[0:4])
        else:
            self.mem = bytearray(1024)
            bcc = uid[0] ^ uid[1] ^ uid[2] ^ uid[3]
            self.mem[0:16] = uid + bytes([bcc, 0x08, 0x04, 0x00]) + b"SIMPPEMU"
            for s in range(16):
                self.mem[s * 64 + 48:s * 64 + 64] = TRANSPORT_TRAILER
            self.save()
        self.auth = None                    # (sector, "A"|"B")
        self.halted = True

    def save(self):
        if self.path:
            tmp = self.path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(self.mem)
            os.replace(tmp, self.path)

    def trailer(self, sector):
        return self.mem[sector * 64 + 48:sector * 64 + 64]

    def block(self, b):
        return self.mem[b * 16:b * 16 + 16]


class Emu:
    def __init__(self, args):
        self.args = args
        self.card = None if args.no_card else Card(bytes.fromhex(args.uid), args.dump)
        self.present = self.card is not None
        self.back_at = None
        self.writes = 0
        self.regs = {}
        self.log = open(args.log, "a", buffering=1) if args.log else None

    def note(self, s):
        if self.log:
            self.log.write(s + "\n")

    def command(self, cmd, p):
        c = self.card
        if cmd == 0x14 or cmd == 0x12 or cmd == 0x32 or cmd == 0x08:
            if cmd == 0x08:
                for i in range(0, len(p) - 2, 3):
                    self.regs[(p[i] << 8) | p[i + 1]] = p[i + 2]
            return b""                           # SAMConfiguration, SetParameters, RFConfiguration, WriteRegister
        if cmd == 0x00:                          # Diagnose: communication test echoes
            return bytes(p) if p and p[0] == 0 else b"\x00"
        if cmd == 0x02:                          # GetFirmwareVersion: PN532 v1.6
            return bytes([0x32, 0x01, 0x06, 0x07])
        if cmd == 0x06:                          # ReadRegister
            return bytes(self.regs.get((p[i] << 8) | p[i + 1], 0) for i in range(0, len(p) - 1, 2))
        if cmd == 0x4A:                          # InListPassiveTarget
            if self.back_at is not None and time.time() >= self.back_at:
                self.note("# card back in the field")
                self.present, self.back_at = True, None
            if not self.present or p[1] != 0x00 or (len(p) > 2 and bytes(p[2:]) != c.uid):
                return b"\x00"
            c.halted, c.auth = False, None
            return bytes([1, 1, 0x00, 0x04, 0x08, 4]) + c.uid
        if cmd == 0x40:                          # InDataExchange
            return self.mifare(bytes(p[1:]))
        if cmd == 0x42:                          # InCommunicateThru: nothing answers
            return b"\x01"
        if cmd in (0x44, 0x52):                  # InDeselect, InRelease
            if c:
                c.auth = None
            return b"\x00"
        if cmd == 0x16:                          # PowerDown
            return b"\x00"
        return None

    def mifare(self, m):
        c = self.card
        if not self.present or c.halted or not m:
            return b"\x01"                       # timeout: no card answers
        op = m[0]
        if op in (0x60, 0x61) and len(m) == 12:
            blk, key = m[1], m[2:8]
            if blk >= 64:
                return b"\x14"
            t = c.trailer(blk // 4)
            want = t[0:6] if op == 0x60 else t[10:16]
            if key != want:
                self.note("auth %s sector %d: wrong key" % ("AB"[op - 0x60], blk // 4))
                c.halted, c.auth = True, None    # the card stops answering until re-selected
                return b"\x14"
            c.auth = (blk // 4, "AB"[op - 0x60])
            self.note("auth %s sector %d: ok" % (c.auth[1], blk // 4))
            return b"\x00"
        if op == 0x30 and len(m) == 2:
            return self.read(m[1])
        if op == 0xA0 and len(m) == 18:
            return self.write(m[1], m[2:])
        self.note("unhandled MIFARE command %s" % m.hex())
        return b"\x27"

    def allowed(self, blk):
        c = self.card
        if blk >= 64 or c.auth is None or c.auth[0] != blk // 4:
            return None
        return c.trailer(blk // 4), blk % 4, c.auth[1]

    def read(self, blk):
        a = self.allowed(blk)
        if not a:
            return b"\x14"
        t, j, k = a
        if j < 3:
            if k not in DATA_AC[conditions(t, j)][0]:
                self.note("read block %d with key %s: denied" % (blk, k))
                return b"\x14"
            return b"\x00" + bytes(self.card.block(blk))
        wa, ra, wab, rb, wb = TRAILER_AC[conditions(t, 3)]
        out = bytearray(16)                      # key A never reads back
        if k in ra:
            out[6:10] = t[6:10]
        if k in rb:
            out[10:16] = t[10:16]
        return b"\x00" + bytes(out)

    def write(self, blk, d):
        c = self.card
        a = self.allowed(blk)
        if not a or blk == 0:
            return b"\x14"
        t, j, k = a
        if j < 3:
            if k not in DATA_AC[conditions(t, j)][1]:
                self.note("write block %d with key %s: denied" % (blk, k))
                return b"\x14"
        else:
            wa, ra, wab, rb, wb = TRAILER_AC[conditions(t, 3)]
            if k not in wa or k not in wab or k not in wb:
                self.note("write trailer %d with key %s: denied" % (blk, k))
                return b"\x14"
            if not access_bits_ok(d):
                self.note("write trailer %d: inconsistent access bits %s refused "
                          "(a real card would lock the sector)" % (blk, d[6:9].hex()))
                return b"\x14"
        c.mem[blk * 16:blk * 16 + 16] = d
        c.save()
        self.writes += 1
        self.note("write block %d: ok" % blk)
        if self.args.fail_after_writes and self.writes == self.args.fail_after_writes:
            self.note("# card left the field")
            self.present, c.halted = False, True
            if self.args.back_after:
                self.back_at = time.time() + self.args.back_after
        return b"\x00"


def frame(data):
    ln = len(data)
    return bytes([0, 0, 0xFF, ln, (-ln) & 0xFF]) + data + bytes([(-sum(data)) & 0xFF, 0])


def main():
    ap = argparse.ArgumentParser(description="PN532 + MIFARE Classic 1K on a pty")
    ap.add_argument("--link", required=True, help="symlink to create to the pty")
    ap.add_argument("--dump", help="1024-byte card image, loaded and saved")
    ap.add_argument("--uid", default="DEADBEEF")
    ap.add_argument("--log")
    ap.add_argument("--no-card", action="store_true")
    ap.add_argument("--fail-after-writes", type=int, default=0)
    ap.add_argument("--back-after", type=float, default=0,
                    help="seconds after which a card that left the field comes back")
    args = ap.parse_args()
    emu = Emu(args)
    master, slave = os.openpty()
    tty.setraw(slave)                            # no line discipline on frame bytes
    name = os.ttyname(slave)
    if os.path.lexists(args.link):
        os.unlink(args.link)
    os.symlink(name, args.link)

    def bye(*_):
        try:
            os.unlink(args.link)
        except OSError:
            pass
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    buf = b""
    while True:
        select.select([master], [], [])
        try:
            buf += os.read(master, 4096)
        except OSError:
            continue                             # no client has the slave open
        while True:
            i = buf.find(b"\x00\xff")
            if i < 0 or len(buf) < i + 4:
                break
            ln, lcs = buf[i + 2], buf[i + 3]
            if ln == 0 and lcs == 0xFF:          # an ACK from the host (abort): nothing to do
                buf = buf[i + 4:]
                continue
            if (ln + lcs) & 0xFF:
                buf = buf[i + 2:]                # not a frame start; resync
                continue
            if len(buf) < i + 4 + ln + 2:
                break
            body, dcs = buf[i + 4:i + 4 + ln], buf[i + 4 + ln]
            buf = buf[i + 4 + ln + 2:]
            if len(body) < 2 or body[0] != 0xD4 or (sum(body) + dcs) & 0xFF:
                emu.note("bad frame %s" % body.hex())
                continue
            cmd, params = body[1], body[2:]
            r = emu.command(cmd, params)
            if r is None:
                emu.note("unhandled PN532 command %02x %s" % (cmd, params.hex()))
                os.write(master, ACK + ERROR_FRAME)
            else:
                os.write(master, ACK + frame(bytes([0xD5, cmd + 1]) + r))


if __name__ == "__main__":
    main()
