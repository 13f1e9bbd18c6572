"""The emulated Asterisk's channel table: names, Uniqueids, Getvar, manager hangups."""
from __future__ import annotations

import itertools
import re

from faxd.testing.ami_emulator.model import Channel


class Channels:
    """AMIEmulator's channels: created, found by name or Uniqueid, read, hung up."""

    def _new_uid(self) -> str:
        return f"{self._epoch}.{next(self._uid)}"

    def _chan_name(self, prefix: str, counter_key: str) -> str:
        n = next(self._chan_counters.setdefault(counter_key, itertools.count()))
        return f"{prefix}-{n:08x}"

    def _channel(self, name, uid, linkedid, state, context, exten, priority=1) -> Channel:
        ch = Channel(self, name, uid, linkedid, state, context, exten, priority)
        self.channels[uid] = ch
        self.all_channels.append(ch)
        return ch

    def find_channel(self, name_or_uid: str) -> Channel | None:
        ch = self.channels.get(name_or_uid)
        if ch is not None and not ch.gone:
            return ch
        for c in self.channels.values():
            if c.name == name_or_uid and not c.gone:
                return c
        return None

    def _forget(self, ch: Channel) -> None:
        self.channels.pop(ch.uniqueid, None)

    def _getvar(self, ch: Channel, var: str) -> str:
        m = re.fullmatch(r"FAXOPT\((\w+)\)", var)
        if m:
            key = m.group(1)
            d = ch.fax_details
            table = {"status": d.get("FAXSTATUS", ""), "statusstr": d.get("FAXSTATUSSTRING", ""),
                     "error": d.get("FAXERROR", ""), "pages": d.get("FAXPAGES", ""),
                     "rate": d.get("FAXBITRATE", ""), "resolution": d.get("FAXRESOLUTION", ""),
                     "remotestationid": d.get("REMOTESTATIONID", ""),
                     "localstationid": ch.faxopt.get("localstationid", d.get("LOCALSTATIONID", "")),
                     "ecm": ch.faxopt.get("ecm", "yes"), "filename": d.get("filename", ""),
                     "filenames": d.get("filename", ""), "sessionid": d.get("sessionid", ""),
                     "maxrate": ch.faxopt.get("maxrate", "14400"), "minrate": ch.faxopt.get("minrate", "2400"),
                     "modem": "V17,V27,V29", "t38timeout": "5000",
                     "headerinfo": ch.faxopt.get("headerinfo", "")}
            return table.get(key, "")
        return ch.vars.get(var, "")

    def _manager_hangup(self, ch: Channel, cause: int) -> None:
        ch.hangup_cause = cause
        ch.wakeup.set()
        if ch.dsp_control is not None:
            ch.dsp_control.cancel()
        if getattr(ch, "_idle", False):
            # Nothing runs on it (waiting in dialplan): Asterisk hangs it up at once.
            ch.event("HangupRequest", "call,all", ("Cause", str(cause)))
            ch.hangup(cause)
