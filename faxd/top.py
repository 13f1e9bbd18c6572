"""``faxd top``: a live terminal view of a running faxd, like ``top``.

Calls in progress (pages, speed, ECM/T.38, remote id, elapsed) come from the event stream
(every account's for a super-admin, else the key's own account); queue depth, switch
connections and channel use from ``/metrics``, read every two seconds. Fits 80x24, works over
SSH; ``q`` quits.
"""
from __future__ import annotations

import sys
import time
from collections import deque

KEEP_ENDED = 8.0         # seconds an ended call stays on screen
METRICS_EVERY = 2.0


def add_arguments(p) -> None:
    from faxd.send import add_connection_arguments
    add_connection_arguments(p)
    p.add_argument("--interval", type=float, default=0.5, metavar="SECONDS", help="screen refresh (default 0.5)")


class State:
    def __init__(self):
        self.calls: dict[str, dict] = {}
        self.failures: deque = deque(maxlen=6)
        self.totals = {"sent": 0, "failed": 0, "received": 0, "pages": 0}
        self.jobs: dict[str, float] = {}
        self.switches: list[tuple[str, bool, float | None]] = []
        self.active = 0.0
        self.error = ""
        self.events = 0
        self.last_id = None

    def apply(self, ev: dict) -> None:
        self.events += 1
        self.last_id = ev.get("id", self.last_id)
        d = ev["data"]
        kind, data, key = ev["event"], d.get("data") or {}, d.get("fax_id") or d.get("call_id")
        now = time.monotonic()
        inbound = kind.startswith("inbound_")
        if kind in ("queued", "prepared", "email_accepted", "email_refused") or key is None:
            if kind == "email_refused":
                self.failures.appendleft((time.strftime("%H:%M:%S"), "email", data.get("rcpt_to", ""),
                                          data.get("smtp_text") or "refused"))
            return
        call = self.calls.get(key)
        if call is None:
            if kind in ("inbound_received", "inbound_failed"):
                call = self.calls.get(d.get("call_id")) if d.get("call_id") else None
            if call is None:
                call = self.calls[key] = {"dir": "in" if inbound else "out", "number": "", "status": "",
                                          "page": 0, "total": 0, "speed": 0, "mode": "", "remote": "",
                                          "started": now, "ended": None}
        if data.get("to_number") and not inbound:
            call["number"] = data["to_number"]
        if inbound and data.get("from_number"):
            call["number"] = data["from_number"]
        if data.get("pages_total"):
            call["total"] = data["pages_total"]
        if kind in ("dialing",):
            call.update(status="dialing", started=now, ended=None, page=0)
        elif kind in ("answered",):
            call["status"] = "answered"
        elif kind in ("negotiated", "inbound_negotiated"):
            call.update(status="sending" if not inbound else "receiving", speed=data.get("fax_speed") or 0,
                        mode=" ".join(m for m, on in (("ECM", data.get("ecm")), ("T.38", data.get("t38"))) if on),
                        remote=data.get("remote_station_id") or "")
        elif kind in ("page", "inbound_page"):
            call["page"] = data.get("page", call["page"])
            self.totals["pages"] += 1
        elif kind == "inbound_started":
            call.update(status="ringing", started=now)
        elif kind in ("completed", "inbound_received"):
            call.update(status="done", ended=now)
            self.totals["received" if inbound else "sent"] += 1
        elif kind in ("failed", "cancelled", "retry_scheduled", "inbound_failed"):
            call.update(status={"retry_scheduled": "retry", "cancelled": "cancelled"}.get(kind, "failed"), ended=now)
            if kind != "cancelled":
                self.totals["failed"] += kind != "retry_scheduled"
                why = data.get("hangup_cause") if not data.get("result_code") else f"T.30 {data['result_code']}"
                self.failures.appendleft((time.strftime("%H:%M:%S"), call["number"] or "?", why or "",
                                          data.get("error") or data.get("result_text") or ""))

    def prune(self) -> None:
        now = time.monotonic()
        for k in [k for k, c in self.calls.items() if c["ended"] and now - c["ended"] > KEEP_ENDED]:
            del self.calls[k]

    def apply_metrics(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families
        jobs, switches, calls, active = {}, {}, {}, 0.0
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == "faxd_jobs":
                    jobs[s.labels["status"]] = s.value
                elif s.name == "faxd_switch_connected":
                    switches[(s.labels["switch"], s.labels["node"])] = s.value == 1
                elif s.name == "faxd_switch_calls":
                    calls[(s.labels["switch"], s.labels["node"])] = s.value
                elif s.name == "faxd_calls_active":
                    active += s.value
        self.jobs = jobs
        self.switches = [(f"{k[0]}@{k[1][:8]}", up, calls.get(k)) for k, up in sorted(switches.items())]
        self.active = active


def render(state: State, url: str, scope: str, width: int = 80, height: int = 24) -> str:
    """The screen as plain text, at most ``width`` x ``height``."""
    now = time.monotonic()
    out = [f"faxd top - {url} - {scope} - {time.strftime('%H:%M:%S')}",
           "queue: " + "  ".join(f"{k} {int(v)}" for k, v in (("pending", state.jobs.get("pending", 0)),
                                                                ("processing", state.jobs.get("processing", 0)),
                                                                ("converting", state.jobs.get("attaching_files", 0))))
           + f"   calls here: {int(state.active)}",
           "session: sent {sent}  failed {failed}  received {received}  pages {pages}".format(**state.totals),
           "switches: " + ("  ".join(f"{n} {'up' if up else 'DOWN'}"
                                      + (f" {int(c)} ch" if c is not None else "") for n, up, c in state.switches)
                           or "(waiting for /metrics)"),
           "",
           f"{'DIR':<4}{'NUMBER':<17}{'STATUS':<10}{'PAGES':<8}{'SPEED':<7}{'MODE':<9}{'REMOTE':<17}{'TIME':>6}"]
    calls = sorted(state.calls.values(), key=lambda c: c["started"])
    room = height - len(out) - 3 - min(len(state.failures), 4)
    for c in calls[-max(1, room):]:
        pages = f"{c['page']}/{c['total'] or '?'}"
        elapsed = int((c["ended"] or now) - c["started"])
        out.append(f"{c['dir']:<4}{c['number'][:16]:<17}{c['status'][:9]:<10}{pages:<8}"
                   f"{(str(c['speed']) if c['speed'] else ''):<7}{c['mode'][:8]:<9}{c['remote'][:16]:<17}"
                   f"{elapsed // 60:>3}:{elapsed % 60:02d}")
    if not calls:
        out.append("  (no calls)")
    out.append("")
    out.append("recent failures:" if state.failures else "recent failures: none")
    for when, number, code, text in list(state.failures)[:4]:
        out.append(f"  {when} {number[:16]:<16} {code[:18]:<18} {text}")
    while len(out) < height - 1:
        out.append("")
    out = out[:height - 1]
    out.append(("q quit" + (f"   ! {state.error}" if state.error else "")))
    return "\n".join(l[:width] for l in out)


def main(args, config) -> int:
    import gevent
    from faxd.remote import Api, RemoteError
    try:
        api = Api.from_args(args, config)
        try:
            stream = api.open_events("/v2/events")
            scope = "all accounts"
        except RemoteError:
            stream = api.open_events()
            scope = f"account {api.account_id[:8]}"
    except RemoteError as e:
        sys.stderr.write(f"faxd: error: {e}\n")
        return 1
    import gevent.event
    state = State()
    done = gevent.event.Event()

    def read_events(stream):
        while not done.is_set():
            try:
                for ev in stream:
                    state.apply(ev)
                state.error = "event stream closed; reconnecting"
            except Exception as e:   # noqa: BLE001 - shown on screen, then reconnect
                state.error = f"event stream: {e}"
            gevent.sleep(1)
            try:
                stream = api.open_events("/v2/events" if scope == "all accounts" else None, state.last_id)
                state.error = ""
            except RemoteError as e:
                state.error = str(e)

    def poll_metrics():
        while not done.is_set():
            try:
                state.apply_metrics(api.metrics_text())
            except Exception as e:  # noqa: BLE001
                state.error = f"/metrics: {e}"
            gevent.sleep(METRICS_EVERY)

    workers = [gevent.spawn(read_events, stream), gevent.spawn(poll_metrics)]
    try:
        return _screen(state, api.base, scope, args.interval, done)
    finally:
        done.set()
        stream.close()
        gevent.killall(workers, timeout=1)


def _screen(state: State, url: str, scope: str, interval: float, done) -> int:
    import os
    import shutil
    import termios
    import tty

    import gevent
    from gevent.socket import wait_read

    fd = sys.stdin.fileno()
    interactive = os.isatty(fd)
    old = termios.tcgetattr(fd) if interactive else None
    out = sys.stdout
    try:
        if interactive:
            tty.setcbreak(fd)
        out.write("\x1b[?1049h\x1b[?25l")      # alternate screen, no cursor
        while True:
            size = shutil.get_terminal_size((80, 24))
            state.prune()
            out.write("\x1b[H\x1b[2J" + render(state, url, scope, size.columns, size.lines))
            out.flush()
            try:
                wait_read(fd, timeout=interval)
            except (TimeoutError, OSError, gevent.Timeout):
                continue
            key = os.read(fd, 16)
            if not key or b"q" in key or b"Q" in key:
                return 0
    except KeyboardInterrupt:
        return 0
    finally:
        out.write("\x1b[?25h\x1b[?1049l")
        out.flush()
        if old is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
