#!/usr/bin/env python3
"""stanzafilter.py [--drop REGEX | --late REGEX] [--nth N] [--count K] --
PROGRAM ARGS... - a relay that withholds or reorders messages, for tests.  Chained after simpp-login in place
of the program, it runs PROGRAM with its own pipes on fds 6 and 7 and passes
stanzas through (simpp-login writes one a line), except the N-th stanza from
the relay that matches REGEX and the K - 1 matching ones after it (K = 1 by
default), which it drops: what the program sees is what a relay that drops
those messages would deliver.  With --late instead of --drop, those
stanzas are held back and delivered right after the next matching one: a
relay that reorders them.  Everything PROGRAM writes
goes to the relay unchanged.  The key descriptor ($SIMPP_KEYFD) and the
environment are passed on.  Exits with PROGRAM's status.  Standard library
only."""
import os, re, select, subprocess, sys

args = sys.argv[1:]
drop, late, nth, count = None, False, 1, 1
while args and args[0] != "--":
    if args[0] in ("--drop", "--late"):
        drop = re.compile(args[1].encode())
        late = args[0] == "--late"
        args = args[2:]
    elif args[0] == "--nth":
        nth = int(args[1])
        args = args[2:]
    elif args[0] == "--count":
        count = int(args[1])
        args = args[2:]
    else:
        sys.exit("stanzafilter: unknown option %s" % args[0])
prog = args[1:]

to_prog_r, to_prog_w = os.pipe()        # relay -> program (its fd 6)
from_prog_r, from_prog_w = os.pipe()    # program -> relay (its fd 7)
keep = [6, 7]
if os.environ.get("SIMPP_KEYFD", "").isdigit():
    keep.append(int(os.environ["SIMPP_KEYFD"]))


def wire():
    os.dup2(to_prog_r, 6)
    os.dup2(from_prog_w, 7)


p = subprocess.Popen(prog, pass_fds=keep, preexec_fn=wire)
os.close(to_prog_r)
os.close(from_prog_w)
for fd in keep[2:]:
    os.close(fd)

seen, buf, held = 0, b"", []
relay_open, prog_open = True, True
while prog_open:
    fds = [from_prog_r] + ([6] if relay_open else [])
    r, _, _ = select.select(fds, [], [])
    if from_prog_r in r:
        d = os.read(from_prog_r, 65536)
        if not d:
            prog_open = False
            break
        os.write(7, d)
    if relay_open and 6 in r:
        d = os.read(6, 65536)
        if not d:
            relay_open = False
            os.close(to_prog_w)
            continue
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            out = [line]
            if drop is not None and drop.search(line):
                seen += 1
                if nth <= seen < nth + count:
                    sys.stderr.write("stanzafilter: %s %s\n" % ("held" if late else "dropped",
                                                               line[:80].decode("utf-8", "replace")))
                    if late:
                        held.append(line)
                    continue
                if held:    # the held ones now, after this one
                    out, held = out + held, []
                    sys.stderr.write("stanzafilter: delivered %d held late\n" % (len(out) - 1))
            try:
                for o in out:
                    os.write(to_prog_w, o + b"\n")
            except BrokenPipeError:
                relay_open = False
sys.exit(p.wait())
