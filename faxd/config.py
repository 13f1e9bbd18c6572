"""Configuration: every default in one place, a TOML file, then FAXD_* variables.

Precedence (lowest first): the defaults below, the TOML file (``--config`` or
``./faxd.toml`` when present), then ``FAXD_<NAME>`` environment variables.
Every problem is reported as one :class:`ConfigError` line naming the setting.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from faxd.errors import ConfigError
from faxd.retry import parse_overrides


# --- parsers: str (env) or TOML value -> typed value; raise ValueError with a reason

def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    value = _str(value)
    return value or None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError("expected an integer")


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number") from None


def _items(value: Any, *, kinds: tuple[type, ...] = (list,)) -> list[str]:
    """The non-empty items of a comma-separated string (or a TOML list), stripped."""
    items = value if isinstance(value, kinds) else _str(value).split(",")
    return [item for item in (_str(i).strip() for i in items) if item]


def _bounded(parse: Callable[[Any], Any], low: float, reason: str, *, above: bool = False) -> Callable[[Any], Any]:
    """``parse``, then refuse what is below ``low`` (or not above it, with ``above``)."""
    def check(value: Any) -> Any:
        n = parse(value)
        if n < low or (above and n == low):
            raise ValueError(reason)
        return n
    return check


_positive_int = _bounded(_int, 0, "must be greater than 0", above=True)
_non_negative_int = _bounded(_int, 0, "must not be negative")
_limit = _bounded(_int, -1, "must be -1 (no limit), 0 or more")
_non_negative_float = _bounded(_float, 0, "must not be negative")
_positive_float = _bounded(_non_negative_float, 0, "must be greater than 0", above=True)


def _number_types(value: Any) -> tuple[str, ...]:
    from faxd.policy import NUMBER_TYPES
    out = tuple(i.lower() for i in _items(value))
    wrong = [i for i in out if i not in NUMBER_TYPES]
    if wrong:
        raise ValueError(f"unknown number types {', '.join(wrong)} (known: {', '.join(NUMBER_TYPES)})")
    return out


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off", ""):
            return False
    raise ValueError("expected true or false")


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        v = _str(value).strip().lower()
        if v not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return v
    return parse


def _listen(value: Any) -> tuple[str, int]:
    """Parse ``host:port`` (``[::1]:port`` for IPv6) into a tuple."""
    v = _str(value).strip()
    host, sep, port = v.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError("expected host:port, e.g. 127.0.0.1:8000")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    p = int(port)
    if not 0 <= p <= 65535:
        raise ValueError("port must be 0..65535")
    return host, p


def _path_no_space(value: Any) -> str:
    v = _str(value).strip()
    if not v.startswith("/") or any(c.isspace() for c in v):
        raise ValueError("expected an absolute path without spaces")
    return v


def _database_hosts(netloc: str) -> list[tuple[str, int | None]]:
    """The ``host[:port]`` list of a (multi-host, libpq) URL: ``h1:5432,h2:5433``.

    libpq tries the hosts in order; with ``target_session_attrs=read-write`` it skips a
    standby, so one URL names a primary and its standbys and follows a failover.
    """
    hosts = netloc.rpartition("@")[2]
    out = []
    for item in hosts.split(","):
        item = item.strip()
        if item.startswith("["):                     # [::1]:5432
            host, _, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else (None if not rest else "x")
        else:
            host, sep, port = item.partition(":")
            port = port if sep else None
        if port is not None and port != "":
            if not port.isdigit():
                raise ValueError("the port is not a number")
            if not 0 < int(port) <= 65535:
                raise ValueError("port must be 1..65535")
        out.append((host, int(port) if port else None))
    return out


def _database_url(value: Any) -> str | None:
    """A postgresql:// URL or a libpq key=value DSN."""
    v = _opt_str(value)
    if v is None:
        return None
    if "://" in v:
        parts = urlsplit(v)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError("expected a postgresql://user@host:port/dbname URL")
        _database_hosts(parts.netloc)
    elif "=" not in v:
        raise ValueError("expected a postgresql://user@host:port/dbname URL")
    import psycopg2.extensions
    try:
        psycopg2.extensions.parse_dsn(v)
    except psycopg2.ProgrammingError as e:
        raise ValueError(str(e).strip().splitlines()[0]) from None
    return v


