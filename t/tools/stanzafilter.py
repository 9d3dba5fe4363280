#!/usr/bin/env python3
"""stanzafilter.py [--drop REGEX | --late REGEX] [--nth N] [--count K] [--ctl FIFO]
-- PROGRAM ARGS... - a relay that withholds or reorders messages, for tests.  Chained after simpp-login in place
of the program, it runs PROGRAM with its own pipes on fds 6 and 7 and passes
stanzas through (simpp-login writes one a line), except the N-th stanza from
the relay that matches REGEX and the K - 1 matching ones after it (K = 1 by
default), which it drops: what the program sees is what a relay that drops
those messages would deliver.  With --late instead of --drop, those
stanzas are held back and delivered right after the next matching one: a
relay that reorders them.  Everything PROGRAM writes
goes to the relay unchanged.  The key descriptor ($SIMPP_KEYFD) and the
environment are passed on.  Exits with PROGRAM's status.

With --ctl, commands come on FIFO, one a line, and it plays simpp-login's
link to the relay and a relay that loses or repeats stanzas:
  down          tells PROGRAM <link state='down'/>; from now on what PROGRAM
                writes is queued and what the relay sends is held
  new           the queue goes to the relay, what was held is lost, and
                PROGRAM is told <link state='new'/> (the relay lost the session)
  resumed       the queue goes, what was held is delivered, then <link
                state='resumed'/>
  drop K REGEX  the next K stanzas from the relay matching REGEX are lost
  dup REGEX     the next stanza from the relay matching REGEX comes twice
  oldseq REGEX  the next matching stanza comes, then a copy of it whose n=''
                is one less (the same number as an earlier frame, other bytes)
  raw TEXT      TEXT (a stanza) goes to PROGRAM as if from the relay
Each command is acknowledged by a line "ctl: COMMAND" on standard error
once done.  Standard library only."""
import os, re, select, subprocess, sys

args = sys.argv[1:]
drop, late, nth, count, ctl = None, False, 1, 1, None
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
    elif args[0] == "--ctl":
        ctl = os.open(args[1], os.O_RDWR | os.O_NONBLOCK)
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

seen, buf, held, cbuf = 0, b"", [], b""
relay_open, prog_open = True, True
down, queued, withheld = False, [], []  # the link (--ctl)
rules = []                              # [kind, regex, count] for stanzas from the relay
LINK = "<link xmlns='urn:simpp:1:link' state='%s' %s='0'/>\n"


def to_prog(line):
    global relay_open
    try:
        os.write(to_prog_w, line + b"\n")
    except BrokenPipeError:
        relay_open = False


def deliver(line):
    """a stanza from the relay, through the rules, to PROGRAM"""
    for r in rules:
        if r[2] > 0 and r[1].search(line):
            r[2] -= 1
            if r[0] == "drop":
                sys.stderr.write("stanzafilter: lost %s\n" % line[:80].decode("utf-8", "replace"))
                return
            to_prog(line)
            if r[0] == "dup":
                to_prog(line)
            else:
                m = re.search(rb" n='(\d+)'", line)
                to_prog(line.replace(m.group(0), b" n='%d'" % (int(m.group(1)) - 1)))
            return
    to_prog(line)


def command(c):
    global down, queued, withheld
    w = c.split(" ", 2)
    if w[0] == "down":
        down = True
        to_prog((LINK % ("down", "pending")).encode().strip())
    elif w[0] in ("new", "resumed"):
        down = False
        for d in queued:
            os.write(7, d)
        if w[0] == "resumed":
            for line in withheld:
                deliver(line)
        queued, withheld = [], []
        to_prog((LINK % (w[0], "resent")).encode().strip())
    elif w[0] == "drop":
        rules.append(["drop", re.compile(w[2].encode()), int(w[1])])
    elif w[0] in ("dup", "oldseq"):
        rules.append([w[0], re.compile(c.split(" ", 1)[1].encode()), 1])
    elif w[0] == "raw":
        to_prog(c.split(" ", 1)[1].encode())
    sys.stderr.write("ctl: %s\n" % c)
    sys.stderr.flush()


while prog_open:
    fds = [from_prog_r] + ([6] if relay_open else []) + ([ctl] if ctl is not None else [])
    r, _, _ = select.select(fds, [], [])
    if ctl is not None and ctl in r:
        cbuf += os.read(ctl, 65536)
        while b"\n" in cbuf:
            c, cbuf = cbuf.split(b"\n", 1)
            command(c.decode())
    if from_prog_r in r:
        d = os.read(from_prog_r, 65536)
        if not d:
            prog_open = False
            break
        if down:
            queued.append(d)
        else:
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
            for o in out:
                if down:
                    withheld.append(o)
                else:
                    deliver(o)
sys.exit(p.wait())
