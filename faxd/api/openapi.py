"""The OpenAPI 3 description of the API, served at /v2/openapi.json.

Written out path by path (not derived from the route table), so that the test comparing
it with the routes Falcon actually serves can catch a route added without its description.
"""
from __future__ import annotations

import copy

from faxd import __version__
from faxd.models import JobStatus
from faxd.store.faxboxes import FAXBOX_LISTING
from faxd.store.inbox import INBOX_LISTING
from faxd.store.incoming import INCOMING_LISTING
from faxd.store.jobs import JOB_LISTING
from faxd.store.notification_log import NOTIFICATION_LISTING
from faxd.store.smtplog import SMTPLOG_LISTING

ACCOUNT = "/v2/accounts/{account_id}"
FAXBOX = ACCOUNT + "/faxboxes/{faxbox_id}"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _int(lo=None, hi=None) -> dict:
    s = {"type": "integer"}
    if lo is not None:
        s["minimum"] = lo
    if hi is not None:
        s["maximum"] = hi
    return s


STR = {"type": "string"}
BOOL = {"type": "boolean"}
RECIPIENTS = {"oneOf": [STR, {"type": "array", "items": STR}]}
NOTIFICATIONS = {
    "type": "object",
    "properties": {
        "email": {"type": "object", "properties": {"send_to": RECIPIENTS}},
        "sms": {"type": "object", "properties": {"send_to": RECIPIENTS}},
        "webhook": {"type": "object", "properties": {"url": {"oneOf": [STR, {"type": "array", "items": STR,
                                                                              "maxItems": 10}]}}},
    },
}
TIMESTAMP = {"type": "integer", "description": "Gregorian seconds (Unix time + 62167219200)"}
MAYBE_TIMESTAMP = {"oneOf": [TIMESTAMP, {"type": "string", "enum": ["undefined"]}]}
NULLABLE_STR = {"type": "string", "nullable": True}

TX_RESULT = {
    "type": "object",
    "required": ["success", "pages_sent", "fax_speed", "fax_bad_rows", "fax_error_correction",
                 "fax_receiver_id", "error_message", "time_elapsed"],
    "properties": {
        "success": BOOL, "pages_sent": _int(0), "pages_total": _int(0), "fax_speed": _int(0),
        "fax_bad_rows": _int(0), "fax_error_correction": BOOL, "fax_receiver_id": STR,
        "error_message": STR, "time_elapsed": {"type": "number"},
        "result_code": {"type": "integer", "nullable": True}, "result_text": STR,
        "hangup_cause": STR, "t38_used": BOOL, "remote_station_id": STR,
        "transfer_rate": _int(0), "ecm_used": BOOL, "transferred_pages": _int(0),
        "error_class": {"type": "string", "enum": ["", "document", "destination", "line", "protocol", "far_end",
                                                   "canceled", "expired", "internal"],
                        "description": "why it failed, by who can act on it (docs/errors.md); empty on success"},
        "error_code": {"type": "string", "description": "a stable code such as busy or not_a_fax (docs/errors.md)"},
        "error_advice": {"type": "string", "description": "what the sender can do about it"},
    },
}

JOB_STATUS = {"type": "string", "enum": [s.value for s in JobStatus]}

DOCUMENT_IN = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": {"type": "string", "minLength": 7, "description": "http or https URL of the document"},
        "method": {"type": "string", "enum": ["get", "post"], "default": "get"},
        "content": {"type": "string", "maxLength": 256},
        "content_type": STR, "host": STR, "referer": STR,
    },
}

SEND_WINDOW = {
    "type": "object",
    "description": "days and local hours in which the fax may be dialled (retries too); timezone "
                   "'recipient' is the destination number's own zone; from later than to spans midnight",
    "properties": {
        "days": {"oneOf": [{"type": "string", "example": "mon-fri"}, {"type": "array", "items": STR}]},
        "from": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "default": "00:00"},
        "to": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "default": "23:59"},
        "timezone": {"type": "string", "default": "recipient", "example": "Europe/Paris"},
    },
}

BATCH = {
    "type": "object", "required": ["batch_id", "jobs", "page_count"],
    "properties": {"batch_id": STR, "page_count": _int(1),
                   "jobs": {"type": "array", "items": {"type": "object", "properties": {"id": STR, "to_number": STR}}}},
}

BATCH_SUMMARY = {
    "type": "object", "required": ["batch_id", "total", "by_status", "final", "done"],
    "properties": {"batch_id": STR, "total": _int(1), "final": _int(0), "done": {"type": "boolean"},
                   "by_status": {"type": "object", "additionalProperties": _int(0)},
                   "created": TIMESTAMP, "last_delivered": {**TIMESTAMP, "nullable": True}},
}

