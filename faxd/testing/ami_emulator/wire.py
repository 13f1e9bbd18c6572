"""The AMI wire: one session per manager connection, actions in, responses and events out."""
from __future__ import annotations

import re
import socket
import time
from typing import TYPE_CHECKING

import gevent.lock

from faxd.switch.asterisk.ami import FrameParser, Message, ProtocolError, encode_message
from faxd.testing.ami_emulator.model import BANNER

if TYPE_CHECKING:
    from faxd.testing.ami_emulator.emulator import AMIEmulator


class _Session:
    def __init__(self, emu: "AMIEmulator", sock: socket.socket, addr):
        self.emu = emu
        self.sock = sock
        self.addr = addr
        self.user = ""
        self.logged_in = False
        self.events_on = True
        self.lock = gevent.lock.Semaphore()
        self.sent = bytearray()
        self.received = bytearray()
        self.closed = False

    def send(self, headers) -> None:
        data = encode_message(headers)
        self.send_raw(data)

    def send_raw(self, data: bytes) -> None:
        if self.closed:
            return
        with self.lock:
            self.sent += data
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Wire:
    """AMIEmulator's manager side: connections, Login, and every action it answers."""

    def _handle(self, sock: socket.socket, addr) -> None:
        # As manager.c does for every manager connection: without it, an event followed by a
        # response waits for the client's delayed ACK (40 ms per Setvar here).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = _Session(self, sock, addr)
        self.sessions.append(session)
        session.send_raw((BANNER + "\r\n").encode())
        parser = FrameParser(expect_banner=False)
        try:
            while not session.closed:
                data = sock.recv(65536)
                if not data:
                    break
                session.received += data
                for msg in parser.feed(data):
                    self._action(session, msg)
        except (OSError, ProtocolError):
            pass
        finally:
            session.close()
            if session in self.sessions:
                self.sessions.remove(session)

    def broadcast(self, headers: list[tuple[str, str]]) -> None:
        for s in list(self.sessions):
            if s.logged_in and s.events_on and not s.closed:
                s.send(headers)

    def _action(self, session: _Session, msg: Message) -> None:
        self.actions.append(msg)
        action = msg.get("Action").lower()
        aid = [("ActionID", msg.action_id)] if "ActionID" in msg else []

        def reply(response: str = "Success", *extra):
            session.send([("Response", response), *aid, *extra])

        if action == "login":
            return self._login(session, msg, aid)
        if not session.logged_in:
            return reply("Error", ("Message", "Permission denied"))
        if action == "logoff":
            reply("Goodbye", ("Message", "Thanks for all the fish."))
            session.close()
        elif action == "events":
            on = msg.get("EventMask", "on").lower() not in ("off", "")
            session.events_on = on
            reply("Success", ("Events", "On" if on else "Off"))
        elif action == "ping":
            reply("Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))
        elif action == "originate":
            self._originate(session, msg, aid)
        elif action == "getvar":
            ch = self.find_channel(msg.get("Channel"))
            if ch is None:
                return reply("Error", ("Message", "No such channel"))
            var = msg.get("Variable")
            reply("Success", ("Variable", var), ("Value", self._getvar(ch, var)))
        elif action == "setvar":
            ch = self.find_channel(msg.get("Channel"))
            if ch is None:
                return reply("Error", ("Message", "No such channel"))
            var, value = msg.get("Variable"), msg.get("Value")
            m = re.fullmatch(r"FAXOPT\((\w+)\)", var)
            if m:
                ch.faxopt[m.group(1)] = value
            else:
                ch.setvar(var, value)
            reply("Success", ("Message", "Variable Set"))
        elif action == "hangup":
            ch = self.find_channel(msg.get("Channel"))
            if ch is None:
                return reply("Error", ("Message", "No such channel"))
            reply("Success", ("Message", "Channel Hungup"))
            cause = int(msg.get("Cause") or 16)
            self._manager_hangup(ch, cause)
        elif action == "redirect":
            # main/manager.c, action_redirect: an unknown channel, then ast_check_hangup_locked()
            # (a soft-hangup flag, set by the previous async goto until the channel's PBX thread
            # has acted on it, or by a hangup) refuses the Redirect.
            ch = self.find_channel(msg.get("Channel"))
            if ch is None:
                return reply("Error", ("Message", f"Channel does not exist: {msg.get('Channel')}"))
            if ch.redirect is not None or ch.hung_up_by_manager:
                return reply("Error", ("Message", "Redirect failed, channel not up."))
            ch.redirect = (msg.get("Context"), msg.get("Exten"), int(msg.get("Priority") or 1))
            ch.wakeup.set()
            reply("Success", ("Message", "Redirect successful"))
        elif action == "faxsession":
            sid = msg.get("SessionNumber")
            running = self._running.get(sid)
            if running is None:
                return reply("Error", ("Message", "Session not found"))
            reply("Success", ("Message", "FAXSession event will follow"))
            ch, op, files = running
            st = self._live.get(sid)
            pages_tx = getattr(st, "pages_tx", 0)
            pages_rx = getattr(st, "pages_rx", 0)
            session.send([("Event", "FAXSession"), *aid, ("SessionNumber", sid), ("Operation", op),
                          ("State", "Active"),
                          ("ErrorCorrectionMode", "Yes" if getattr(st, "ecm", False) else "No"),
                          ("DataRate", str(getattr(st, "bit_rate", 0))),
                          ("ImageResolution", f"{getattr(st, 'x_resolution', 0)}x{getattr(st, 'y_resolution', 0)}"),
                          ("PageNumber", str((pages_rx if op == "receive" else pages_tx) + 1)),
                          ("FileName", files[0] if files else ""),
                          ("PagesTransmitted", str(pages_tx)), ("PagesReceived", str(pages_rx)),
                          ("TotalBadLines", str(getattr(st, "bad_rows", 0)))])
        elif action == "coreshowchannels":
            reply("Success", ("EventList", "start"), ("Message", "Channels will follow"))
            live = [c for c in self.channels.values() if not c.gone]
            for c in live:
                session.send([("Event", "CoreShowChannel"), *aid, *c.block(), ("BridgeId", ""),
                              ("Application", c.application), ("ApplicationData", c.app_data),
                              ("Duration", time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - c.created))),
                              ("BridgedChannel", ""), ("BridgedUniqueID", "")])
            session.send([("Event", "CoreShowChannelsComplete"), *aid, ("EventList", "Complete"),
                          ("ListItems", str(len(live)))])
        else:
            reply("Error", ("Message", "Invalid/unknown command"))

    def _login(self, session: _Session, msg: Message, aid) -> None:
        user, secret = msg.get("Username"), msg.get("Secret")
        ok = not self.reject_logins and user in self.users and self.users[user] == secret
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
        sid = f"0x{0x7f5680000000 + next(self._session_ids) * 0x1000:x}"
        if not ok:
            session.send([("Response", "Error"), *aid, ("Message", "Authentication failed")])
            event = "InvalidPassword" if user in self.users else "InvalidAccountID"
            extra = [("EventVersion", "2" if event == "InvalidPassword" else "1")]
            self.broadcast([("Event", event), ("Privilege", "security,all"), ("EventTV", now),
                            ("Severity", "Error"), ("Service", "AMI"), *extra, ("AccountID", user),
                            ("SessionID", sid), ("LocalAddress", f"IPV4/TCP/{self.host}/{self.port}"),
                            ("RemoteAddress", f"IPV4/TCP/{session.addr[0]}/{session.addr[1]}"),
                            ("SessionTV", "1970-01-01T00:00:00.000+0000")])
            session.close()
            return
        session.user = user
        session.send([("Response", "Success"), *aid, ("Message", "Authentication accepted")])
        session.logged_in = True
        session.send([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", str(self.uptime)),
                      ("LastReload", str(self.uptime)), ("Status", "Fully Booted")])
        self.broadcast([("Event", "SuccessfulAuth"), ("Privilege", "security,all"), ("EventTV", now),
                        ("Severity", "Informational"), ("Service", "AMI"), ("EventVersion", "1"),
                        ("AccountID", user), ("SessionID", sid),
                        ("LocalAddress", f"IPV4/TCP/{self.host}/{self.port}"),
                        ("RemoteAddress", f"IPV4/TCP/{session.addr[0]}/{session.addr[1]}"),
                        ("UsingPassword", "0"), ("SessionTV", now)])
