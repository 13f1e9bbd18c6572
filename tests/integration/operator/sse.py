"""A small Server-Sent Events reader over requests, for tests."""
from __future__ import annotations

import json
import time

import requests


class Stream:
    def __init__(self, url: str, token: str | None = None, last_event_id: int | None = None,
                 query_token: bool = False, timeout: float = 30.0):
        headers = {}
        if token and not query_token:
            headers["X-Auth-Token"] = token
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        params = {"auth_token": token} if query_token else None
        self.response = requests.get(url, headers=headers, params=params, stream=True, timeout=timeout)
        self._lines = self.response.iter_lines(chunk_size=1, decode_unicode=True) \
            if self.response.status_code == 200 else iter(())
        self.comments: list[str] = []

    @property
    def status(self) -> int:
        return self.response.status_code

    def next(self, comments: bool = False) -> dict | None:
        """The next event as {"id", "event", "data"} (with ``comments``, a comment line as
        {"comment": text} too); None at the end of the stream."""
        ev: dict = {}
        for line in self._lines:
            if line == "":
                if "data" in ev or "event" in ev:
                    if "data" in ev:
                        ev["data"] = json.loads(ev["data"])
                    return ev
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                if comments:
                    return {"comment": line[1:].strip()}
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                ev["id"] = int(value)
            elif field in ("event", "data"):
                ev[field] = value if field not in ev else ev[field] + "\n" + value
        return None

    def until(self, predicate, timeout: float = 60.0) -> list[dict]:
        """Events up to and including the first one ``predicate`` accepts."""
        out = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ev = self.next()
            assert ev is not None, "the stream ended"
            out.append(ev)
            if predicate(ev):
                return out
        raise AssertionError(f"no matching event in {timeout}s: {out}")

    def close(self) -> None:
        self.response.close()