JOB_IN = {
    "type": "object",
    "required": ["to_number", "from_number"],
    "properties": {
        "to_number": {"oneOf": [{"type": "string"}, {"type": "array", "items": STR, "minItems": 1}],
                      "description": "normalised to E.164; a list makes a broadcast (one job per number)"},
        "recipients": {"type": "array", "minItems": 1, "description": "a broadcast: one job per recipient, its "
                       "fields over the request's (at most broadcast_max_recipients)",
                       "items": {"type": "object", "required": ["to_number"], "properties": {
                           "to_number": STR, "to_name": STR, "subject": STR, "fax_identity_name": STR,
                           "notifications": {"type": "object"}, "send_window": {"type": "object"}}}},
        "from_number": {"type": "string", "description": "normalised to E.164"},
        "to_name": STR, "from_name": STR, "subject": STR, "fax_timezone": STR,
        "retries": {**_int(0, 4), "default": 1},
        "attempts": {**_int(0, 4), "default": 0},
        "ring_timeout": {"type": "number", "minimum": 0.1, "maximum": 600,
                         "description": "seconds the call may ring before it is given up "
                                        "(default: the server's originate_timeout)"},
        "document": DOCUMENT_IN,
        "notifications": NOTIFICATIONS,
        "faxbox_id": STR,
        "send_at": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}],
                    "description": "not dialled before this time: ISO 8601 with a UTC offset, or Gregorian "
                                   "seconds (stored as Gregorian seconds)"},
        "expires_at": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}],
                       "description": "a job not sent by then fails with an error_message starting "
                                      "'expired'"},
        "ttl": {"type": "number", "minimum": 1, "maximum": 7776000,
                "description": "seconds from submission to expires_at"},
        "send_window": SEND_WINDOW,
        "cover_page": {"type": "object", "description": "a cover page before the document (counted in the pages)",
                       "properties": {"to_name": {"type": "string", "maxLength": 200},
                                      "from_name": {"type": "string", "maxLength": 200},
                                      "subject": {"type": "string", "maxLength": 200},
                                      "message": {"type": "string", "maxLength": 2000},
                                      "template": {"type": "string", "minLength": 1, "maxLength": 64,
                                                   "description": "one of the faxbox's cover_templates, or "
                                                                  "'default'"}}},
    },
    "additionalProperties": True,
}

JOB = {
    "type": "object",
    "required": ["id", "status", "to_number", "from_number", "retries", "attempts", "tx_result",
                 "created", "modified", "delivered", "fax_timezone", "progress", "attempt_history"],
    "properties": {
        "id": STR, "status": JOB_STATUS, "to_number": STR, "from_number": STR, "to_name": STR,
        "from_name": STR, "retries": _int(0, 4), "attempts": _int(0), "tx_result": TX_RESULT,
        "created": TIMESTAMP, "modified": TIMESTAMP, "delivered": MAYBE_TIMESTAMP,
        "fax_timezone": STR, "faxbox_id": NULLABLE_STR, "page_count": _int(0),
        "fax_identity_number": STR, "fax_identity_name": STR, "source": STR, "origin_id": STR,
        "document": {"type": "object"},
        "progress": {"type": "object", "properties": {
            "stage": STR, "pages_sent": _int(0), "pages_total": _int(0), "fax_speed": _int(0),
            "text": STR}},
        "attempt_history": {"type": "array", "items": {"type": "object", "properties": {
            "attempt": _int(0), "outcome": NULLABLE_STR, "tx_result": {"type": "object"}}}},
    },
}

JOB_SUMMARY = {
    "type": "object",
    "required": ["id", "status", "to", "from", "attempts", "created", "faxbox_id"],
    "properties": {
        "id": STR, "status": JOB_STATUS, "to": STR, "from": STR, "attempts": _int(0),
        "retries": _int(0, 4), "created": TIMESTAMP, "modified": TIMESTAMP,
        "faxbox_id": NULLABLE_STR, "source": STR, "delivered": MAYBE_TIMESTAMP,
        "page_count": _int(0), "success": BOOL, "error_message": STR,
    },
}

INBOX_FAX = {
    "type": "object",
    "required": ["id", "status", "to_number", "rx_result", "page_count", "created"],
    "properties": {
        "id": STR, "status": {"type": "string", "enum": ["received", "failed"]},
        "from_number": NULLABLE_STR, "from_name": NULLABLE_STR, "to_number": STR,
        "faxbox_id": NULLABLE_STR, "call_id": NULLABLE_STR, "page_count": _int(0),
        "rx_result": TX_RESULT, "created": TIMESTAMP, "modified": TIMESTAMP,
    },
}

