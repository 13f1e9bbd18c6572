"""The Grafana dashboard in docs/ and the metric table name only series faxd exports."""
import gc
import json
import os
import re

from prometheus_client.parser import text_string_to_metric_families

from faxd import metrics
from faxd.models import TxResult

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class _Counts:
    def metrics_counts(self):
        return {"jobs": [{"account_id": "a1", "status": "pending", "n": 2}], "notifications_pending": 1}


def _exported() -> set[str]:
    metrics.install(metrics.LiveCollector("n1", _Counts(), lambda: [
        {"switch": "software", "direction": "outbound", "count": 1}],
        lambda: [{"name": "software", "connected": True, "calls": 1}]))
    metrics.attempt_ended("n1", "outbound", TxResult(success=True, pages_sent=2), True, 3.0)
    metrics.DISPATCH.labels("n1").observe(0.01)
    metrics.watch_gc()
    gc.collect()          # a full collection, timed by faxd's callback
    body, _ = metrics.exposition()
    names = set()
    for fam in text_string_to_metric_families(body.decode()):
        names.update(s.name for s in fam.samples)
    return names


def test_the_dashboard_and_the_docs_use_exported_names_only():
    exported = _exported()
    with open(os.path.join(ROOT, "docs", "grafana-dashboard.json")) as f:
        dash = json.load(f)
    used = {m for p in dash["panels"] for t in p["targets"] for m in re.findall(r"\b((?:faxd|process)_\w+)", t["expr"])}
    assert used and used <= exported, used - exported
    with open(os.path.join(ROOT, "docs", "operations.md")) as f:
        table = {m for m in re.findall(r"^\| `(faxd_\w+)`", f.read(), re.M)}
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in exported} | exported
    assert table and table <= families, table - families
    assert {"faxd_calls_active", "faxd_jobs", "faxd_faxes_total", "faxd_pages_total", "faxd_switch_connected",
            "faxd_notifications_pending", "faxd_fax_duration_seconds_bucket",
            "faxd_dispatch_latency_seconds_bucket", "process_cpu_seconds_total", "faxd_gc_pause_seconds_bucket",
            "faxd_gc_frozen_objects", "faxd_gc_threshold"} <= exported


def test_result_names():
    assert metrics.result_name(True, 0, "NORMAL_CLEARING") == "OK"
    assert metrics.result_name(False, 49, "NORMAL_CLEARING") == "T30_CALLDROPPED"
    assert metrics.result_name(False, 41, None) == "T30_FILEERROR"
    assert metrics.result_name(False, 0, "USER_BUSY") == "USER_BUSY"
    assert metrics.result_name(False, None, None) == "UNKNOWN"
