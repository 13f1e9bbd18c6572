"""Reception: one inbound call -> answer -> receive -> inbox row (+ TIFF and PDF) -> notifications."""
from __future__ import annotations

import logging
import os
import time

import gevent.queue

from faxd import metrics, spandsp
from faxd.errors import StoreError
from faxd.logs import FaxAdapter
from faxd.outbound.results import build_tx_result
from faxd.switch.base import FaxOptions, InboundCall, t38_mode
from faxd.switch.events import FaxResult, Hangup, Negotiated, PageDone, SwitchLost

logger = logging.getLogger(__name__)


class Reception:
    def __init__(self, *, config, store, pipeline, node: str, switch_name: str, call: InboundCall, faxbox: dict):
        self._config = config
        self._store = store
        self._pipeline = pipeline
        self._node = node
        self._switch_name = switch_name
        self.call = call
        self.faxbox = faxbox
        self.log = FaxAdapter(logger, {"call": call.call_id, "faxbox": faxbox["faxbox_id"],
                                       "account": faxbox.get("account_id")})
        self._progress = {"stage": "answer", "pages_received": 0, "fax_speed": 0, "text": "Answering"}
        self._incoming_id = None
        self._fax: FaxResult | None = None
        self._hangup: Hangup | None = None
        self._pages_confirmed = 0          # pages the switch reported received (phase D)
        self._started = time.monotonic()

    def _options(self) -> FaxOptions:
        media = self.faxbox.get("media") or {}
        t38 = t38_mode(media.get("fax_option"), self._config.t38)
        station = self.faxbox.get("fax_identity") or self._config.station_id
        return FaxOptions(station_id=str(station)[:20], ecm=True, t38=t38)

    def run(self) -> None:
        path = os.path.join(self._config.spool_path, f"rx-{self.call.call_id}.tif")
        os.makedirs(self._config.spool_path, exist_ok=True)
        try:
            try:
                self._incoming_id = self._store.start_incoming(
                    account_id=self.faxbox["account_id"], faxbox_id=self.faxbox["faxbox_id"],
                    call_id=self.call.call_id, node=self._node, switch=self._switch_name,
                    from_number=self.call.from_number, from_name=self.call.from_name,
                    to_number=self.call.to_number, lease=self._config.lease_seconds)
            except StoreError as e:
                self.log.warning("live view not recorded: %s", e)
            self.call.answer()
            self.call.receive_fax(path, self._options())
            self._follow()
            self._save(path)
        finally:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def _follow(self) -> None:
        timeout = self._config.negotiate_timeout + self._config.originate_timeout
        renew_every = max(1.0, self._config.lease_seconds / 3)
        last_event = time.monotonic()
        while True:
            try:
                event = self.call.events.get(timeout=min(renew_every, max(0.0, last_event + timeout
                                                                          - time.monotonic())))
            except gevent.queue.Empty:
                if time.monotonic() - last_event < timeout:
                    self._update()  # a long page: keep the live row's lease
                    continue
                self.log.warning("no progress for %.0fs: hanging up", timeout)
                self.call.hangup("RECOVERY_ON_TIMER_EXPIRE")
                timeout, last_event = 30, time.monotonic()
                continue
            last_event = time.monotonic()
            if isinstance(event, Negotiated):
                self._update(stage="negotiate", fax_speed=event.bit_rate,
                             text=event.text, remote_station_id=event.remote_station_id,
                             ecm=event.ecm, t38=event.t38)
                timeout = self._config.page_timeout
            elif isinstance(event, PageDone):
                self._pages_confirmed = max(self._pages_confirmed, event.pages)
                self._update(stage="pages", pages_received=event.pages,
                             fax_speed=event.bit_rate or self._progress["fax_speed"],
                             bad_rows=event.bad_rows, text=f"Received page {event.pages}")
            elif isinstance(event, FaxResult):
                self._fax = event
                timeout = 30
            elif isinstance(event, SwitchLost):
                timeout = 60
            elif isinstance(event, Hangup):
                self._hangup = event
                return

    def _update(self, **changes) -> None:
        self._progress.update(changes)
        if self._incoming_id:
            try:
                self._store.update_incoming(self._incoming_id, dict(self._progress), self._config.lease_seconds)
            except StoreError as e:
                self.log.warning("live view not updated: %s", e)

    def _received_before_loss(self, rx, path: str) -> None:
        """The switch was lost before its phase E report, after pages were received: each page
        the switch reported (phase D), or else each page whole in the file, is received, so
        those pages are a received fax (the receiving side's twin of the transmission's rule)."""
        if (self._fax is not None or self._hangup is None or self._hangup.cause != "SWITCH_LOST"
                or not os.path.exists(path)):
            return
        pages = self._pages_confirmed
        if not pages:
            # The switch died before its page events left it: the file says what arrived
            # (a page is in the TIFF once it was received whole).
            try:
                pages = spandsp.probe_tiff(path).pages   # the compiled library loads here, if at all
            except Exception:   # not a readable fax TIFF: nothing was received
                pages = 0
        if not pages:
            return
        rx.success = True
        rx.pages_sent = pages
        rx.error_message = ""
        rx.result_text = f"the connection to the switch was lost after {pages} pages were received"
        self.log.warning("switch lost after %d pages were received: they are kept as the fax", pages)

    def _save(self, path: str) -> None:
        rx = build_tx_result(fax=self._fax, hangup=self._hangup, elapsed=int(time.monotonic() - self._started))
        self._received_before_loss(rx, path)
        pages = rx.pages_sent
        # rx_result has tx_result's fields with the same meaning: pages_sent (and its alias
        # transferred_pages) = pages that went through, pages_total = pages of the document,
        # which for a reception is what arrived (T.30 never tells the receiver the sender's
        # total, and no switch reports one on the receiving leg).
        rx.pages_total = pages
        success = rx.success and pages > 0
        if rx.success and pages == 0:
            rx.success = False
            rx.error_message = "no pages were received"
        tiff = pdf = None
        if success:
            try:
                with open(path, "rb") as f:
                    tiff = f.read()
            except OSError as e:
                # The switch said received but its file never reached faxd: say so, never
                # show a received fax without its document.
                self.log.error("received fax has no TIFF at %s: %s", path, e.strerror)
                success = rx.success = False
                rx.error_message = "the received document could not be retrieved from the switch"
        if success:
            try:
                pdf = self._pipeline.tiff_to_pdf(tiff)
            except Exception:
                # The TIFF is what matters; a PDF can be made again later.
                self.log.exception("PDF rendition failed")
                pdf = None
        d = rx.to_dict()
        d["pages_received"] = pages
        for delay in (0, 0.5, 1, 2, 4, 8, 15, 30, 60):
            gevent.sleep(delay)
            try:
                inbox_id = self._store.save_reception(
                    incoming_id=self._incoming_id, account_id=self.faxbox["account_id"],
                    faxbox_id=self.faxbox["faxbox_id"], call_id=self.call.call_id,
                    from_number=self.call.from_number, from_name=self.call.from_name,
                    to_number=self.call.to_number, rx_result=d, success=success, pages=pages, tiff=tiff, pdf=pdf)
                self.log.info("received %d pages -> inbox %s (%s)", pages, inbox_id,
                              "ok" if success else rx.error_message)
                metrics.attempt_ended(self._node, "inbound", rx, True, time.monotonic() - self._started)
                return
            except StoreError as e:
                self.log.warning("reception not saved yet (%s); retrying", e)
        # Keep the fax on disk rather than lose it.
        if tiff:
            keep = os.path.join(self._config.spool_path, f"unsaved-{self.call.call_id}.tif")
            with open(keep, "wb") as f:
                f.write(tiff)
            self.log.error("database unavailable: received fax kept in %s", keep)
