"""Where an outbound fax TIFF waits while its call runs.

A switch in another process (FreeSWITCH, Asterisk) reads the document from the spool
directory, so it gets a file there. The software switch reads it in this process: an
anonymous in-memory file (``memfd``) reached through ``/proc/self/fd`` costs no directory
entry, no disk write and no unlink, which on a busy line is most of what faxd spends per
call outside T.30 (measured in bench/bench_engine.py).
"""
from __future__ import annotations

import os


class SpoolFile:
    """A file in the spool directory; ``release()`` deletes it."""

    def __init__(self, directory: str, name: str, data: bytes | None = None):
        self.path = os.path.join(directory, name)
        if data is not None:
            with open(self.path, "wb") as f:
                f.write(data)

    def release(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class MemoryFile:
    """An anonymous in-memory file with a path this process (and libtiff in it) can open.

    ``release()`` frees it. Opening the path again (spandsp does, to write a received
    document) truncates and reuses the same memory.
    """

    def __init__(self, name: str, data: bytes | None = None):
        self._fd = os.memfd_create(name, os.MFD_CLOEXEC)
        self.path = f"/proc/self/fd/{self._fd}"
        if data:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]

    def size(self) -> int:
        return os.fstat(self._fd).st_size if self._fd >= 0 else 0

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def memory_files_work() -> bool:
    """Whether memfd and /proc/self/fd are available (Linux with /proc mounted)."""
    if not hasattr(os, "memfd_create"):
        return False
    try:
        f = MemoryFile("faxd-probe", b"x")
    except OSError:
        return False
    try:
        with open(f.path, "rb") as g:
            return g.read() == b"x"
    except OSError:
        return False
    finally:
        f.release()
