"""What the ESL and AMI clients share: a socket, one reader greenlet, a close that fails
whatever waits on the connection exactly once, and messages' header attributes.

A subclass says how bytes become messages (``_feed``), where a message goes (``_dispatch``),
how a lost connection is reported (``_error``) and what waits on it (``_fail_waiters``).
"""
from __future__ import annotations

import logging
import socket
from typing import Callable, Iterable

import gevent

logger = logging.getLogger(__name__)


def header(name: str) -> property:
    """A message's read-only attribute that is its ``name`` header ("" when it has none),
    through the message's ``get``."""
    return property(lambda message: message.get(name, ""), doc=f"The {name} header.")


class StreamConnection:
    # Exceptions of the subclass's parser that end the connection like a socket error.
    protocol_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, sock: socket.socket, on_close: Callable[[BaseException | None], None] | None,
                 name: str):
        self.sock = sock
        self.name = name
        self._on_close = on_close
        self._reader: gevent.Greenlet | None = None
        self.closed = False
        self.close_reason: BaseException | None = None

    # -- for subclasses

    def _new_parser(self):
        raise NotImplementedError

    def _feed(self, parser, data: bytes) -> Iterable:
        """The complete messages ``data`` finishes."""
        raise NotImplementedError

    def _dispatch(self, message) -> None:
        raise NotImplementedError

    def _error(self, exc: BaseException | None) -> BaseException:
        """The exception that callers still waiting on the connection receive."""
        raise NotImplementedError

    def _fail_waiters(self, err: BaseException) -> None:
        raise NotImplementedError

    # -- lifecycle

    def start(self, group=None) -> None:
        spawn = group.spawn if group is not None else gevent.spawn
        self._reader = spawn(self._read_loop)

    def close(self) -> None:
        if self.closed:
            return
        self._shutdown(None)
        try:
            self.sock.close()
        except OSError:
            pass
        if self._reader is not None and self._reader is not gevent.getcurrent():
            self._reader.kill(block=False)

    def _shutdown(self, exc: BaseException | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = exc
        self._fail_waiters(self._error(exc))
        if self._on_close is not None:
            try:
                self._on_close(exc)
            except Exception:  # greenlet boundary: a close handler must not kill the reader
                logger.exception("%s: close handler failed", self.name)

    def _read_loop(self) -> None:
        parser = self._new_parser()
        exc: BaseException | None = None
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                for message in self._feed(parser, data):
                    self._dispatch(message)
                # recv() does not yield while data keeps coming: let the calls' greenlets run.
                gevent.sleep(0)
        except OSError as e:
            exc = e
        except gevent.GreenletExit:
            pass
        except Exception as e:
            if not isinstance(e, self.protocol_errors):
                raise
            exc = e
        finally:
            self._shutdown(exc)
            try:
                self.sock.close()
            except OSError:
                pass
