"""``faxd send FILE... --to NUMBER [--wait]``: queue a fax through a running faxd's API.

Without ``--wait`` it prints the queued job as JSON. With ``--wait`` it follows the fax on the
account's event stream: a progress bar of pages on a terminal (rich), plain lines otherwise,
then one result line. Exit status: 0 sent, 1 failed (or cancelled, or faxd unreachable), 2 usage.
"""
from __future__ import annotations

import json
import os
import sys


def add_connection_arguments(p) -> None:
    """--api, --api-key, --account (faxd send, faxd top); here, not in faxd.remote, so that
    ``faxd --help`` does not import an HTTP client."""
    p.add_argument("--api", metavar="URL", help="faxd's API (default: http://FAXD_API_LISTEN)")
    p.add_argument("--api-key", metavar="KEY", help="API key (default: $FAXD_HOME/bootstrap.json's)")
    p.add_argument("--account", metavar="ACCOUNT_ID", help="account id (default: the key's own)")


def add_arguments(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="documents (PDF, TIFF, images, text, office files)")
    p.add_argument("--to", required=True, metavar="NUMBER", help="destination number (E.164, e.g. +12025550188)")
    p.add_argument("--from", dest="from_number", metavar="NUMBER", help="caller id (default: bootstrap_number)")
    p.add_argument("--wait", action="store_true", help="follow the fax until it ends (progress bar of pages)")
    p.add_argument("--retries", type=int, choices=range(0, 5), metavar="N", help="retries (0-4)")
    add_connection_arguments(p)


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"faxd: error: {message}\n")
    return code


def main(args, config) -> int:
    from faxd.remote import Api, RemoteError

    for path in args.files:
        if not os.path.isfile(path):
            return _fail(f"{path}: no such file", 2)
    job = {"to_number": args.to, "from_number": args.from_number or config.bootstrap_number}
    if args.retries is not None:
        job["retries"] = args.retries
    stream = None
    try:
        api = Api.from_args(args, config)
        if args.wait:
            stream = api.open_events()   # open before queueing: no event of the fax is missed
        queued = api.submit(job, args.files)
        if not args.wait:
            print(json.dumps({"id": queued["id"], "status": queued.get("status"), "to_number": args.to}))
            return 0
        return _follow(stream, queued["id"], args.to)
    except RemoteError as e:
        return _fail(str(e), 1)
    except KeyboardInterrupt:
        return 130
    finally:
        if stream is not None:
            stream.close()


class _Plain:
    """Progress as lines (stdout is not a terminal)."""

    def __init__(self, out):
        self._out = out
        self._last = 0

    def status(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    def page(self, n: int, total: int) -> None:
        if n > self._last:
            self._last = n
            self.status(f"page {n} of {total or '?'}")

    def close(self) -> None:
        pass


class _Bar:
    """A rich progress bar of pages (stdout is a terminal)."""

    def __init__(self, to: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("pages"), TimeElapsedColumn(), transient=True)
        self._task = self._p.add_task(f"fax to {to}: queued", total=None)
        self._to = to
        self._p.start()

    def status(self, text: str) -> None:
        self._p.update(self._task, description=f"fax to {self._to}: {text}")

    def page(self, n: int, total: int) -> None:
        self._p.update(self._task, completed=n, total=total or None)

    def close(self) -> None:
        self._p.stop()


def _follow(stream, fax_id: str, to: str) -> int:
    out = sys.stdout
    view = _Bar(to) if out.isatty() else _Plain(out)
    total = 0
    try:
        for ev in stream:
            d = ev["data"]
            if d.get("fax_id") != fax_id:
                continue
            kind, data = ev["event"], d.get("data") or {}
            total = data.get("pages_total") or total
            if kind == "dialing":
                view.status(f"dialing {to} (attempt {data.get('attempt', 1)})")
                if total:
                    view.page(0, total)
            elif kind == "negotiated":
                extra = "".join((" ECM" if data.get("ecm") else "", " T.38" if data.get("t38") else ""))
                view.status(f"connected at {data.get('fax_speed')} bps{extra}"
                            + (f" to {data['remote_station_id']}" if data.get("remote_station_id") else ""))
            elif kind == "page":
                view.page(data["page"], data.get("pages_total") or total)
            elif kind == "retry_scheduled":
                view.status(f"attempt {data.get('attempt')} failed ({data.get('error') or 'no reason given'}); "
                            f"retrying")
            elif kind in ("completed", "failed", "cancelled"):
                view.close()
                return _result(kind, data, fax_id, to)
    finally:
        view.close()
    sys.stderr.write("faxd: error: the event stream ended before the fax did "
                     f"(see GET /v2/accounts/.../faxes/outbox/{fax_id})\n")
    return 1


def _result(kind: str, data: dict, fax_id: str, to: str) -> int:
    sent, total = data.get("pages_sent") or 0, data.get("pages_total") or 0
    if kind == "completed":
        speed = f", {data['fax_speed']} bps" if data.get("fax_speed") else ""
        print(f"sent: {sent} of {total or sent} pages to {to} (fax {fax_id}{speed}, "
              f"{data.get('time_elapsed', 0)} s)")
        return 0
    if kind == "cancelled":
        print(f"cancelled: {sent} of {total} pages sent to {to} (fax {fax_id})")
        return 1
    why = data.get("error") or data.get("result_text") or "unknown reason"
    detail = []
    if data.get("result_code"):
        detail.append(f"T.30 code {data['result_code']}: {data.get('result_text')}")
    if data.get("hangup_cause"):
        detail.append(f"hangup cause {data['hangup_cause']}")
    print(f"failed: {why} ({'; '.join(detail + [f'{sent} of {total} pages', f'fax {fax_id}'])})")
    return 1
