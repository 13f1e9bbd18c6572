"""Run a converter program: green subprocess, own process group, time and memory limits."""
from __future__ import annotations

import logging
import os
import resource
import signal
import time

import gevent
from gevent import subprocess

from faxd.documents.errors import ConversionTimeout, DocumentError

logger = logging.getLogger(__name__)

MEMORY_LIMIT = 1 << 30          # address space of a converter process (bytes)
FILE_LIMIT = 1 << 30            # largest file a converter may write (a runaway PostScript program)
CPU_SLACK = 5                   # RLIMIT_CPU = timeout + this, a backstop if the kill were missed


def _limits(memory: int, cpu: int):
    def apply():  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    return apply


def run(argv: list[str], *, cwd: str, timeout: float, what: str, memory: int = MEMORY_LIMIT,
        env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Run ``argv`` in ``cwd``; return (exit status, stderr+stdout). Kill the group on timeout."""
    if timeout <= 0:
        raise ConversionTimeout(f"{what} timed out: no time left for the conversion")
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env=env or _env(),
            preexec_fn=_limits(memory, int(timeout) + CPU_SLACK))
    except FileNotFoundError:
        raise DocumentError(f"{what} is not installed ({argv[0]} not found)") from None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConversionTimeout(
            f"{what} timed out after {timeout:g} s (the document takes too long to render)") from None
    finally:
        if proc.returncode is None:
            # Timeout, or the greenlet was killed (gevent.Timeout): never leave a converter behind.
            _kill(proc)
    logger.debug("%s exited %s after %.3f s", what, proc.returncode, time.monotonic() - started)
    return proc.returncode, out or b""


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    with gevent.Timeout(5, False):
        proc.wait()


def _env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


def converter_env(private: str) -> dict[str, str]:
    """The environment of a sandboxed converter: its private directory is its temp and home."""
    return {**_env(), "TMPDIR": private, "HOME": private}


def tail(output: bytes, lines: int = 3) -> str:
    """The last meaningful lines of a tool's output, for an error message."""
    text = output.decode("utf-8", "replace")
    kept = [l.strip() for l in text.splitlines() if l.strip() and not l.startswith(("GPL Ghostscript", "   --"))]
    return " | ".join(kept[-lines:])
