"""Bodies of PUT actions on a fax: {"action": "resubmit"|"forward", "data": {...}}."""
from __future__ import annotations

from faxd.api.body import read_json
from faxd.api.envelope import unwrap
from faxd.api.errors import field_error


def read_action(req, allowed: tuple[str, ...]) -> tuple[str, dict]:
    body = read_json(req)
    if not isinstance(body, dict):
        raise field_error("data", "type", "the request body must be a JSON object")
    action = body.get("action")
    if action is None and isinstance(body.get("data"), dict):
        action = body["data"].get("action")
    if action is None:
        raise field_error("action", "required", f"Field is required but missing (one of: {', '.join(allowed)})")
    if action not in allowed:
        raise field_error("action", "enum", "Value not found in enumerated list of values",
                          target=list(allowed))
    data = unwrap(body) if "data" in body else {}
    data = {k: v for k, v in data.items() if k != "action"}
    return action, data
