"""Many event-stream clients in one process (tests and bench): ``python -m faxd.testing.sse_swarm
URL TOKEN N``. Opens N connections to the stream at URL, prints ``{"connected": N}`` once every
one has its 200 answer, reads until stdin closes (or, when a number
is written to stdin, until every client has that many events, 30 s at most), then prints ``{"events": ..., "bytes": ...,
"min_events": ..., "closed": ...}`` and exits. Plain sockets and one selector: the clients cost
the server what real ones do, and this process stays light."""
from __future__ import annotations

import json
import selectors
import socket
import sys
import time
from urllib.parse import urlsplit


def main(argv=None) -> int:
    url, token, n = (argv or sys.argv[1:])[:3]
    u = urlsplit(url)
    request = (f"GET {u.path}{'?' + u.query if u.query else ''} HTTP/1.1\r\nHost: {u.netloc}\r\n"
               f"X-Auth-Token: {token}\r\nAccept: text/event-stream\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    state = {}
    for _ in range(int(n)):
        s = socket.create_connection((u.hostname, u.port))
        s.sendall(request)
        s.setblocking(False)
        state[s] = {"head": b"", "ok": False, "events": 0, "bytes": 0, "tail": b""}
        sel.register(s, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    announced = False
    closed = 0
    target, target_deadline = None, float("inf")
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.fileobj is sys.stdin:
                line = sys.stdin.readline()
                if line.strip().isdigit():
                    target, target_deadline = int(line), time.monotonic() + 30
                    sel.unregister(sys.stdin)
                    continue
                if not line:
                    ev = [st["events"] for st in state.values()]
                    print(json.dumps({"events": sum(ev), "bytes": sum(st["bytes"] for st in state.values()),
                                      "min_events": min(ev) if ev else 0, "closed": closed}), flush=True)
                    return 0
                continue
            s, st = key.fileobj, state[key.fileobj]
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(s)
                s.close()
                closed += 1
                continue
            st["bytes"] += len(data)
            if not st["ok"]:
                st["head"] += data
                if b"\r\n\r\n" not in st["head"]:
                    continue
                head, _, data = st["head"].partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    print(json.dumps({"error": head.split(b"\r\n")[0].decode()}), flush=True)
                    return 1
                st["ok"] = True
            chunk = st["tail"] + data
            st["events"] += chunk.count(b"\nid: ")
            st["tail"] = chunk[-4:]
        if target is not None and (all(st["events"] >= target for st in state.values())
                                   or time.monotonic() > target_deadline):
            ev = [st["events"] for st in state.values()]
            print(json.dumps({"events": sum(ev), "bytes": sum(st["bytes"] for st in state.values()),
                              "min_events": min(ev) if ev else 0, "closed": closed}), flush=True)
            return 0
        if not announced and all(st["ok"] for st in state.values()):
            announced = True
            print(json.dumps({"connected": len(state)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
