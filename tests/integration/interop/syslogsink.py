"""A syslog socket for HylaFAX's daemons, written to a file: ``python -m ...syslogsink SOCKET FILE``.

HylaFAX's faxq, faxsend, faxgetty and hfaxd log with syslog(3), which sends each message as a
datagram to ``/dev/log``. The test runs those daemons in a mount namespace whose ``/dev/log``
leads here (hylafax.py), and this process appends every message to FILE with the time it
arrived (UTC, milliseconds), so a failed test can show HylaFAX's own account of the call.
It runs as a process of its own, not a thread of the test: the test's IAX2 endpoint is a
real-time loop, and nothing else should share its interpreter.
"""
from __future__ import annotations

import os
import re
import socket
import sys
import time

# "<30>Dec  4 11:20:01 FaxQueuer[123]: message": the priority, then syslog's own timestamp.
HEADER = re.compile(rb"^<(\d+)>(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?")
SEVERITY = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def line(datagram: bytes, now: float) -> str:
    """One log line: arrival time, severity, and the message as the daemon wrote it."""
    m = HEADER.match(datagram)
    severity = SEVERITY[int(m.group(1)) & 7] if m else "?"
    text = datagram[m.end() if m else 0:].rstrip(b"\0\n").decode(errors="replace")
    stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"
    return f"{stamp} {severity:7} {text}\n"


def main(sock_path: str, out_path: str) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    os.chmod(sock_path, 0o666)          # the daemons log after dropping to the uucp user
    with open(out_path, "a", buffering=1) as out:
        out.write(f"{line(b'<14>syslog sink ready', time.time())}")
        while True:
            data = sock.recv(65536)
            out.write(line(data, time.time()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
