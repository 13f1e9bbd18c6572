"""Prometheus metrics (prometheus_client), for /metrics.

Two kinds, so that several faxd nodes add up correctly:

* process-local counters and histograms, labelled ``node`` (each node counts what it did;
  ``sum`` across nodes is the cluster's figure): faxes, pages, durations, dispatch latency,
  calls in progress, switch connections;
* cluster-wide gauges read from PostgreSQL at scrape time (``faxd_jobs``,
  ``faxd_notifications_pending``): every node answers the same value; aggregate them with
  ``max``, not ``sum``.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, PlatformCollector
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

FAXES = Counter("faxd_faxes", "Faxes that ended, by direction and result (T.30 completion code name, "
                "or the hangup cause when T.30 never ended)", ["node", "direction", "result"], registry=REGISTRY)
PAGES = Counter("faxd_pages", "Pages transferred", ["node", "direction"], registry=REGISTRY)
DURATION = Histogram("faxd_fax_duration_seconds", "Length of fax calls, from originate (or answer) to hangup",
                     ["node", "direction"], registry=REGISTRY,
                     buckets=(5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200))
DISPATCH = Histogram("faxd_dispatch_latency_seconds", "From a job becoming runnable (documents converted, "
                     "its scheduled time reached) to its first claim by a dispatcher",
                     ["node"], registry=REGISTRY,
                     buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))

GC_PAUSE = Histogram("faxd_gc_pause_seconds", "Time the process stood still in Python's cyclic garbage "
                     "collector, by generation (2: a full collection, which walks every object not frozen)",
                     ["generation"], registry=REGISTRY,
                     buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1))


class _Frozen:
    """The collector's settings (faxd.green.settle_heap), read at scrape time."""

    def collect(self):
        import gc
        yield GaugeMetricFamily("faxd_gc_frozen_objects", "Objects of the start-up frozen out of the garbage "
                                "collector's walks (0: not settled, e.g. faxd embedded in another program)",
                                value=gc.get_freeze_count())
        thresholds = GaugeMetricFamily("faxd_gc_threshold", "The garbage collector's thresholds: allocations "
                                       "between young collections (generation 0), collections of the younger "
                                       "generation between two of this one (1, 2)", labels=["generation"])
        for generation, value in enumerate(gc.get_threshold()):
            thresholds.add_metric([str(generation)], value)
        yield thresholds


REGISTRY.register(_Frozen())
_gc_started: list[float] = []


def _gc_callback(phase: str, info: dict) -> None:
    # Called by the interpreter around every collection: kept to a clock read and an observe.
    if phase == "start":
        _gc_started.append(time.perf_counter())
    elif _gc_started:
        GC_PAUSE.labels(str(info["generation"])).observe(time.perf_counter() - _gc_started.pop())


def watch_gc() -> None:
    """Time the garbage collector's pauses into faxd_gc_pause_seconds (once per process)."""
    import gc
    if _gc_callback not in gc.callbacks:
        gc.callbacks.append(_gc_callback)


# spandsp's T.30 completion codes (t30.h, T30_ERR_*), by value.
T30_NAMES = (
    "OK CEDTONE T0_EXPIRED T1_EXPIRED T3_EXPIRED HDLC_CARRIER CANNOT_TRAIN OPER_INT_FAIL INCOMPATIBLE "
    "RX_INCAPABLE TX_INCAPABLE NORESSUPPORT NOSIZESUPPORT UNEXPECTED TX_BADDCS TX_BADPG TX_ECMPHD TX_GOTDCN "
    "TX_INVALRSP TX_NODIS TX_PHBDEAD TX_PHDDEAD TX_T5EXP RX_ECMPHD RX_GOTDCS RX_INVALCMD RX_NOCARRIER "
    "RX_NOEOL RX_NOFAX RX_T2EXPDCN RX_T2EXPD RX_T2EXPFAX RX_T2EXPMPS RX_T2EXPRR RX_T2EXP RX_DCNWHY "
    "RX_DCNDATA RX_DCNFAX RX_DCNPHD RX_DCNRRD RX_DCNNORTN FILEERROR NOPAGE BADTIFF BADPAGE BADTAG "
    "BADTIFFHDR NOMEM RETRYDCN CALLDROPPED NOPOLL IDENT_UNACCEPTABLE SUB_UNACCEPTABLE SEP_UNACCEPTABLE "
    "PSA_UNACCEPTABLE SID_UNACCEPTABLE PWD_UNACCEPTABLE TSA_UNACCEPTABLE IRA_UNACCEPTABLE CIA_UNACCEPTABLE "
    "ISP_UNACCEPTABLE CSA_UNACCEPTABLE").split()


