#!/usr/bin/env python3
"""ptyrun.py [-t SECONDS] [-o LOG] STEP... -- COMMAND [ARG...]

Run COMMAND on a new pseudo-terminal, its controlling terminal and its
standard input, output and error, as when a person types at it; then take
the steps in order:

  expect:REGEX   wait until what COMMAND wrote since the last match matches
  send:TEXT      type TEXT and Enter
  sleep:SECONDS  wait
  eof            type Ctrl-D (end of input on a terminal)
  noecho         the terminal must not echo now (a secret is asked for)

Everything COMMAND wrote goes to LOG (default: standard output) as it
comes.  Exit status: COMMAND's (128 + signal if one killed it); 3 if an
expect timed out or COMMAND ended before it matched, with the reason on
standard error.  -t bounds each step and the wait for the end (default 20).
Standard library only."""
import os, pty, re, select, signal, sys, termios, time


def main(argv):
    timeout, log = 20.0, None
    while argv and argv[0] in ("-t", "-o"):
        if argv[0] == "-t":
            timeout = float(argv[1])
        else:
            log = argv[1]
        argv = argv[2:]
    if "--" not in argv:
        sys.exit(__doc__)
    i = argv.index("--")
    steps, cmd = argv[:i], argv[i + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = open(log, "wb") if log else sys.stdout.buffer
    seen, pos, alive = b"", 0, True

    def pump(until):
        nonlocal seen, alive
        while alive:
            left = until - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return
            try:
                d = os.read(fd, 65536)
            except OSError:
                d = b""
            if not d:
                alive = False
                return
            seen += d
            out.write(d)
            out.flush()

    def fail(why):
        sys.stderr.write("ptyrun: %s\n" % why)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        sys.exit(3)

    for st in steps:
        kind, _, arg = st.partition(":")
        if kind == "expect":
            rx, end = re.compile(arg.encode()), time.monotonic() + timeout
            while True:
                m = rx.search(seen, pos)
                if m:
                    pos = m.end()
                    break
                if not alive or time.monotonic() >= end:
                    fail("%s waiting for /%s/" % ("ended" if not alive else "timed out", arg))
                pump(min(end, time.monotonic() + 0.1))
        elif kind == "send":
            os.write(fd, arg.encode() + b"\n")
        elif kind == "sleep":
            pump(time.monotonic() + float(arg))
        elif kind == "eof":
            os.write(fd, b"\x04")
        elif kind == "noecho":
            if termios.tcgetattr(fd)[3] & termios.ECHO:
                fail("the terminal echoes (after /%s/)" % rx.pattern.decode())
        else:
            fail("unknown step %s" % st)
    end = time.monotonic() + timeout
    while alive and time.monotonic() < end:
        pump(end)
    if alive:
        fail("timed out waiting for the end")
    _, st = os.waitpid(pid, 0)
    return os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
