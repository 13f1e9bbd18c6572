"""res_fax as the recordings show it (VarSet passes, FAXStatus, SendFAX/ReceiveFAX events),
with real T.30 behind it: faxd's spandsp bindings, unpaced."""
from __future__ import annotations

from faxd.testing.ami_emulator.model import Channel, FarEnd, FaxRun, _fax_run


class ResFax:
    """AMIEmulator's fax applications."""

    def _fax_vars(self, ch: Channel, pairs) -> None:
        for name, value in pairs:
            ch.fax_details[name] = value
            ch.setvar(name, value)

    def _fax_presets(self, ch: Channel, local_id: str, receive: bool) -> None:
        self._fax_vars(ch, [("FAXSTATUS", "FAILED"), ("FAXPAGES", "0"), ("FAXSTATUS", "FAILED"),
                            ("FAXERROR", "INIT_ERROR"), ("FAXSTATUSSTRING", "error starting fax session"),
                            ("REMOTESTATIONID", ""), ("LOCALSTATIONID", local_id), ("FAXMODE", "audio"),
                            ("FAXPAGES", "0")])
        if receive:
            self._fax_vars(ch, [("FAXERROR", "Channel Problems"),
                                ("FAXSTATUSSTRING", "Error before FAX transmission started.")])

    def _fax_status(self, ch: Channel, op: str, status: str, local_id: str, files) -> None:
        ch.event("FAXStatus", "call,all", ("Operation", op), ("Status", status), ("LocalStationID", local_id),
                 *[("FileName", f) for f in files])

    def _fax_start(self, ch: Channel, op: str, local_id: str, files, t38: bool) -> None:
        if t38:
            self._fax_status(ch, op, "T.38 Negotiated", local_id, files)
        self._fax_status(ch, op, "Allocating Resources", local_id, files)
        ch.fax_details["sessionid"] = sid = str(next(self._fax_sessions))
        ch.fax_details["filename"] = files[0] if files else ""
        self._running[sid] = (ch, op, list(files))
        self._fax_vars(ch, [("FAXSTATUS", ""), ("FAXERROR", ""), ("FAXSTATUSSTRING", ""), ("REMOTESTATIONID", ""),
                            ("LOCALSTATIONID", local_id), ("FAXMODE", "T38" if t38 else "audio"),
                            ("FAXPAGES", "0")])
        self._fax_status(ch, op, "FAX Transmission In Progress", local_id, files)

    def _fax_intermediate_hangup(self, ch: Channel, local_id: str, mode: str) -> None:
        self._fax_vars(ch, [("FAXSTATUS", "FAILED"), ("FAXERROR", "HANGUP"),
                            ("FAXSTATUSSTRING", "remote channel hungup"), ("REMOTESTATIONID", ""),
                            ("LOCALSTATIONID", local_id), ("FAXMODE", mode), ("FAXPAGES", "0")])

    def _fax_final(self, ch: Channel, run: FaxRun, files, event: str) -> None:
        self._running.pop(ch.fax_details.get("sessionid", ""), None)
        pairs = [("FAXSTATUS", run.status)]
        if run.error or ch.fax_details.get("FAXERROR"):
            # res_fax writes FAXERROR only when details->error is set (an earlier HANGUP pass counts).
            pairs.append(("FAXERROR", run.error or ch.fax_details.get("FAXERROR", "")))
        pairs += [("FAXSTATUSSTRING", run.status_string), ("REMOTESTATIONID", run.remote_station_id),
                  ("LOCALSTATIONID", run.local_station_id), ("FAXBITRATE", str(run.bit_rate)),
                  ("FAXRESOLUTION", run.resolution), ("FAXMODE", run.mode), ("FAXPAGES", str(run.pages))]
        self._fax_vars(ch, pairs)
        ch.event(event, "call,all", ("LocalStationID", run.local_station_id),
                 ("RemoteStationID", run.remote_station_id), ("PagesTransferred", str(run.pages)),
                 ("Resolution", run.resolution), ("TransferRate", str(run.bit_rate)),
                 *[("FileName", f) for f in files])

    # -- T.30 with faxd's spandsp bindings

    def _session_opts(self, ch: Channel, local_id: str, sending: bool) -> dict:
        maxrate = ch.faxopt.get("maxrate", "14400")
        return dict(station_id=local_id[:20], header=ch.faxopt.get("headerinfo", "") if sending else "",
                    ecm=ch.faxopt.get("ecm", "yes") == "yes", v17=int(maxrate or 14400) > 9600)

    def release_page(self) -> None:
        """step_pages: let the T.30 session held after a page go on."""
        self._page_lock.release()

    def _live_listener(self, ch: Channel):
        """Runs in the DSP thread: keep the session's statistics for FAXSession; in step mode,
        hold T.30 after each page until the test releases it."""
        sid = ch.fax_details.get("sessionid", "")

        def listener(session, event):
            if event.kind in ("phase_b", "phase_d"):
                self._live[sid] = event.stats
            if event.kind == "phase_d" and self.step_pages:
                self._page_lock.acquire()
        return listener

    def _wait_gate(self, ch: Channel) -> None:
        self.faxes_in_progress += 1
        self.fax_started.set()
        try:
            while not self.fax_gate.is_set() and not ch.hung_up_by_manager:
                self.fax_gate.wait(timeout=0.05)
        finally:
            self.faxes_in_progress -= 1

    def _t30_pair(self, ours: Channel, files, far: FarEnd, rx_path: str, t38: bool, local_id: str,
                  far_id: str) -> tuple[FaxRun, FaxRun]:
        from faxd.spandsp.session import Control, FaxSession, T38Session, run_pair
        cls = T38Session if t38 else FaxSession
        extra = {"paced": False} if t38 else {}
        tx = cls(calling=True, listener=self._live_listener(ours), **self._session_opts(ours, local_id, True),
                 **extra)
        rx = cls(calling=False, station_id=far_id[:20], ecm=far.ecm, **extra)
        try:
            tx.set_tx_file(files[0])
            rx.set_rx_file(rx_path)
            self._wait_gate(ours)
            ctl = Control()
            ours.dsp_control = ctl
            if ours.hung_up_by_manager:
                ctl.cancel()
            result = run_pair(tx, rx, control=ctl, hangup_after_pages=far.hangup_after_pages)
            mode = "T38" if t38 else "audio"
            return _fax_run(result.tx, local_id, mode, sending=True), _fax_run(result.rx, far_id, mode, sending=False)
        finally:
            ours.dsp_control = None
            tx.close()
            rx.close()

    def _t30_send(self, ours: Channel, files, rx_ch, far: FarEnd, t38: bool, max_seconds: float,
                  local_id: str) -> FaxRun:
        from faxd.spandsp.session import Control, FaxSession, run_pair
        tx = FaxSession(calling=True, **self._session_opts(ours, local_id, True))
        try:
            tx.set_tx_file(files[0])
            self._wait_gate(ours)
            ctl = Control()
            ours.dsp_control = ctl
            result = run_pair(tx, None, max_seconds=max_seconds, control=ctl)
            return _fax_run(result.tx, local_id, "audio", sending=True)
        finally:
            ours.dsp_control = None
            tx.close()