INBOX_SUMMARY = {
    "type": "object",
    "required": ["id", "status", "to", "created"],
    "properties": {
        "id": STR, "status": STR, "from": NULLABLE_STR, "from_name": NULLABLE_STR, "to": STR,
        "faxbox_id": NULLABLE_STR, "page_count": _int(0), "success": BOOL,
        "created": TIMESTAMP, "modified": TIMESTAMP,
    },
}

INCOMING = {
    "type": "object",
    "required": ["id", "status", "call_id", "to_number", "progress", "created"],
    "properties": {
        "id": STR, "status": STR, "call_id": STR, "faxbox_id": NULLABLE_STR,
        "from_number": NULLABLE_STR, "from_name": NULLABLE_STR, "to_number": STR,
        "switch": NULLABLE_STR, "progress": {"type": "object"}, "created": TIMESTAMP,
        "modified": TIMESTAMP,
    },
}

SMTPLOG = {
    "type": "object",
    "required": ["id", "from", "to", "errors", "created"],
    "properties": {
        "id": STR, "faxbox_id": NULLABLE_STR, "from": STR, "to": STR, "subject": STR,
        "original_number": NULLABLE_STR, "number": NULLABLE_STR, "attachments": {"type": "array"},
        "fax_id": NULLABLE_STR, "errors": {"type": "array"}, "smtp_code": {"type": "integer", "nullable": True},
        "smtp_text": STR, "created": TIMESTAMP,
    },
}

NOTIFICATION = {
    "type": "object",
    "required": ["event_id", "event", "channel", "target", "status", "attempts", "created"],
    "properties": {
        "event_id": STR, "event": STR, "channel": {"type": "string", "enum": ["email", "sms", "webhook"]},
        "target": {"type": "string", "description": "address, number or URL"},
        "status": {"type": "string", "enum": ["pending", "delivered", "failed", "undeliverable"]},
        "attempts": _int(0), "last_error": STR, "next_attempt": MAYBE_TIMESTAMP,
        "fax_id": NULLABLE_STR, "inbox_id": NULLABLE_STR, "smtplog_id": NULLABLE_STR,
        "created": TIMESTAMP, "delivered": MAYBE_TIMESTAMP,
    },
}

MEDIA = {"type": "object", "properties": {
    "fax_option": {"oneOf": [BOOL, {"type": "string", "enum": ["auto"]}],
                   "description": "T.38: true, false or auto"}}}

SMTP_AUTH_IN = {
    "type": "object", "nullable": True,
    "description": "SMTP AUTH for this faxbox (user name: its smtp_email_address); null removes it",
    "properties": {"password": {"type": "string", "minLength": 12, "maxLength": 256},
                   "required": {"type": "boolean", "default": True}, "username": STR},
    "additionalProperties": False,
}
SMTP_AUTH_OUT = {
    "type": "object", "description": "present when an SMTP password is set (never shown)",
    "properties": {"username": STR, "required": {"type": "boolean"}},
}

FAXBOX_IN = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 128},
        "caller_name": STR, "caller_id": STR, "fax_header": STR,
        "fax_identity": {"type": "string", "maxLength": 20}, "fax_timezone": STR,
        "retries": _int(0, 4), "numbers": {"type": "array", "items": STR},
        "smtp_permission_list": {"type": "array", "items": STR},
        "custom_smtp_email_address": STR, "notifications": NOTIFICATIONS, "media": MEDIA,
        "smtp_auth": SMTP_AUTH_IN, "send_window": SEND_WINDOW,
        "cover_templates": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 4000},
                            "description": "cover page templates by name: plain text with $field placeholders "
                                           "(docs/api.md, Cover pages)"},
    },
    "additionalProperties": True,
}

FAXBOX_OUT = {
    "type": "object",
    "required": ["id", "name", "numbers", "smtp_email_address", "smtp_permission_list",
                 "notifications", "media", "created", "modified"],
    "properties": {
        "id": STR, "name": STR, "caller_name": STR, "caller_id": STR, "fax_header": STR,
        "fax_identity": STR, "fax_timezone": STR, "retries": _int(0, 4),
        "numbers": {"type": "array", "items": STR}, "smtp_email_address": STR,
        "custom_smtp_email_address": STR, "smtp_permission_list": {"type": "array", "items": STR},
        "notifications": {"type": "object"}, "media": {"type": "object"}, "smtp_auth": SMTP_AUTH_OUT,
        "created": TIMESTAMP, "modified": TIMESTAMP,
    },
}

FAXBOX_SUMMARY = {
    "type": "object",
    "required": ["id", "name", "smtp_email_address", "created"],
    "properties": {"id": STR, "name": STR, "smtp_email_address": STR, "caller_name": STR,
                   "caller_id": STR, "custom_smtp_email_address": STR, "created": TIMESTAMP,
                   "modified": TIMESTAMP},
}

