"""A small client of a running faxd's API for the command line (``faxd send``, ``faxd top``).

Standard library only (urllib, http.client): the commands start fast and need nothing beyond
faxd itself. Defaults: the API at ``api_listen`` and the bootstrap account's key from
``$FAXD_HOME/bootstrap.json``.
"""
from __future__ import annotations

import json
import mimetypes
import os
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit


class RemoteError(Exception):
    """A request the server refused or could not answer (one line for the user)."""


def _default_url(config) -> str:
    host, port = config.api_listen
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Api:
    def __init__(self, base_url: str, api_key: str, account_id: str | None = None, timeout: float = 30.0):
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        r = self.request("PUT", "/v2/api_auth", json_body={"data": {"api_key": api_key}}, auth=False)
        self.token = r["auth_token"]
        self.account_id = account_id or r["data"]["account_id"]

    @classmethod
    def from_args(cls, args, config) -> "Api":
        url = args.api or _default_url(config)
        if urlsplit(url).scheme not in ("http", "https"):
            raise RemoteError(f"--api must be an http:// or https:// URL, not {url!r}")
        key, account = args.api_key, args.account
        if key is None:
            try:
                with open(config.bootstrap_path) as f:
                    boot = json.load(f)
            except FileNotFoundError:
                raise RemoteError(f"no --api-key and no {config.bootstrap_path} (FAXD_HOME): "
                                  "pass --api-key KEY") from None
            except (OSError, ValueError) as e:
                raise RemoteError(f"cannot read {config.bootstrap_path}: {e}") from None
            key, account = boot.get("api_key"), account or boot.get("account_id")
        return cls(url, key, account)

    def _open(self, req, timeout):
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            try:
                body = json.loads(e.read())
                detail = body.get("message") or body.get("error")
                data = body.get("data")
                if isinstance(data, dict) and data and data != {"message": detail}:
                    detail = f"{detail}: {json.dumps(data)}"
            except ValueError:
                detail = e.reason
            raise RemoteError(f"{req.get_method()} {urlsplit(req.full_url).path}: {e.code} {detail}") from None
        except urllib.error.URLError as e:
            raise RemoteError(f"cannot reach faxd at {self.base}: {e.reason}") from None
        except OSError as e:
            raise RemoteError(f"cannot reach faxd at {self.base}: {e}") from None

    def request(self, method: str, path: str, json_body=None, body: bytes | None = None,
                content_type: str | None = None, auth: bool = True) -> dict:
        headers = {"Accept": "application/json"}
        if json_body is not None:
            body, content_type = json.dumps(json_body).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if auth:
            headers["X-Auth-Token"] = self.token
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        with self._open(req, self.timeout) as r:
            return json.loads(r.read())

    def account_path(self, suffix: str) -> str:
        return f"/v2/accounts/{self.account_id}{suffix}"

    def submit(self, job: dict, files: list[str]) -> dict:
        """PUT /faxes as multipart/form-data: the job, then each file."""
        boundary = uuid.uuid4().hex
        parts = [(b"application/json", "fax.json", json.dumps({"data": job}).encode())]
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
            parts.append((ctype.encode(), os.path.basename(path), data))
        body = b""
        for ctype, name, data in parts:
            body += (b"--" + boundary.encode() + b"\r\nContent-Type: " + ctype +
                     b'\r\nContent-Disposition: form-data; name="content"; filename="' +
                     name.replace('"', "").encode() + b'"\r\n\r\n' + data + b"\r\n")
        body += b"--" + boundary.encode() + b"--\r\n"
        return self.request("PUT", self.account_path("/faxes"), body=body,
                            content_type=f"multipart/form-data; boundary={boundary}")["data"]

    def open_events(self, path: str | None = None, last_event_id: int | None = None) -> "EventStream":
        """Connect to an event stream now (the server subscribes before it answers, so nothing
        that happens after this returns is missed); iterate it for the events."""
        headers = {"X-Auth-Token": self.token, "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        req = urllib.request.Request(self.base + (path or self.account_path("/faxes/events")), headers=headers)
        return EventStream(self._open(req, None))

    def metrics_text(self) -> str:
        headers = {"Accept": "text/plain"}
        if self.token:   # a super-admin's token reads /metrics from anywhere, not only loopback
            headers["X-Auth-Token"] = self.token
        req = urllib.request.Request(self.base + "/metrics", headers=headers)
        with self._open(req, self.timeout) as r:
            return r.read().decode()


class EventStream:
    """The events of an open stream as dicts ({"id", "event", "data"}); ends with the connection."""

    def __init__(self, response):
        self._r = response

    def __iter__(self):
        ev: dict = {}
        for raw in self._r:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                if "data" in ev:
                    ev["data"] = json.loads(ev["data"])
                    yield ev
                ev = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                ev["id"] = int(value)
            elif name in ("event", "data"):
                ev[name] = value

    def close(self) -> None:
        self._r.close()