def _url_list(*schemes: str) -> Callable[[Any], tuple[str, ...]]:
    def parse(value: Any) -> tuple[str, ...]:
        urls = tuple(_items(value))
        for u in urls:
            parts = urlsplit(u)
            if parts.scheme not in schemes or not parts.hostname:
                raise ValueError(f"{u!r} is not a {schemes[0]}://[user]:password@host:port URL")
            try:
                parts.port
            except ValueError:
                raise ValueError(f"{u!r} has a port that is not a number") from None
        return urls
    return parse


_GRANT_DOMAIN = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")


def _domain_grants(value: Any) -> tuple[str, ...]:
    """``fax.example.com=<account_id>,*.example.org=<account_id>``, kept as normalised strings."""
    out = []
    for item in _items(value, kinds=(list, tuple)):
        domain, sep, account = item.partition("=")
        domain, account = domain.strip().lower().rstrip("."), account.strip().lower()
        if not sep or not _GRANT_DOMAIN.match(domain) or not _ACCOUNT_ID.match(account):
            raise ValueError(f"{item!r} is not domain=account_id (a domain such as fax.example.com "
                             f"or *.example.com, and a 32-character account id)")
        out.append(f"{domain}={account}")
    return tuple(out)


def _opt_listen(value: Any) -> tuple[str, int] | None:
    v = _opt_str(value) if not isinstance(value, tuple) else value
    if v is None:
        return None
    return _listen(v)


def _networks(value: Any) -> tuple[str, ...]:
    """Hosts or CIDRs, comma separated (or a TOML list)."""
    out = []
    for item in _items(value):
        if any(c.isdigit() for c in item.split("/")[0][:1]) or ":" in item:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is neither a host name nor an address/CIDR") from None
        out.append(item)
    return tuple(out)


def _retry_overrides(value: Any) -> str:
    v = _str(value)
    parse_overrides(v)
    return v


def setting(default: Any, parse: Callable[[Any], Any], doc: str, env: str | None = None):
    return field(default=default, metadata={"parse": parse, "doc": doc, "env": env})