DELETED = {"type": "object", "required": ["id"], "properties": {"id": STR, "deleted": BOOL}}

_LIMIT = {"type": "integer", "minimum": -1, "maximum": 10_000_000, "description": "-1: no limit"}
_STR_LIST = {"type": "array", "items": STR, "maxItems": 1000}
FAX_POLICY_PROPS = {
    "submit_rate_limit": {**_LIMIT, "description": "faxes queued per submit_rate_window seconds; -1: no limit"},
    "submit_daily_quota": {**_LIMIT, "description": "faxes queued per UTC day; -1: no limit"},
    "home_region": {"type": "string", "description": "ISO 3166 region of the account (domestic calls)"},
    "allow_international": BOOL,
    "allowed_countries": {**_STR_LIST, "description": "ISO 3166 regions allowed although international"},
    "denied_countries": {**_STR_LIST, "description": "ISO 3166 regions refused"},
    "blocked_number_types": {**_STR_LIST, "description": "phonenumbers types refused: premium_rate, shared_cost, ..."},
    "allowed_prefixes": {**_STR_LIST, "description": "E.164 prefixes allowed whatever else applies (longest prefix wins)"},
    "denied_prefixes": {**_STR_LIST, "description": "E.164 prefixes refused (longest prefix wins)"},
}
FAX_POLICY_IN = {"type": "object", "properties": {
    **{k: {**v, "nullable": True} for k, v in FAX_POLICY_PROPS.items()},
    "defaults": {"type": "array", "items": STR, "description": "read-only, ignored"},
    "id": {"type": "string", "description": "read-only, ignored"}},
    "additionalProperties": False}
FAX_POLICY = {"type": "object", "required": [*FAX_POLICY_PROPS, "defaults", "id"], "properties": {
    **FAX_POLICY_PROPS, "id": STR,
    "defaults": {"type": "array", "items": STR, "description": "keys that follow the server's defaults"}}}

# Routes per destination (faxd/routes.py) and what was learned per number.
_ROUTE_PROPS = {
    "prefix": {"type": "string", "pattern": r"^\+[0-9]{0,15}$", "description": "E.164 prefix; longest wins"},
    "name": STR,
    "switch": {"type": "string", "enum": ["software", "freeswitch", "asterisk"], "description": "super-admins only"},
    "dial_string": {"type": "string", "description": "dial string with {number} (super-admins only)"},
    "gateway": {"type": "string", "description": "gateway (trunk) name (super-admins only)"},
    "t38": {"type": "string", "enum": ["off", "accept", "request"]},
    "ecm": BOOL,
    "max_speed": {"type": "integer", "enum": [14400, 9600, 4800]},
    "max_calls": _int(1, 100000),
    "min_gap": {"type": "number", "minimum": 0, "maximum": 86400},
    "retry_period": _int(1, 86400),
    "retry_overrides": {"type": "object", "additionalProperties": _int(0, 86400)},
}
FAX_ROUTE_IN = {"type": "object", "required": ["prefix"], "additionalProperties": False,
                "properties": {k: {**v, "nullable": True} if k != "prefix" else v for k, v in _ROUTE_PROPS.items()}}
FAX_ROUTE = {"type": "object", "required": ["id", "prefix"], "properties": {
    **_ROUTE_PROPS, "id": STR, "server_default": BOOL}}
LEARNED = {"type": "object", "required": ["number", "t38_off", "ecm_off", "learned_at", "expires_at"],
           "properties": {"number": STR, "t38_off": BOOL, "ecm_off": BOOL, "learned_at": _int(),
                          "expires_at": _int()}}
FORGOTTEN = {"type": "object", "required": ["forgotten"], "properties": {"forgotten": _int(0)}}

AUTH = {"type": "object", "required": ["account_id"],
        "properties": {"account_id": STR, "expires_in": _int(1)}}
REVOKED = {"type": "object", "required": ["account_id", "revoked"],
           "properties": {"account_id": STR, "revoked": {"type": "boolean", "enum": [True]}}}

ERROR = {
    "type": "object",
    "required": ["data", "error", "message", "status"],
    "properties": {
        "data": {"type": "object"},
        "error": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
        "message": STR,
        "status": {"type": "string", "enum": ["error"]},
        "request_id": NULLABLE_STR,
    },
}

