"""Email-to-fax gateway and notifier.

1. Cost of one email-to-fax (SMTP session, policy, conversion, job insert) through the real
   gateway process, against its floor measured in the same run and interleaved: the same mail
   to a bare aiosmtpd sink process plus DocumentPipeline.convert and tiff_to_pdf of the same
   PDF in-process (the gateway converts once and hands fax TIFF and PDF to the job).
2. Responsiveness: round-trip time of NOOP in one session while another session's 20-page
   PDF is being converted, against NOOP on an idle gateway. Shows that a conversion never
   stalls other sessions (the asyncio loop hands blocking work to greenlets).
3. Webhook delivery throughput of NotificationService to a local receiver (events/s).

``python -m bench smtp [--runs N]``. Uses FAXD_BENCH_DATABASE_URL (default: the server on
127.0.0.1:5432) for a scratch database.
"""
from __future__ import annotations

import argparse
import json
import os
import smtplib
import statistics
import sys
import tempfile
import time

import gevent
import psycopg2
import psycopg2.extensions
from gevent import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Scratch:
    def __init__(self):
        self.admin = os.environ.get("FAXD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        self.name = f"faxd_bench_smtp_{os.getpid()}"
        self._sql(f'CREATE DATABASE "{self.name}"')
        self.dsn = psycopg2.extensions.make_dsn(self.admin, dbname=self.name)

    def _sql(self, statement):
        conn = psycopg2.connect(self.admin)
        conn.autocommit = True
        try:
            conn.cursor().execute(statement)
        finally:
            conn.close()

    def drop(self):
        self._sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _text_pdf(pages: int) -> bytes:
    ps = ["%!PS", "/Courier findfont 10 scalefont setfont"]
    for p in range(1, pages + 1):
        for line in range(60):
            ps.append(f"40 {800 - line * 12.5:.1f} moveto (Page {p} line {line + 1}: "
                      f"The quick brown fox jumps over the lazy dog. 0123456789) show")
        ps.append("showpage")
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.ps"), os.path.join(d, "out.pdf")
        with open(src, "w") as f:
            f.write("\n".join(ps))
        subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite", "-sPAPERSIZE=a4",
                        f"-sOutputFile={out}", src], check=True)
        with open(out, "rb") as f:
            return f.read()


def _mail(sender, rcpt, pdf) -> bytes:
    from email import policy
    from email.message import EmailMessage
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, rcpt, "bench"
    msg.set_content("fax this")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="doc.pdf")
    return msg.as_bytes(policy=policy.SMTP)


def _send(address, sender, rcpt, data) -> None:
    with smtplib.SMTP(*address, timeout=120) as c:
        refused = c.sendmail(sender, [rcpt], data)
        assert refused == {}, refused


