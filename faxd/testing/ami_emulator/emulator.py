"""AMIEmulator: the parts (wire, channels, Originate, res_fax, inbound) put together, its
state, its lifecycle and its failure injection; ``main`` runs one from a shell."""
from __future__ import annotations

import itertools
import time

import gevent
import gevent.event
import gevent.pool
import gevent.server

from faxd.switch.asterisk.ami import Message
from faxd.testing.ami_emulator.channels import Channels
from faxd.testing.ami_emulator.inbound import Inbound
from faxd.testing.ami_emulator.model import Channel, FarEnd, _real_lock
from faxd.testing.ami_emulator.originate import Originate
from faxd.testing.ami_emulator.resfax import ResFax
from faxd.testing.ami_emulator.wire import Wire, _Session


class AMIEmulator(Wire, Channels, Originate, ResFax, Inbound):
    """See the module docstring. ``start()``, ``url``, ``stop()``."""

    def __init__(self, users: dict[str, str] | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 rx_dir: str | None = None, caller_tiff: str | None = None,
                 loop_endpoints: dict[str, str] | None = None, inbound_context: str = "from-pstn",
                 decision_timeout: float = 20.0, uptime: int = 85, wait_scale: float = 1.0):
        self.users = dict(users or {"faxd": "faxd"})
        self.host, self.port = host, port
        self.rx_dir = rx_dir
        self.caller_tiff = caller_tiff
        self.loop_endpoints = dict(loop_endpoints or {"to-b": "from-a"})
        self.inbound_context = inbound_context
        self.decision_timeout = decision_timeout
        self.uptime = uptime
        self.wait_scale = wait_scale          # dialplan Wait(n) lasts n * wait_scale seconds
        # Seconds between a Redirect and the channel's PBX thread acting on it (Asterisk: the
        # async goto's soft-hangup flag until the dialplan moves on). Wider than Asterisk's
        # usual gap, so that a second Redirect sent right after the first always meets it.
        self.redirect_pickup = 0.05
        self.far_ends: dict[str, FarEnd] = {}
        # Site contexts whose extensions Dial() a trunk: {"faxd-out": "PJSIP/{exten}@trunk"}.
        self.dial_contexts: dict[str, str] = {}
        # Site contexts whose extensions Goto(faxd-inbound,${EXTEN},1): a Local channel into one
        # of them (or into faxd-inbound itself) loops a fax back into faxd (an on-net call).
        self.goto_contexts: set[str] = set()
        # The context each loop endpoint delivers its calls to ("fax": the recorded dialplan;
        # faxd-inbound or a goto context: back into faxd).
        self.endpoint_contexts: dict[str, str] = {"from-a": "fax"}
        self.reject_logins = False
        self.fax_gate = gevent.event.Event()
        self.fax_gate.set()
        # step_pages: T.30 stops after each page until release_page() (live progress tests).
        self.step_pages = False
        self._page_lock = _real_lock()
        self._page_lock.acquire()
        self._running: dict[str, tuple[Channel, str, list]] = {}   # res_fax session id -> channel, op, files
        self._live: dict[str, object] = {}                         # session id -> T30Stats so far
        self.faxes_in_progress = 0
        self.fax_started = gevent.event.Event()
        self.sessions: list[_Session] = []
        self.channels: dict[str, Channel] = {}
        self.all_channels: list[Channel] = []
        self.actions: list[Message] = []
        self._server: gevent.server.StreamServer | None = None
        self._group = gevent.pool.Group()
        self._uid = itertools.count()
        self._epoch = int(time.time())
        self._chan_counters: dict[str, itertools.count] = {}
        self._session_ids = itertools.count(1)
        self._fax_sessions = itertools.count(1)

    # -- lifecycle

    def start(self) -> "AMIEmulator":
        self._server = gevent.server.StreamServer((self.host, self.port), self._handle)
        self._server.start()
        self.port = self._server.server_port
        return self

    def stop(self) -> None:
        self._let_dsp_threads_go(held=self.step_pages)
        if self._server is not None:
            self._server.stop(timeout=1)
        for s in list(self.sessions):
            s.close()
        self._group.kill(timeout=2)

    def _let_dsp_threads_go(self, held: bool) -> None:
        """Open the fax gate, and with ``held`` release a DSP thread held after a page."""
        if held:
            self.step_pages = False
            try:
                self._page_lock.release()
            except RuntimeError:
                pass
        self.fax_gate.set()

    def url(self, user: str = "faxd", secret: str | None = None) -> str:
        return f"ami://{user}:{self.users.get(user, '') if secret is None else secret}@{self.host}:{self.port}"

    def drop_connections(self) -> None:
        """Failure injection: every AMI connection is cut (Asterisk keeps running the calls)."""
        for s in list(self.sessions):
            s.close()

    def crash(self) -> None:
        """Failure injection: the Asterisk process dies. Nothing listens, every AMI connection
        is cut, and every channel vanishes without a Hangup event (no process is left to send
        one); the T.30 sessions stop where they are. ``restart()`` brings up a new one."""
        for ch in list(self.channels.values()):
            if ch.dsp_control is not None:
                ch.dsp_control.cancel()
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None
        for s in list(self.sessions):
            s.close()
        self.sessions.clear()
        # DSP threads held after a page (step_pages) go on to see their cancel.
        self._let_dsp_threads_go(held=True)
        self._group.kill(timeout=5)
        self.channels.clear()
        self._running.clear()
        self._live.clear()

    def restart(self) -> "AMIEmulator":
        """After ``crash()``: a new Asterisk on the same port, with no channels."""
        self._page_lock = _real_lock()
        self._page_lock.acquire()
        self._epoch = int(time.time()) + 1     # a new process numbers its Uniqueids afresh
        self._uid = itertools.count()
        return self.start()


def main(argv=None) -> int:
    """``python -m faxd.testing.ami_emulator [--port 5038] [--rx-dir DIR]``: an emulated
    Asterisk to point ``faxd run`` at (FAXD_SWITCH=asterisk, FAXD_ASTERISK_DIAL=Local/{number}@fax)."""
    import argparse

    from faxd.green import patch
    patch()
    ap = argparse.ArgumentParser(prog="python -m faxd.testing.ami_emulator")
    ap.add_argument("--port", type=int, default=5038)
    ap.add_argument("--user", default="faxd")
    ap.add_argument("--secret", default="faxd")
    ap.add_argument("--rx-dir", default="/tmp", help="where the emulated far end keeps received faxes")
    ap.add_argument("--answer-all", action="store_true",
                    help="every number is a fax machine (default: the recorded dialplan's rx<digits> ...)")
    args = ap.parse_args(argv)
    emu = AMIEmulator({args.user: args.secret}, port=args.port, rx_dir=args.rx_dir)
    if args.answer_all:
        emu.far_end = lambda exten, _fe=emu.far_end: emu.far_ends.get(exten) or FarEnd("fax", station_id="EMULATED")
    emu.start()
    print(f"AMI emulator listening on {emu.url()}", flush=True)
    try:
        gevent.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0
