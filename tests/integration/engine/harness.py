"""Run faxd's real composition (Daemon) in-process on the software line, and wait on jobs."""
from __future__ import annotations

import contextlib
import io
import time

import gevent

from faxd.errors import StoreUnavailable

from faxd.daemon import Daemon

FINAL = ("completed", "failed", "cancelled")

TEXT = b"faxd test page\n" + b"The quick brown fox jumps over the lazy dog.\n" * 20


def fast(config, **overrides):
    """Engine settings that keep tests short: quick retries, short leases and ring timeouts."""
    settings = dict(api_listen=("127.0.0.1", 0), smtp_listen=None, retry_period=1, originate_timeout=5,
                    lease_seconds=3, dispatch_tick=0.2, shutdown_grace=5)
    settings.update(overrides)
    return config.replace(**settings)


@contextlib.contextmanager
def running(config):
    out = io.StringIO()
    d = Daemon(config, out=out)
    g = gevent.spawn(d.run)
    deadline = time.monotonic() + 60
    while "API listening" not in out.getvalue():
        if g.dead:
            g.get()  # raises the start-up error
            raise AssertionError("faxd stopped during start-up")
        assert time.monotonic() < deadline, "faxd did not start"
        gevent.sleep(0.02)
    d.base_url = out.getvalue().split("API listening on ")[1].split()[0]
    try:
        yield d
    finally:
        d.request_stop()
        assert g.get(timeout=60) == 0


def job_doc(to_number, **extra):
    doc = {"to_number": to_number, "from_number": "+12025550100", "from_name": "faxd tests", "retries": 1}
    doc.update(extra)
    return doc


def enqueue(store, account_id, to_number, document=TEXT, content_type="text/plain", pages=1, **extra):
    """Queue a job whose originals are ``pages`` one-page documents (converted in order)."""
    docs = [(document, content_type, f"page{i + 1}.txt") for i in range(pages)]
    job = store.enqueue_job(account_id, job_doc(to_number, **extra), documents=docs)
    return job["id"]


def wait_final(store, account_id, job_ids, timeout=90.0) -> dict[str, dict]:
    """Wait until every job is final; return them as the API shows them."""
    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    done = {}
    while pending:
        for job_id in list(pending):
            try:
                job = store.get_job(account_id, job_id)
            except StoreUnavailable:
                break  # the database is restarting: ask again
            if job["status"] in FINAL:
                done[job_id] = job
                pending.discard(job_id)
        if not pending:
            break
        assert time.monotonic() < deadline, f"jobs not final in time: {sorted(pending)}"
        gevent.sleep(0.1)
    return done


def wait_inbox(store, account_id, timeout=20.0) -> list[dict]:
    """Wait until the account's inbox has a fax; return its rows (id, status, rx_result)."""
    with gevent.Timeout(timeout, AssertionError("no fax reached the inbox")):
        while True:
            with store.transaction() as cur:
                cur.execute("SELECT id, status, rx_result FROM inbox WHERE account_id = %s", (account_id,))
                rows = cur.fetchall()
            if rows:
                return rows
            gevent.sleep(0.05)


_converted = {}


def converted_fax(config):
    """One text page converted once per test run: (tiff, pdf, pages)."""
    if "fax" not in _converted:
        from faxd.documents import DocumentPipeline
        p = DocumentPipeline(config)
        fax = p.convert([(TEXT, "text/plain")])
        _converted["fax"] = (fax.tiff, p.tiff_to_pdf(fax.tiff), fax.pages)
    return _converted["fax"]


def enqueue_ready(store, account_id, to_number, fax, cur=None, **extra) -> str:
    """Queue a job whose document is already converted: it goes straight to ``pending``.
    Given ``cur``, it is part of that transaction (a burst appears to the nodes at once)."""
    if cur is None:
        with store.transaction() as cur:
            return enqueue_ready(store, account_id, to_number, fax, cur=cur, **extra)
    tiff, pdf, pages = fax
    job = store.enqueue_job(account_id, job_doc(to_number, **extra), status="pending", cur=cur)
    store.add_document(account_id, job_id=job["id"], role="fax_tiff", content_type="image/tiff", data=tiff,
                       pages=pages, cur=cur)
    store.add_document(account_id, job_id=job["id"], role="pdf", content_type="application/pdf", data=pdf,
                       pages=pages, cur=cur)
    cur.execute("UPDATE jobs SET page_count = %s WHERE id = %s", (pages, job["id"]))
    return job["id"]


def attempts_of(store, job_ids):
    with store.transaction() as cur:
        cur.execute("SELECT job_id, attempt, node, outcome, started, ended FROM job_attempts "
                    "WHERE job_id = ANY(%s) ORDER BY job_id, attempt", (list(job_ids),))
        return cur.fetchall()