def _median_ms(xs):
    return statistics.median(xs) * 1000


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench smtp")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--webhooks", type=int, default=300)
    args = ap.parse_args(argv)

    from faxd.config import Config
    from faxd.documents import DocumentPipeline
    from faxd.smtp.service import SmtpGatewayService
    from faxd.store import PostgresStore
    from faxd.store.migrate import migrate

    scratch = Scratch()
    work = tempfile.mkdtemp(prefix="faxd-bench-smtp-")
    services, procs = [], []
    try:
        migrate(scratch.dsn)
        store = PostgresStore(scratch.dsn, 4)
        config = Config.load(path=None, env={}, home=work, database_url=scratch.dsn, smtp_listen="127.0.0.1:0",
                             smtp_domain="bench.test", fetch_allow=("127.0.0.1/32",), webhook_secret="bench")
        acct = store.create_account("bench")
        box = store.create_faxbox(acct.account_id, {"name": "bench", "caller_id": "+12025550100",
                                                    "smtp_permission_list": ["bench@example.com"]}, "bench.test")
        rcpt = f"12025550123@{box['smtp_email_address']}"
        gateway = SmtpGatewayService(config, scratch.dsn)
        gateway.start()
        services.append(gateway)
        sink = subprocess.Popen([sys.executable, "-m", "tests.integration.smtp.sink", "0"], cwd=ROOT,
                                stdout=subprocess.PIPE)
        procs.append(sink)
        sink_port = json.loads(sink.stdout.readline())["port"]
        gevent.spawn(lambda: [None for _ in sink.stdout])  # drain
        pipeline = DocumentPipeline(config)

        # 1. one email-to-fax vs its floor
        pdf1 = _text_pdf(1)
        data = _mail("bench@example.com", rcpt, pdf1)

        def through_gateway():
            _send(gateway.address, "bench@example.com", rcpt, data)

        def floor():
            pipeline.tiff_to_pdf(pipeline.convert([(pdf1, "application/pdf")]).tiff)
            _send(("127.0.0.1", sink_port), "bench@example.com", rcpt, data)

        through_gateway(), floor()  # warm up
        ours, base = [], []
        for i in range(args.runs):
            pair = [(through_gateway, ours), (floor, base)]
            for fn, acc in (pair if i % 2 == 0 else pair[::-1]):
                t = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - t)
        m_ours, m_base = _median_ms(ours), _median_ms(base)
        print(f"email-to-fax, 1-page PDF ({len(pdf1)} B), {args.runs} interleaved runs: gateway {m_ours:.1f} ms, "
              f"floor (bare sink + convert + PDF) {m_base:.1f} ms, ratio {m_ours / m_base:.2f}")

        # 2. NOOP latency while another session converts 20 pages
        pdf20 = _text_pdf(20)
        big = _mail("bench@example.com", rcpt, pdf20)

        def noop_times(n=20):
            out = []
            with smtplib.SMTP(*gateway.address, timeout=60) as c:
                c.ehlo()
                for _ in range(n):
                    t = time.perf_counter()
                    c.noop()
                    out.append(time.perf_counter() - t)
                    gevent.sleep(0.02)
            return out

        idle = noop_times()
        busy_sender = gevent.spawn(_send, gateway.address, "bench@example.com", rcpt, big)
        gevent.sleep(0.3)  # let the DATA phase start converting
        during = noop_times()
        t = time.perf_counter()
        busy_sender.get()
        print(f"NOOP round trip: idle median {_median_ms(idle):.2f} ms max {max(idle) * 1000:.2f} ms; "
              f"while a 20-page PDF converts median {_median_ms(during):.2f} ms max {max(during) * 1000:.2f} ms "
              f"(conversion still running {1000 * (time.perf_counter() - t):.0f} ms after the probes)")

        # 3. webhook throughput
        from faxd.notify.service import NotificationService
        from tests.integration.smtp.helpers import HttpReceiver
        receiver = HttpReceiver().start()
        with store.transaction() as cur:
            cur.execute("UPDATE faxboxes SET notifications = %s", (json.dumps(
                {"outbound": {"callback": {"url": receiver.url()}}}),))
        job = store.enqueue_job(acct.account_id, {"to_number": "+12025550123", "from_number": "+12025550100"},
                                faxbox_id=box["id"])
        with store.transaction() as cur:
            for _ in range(args.webhooks):
                store.queue_notifications(cur, "outbound_queued", job_id=job["id"])
        service = NotificationService(config, store)
        t = time.perf_counter()
        service.start()
        services.append(service)
        for _ in range(args.webhooks):
            receiver.get(timeout=60)
        elapsed = time.perf_counter() - t
        receiver.stop()
        print(f"webhooks: {args.webhooks} signed deliveries in {elapsed:.2f} s = {args.webhooks / elapsed:.0f}/s")
    finally:
        for s in services:
            s.stop_intake()
            s.drain(5)
            s.stop()
        if "store" in locals():
            store.close()
        for p in procs:
            p.kill()
            p.wait()
        scratch.drop()
    return 0
