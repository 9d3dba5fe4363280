#!/usr/bin/env python3
"""relayend.py TO_SESSION FROM_SESSION SCRIPT - the relay's end of the stanza
pipe simpp-session reads after simpp-login (fds 6/7), played by a hostile or
broken relay.  TO_SESSION and FROM_SESSION are fifos (simpp-session reads the
first on fd 6 and writes the second on fd 7); SCRIPT is a file of steps, one
a line:
  send TEXT           write TEXT (a stanza) to the session
  repeat N TEXT       write TEXT N times
  expect REGEX        read what the session writes until REGEX matches
                      (10 s, else exit 1)
  sleep SECONDS
  close               close the session's input (the relay went away)
What the session wrote goes to stdout at the end.  Standard library only."""
import os, re, select, sys, time

to_path, from_path, script = sys.argv[1:4]
out = open(to_path, "wb", buffering=0)      # simpp-session opens fd 6 first
inp = os.open(from_path, os.O_RDONLY)
seen = b""


def pump(timeout):
    global seen
    r, _, _ = select.select([inp], [], [], timeout)
    if r:
        d = os.read(inp, 65536)
        if d:
            seen += d
            return True
    return False


def send(data):
    # write in pieces, reading meanwhile so the session never blocks on fd 7
    view = memoryview(data)
    while view:
        _, w, _ = select.select([], [out], [], 0.1)
        if w:
            n = os.write(out.fileno(), view[:65536])
            view = view[n:]
        pump(0)


status = 0
for line in open(script, encoding="utf-8"):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    cmd, _, arg = line.partition(" ")
    if cmd == "send":
        send(arg.encode() + b"\n")
    elif cmd == "repeat":
        n, _, text = arg.partition(" ")
        send((text + "\n").encode() * int(n))
    elif cmd == "expect":
        end = time.time() + 10
        while not re.search(arg.encode(), seen) and time.time() < end:
            pump(0.1)
        if not re.search(arg.encode(), seen):
            sys.stderr.write("relayend: never saw /%s/\n" % arg)
            status = 1
            break
    elif cmd == "sleep":
        end = time.time() + float(arg)
        while time.time() < end:
            pump(0.05)
    elif cmd == "close":
        out.close()
        out = None
        end = time.time() + 10
        while time.time() < end:             # until the session closes its end
            r, _, _ = select.select([inp], [], [], 0.1)
            if r:
                d = os.read(inp, 65536)
                if not d:
                    break
                seen += d
        break
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.exit(status)