SCHEMAS = {
    "TxResult": TX_RESULT, "JobInput": JOB_IN, "Job": JOB, "JobSummary": JOB_SUMMARY,
    "InboxFax": INBOX_FAX, "InboxSummary": INBOX_SUMMARY, "IncomingCall": INCOMING,
    "SmtplogEntry": SMTPLOG, "Notification": NOTIFICATION, "FaxboxInput": FAXBOX_IN, "Faxbox": FAXBOX_OUT,
    "FaxboxSummary": FAXBOX_SUMMARY, "Deleted": DELETED, "Auth": AUTH, "Revoked": REVOKED, "Error": ERROR,
    "FaxPolicyInput": FAX_POLICY_IN, "FaxPolicy": FAX_POLICY, "BatchSummary": BATCH_SUMMARY,
    "Batch": BATCH,
    "FaxRouteInput": FAX_ROUTE_IN, "FaxRoute": FAX_ROUTE, "Learned": LEARNED, "Forgotten": FORGOTTEN,
}


def _envelope(data: dict, listing: bool = False) -> dict:
    props = {
        "data": {"type": "array", "items": data} if listing else data,
        "status": {"type": "string", "enum": ["success"]},
        "request_id": STR, "revision": STR, "timestamp": STR, "version": STR, "auth_token": STR,
    }
    if listing:
        key = {"type": "array", "items": STR, "minItems": 1, "maxItems": 1}
        props.update(page_size=_int(0), start_key=key, next_start_key=key)
    return {"type": "object", "required": ["data", "status", "request_id", "revision"], "properties": props}


# Every status an operation really answers (docs/api.md, "Envelope and errors"), so that a
# client generator and the property-based test know them; none of them is a 500.
ERROR_WHEN = {
    "400": "invalid parameters or data (the fields and rules are in data)",
    "401": "missing, unknown, expired or revoked X-Auth-Token; wrong or revoked API key",
    "403": "the account is disabled",
    "404": "unknown id, or an id of another account",
    "406": "Accept without JSON (attachments: without PDF or TIFF)",
    "408": "the request line and headers took longer than http_header_timeout (connection closed)",
    "409": "conflict: a finished job, a stale If-Match, documents deleted",
    "411": "an upload with Transfer-Encoding: chunked and no Content-Length",
    "413": "a JSON body over 1 MiB, a document over max_upload_bytes or too many pixels or pages",
    "414": "a request line over 8 KiB (connection closed)",
    "415": "a body or document type that is not accepted",
    "422": "a document that cannot be used (empty, unreadable, not convertible)",
    "429": "over the account's submission rate or daily quota (Retry-After says when to retry)",
    "431": "request headers over 64 KiB or 100 lines (connection closed)",
    "503": "the database is unavailable, or too many connections from one address (Retry-After)",
}
# Answered by the HTTP server before any route: every operation can get them.
SERVER_ERRORS = ("400", "408", "414", "431", "503")
READ_ERRORS = ("400", "401", "403", "404", "406", "503")
BODY_ERRORS = (*READ_ERRORS, "411", "413", "415")


def _errors(codes) -> dict:
    return {code: {"description": ERROR_WHEN[code], "content": {"application/json": {"schema": _ref("Error")}}}
            for code in sorted({*codes, *SERVER_ERRORS})}


def _ok(code: str, schema_name: str, listing: bool = False, errors=READ_ERRORS) -> dict:
    return {
        code: {"description": "success",
               "content": {"application/json": {"schema": _envelope(_ref(schema_name), listing)}}},
        **_errors(errors),
    }


def _error(description: str, retry_after: bool = False) -> dict:
    out = {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}
    if retry_after:
        out["headers"] = {"Retry-After": {"description": "seconds until the lockout ends",
                                          "schema": _int(1)}}
    return out


def _body(schema: dict, extra: dict | None = None) -> dict:
    props = {"data": schema}
    props.update(extra or {})
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["data"], "properties": props}}}}


def _param(name: str, where: str = "path", schema: dict | None = None, description: str = "") -> dict:
    p = {"name": name, "in": where, "required": where == "path", "schema": schema or STR}
    if description:
        p["description"] = description
    return p


LIST_PARAMS = [
    _param("page_size", "query", _int(1, 1000), "rows per page (default 50)"),
    _param("start_key", "query", STR,
           "the next_start_key of the previous page: its string, or the array as JSON"),
    _param("paginate", "query", BOOL, "false: every row at once"),
    _param("ascending", "query", BOOL, "oldest first"),
    _param("created_from", "query", _int(62167219200, 62167219200 + 32503680000), "Gregorian seconds"),
    _param("created_to", "query", _int(62167219200, 62167219200 + 32503680000), "Gregorian seconds"),
]
DISPOSITION = _param("disposition", "query", {"type": "string", "enum": ["attachment", "inline"]})
IF_MATCH = _param("If-Match", "header", STR, "revision (ETag) the update is based on; 409 when stale")
AUTH_HEADER = [{"AuthToken": []}]

