"""Reading request bodies: JSON (whatever curl -d labels it) and multipart (mixed or form-data)."""
from __future__ import annotations

import falcon
import falcon.media
import orjson

from faxd.api.envelope import unwrap
from faxd.api.errors import KazooError, field_error

# curl -d sends application/x-www-form-urlencoded; Kazoo reads such bodies as JSON too.
JSON_TYPES = frozenset({"", "application/json", "application/x-www-form-urlencoded", "text/plain",
                        "text/json", "application/octet-stream"})
MULTIPART_TYPES = frozenset({"multipart/mixed", "multipart/form-data"})
_JSON_PART_NAMES = frozenset({"data", "json", "metadata"})


def media_type(req: falcon.Request) -> str:
    return (req.content_type or "").split(";", 1)[0].strip().lower()


def multipart_handler(max_upload_bytes: int) -> falcon.media.MultipartFormHandler:
    handler = falcon.media.MultipartFormHandler()
    handler.parse_options.max_body_part_buffer_size = max_upload_bytes + 1
    handler.parse_options.max_body_part_count = 32
    return handler


def read_json(req: falcon.Request, *, required: bool = True) -> dict | None:
    """The parsed JSON object of the body (envelope included), or None when empty and optional."""
    mt = media_type(req)
    if mt not in JSON_TYPES:
        raise KazooError(falcon.HTTP_415, f"unsupported media type {mt}: send application/json")
    raw = req.bounded_stream.read()
    if not raw.strip():
        if required:
            raise field_error("data", "required", "Field is required but missing")
        return None
    return parse_json(raw)


def parse_json(raw: bytes):
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise KazooError(falcon.HTTP_400, "invalid json", {"message": f"malformed JSON: {e}"}) from None
    _check_text(doc)
    return doc


def _check_text(value) -> None:
    """Refuse what PostgreSQL cannot store: NUL characters and unpaired UTF-16 surrogates
    (JSON allows both as \\u escapes; text and jsonb columns do not)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if not is_storable(v):
                raise KazooError(falcon.HTTP_400, "invalid json", {
                    "message": "strings may not contain NUL characters or unpaired surrogates"})
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def is_storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Upload:
    """A document part of a multipart request."""
    __slots__ = ("data", "content_type", "filename")

    def __init__(self, data: bytes, content_type: str, filename: str | None):
        self.data = data
        self.content_type = content_type
        self.filename = filename


def read_job_request(req: falcon.Request, max_upload_bytes: int) -> tuple[dict, list[Upload]]:
    """(data object, document parts in order) of a queue request, JSON or multipart."""
    mt = media_type(req)
    if mt not in MULTIPART_TYPES:
        return unwrap(read_json(req)), []
    data = None
    uploads: list[Upload] = []
    try:
        for part in req.get_media():
            ctype = (part.content_type or "").split(";", 1)[0].strip().lower()
            is_json = ctype == "application/json" or (
                part.name in _JSON_PART_NAMES and not part.filename and ctype in ("", "text/plain"))
            if is_json and data is None:
                body = parse_json(part.stream.read(1024 * 1024 + 1))
                data = body["data"] if isinstance(body, dict) and isinstance(body.get("data"), dict) else body
                continue
            blob = part.stream.read(max_upload_bytes + 1)
            if len(blob) > max_upload_bytes:
                raise KazooError(falcon.HTTP_413, f"a document is larger than {max_upload_bytes} bytes",
                                 {"document": {"maxLength": {"message": "document too large",
                                                             "target": max_upload_bytes}}})
            # The full type: a text part's charset parameter says how to decode it.
            uploads.append(Upload(blob, (part.content_type or "").strip(), _safe_filename(part.filename)))
    except falcon.MediaMalformedError as e:
        raise KazooError(falcon.HTTP_400, "malformed multipart body",
                         {"message": f"malformed multipart body: {e.description}"}) from None
    if data is None:
        raise field_error("data", "required", "no JSON part (Content-Type: application/json) with the fax job")
    if not uploads:
        raise field_error("document", "required", "no document part after the JSON part")
    return data, uploads


def _safe_filename(name: str | None) -> str | None:
    """The upload's own name, without paths or control characters, at most 255 characters."""
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable() and is_storable(c))[:255].strip()
    return name or None