@dataclass(frozen=True)
class Config:
    """faxd's settings. The field name is the TOML key; ``FAXD_<NAME>`` the variable."""

    home: str = setting("./var", _str, "state, spool and the embedded database")
    database_url: str | None = setting(
        None, _database_url,
        "PostgreSQL URL (several hosts with target_session_attrs=read-write follow a failover, docs/operations.md); "
        "unset runs an embedded cluster under $FAXD_HOME/postgres")
    postgres_bindir: str | None = setting(
        None, _opt_str, "directory of initdb/postgres for the embedded cluster (default: newest /usr/lib/postgresql/*/bin)")
    db_pool_size: int = setting(20, _positive_int, "PostgreSQL connections per process")
    commit_writers: int = setting(
        2, _non_negative_int,
        "group commit: writers that commit the live calls' progress, leases and ends together, "
        "one transaction per group (0: a transaction per write)")
    api_listen: tuple[str, int] = setting(("127.0.0.1", 8000), _listen, "REST API listen address")
    http_header_timeout: float = setting(
        10.0, _non_negative_float, "seconds an API client has to send a request line and headers (then 408 and close)")
    http_idle_timeout: float = setting(
        60.0, _non_negative_float,
        "seconds an API connection may stay silent between keep-alive requests or inside a request body (then closed)")
    http_max_connections_per_client: int = setting(
        64, _non_negative_int, "open API connections per client address; more are answered 503 and closed (0: no cap)")
    switch: str = setting("software", _choice("software", "freeswitch", "asterisk"),
                          "telephone switch: software (in-process spandsp line), freeswitch, asterisk")
    esl_url: tuple[str, ...] = setting(("esl://:ClueCon@127.0.0.1:8021",), _url_list("esl"),
                                       "FreeSWITCH Event Socket(s), comma separated")
    esl_listen: tuple[str, int] = setting(("127.0.0.1", 8084), _listen,
                                          "listener for FreeSWITCH's outbound socket (inbound calls)")
    spool_http_listen: tuple[str, int] | None = setting(
        None, _opt_listen, "FreeSWITCH on other hosts: serve outbound TIFFs and take received ones (PUT) over HTTP "
                           "on host:port (unset: FreeSWITCH shares spool_dir)")
    spool_url: str | None = setting(None, _opt_str,
                                    "base URL FreeSWITCH uses to reach spool_http_listen (default http://host:port)")
    freeswitch_rx_dir: str = setting("/tmp", _path_no_space,
                                     "with spool_http_listen: directory on the FreeSWITCH hosts where rxfax writes "
                                     "a received fax before uploading it to faxd")
    dial_string: str = setting("sofia/gateway/default/{number}", _str, "FreeSWITCH dial string for outbound faxes")
    t38: str = setting("accept", _choice("accept", "request", "off"),
                       "T.38 on outbound calls (a faxbox's media.fax_option overrides)")
    spool_dir: str | None = setting(None, _opt_str, "spool directory shared with the switch (default $FAXD_HOME/spool)")
    ami_url: tuple[str, ...] = setting(("ami://faxd:faxd@127.0.0.1:5038",), _url_list("ami"), "Asterisk AMI")
    asterisk_dial: str = setting("PJSIP/{number}@trunk", _str, "Asterisk channel for outbound faxes")
    asterisk_progress_interval: float = setting(
        5.0, _non_negative_float, "seconds between FAXSession polls for live pages on Asterisk (0: off)")
    asterisk_inbound: bool = setting(
        True, _bool, "take inbound fax calls from Asterisk (with several faxd nodes on one Asterisk: one node)")
    smtp_listen: tuple[str, int] | None = setting(("127.0.0.1", 2525), _opt_listen,
                                                  "SMTP gateway listen address (empty: no gateway)")
    smtp_domain: str = setting("fax.localhost", _str,
                               "domain of generated faxbox addresses: <number>@<faxbox_id>.<smtp_domain>")
    smtp_relay: str | None = setting(None, _opt_str,
                                     "SMTP relay for notifications, host:port; unset keeps them as undeliverable")
    smtp_max_bytes: int = setting(25 * 1024 * 1024, _positive_int, "largest email the SMTP gateway accepts (bytes)")
    smtp_max_sessions: int = setting(20, _positive_int, "concurrent SMTP sessions; more are answered 421")
    smtp_max_sessions_per_ip: int = setting(
        10, _positive_int, "concurrent SMTP sessions from one client address; more are answered 421")
    smtp_idle_timeout: float = setting(
        300.0, _positive_float, "seconds an SMTP session may make no progress before it is closed "
                                "(RFC 5321's 5 minutes; NOOP, RSET, HELP, VRFY and unknown commands do not count)")
    smtp_custom_domains: tuple[str, ...] = setting(
        (), _domain_grants, "custom faxbox email domains granted to accounts: domain=account_id, comma "
                            "separated (*.example.com for its subdomains); any other custom_smtp_email_address is refused")
    smtp_tls_cert: str | None = setting(None, _opt_str, "PEM certificate chain: enables STARTTLS on the gateway")
    smtp_tls_key: str | None = setting(None, _opt_str, "PEM private key for smtp_tls_cert")
    notify_from: str | None = setting(None, _opt_str, "From: of notification emails (default faxd@<smtp_domain>)")
    sms_url_template: str | None = setting(
        None, _opt_str, "SMS provider URL; $to and $text are replaced (URL-quoted); unset: no SMS")
    sms_body_template: str | None = setting(
        None, _opt_str, "SMS request body ($to, $text JSON-escaped); unset: POST {\"to\", \"text\"} as JSON")
    sms_auth: str | None = setting(None, _opt_str, "SMS provider auth: user:password (Basic) or a full Authorization value")
    webhook_secret: str | None = setting(
        None, _opt_str, "HMAC-SHA256 key for webhooks (default: generated in $FAXD_HOME/webhook.key)")
    notify_retry_base: float = setting(30.0, _non_negative_float, "first notification retry delay (seconds, doubles)")
    notify_retry_max: float = setting(3600.0, _non_negative_float, "longest notification retry delay (seconds)")
    notify_max_attempts: int = setting(12, _positive_int, "delivery attempts before a notification is failed")
    fetch_allow: tuple[str, ...] = setting((), _networks,
                                           "hosts/CIDRs that document and webhook URLs may reach despite the private-address rule")
    default_region: str = setting("US", _str, "region for numbers written without a leading +")
    paper: str = setting("a4", _choice("a4", "letter"), "default paper size for converted documents")
    resolution: str = setting("fine", _choice("fine", "normal"), "default fax resolution")
    max_upload_bytes: int = setting(8 * 1024 * 1024, _positive_int, "largest accepted document (bytes)")
    max_pages: int = setting(100, _positive_int, "most pages in one fax")
    broadcast_max_recipients: int = setting(1000, _positive_int, "most recipients of one broadcast request")
    attach_concurrency: int = setting(
        0, _non_negative_int, "documents prepared at once per node (0: two per CPU core available, at least 4)")
    convert_timeout: float = setting(120.0, _non_negative_float, "seconds a document conversion may take")
    fetch_timeout: float = setting(30.0, _non_negative_float, "seconds a document URL fetch may take")
    token_ttl: int = setting(3600, _positive_int, "auth token lifetime (seconds)")
    auth_max_failures: int = setting(
        20, _positive_int, "failed PUT /v2/api_auth attempts per client address, or per key prefix, "
                           "within auth_failure_window before a lockout (429)")
    auth_failure_window: float = setting(300.0, _non_negative_float, "seconds over which failed API key attempts count")
    auth_lockout: float = setting(300.0, _non_negative_float,
                                  "seconds a locked-out client address or key prefix is answered 429")
    max_outbound: int = setting(10, _positive_int, "default running outbound faxes per account")
    submit_rate_limit: int = setting(
        60, _limit, "faxes an account may queue per submit_rate_window (-1: no limit; an account's fax_policy overrides)")
    submit_rate_window: float = setting(60.0, _positive_float, "seconds of the submission rate window")
    submit_daily_quota: int = setting(
        1000, _limit, "faxes an account may queue per UTC day (-1: no limit; an account's fax_policy overrides)")
    allow_international: bool = setting(
        False, _bool, "accounts may fax outside their home country (default_region) unless their fax_policy says otherwise")
    blocked_number_types: tuple[str, ...] = setting(
        ("premium_rate", "shared_cost", "personal_number"), _number_types,
        "destination types refused unless an account's fax_policy allows them (phonenumbers types)")
    retention_documents_days: int = setting(
        -1, _limit, "days after a fax is final (sent, failed, received) before its documents are deleted, the "
                    "record kept (-1: kept; an account's fax_policy or a faxbox overrides)")
    retention_purge_days: int = setting(
        -1, _limit, "days after a fax is final before it is deleted with everything of it (-1: kept; "
                    "an account's fax_policy or a faxbox overrides)")
    document_key_file: str | None = setting(
        None, _opt_str, "key file for encryption at rest of stored documents (AES-256-GCM; "
                              "docs/operations.md); unset: documents are stored unencrypted")
    retention_interval: float = setting(600.0, _positive_float, "seconds between two sweeps of the retention policy")
    number_min_gap: float = setting(0.0, _non_negative_float,
                                    "seconds between the end of a call to a number and the next call to it (0: none)")
    # Routes per destination (faxd/routes.py, the fax_routes API)
    route_busy_wait: float = setting(5.0, _positive_float,
                                     "seconds a job waits in the queue when its route is at max_calls")
    learn_days: int = setting(30, _non_negative_int, "days faxd remembers that a number needs T.38 or ECM "
                                                     "off (0: learn nothing)")
    retry_period: int = setting(300, _positive_int, "seconds between attempts")
    retry_overrides: str = setting("", _retry_overrides,
                                   "retry period per hangup cause or T.30 code, e.g. USER_BUSY=60,49=120")
    not_fax_attempts: int = setting(2, _positive_int,
                                    "attempts after which a far end that never answers in T.30 fails the job")
    max_channels: int = setting(100, _positive_int, "outbound calls at once per switch (all nodes)")
    originate_timeout: float = setting(90.0, _non_negative_float, "seconds from originate to answer")
    negotiate_timeout: float = setting(120.0, _non_negative_float, "seconds from answer to T.30 negotiated")
    page_timeout: float = setting(360.0, _non_negative_float, "seconds one page may take")
    dispatch_tick: float = setting(1.0, _non_negative_float,
                                   "seconds between claim passes when no NOTIFY arrives (retries, lost wake-ups)")
    lease_seconds: float = setting(30.0, _non_negative_float, "job lease length; a worker renews it while it runs")
    shutdown_grace: float = setting(30.0, _non_negative_float,
                                    "seconds running faxes get to finish on SIGTERM/SIGINT")
    log_level: str = setting("info", _choice("debug", "info", "warning", "error"), "log level")
    log_format: str = setting("text", _choice("text", "json"),
                              "log lines as text, or one JSON object per line (job_id, call_id, account_id)")
    events_window: float = setting(600.0, _positive_float,
                                   "seconds the event stream keeps events for clients that reconnect (Last-Event-ID)")
    events_heartbeat: float = setting(15.0, _positive_float,
                                      "seconds between heartbeat comments on an idle event stream")
    events_process: bool = setting(True, _bool, "write the event streams from a separate fan-out process "
                                   "(python -m faxd.fanout) instead of faxd's own")
    events_nice: int = setting(10, _non_negative_int, "niceness added to the event fan-out process")
    metrics_token: str | None = setting(None, _opt_str, "bearer token that may read /metrics (Prometheus' "
                                        "authorization credentials); super-admin tokens may too")
    metrics_loopback: bool = setting(True, _bool, "callers on the loopback interface read /metrics without a token")
    bootstrap_number: str = setting("+12025550100", _str,
                                    "inbound number of the bootstrap faxbox created on first start")
    station_id: str = setting("faxd", _str, "default station id (TSI/CSI) of this server")
    software_remote_station_id: str = setting(
        "FAXD REMOTE", _str, "station id (CSI) of the software switch's built-in remote fax machine")
    software_paced: bool = setting(False, _bool,
                                   "software switch: run calls in real time (8000 samples/s) instead of unpaced")

    # --- derived paths

    @property
    def spool_path(self) -> str:
        return self.spool_dir or os.path.join(self.home, "spool")

    @property
    def postgres_dir(self) -> str:
        return os.path.join(self.home, "postgres")

    @property
    def bootstrap_path(self) -> str:
        return os.path.join(self.home, "bootstrap.json")

    # --- construction

    @classmethod
    def load(cls, path: str | None = None, env: dict[str, str] | None = None,
             **overrides: Any) -> "Config":
        """Defaults < TOML file < FAXD_* env < explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if path is None and os.path.exists("faxd.toml"):
            path = "faxd.toml"
        if path is not None:
            values.update(_read_toml(path))
        known = {f.name for f in dataclasses.fields(cls)}
        for key, raw in env.items():
            if not key.startswith("FAXD_") or key.startswith("FAXD_TEST_"):
                continue
            name = key[5:].lower()
            if name in known:
                values[name] = raw
        values.update(overrides)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: dict[str, Any], origin: str = "") -> "Config":
        fields = {f.name: f for f in dataclasses.fields(cls)}
        parsed = {}
        for name, raw in values.items():
            f = fields.get(name)
            if f is None:
                raise ConfigError(f"unknown setting {name!r}{origin}")
            if isinstance(raw, tuple) or raw is None:
                parsed[name] = raw  # already typed (overrides from code)
                continue
            try:
                parsed[name] = f.metadata["parse"](raw)
            except ValueError as e:
                raise ConfigError(f"bad value for {name} ({env_name(name)}): {e}") from None
        return cls(**parsed)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)


def env_name(name: str) -> str:
    return "FAXD_" + name.upper()


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"cannot read configuration file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"configuration file {path} is not valid TOML: {e}") from None
    # Accept both a flat file and one with a [faxd] table.
    if set(data) == {"faxd"} and isinstance(data["faxd"], dict):
        data = data["faxd"]
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(f"unknown section [{key}] in {path}")
    known = {f.name for f in dataclasses.fields(Config)}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown setting {key!r} in {path}")
    return dict(data)


def describe() -> list[tuple[str, str, str, str]]:
    """(toml key, env variable, default, description) for every setting: the README table."""
    rows = []
    for f in dataclasses.fields(Config):
        default = f.default
        if isinstance(default, tuple) and len(default) == 2 and isinstance(default[1], int):
            shown = f"{default[0]}:{default[1]}"
        elif isinstance(default, tuple):
            shown = ",".join(default)
        elif default is None:
            shown = "unset"
        else:
            shown = str(default)
        rows.append((f.name, env_name(f.name), shown, f.metadata["doc"]))
    return rows