ATTACHMENT = {
    "200": {"description": "the fax document",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                        "image/tiff": {"schema": {"type": "string", "format": "binary"}}}},
    **_errors((*READ_ERRORS, "409", "422")),
}


def _filters(listing) -> list[dict]:
    """filter_<field> for the listing's columns; other (dotted) names match the stored document."""
    doc = " (other names, dotted for nesting, match the stored document)" if listing.doc_column else ""
    return [_param(f"filter_{name}", "query", STR, f"only rows whose {name} equals this{doc}")
            for name in sorted(listing.filter_columns)]


def _op(summary: str, responses: dict, *, params=(), body=None, public=False, multipart=False) -> dict:
    op = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = body
    if multipart:
        op["requestBody"]["content"]["multipart/form-data"] = {"schema": {
            "type": "object",
            "properties": {"data": {"type": "string", "description": "the job, JSON"},
                           "content": {"type": "string", "format": "binary"}}}}
    if not public:
        op["security"] = AUTH_HEADER
    return op


def _final_paths(folder: str, schema: str, fax: list[dict], *, one: str, document: str,
                 action: str, action_summary: str, data: dict) -> dict:
    """A folder of final faxes: one fax (read, a PUT action, remove) and its documents."""
    return {
        folder + "/{fax_id}": {
            "get": _op(one, _ok("200", schema), params=fax),
            "put": _op(action_summary, _ok("201", "Job", errors=(*BODY_ERRORS, "409", "429")),
                       params=fax, body=_body(data, {"action": {"type": "string", "enum": [action]}})),
            "delete": _op("remove the fax and every trace of it", _ok("200", "Deleted"), params=fax),
        },
        folder + "/{fax_id}/attachment": {
            "get": _op(f"{document} (Accept: application/pdf or image/tiff)", ATTACHMENT,
                       params=[*fax, DISPOSITION]),
            "delete": _op("remove the documents, keep the metadata", _ok("200", schema), params=fax),
        },
    }


