#!/usr/bin/env python3
"""dnsstub.py ADDRESS[:PORT] ZONEFILE [READYFILE] - a tiny authoritative DNS
server for tests, on UDP and TCP (port 53 by default).  It answers A, AAAA
and SRV questions from ZONEFILE, one record a line:

    a.test                     A    127.0.0.1
    a.test                     AAAA ::1
    _xmpp-server._tcp.a.test   SRV  0 5 5269 a.test

(# starts a comment; names are compared without case and a final dot; the
file is read again when it changes).
A name that has records but none of the type asked gets an empty answer
(NOERROR); any other name NXDOMAIN.  Each question is logged on stderr
("dnsstub: NAME TYPE -> N records").  READYFILE is written once both sockets
listen.  Runs until killed.  Standard library only."""
import ipaddress
import os
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "AAAA": 28, "SRV": 33}
NAMES = {v: k for k, v in TYPES.items()}


def load(path):
    zone = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            if len(line) < 3 or line[1].upper() not in TYPES:
                sys.exit("dnsstub: %s:%d: NAME A|AAAA|SRV VALUE expected" % (path, n))
            name, typ, val = line[0].lower().rstrip("."), TYPES[line[1].upper()], line[2:]
            if typ == 1:
                rdata = ipaddress.IPv4Address(val[0]).packed
            elif typ == 28:
                rdata = ipaddress.IPv6Address(val[0]).packed
            else:
                if len(val) != 4:
                    sys.exit("dnsstub: %s:%d: SRV PRIORITY WEIGHT PORT TARGET expected" % (path, n))
                rdata = struct.pack("!HHH", int(val[0]), int(val[1]), int(val[2])) + encode_name(val[3])
            zone.setdefault(name, []).append((typ, rdata))
    return zone


class Zone:
    """the zone file's records, read again when the file changes"""

    def __init__(self, path):
        self.path, self.stamp, self.records = path, None, {}
        self.lock = threading.Lock()
        self.get("")

    def get(self, name):
        with self.lock:
            st = os.stat(self.path)
            if (st.st_mtime_ns, st.st_size) != self.stamp:
                self.records, self.stamp = load(self.path), (st.st_mtime_ns, st.st_size)
            return self.records.get(name)


def encode_name(name):
    out = b""
    for label in name.lower().rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def parse_question(msg):
    """(id, flags, name, qtype, qclass, end of the question) or None"""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1 or flags & 0x8000:
        return None
    labels, i = [], 12
    while True:
        if i >= len(msg):
            return None
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 or i + 1 + n > len(msg):
            return None
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    if i + 4 > len(msg):
        return None
    qtype, qclass = struct.unpack("!HH", msg[i:i + 4])
    return qid, flags, ".".join(labels), qtype, qclass, i + 4


def answer(zone, msg):
    q = parse_question(msg)
    if q is None:
        if len(msg) >= 2:   # FORMERR, the id echoed
            return msg[:2] + struct.pack("!HHHHH", 0x8001, 0, 0, 0, 0)
        return None
    qid, flags, name, qtype, qclass, end = q
    question = msg[12:end]
    rd = flags & 0x0100
    records = zone.get(name)
    if records is None:
        rcode, found = 3, []
    else:
        rcode, found = 0, [r for r in records if r[0] == qtype and qclass == 1]
    sys.stderr.write("dnsstub: %s %s -> %s\n" % (name, NAMES.get(qtype, qtype),
                                                 "NXDOMAIN" if rcode else "%d records" % len(found)))
    sys.stderr.flush()
    out = struct.pack("!HHHHHH", qid, 0x8400 | rd | rcode, 1, len(found), 0, 0) + question
    for typ, rdata in found:
        # the owner name as a pointer to the question's (offset 12)
        out += struct.pack("!HHHIH", 0xC00C, typ, 1, 60, len(rdata)) + rdata
    return out


def serve_udp(sock, zone):
    while True:
        msg, peer = sock.recvfrom(4096)
        out = answer(zone, msg)
        if out:
            sock.sendto(out, peer)


def serve_tcp_conn(conn, zone):
    with conn:
        buf = b""
        while True:
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                d = conn.recv(4096)
                if not d:
                    return
                buf += d
            n = struct.unpack("!H", buf[:2])[0]
            msg, buf = buf[2:2 + n], buf[2 + n:]
            out = answer(zone, msg)
            if out:
                conn.sendall(struct.pack("!H", len(out)) + out)


def serve_tcp(sock, zone):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn, zone), daemon=True).start()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: dnsstub.py ADDRESS[:PORT] ZONEFILE [READYFILE]")
    host, _, port = sys.argv[1].rpartition(":") if sys.argv[1].count(":") == 1 else (sys.argv[1], "", "53")
    zone = Zone(sys.argv[2])
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    udp = socket.socket(fam, socket.SOCK_DGRAM)
    udp.bind((host, int(port)))
    tcp = socket.socket(fam, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((host, int(port)))
    tcp.listen(16)
    threading.Thread(target=serve_tcp, args=(tcp, zone), daemon=True).start()
    if len(sys.argv) == 4:
        with open(sys.argv[3], "w") as f:
            f.write("%s %s\n" % (host, port))
    serve_udp(udp, zone)


if __name__ == "__main__":
    main()
