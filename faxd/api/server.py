"""ApiServer: the API's WSGI server as a service (bound before start-up goes on, closed first)."""
from __future__ import annotations

import errno
import logging
import socket

from faxd.errors import StartupError
from faxd.httpserver import HttpLimits, StrictWSGIServer
from faxd.service import Service


class ApiServer(Service):
    name = "api"

    def __init__(self, listen: tuple[str, int], app, limits: HttpLimits | None = None):
        super().__init__()
        self._server = StrictWSGIServer(listen, app, limits=limits, log=None,
                                        error_log=logging.getLogger("faxd.api.wsgi"))
        self._listen = listen

    def bind(self) -> None:
        """Bind now, so that a port in use fails start-up with a clear line."""
        host, port = self._listen
        try:
            self._server.init_socket()
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise StartupError(f"API listen address {host}:{port} is already in use (FAXD_API_LISTEN)") from None
            if e.errno in (errno.EADDRNOTAVAIL, socket.EAI_NONAME, errno.EACCES):
                raise StartupError(f"cannot listen on {host}:{port} (FAXD_API_LISTEN): {e.strerror}") from None
            raise StartupError(f"cannot listen on {host}:{port} (FAXD_API_LISTEN): {e}") from None
        except socket.gaierror as e:
            raise StartupError(f"cannot listen on {host}:{port} (FAXD_API_LISTEN): {e.strerror}") from None

    @property
    def address(self) -> tuple[str, int]:
        return self._server.socket.getsockname()[:2]

    def set_app(self, app) -> None:
        self._server.application = app

    def start(self):
        self._server.start()
        return []

    def stop_intake(self):
        self._server.close()  # stop accepting; requests in flight continue

    def stop(self):
        self._server.stop(timeout=1)
