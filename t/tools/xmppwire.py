"""xmppwire.py - what the test peers (s2speer.py, s2sdb.py) share: a stream
read until a pattern shows up in what came."""
import re
import socket
import ssl


class Wire:
    def __init__(self, sock):
        self.s, self.buf = sock, b""

    def restart(self, sock):
        """a new stream on sock (TLS started): what came before is gone"""
        self.s, self.buf = sock, b""

    def until(self, pat):
        """the match of pat once it has come, the bytes up to it consumed;
        None (and what came, printed) if the other side closes first"""
        rx = re.compile(pat, re.S)
        while not rx.search(self.buf.decode("utf-8", "replace")):
            try:
                d = self.s.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                d = b""
            if not d:
                print("closed: %s" % self.buf.decode("utf-8", "replace")[-400:], flush=True)
                return None
            self.buf += d
        text = self.buf.decode("utf-8", "replace")
        m = rx.search(text)
        self.buf = text[m.end():].encode()
        return m