def _faxes_paths(base: str, scope_params: list[dict], scope: str) -> dict:
    fax = [*scope_params, _param("fax_id")]
    jobs, inbox = [*LIST_PARAMS, *_filters(JOB_LISTING)], [*LIST_PARAMS, *_filters(INBOX_LISTING)]
    queue = _op(f"queue a fax{scope}: JSON with document.url, or multipart with the document "
                "(400 when the fax policy refuses the destination, 429 + Retry-After over the rate or quota); "
                "with Idempotency-Key, the same request within 24 hours answers 200 with the job it created "
                "(header Idempotent-Replayed: true) and the key with another request is 409",
                {**_ok("201", "Job", errors=(*BODY_ERRORS, "409", "422", "429")),
                 "201": {"description": "queued: the job, or for a broadcast (to_number a list, or recipients) "
                                        "its batch_id and jobs",
                         "content": {"application/json": {"schema": _envelope(
                             {"oneOf": [_ref("Job"), _ref("Batch")]})}}},
                 "200": {**_ok("200", "Job")["200"], "description": "a repeat of an earlier request with "
                         "the same Idempotency-Key: the job it created, nothing new queued",
                         "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}}}},
                params=[*scope_params, _param("Idempotency-Key", "header", {"type": "string", "minLength": 1,
                                                                            "maxLength": 255},
                                              "makes the request safe to repeat: one job per key and "
                                              "account for 24 hours")],
                body=_body(_ref("JobInput")), multipart=True)
    return {
        base + "/faxes": {"put": queue},
        base + "/faxes/batches/{batch_id}": {
            "get": _op("a broadcast's jobs counted by status", _ok("200", "BatchSummary"),
                       params=[*scope_params, _param("batch_id")]),
        },
        base + "/faxes/outgoing": {
            "get": _op(f"jobs not yet final{scope}", _ok("200", "JobSummary", True),
                       params=[*scope_params, *jobs]),
            "put": copy.deepcopy(queue),
        },
        base + "/faxes/outgoing/{fax_id}": {
            "get": _op("the whole job with live progress", _ok("200", "Job"), params=fax),
            "delete": _op("cancel a job that has not finished", _ok("200", "Job", errors=(*READ_ERRORS, "409")),
                          params=fax),
        },
        base + "/faxes/outbox": {
            "get": _op(f"final jobs{scope}", _ok("200", "JobSummary", True),
                       params=[*scope_params, *jobs]),
        },
        **_final_paths(base + "/faxes/outbox", "Job", fax, one="a final job", document="the document sent",
                       action="resubmit", action_summary="resubmit: a new job from this one, data overriding its fields",
                       data={"type": "object"}),
        base + "/faxes/inbox": {
            "get": _op(f"received faxes{scope}", _ok("200", "InboxSummary", True),
                       params=[*scope_params, *inbox]),
        },
        **_final_paths(base + "/faxes/inbox", "InboxFax", fax, one="a received fax", document="the received fax",
                       action="forward", action_summary="forward: send the received fax on",
                       data={"type": "object", "properties": {"to_number": STR}}),
        base + "/faxes/incoming": {
            "get": _op(f"calls being received now{scope}", _ok("200", "IncomingCall", True),
                       params=[*scope_params, *LIST_PARAMS, *_filters(INCOMING_LISTING)]),
        },
        base + "/faxes/incoming/{fax_id}": {
            "get": _op("a call being received, with live progress", _ok("200", "IncomingCall"), params=fax),
        },
        base + "/faxes/smtplog": {
            "get": _op(f"email-to-fax attempts{scope}", _ok("200", "SmtplogEntry", True),
                       params=[*scope_params, *LIST_PARAMS, *_filters(SMTPLOG_LISTING)]),
        },
        base + "/faxes/smtplog/{attempt_id}": {
            "get": _op("one email-to-fax attempt", _ok("200", "SmtplogEntry"),
                       params=[*scope_params, _param("attempt_id")]),
        },
    }


def _plain(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def _text(media: str, description: str) -> dict:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


def _stream_op(summary: str, params: list) -> dict:
    """A Server-Sent Events stream (docs/api.md: event kinds and their data)."""
    op = _op(summary, {"200": _text("text/event-stream", "the stream: id, event (the kind), data (JSON)"),
                       **_errors(READ_ERRORS)},
             params=[*params,
                     _param("Last-Event-ID", "header", {"type": "string", "pattern": "^[0-9]{1,18}$"},
                            "resume after this event id"),
                     _param("last_event_id", "query", {"type": "string", "pattern": "^[0-9]{1,18}$"},
                            "as Last-Event-ID"),
                     _param("auth_token", "query", STR, "the auth token, for clients that cannot set "
                                                        "X-Auth-Token (EventSource)")])
    return op


def build() -> dict:
    account = [_param("account_id")]
    faxbox = [*account, _param("faxbox_id")]
    paths = {
        "/health": {"get": {"summary": "liveness and readiness", "responses": {
            **_errors(("406",)), "200": _plain("up"), "503": _plain("degraded")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text exposition format; docs/operations.md): "
                                        "loopback callers, Bearer metrics_token, or a super-admin's token",
                             "security": [{}, {"MetricsToken": []}, {"AuthToken": []}],
                             "responses": {"200": {"description": "metrics", "content": {
                                 "text/plain": {"schema": {"type": "string"}}}}, **_errors(("401", "403"))}}},
        "/ops": {"get": {"summary": "the operator's page (HTML; signs in with an API key)",
                         "responses": {"200": _text("text/html", "the page"), **_errors(())}}},
        "/ops/{name}": {"get": {"summary": "a file of the operator's page (JavaScript, CSS)",
                                "parameters": [_param("name")],
                                "responses": {"200": {"description": "the file", "content": {
                                    t: {"schema": {"type": "string"}}
                                    for t in ("text/javascript", "text/css", "text/html", "image/svg+xml")}},
                                    **_errors(("404",))}}},
        "/v2/events": {"get": _stream_op("every account's live fax events (super-admins only: 403 otherwise)", [])},
        ACCOUNT + "/faxes/events": {"get": _stream_op(
            "the account's live fax events (a super-admin may read any account's)", account)},
        "/v2/openapi.json": {"get": {"summary": "this document", "responses": {
            **_errors(("406",)), "200": _plain("OpenAPI 3")}}},
        "/v2/api_auth": {
            "put": _op("exchange an API key for an auth token (answered in auth_token)",
                       {**_ok("201", "Auth", errors=("400", "406", "411", "413", "415", "503")),
                        "401": _error("unknown or revoked API key"),
                        "403": _error("the key's account is disabled"),
                        "429": _error("too many failed attempts from this address or for this key prefix",
                                      retry_after=True)},
                       public=True,
                       body=_body({"type": "object", "required": ["api_key"], "properties": {"api_key": STR}})),
            "delete": {**_op("revoke the auth token sent in X-Auth-Token (log out; not in Kazoo)",
                             {**_ok("200", "Revoked", errors=("406", "503")),
                              "401": _error("no token, or one that is unknown, expired or already revoked")}),
                       "security": AUTH_HEADER},
        },
        ACCOUNT + "/fax_policy": {
            "get": _op("the account's fax policy: submission limits and destination rules", _ok("200", "FaxPolicy"),
                       params=account),
            "post": _op("replace the policy's overrides (super-admins only: 403 otherwise)", _ok("200", "FaxPolicy", errors=BODY_ERRORS),
                        params=account, body=_body(_ref("FaxPolicyInput"))),
            "patch": _op("change some keys of the policy, null: back to the default (super-admins only)",
                         _ok("200", "FaxPolicy", errors=BODY_ERRORS), params=account,
                         body=_body(_ref("FaxPolicyInput"))),
        },
        ACCOUNT + "/notifications": {
            "get": _op("the account's notifications (email, SMS, webhooks) and their delivery state",
                       _ok("200", "Notification", True),
                       params=[*account, *LIST_PARAMS, *_filters(NOTIFICATION_LISTING)]),
        },
        ACCOUNT + "/faxboxes": {
            "get": _op("faxboxes", _ok("200", "FaxboxSummary", True),
                       params=[*account, *LIST_PARAMS, *_filters(FAXBOX_LISTING)]),
            "put": _op("create a faxbox", _ok("201", "Faxbox", errors=BODY_ERRORS), params=account,
                       body=_body(_ref("FaxboxInput"))),
        },
        FAXBOX: {
            "get": _op("a faxbox", _ok("200", "Faxbox"), params=faxbox),
            "post": _op("replace a faxbox", _ok("200", "Faxbox", errors=(*BODY_ERRORS, "409")),
                        params=[*faxbox, IF_MATCH], body=_body(_ref("FaxboxInput"))),
            "put": _op("replace a faxbox (as POST)", _ok("200", "Faxbox", errors=(*BODY_ERRORS, "409")),
                       params=[*faxbox, IF_MATCH], body=_body(_ref("FaxboxInput"))),
            "patch": _op("change some fields of a faxbox", _ok("200", "Faxbox", errors=(*BODY_ERRORS, "409")),
                         params=[*faxbox, IF_MATCH],
                         body=_body({"type": "object", "properties": FAXBOX_IN["properties"]})),
            "delete": _op("delete a faxbox and its numbers", _ok("200", "Deleted", errors=(*READ_ERRORS, "409")),
                          params=[*faxbox, IF_MATCH]),
        },
    }
    paths.update(_faxes_paths(ACCOUNT, account, ""))
    paths.update(_routes_paths(account))
    paths.update(_faxes_paths(FAXBOX, faxbox, " of one faxbox (its defaults apply to new jobs)"))
    return {
        "openapi": "3.0.3",
        "info": {"title": "faxd Faxes API (Kazoo-compatible)", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"AuthToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
                                "MetricsToken": {"type": "http", "scheme": "bearer"}},
        },
    }


def _routes_paths(account: list[dict]) -> dict:
    """fax_routes: an account's (any account's for a super-admin) and the server's defaults."""
    out = {}
    route_id = _param("route_id")
    body_errors = (*BODY_ERRORS, "409")
    for base, params, whose in ((ACCOUNT, account, "the account's"), ("/v2", [], "the server's default (super-admins)")):
        out[base + "/fax_routes"] = {
            "get": _op(f"{whose} routes per destination", _ok("200", "FaxRoute", True), params=params),
            "put": _op(f"create one of {whose} routes", _ok("201", "FaxRoute", errors=body_errors), params=params,
                       body=_body(_ref("FaxRouteInput"))),
        }
        item = [*params, route_id]
        out[base + "/fax_routes/{route_id}"] = {
            "get": _op("a route", _ok("200", "FaxRoute"), params=item),
            "post": _op("replace a route (settings left out are unset)", _ok("200", "FaxRoute", errors=body_errors),
                        params=item, body=_body(_ref("FaxRouteInput"))),
            "patch": _op("change some settings of a route (null: unset)", _ok("200", "FaxRoute", errors=body_errors),
                         params=item, body=_body({"type": "object", "properties": FAX_ROUTE_IN["properties"]})),
            "delete": _op("delete a route", _ok("200", "Deleted"), params=item),
        }
    number = [*account, _param("number", description="E.164")]
    out[ACCOUNT + "/fax_routes/learned"] = {
        "get": _op("what was learned per number (T.38 or ECM off), until it expires", _ok("200", "Learned", True),
                   params=account),
        "delete": _op("forget what was learned for every number", _ok("200", "Forgotten"), params=account),
    }
    out[ACCOUNT + "/fax_routes/learned/{number}"] = {
        "get": _op("what was learned for one number", _ok("200", "Learned"), params=number),
        "delete": _op("forget what was learned for one number", _ok("200", "Forgotten"), params=number),
    }
    return out


class OpenApiResource:
    public = True

    def __init__(self):
        self._doc = build()

    def on_get(self, req, resp):
        resp.media = self._doc
