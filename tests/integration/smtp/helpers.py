"""Shared pieces of the SMTP/notification tests: real documents, a real SMTP sink, an HTTP receiver."""
from __future__ import annotations

import base64
import io
import json
import os
import sys
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

import gevent
import gevent.pywsgi
import gevent.queue
from gevent import subprocess
import img2pdf
import pikepdf
from PIL import Image, ImageDraw


def make_pdf(text: str = "faxd test page") -> bytes:
    """A real one-page A4 PDF (an image of some text), made with Pillow and img2pdf."""
    img = Image.new("1", (1240, 1754), 1)
    ImageDraw.Draw(img).text((100, 100), text, fill=0)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return img2pdf.convert(buf.getvalue(), layout_fun=img2pdf.get_fixed_dpi_layout_fun((150, 150)))


def make_png() -> bytes:
    img = Image.new("1", (400, 200), 1)
    ImageDraw.Draw(img).rectangle((20, 20, 380, 180), outline=0)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def mail(sender: str, to: str | list[str], *, subject: str = "Fax", attachments=(), body: str = "Please fax.") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body)
    for data, ctype, name in attachments:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=policy.SMTP)


class SmtpSink:
    """A real SMTP server (aiosmtpd, in its own process: see sink.py) on 127.0.0.1; what it
    receives arrives in a queue as (mail_from, rcpt_tos, parsed message)."""

    def __init__(self, port: int = 0, max_bytes: int = 32 * 1024 * 1024):
        self._port = port
        self._max_bytes = max_bytes
        self._proc = None
        self.messages: gevent.queue.Queue = gevent.queue.Queue()

    def start(self) -> "SmtpSink":
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.integration.smtp.sink", str(self._port),
                                       str(self._max_bytes)],
                                      cwd=root, stdout=subprocess.PIPE)
        with gevent.Timeout(20):
            self.port = json.loads(self._proc.stdout.readline())["port"]
        self._reader = gevent.spawn(self._read)
        return self

    def _read(self) -> None:
        for line in self._proc.stdout:
            m = json.loads(line)
            self.messages.put((m["mail_from"], m["rcpt_tos"],
                               message_from_bytes(base64.b64decode(m["data"]), policy=policy.default)))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def get(self, timeout: float = 20.0):
        return self.messages.get(timeout=timeout)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._reader.kill()


class HttpReceiver:
    """A webhook/SMS receiver on 127.0.0.1: answers ``statuses`` in turn (then 200), keeps requests."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: gevent.queue.Queue = gevent.queue.Queue()
        self._lock = threading.Lock()
        self._server = gevent.pywsgi.WSGIServer(("127.0.0.1", 0), self._app, log=None, error_log=None)

    def _app(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.put({"method": environ["REQUEST_METHOD"], "path": environ.get("PATH_INFO"),
                           "query": environ.get("QUERY_STRING"), "headers": headers, "body": body,
                           "status": status})
        start_response(f"{status} X", [("Content-Type", "application/json")])
        return [json.dumps({"ok": status < 300}).encode()]

    def start(self) -> "HttpReceiver":
        self._server.start()
        self.port = self._server.server_port
        return self

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, timeout: float = 20.0) -> dict:
        return self.requests.get(timeout=timeout)

    def stop(self) -> None:
        self._server.stop(timeout=1)


def big_pdf(megabytes: float = 5.0) -> bytes:
    """A real one-page PDF of about ``megabytes``: a page of text and an incompressible stream
    (random bytes, as a scanned image carries) that the page does not draw."""
    pdf = pikepdf.open(io.BytesIO(make_pdf("five megabytes")))
    blob = pikepdf.Stream(pdf, os.urandom(int(megabytes * 1024 * 1024)))
    pdf.Root.FaxdPadding = pdf.make_indirect(blob)
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()
