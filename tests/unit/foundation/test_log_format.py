"""FAXD_LOG_FORMAT: text (default) and json, one object per line with the fax's ids."""
import io
import json
import logging

from faxd import logs
from faxd.config import Config


def _capture(fmt: str):
    out = io.StringIO()
    logs.setup("info", stream=out, fmt=fmt)
    return out


def teardown_function(_):
    logs.setup("warning")


def test_json_lines_carry_job_call_and_account_ids():
    out = _capture("json")
    log = logs.FaxAdapter(logging.getLogger("faxd.outbound.transmission"),
                          {"job": "j1", "call": "c1", "account": "a1"})
    log.info("attempt %d: %s", 1, "completed")
    logging.getLogger("faxd.daemon").warning("plain line")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(l) for l in lines)
    assert first["message"] == "attempt 1: completed" and first["level"] == "info"
    assert (first["job_id"], first["call_id"], first["account_id"]) == ("j1", "c1", "a1")
    assert first["logger"] == "faxd.outbound.transmission" and first["time"].endswith("Z")
    assert "job_id" not in second and second["message"] == "plain line"
    assert "ValueError: boom" in third["exception"]


def test_text_stays_the_default_with_the_ids_in_front():
    assert Config.load(env={}).log_format == "text"
    out = _capture("text")
    logs.FaxAdapter(logging.getLogger("x"), {"job": "j1", "call": None, "account": "a1"}).info("hello")
    line = out.getvalue().strip()
    assert line.endswith("INFO x: [job=j1] hello"), line


def test_an_unknown_format_is_refused_naming_the_setting():
    import pytest
    from faxd.errors import ConfigError
    with pytest.raises(ConfigError, match="log_format"):
        Config.load(env={"FAXD_LOG_FORMAT": "xml"})