def result_name(success: bool, result_code, hangup_cause: str | None) -> str:
    """``OK``, ``T30_<name>`` of the completion code, else the hangup cause (``USER_BUSY``...)."""
    if success:
        return "OK"
    if isinstance(result_code, int) and result_code > 0:
        return "T30_" + (T30_NAMES[result_code] if result_code < len(T30_NAMES) else str(result_code))
    return hangup_cause or "UNKNOWN"


def attempt_ended(node: str, direction: str, result, final: bool, duration: float | None) -> None:
    """One call ended (``result``: a TxResult): its pages and length; the fax itself when
    ``final`` (an attempt followed by a retry is not a fax that ended)."""
    try:
        if final:
            FAXES.labels(node, direction, result_name(result.success, result.result_code,
                                                      result.hangup_cause)).inc()
        if result.pages_sent:
            PAGES.labels(node, direction).inc(result.pages_sent)
        if duration is not None:
            DURATION.labels(node, direction).observe(max(0.0, duration))
    except Exception:  # metrics never break a fax
        logger.exception("metrics not counted")


class LiveCollector:
    """Gauges read when /metrics is scraped: calls and switch connections of this node
    (``calls``/``switches`` callables), queues and notifications from the database."""

    def __init__(self, node: str, store=None, calls: Callable[[], list[dict]] | None = None,
                 switches: Callable[[], list[dict]] | None = None):
        self._node = node
        self._store = store
        self._calls = calls or (lambda: [])
        self._switches = switches or (lambda: [])

    def describe(self):
        return []

    def collect(self):
        calls = GaugeMetricFamily("faxd_calls_active", "Fax calls in progress on this node",
                                  labels=["node", "switch", "direction"])
        for c in self._calls():
            calls.add_metric([self._node, c["switch"], c["direction"]], c["count"])
        yield calls
        connected = GaugeMetricFamily("faxd_switch_connected", "1 when this node's connection to the switch is up",
                                      labels=["switch", "node"])
        channels = GaugeMetricFamily("faxd_switch_calls", "Calls the switch connection carries",
                                     labels=["switch", "node"])
        for s in self._switches():
            name = str(s.get("name") or s.get("url") or "switch")
            connected.add_metric([name, self._node], 1.0 if s.get("connected") else 0.0)
            if isinstance(s.get("calls"), int):
                channels.add_metric([name, self._node], s["calls"])
        yield connected
        yield channels
        if self._store is None:
            return
        try:
            counts = self._store.metrics_counts()
        except Exception as e:
            logger.warning("metrics: database counts unavailable: %s", e)
            return
        jobs = GaugeMetricFamily("faxd_jobs", "Jobs by status (all nodes: aggregate with max)", labels=["status"])
        by_status = {"attaching_files": 0, "pending": 0, "processing": 0}
        by_account = GaugeMetricFamily("faxd_account_jobs", "Open jobs by account and status (all nodes)",
                                       labels=["account", "status"])
        for row in counts["jobs"]:
            by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
            by_account.add_metric([row["account_id"], row["status"]], row["n"])
        for status, n in by_status.items():
            jobs.add_metric([status], n)
        yield jobs
        yield by_account
        yield GaugeMetricFamily("faxd_notifications_pending", "Notifications waiting for delivery (all nodes)",
                                value=counts["notifications_pending"])


def install(collector: LiveCollector) -> None:
    """Register the live collector (replacing one registered before, e.g. by an earlier app)."""
    global _live
    if _live is not None:
        try:
            REGISTRY.unregister(_live)
        except KeyError:
            pass
    REGISTRY.register(collector)
    _live = collector


_live: LiveCollector | None = None


def exposition() -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
