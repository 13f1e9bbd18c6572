"""Converter sandbox: each converter run gets a private directory, no root, no network.

A run (Ghostscript, LibreOffice, tiffcp) gets a fresh directory of its own with a random
128-bit name under the conversion's directory (mode 0711: it can be entered, not listed), owned
by the user the converter runs as, mode 0700. faxd writes the inputs there, runs the converter,
reads the outputs back (never through a symbolic link) and removes the directory.

The converter runs:

- as ``faxd-convert`` (an unprivileged system user, created on demand) when faxd is root, and
  as faxd's own user otherwise;
- in new mount, PID and network namespaces (``unshare``; as non-root through a user namespace,
  ``unshare -r``): its directory is bind-mounted over ``/tmp``, ``/var/tmp`` and ``/dev/shm``
  (the only temporary places it can see are its own), ``/proc`` shows only its own processes
  (no other run's command line or working directory), a directory the caller names (faxd's
  home, for LibreOffice) is hidden under an empty tmpfs, and the network is a loopback that is
  down: no address is reachable. It then drops every capability (``setpriv
  --bounding-set=-all``) and sets no_new_privs, so it cannot undo the mounts;
- with ``TMPDIR`` and ``HOME`` set to its directory and the limits of :mod:`process`.

Without namespaces (a kernel or container that refuses them), the directory layout, the user
and ``TMPDIR``/``HOME`` still apply; LibreOffice, which would reach the network, is refused.
"""
from __future__ import annotations

import errno
import logging
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess as _subprocess
import time
from dataclasses import dataclass

from faxd.documents import process
from faxd.documents.errors import DocumentError
from faxd.errors import StartupError

logger = logging.getLogger(__name__)

USER = "faxd-convert"
PREFIX = "faxd-doc-"
STALE_AFTER = 3600          # an unnamed conversion directory (an older faxd's) is stale after this (s)
NAMESPACES = ["--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
DROP = ["--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]

# Runs as root inside the new namespaces: bind the run's directory over the writable places,
# hide the given directories, then drop to the converter's user and capabilities. /tmp goes
# last: the directory's own path is under it.
_SCRIPT = r"""set -e
dir=$1 hide=$2; shift 2
for d in /var/tmp /dev/shm; do if [ -d "$d" ]; then mount --bind "$dir" "$d"; fi; done
if [ -n "$hide" ] && [ -d "$hide" ]; then mount -t tmpfs -o size=4k,mode=0 tmpfs "$hide"; fi
mount --bind "$dir" /tmp
cd /tmp
exec setpriv "$@"
"""


class SandboxUnavailable(StartupError):
    """The converter sandbox cannot be set up (the user is missing and cannot be created)."""


@dataclass(frozen=True)
class Isolation:
    uid: int | None         # user the converters run as; None: faxd's own
    gid: int | None
    namespaces: bool        # mount, PID and network namespaces
    userns: bool            # through a user namespace (faxd is not root)
    reason: str = ""        # why there are no namespaces

    @property
    def network(self) -> bool:
        """Whether a converter could reach the network."""
        return not self.namespaces

    def describe(self) -> str:
        who = f"user {USER} (uid {self.uid})" if self.uid is not None else f"faxd's own user (uid {os.geteuid()})"
        if self.namespaces:
            how = "user, mount, PID and network namespaces" if self.userns else "mount, PID and network namespaces"
            return f"converters run as {who} in {how}"
        return (f"converters run as {who} WITHOUT namespaces ({self.reason}); "
                f"Office documents are refused because LibreOffice could reach the network")


_isolation: Isolation | None = None


def isolation() -> Isolation:
    """How converters are isolated here (probed once per process)."""
    global _isolation
    if _isolation is None:
        _isolation = _probe()
        logger.info("document sandbox: %s", _isolation.describe())
    return _isolation


def _probe() -> Isolation:
    import tempfile
    uid = gid = None
    if os.geteuid() == 0:
        uid, gid = ensure_user()
    userns = os.geteuid() != 0
    empty = tempfile.mkdtemp(prefix="faxd-sandbox-probe-")
    try:
        r = _subprocess.run(probe_argv(userns, empty), stdin=_subprocess.DEVNULL, stdout=_subprocess.PIPE,
                            stderr=_subprocess.STDOUT, timeout=10, cwd="/")
        ok, why = r.returncode == 0, r.stdout.decode("utf-8", "replace").strip().splitlines()
        reason = why[-1] if why else f"unshare exited {r.returncode}"
    except FileNotFoundError:
        ok, reason = False, "unshare is not installed (util-linux)"
    except _subprocess.TimeoutExpired:
        ok, reason = False, "unshare did not finish"
    finally:
        os.rmdir(empty)
    return Isolation(uid, gid, ok, userns and ok, "" if ok else reason)


def probe_argv(userns: bool, directory: str) -> list[str]:
    """A command that succeeds only where the sandbox can be built: namespaces, binding
    ``directory`` (empty) over /tmp as a run's directory is, and setpriv."""
    return ["unshare", *(["-r"] if userns else []), *NAMESPACES, "--", "/bin/sh", "-c",
            'mount --bind "$1" /tmp && exec setpriv ' + " ".join(DROP) + " -- true", "faxd-sandbox-probe", directory]


def ensure_user() -> tuple[int, int]:
    """The converters' user: looked up, created (a system user without a home or shell) if missing."""
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        cmd = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
               "--shell", "/usr/sbin/nologin", USER]
        try:
            r = _subprocess.run(cmd, stdin=_subprocess.DEVNULL, stdout=_subprocess.PIPE,
                                stderr=_subprocess.STDOUT, timeout=30)
            failed = r.returncode not in (0, 9)   # 9: created meanwhile by another process
            detail = r.stdout.decode("utf-8", "replace").strip()
        except (FileNotFoundError, _subprocess.TimeoutExpired) as e:
            failed, detail = True, str(e)
        if failed:
            raise SandboxUnavailable(
                f"faxd runs as root and converts documents as the unprivileged user {USER!r}, which "
                f"does not exist and could not be created ({detail or 'useradd failed'}); run `make setup` "
                f"or `useradd --system --user-group --no-create-home --shell /usr/sbin/nologin {USER}`") from None
        pw = pwd.getpwnam(USER)
    if pw.pw_uid == 0 or pw.pw_gid == 0:
        raise SandboxUnavailable(f"the converters' user {USER!r} must not be root (uid {pw.pw_uid}, gid {pw.pw_gid})")
    return pw.pw_uid, pw.pw_gid


# --- conversion directories

def start_time(pid: int) -> str | None:
    """A process's start time (clock ticks since boot), or None when it is gone: pid + this is unique."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-(\d+)-")


def conversion_dir(tmpdir: str | None) -> str:
    """A directory for one conversion, named after this process (for the sweep), mode 0711.

    0711: a converter can enter it to reach its own run's directory but cannot list the others.
    faxd's own files go to a 0700 subdirectory (:func:`private_dir`).
    """
    import tempfile
    me = os.getpid()
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{me}-{start_time(me) or 0}-", dir=tmpdir)
    os.chmod(path, 0o711)
    return path


def private_dir(conversion: str) -> str:
    path = os.path.join(conversion, "faxd")
    os.mkdir(path, 0o700)
    return path


def sweep(tmpdir: str | None = None, *, now: float | None = None) -> list[str]:
    """Remove conversion directories left by a faxd that died (or by a run it lost track of).

    Only ``faxd-doc-*`` directories: those named after a process that is gone (or whose pid now
    belongs to another process), and unnamed (older) ones not modified for ``STALE_AFTER`` s.
    """
    import tempfile
    base = tmpdir or tempfile.gettempdir()
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(PREFIX):
            continue
        path = os.path.join(base, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            continue   # not ours
        m = _NAME.match(name)
        if m:
            pid, started = int(m.group(1)), m.group(2)
            if start_time(pid) == started:
                continue   # its faxd is alive: a conversion in progress
        elif now - st.st_mtime < STALE_AFTER:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        logger.info("removed %d stale conversion directories: %s", len(removed), ", ".join(removed))
    return removed


# --- runs

@dataclass
class Result:
    status: int
    output: bytes
    files: dict[str, bytes | None]


def run(build_argv, *, inputs: dict[str, bytes], outputs: tuple[str, ...], conversion: str,
        timeout: float, what: str, memory: int = process.MEMORY_LIMIT, hide: str | None = None,
        needs_network_isolation: bool = False, iso: Isolation | None = None) -> Result:
    """Run the converter ``build_argv(dir)`` (``dir``: its directory as it sees it) in a sandbox.

    ``inputs`` (name: bytes, names may have one or more directories) are written to the run's
    directory first; ``outputs`` (top-level names) are read back afterwards, None if missing.
    """
    if iso is None:
        try:
            iso = isolation()
        except SandboxUnavailable as e:
            raise DocumentError(f"documents cannot be converted on this server: {e}") from None
    if needs_network_isolation and iso.network:
        raise DocumentError(f"{what} is disabled on this server: it could reach the network because "
                            f"the converter sandbox has no network namespace ({iso.reason})")
    rundir = os.path.join(conversion, secrets.token_hex(16))
    os.mkdir(rundir, 0o700)
    try:
        for name, data in inputs.items():
            _write(rundir, name, data, iso)
        if iso.uid is not None:
            os.chown(rundir, iso.uid, iso.gid)
        view = "/tmp" if iso.namespaces else rundir
        argv = wrap(build_argv(view), rundir, iso, hide=hide)
        env = process.converter_env(view)
        status, output = process.run(argv, cwd=rundir, timeout=timeout, what=what, memory=memory, env=env)
        files = {name: _read(rundir, name) for name in outputs}
        return Result(status, output, files)
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


def wrap(argv: list[str], rundir: str, iso: Isolation, *, hide: str | None = None) -> list[str]:
    """The command line that runs ``argv`` in the sandbox."""
    user = [f"--reuid={iso.uid}", f"--regid={iso.gid}", "--clear-groups"] if iso.uid is not None else []
    if not iso.namespaces:
        return ["setpriv", *user, *DROP, "--", *argv] if user else argv
    hide = os.path.realpath(hide) if hide and os.path.isdir(hide) else ""
    if hide and (rundir == hide or rundir.startswith(hide.rstrip("/") + "/")):
        hide = ""   # the run's own directory is inside it (a test's home)
    return ["unshare", *(["-r"] if iso.userns else []), *NAMESPACES, "--", "/bin/sh", "-c", _SCRIPT,
            "faxd-sandbox", rundir, hide, *user, *DROP, "--", *argv]


def _write(rundir: str, name: str, data: bytes, iso: Isolation) -> None:
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad sandbox file name {name!r}")
    path = rundir
    for p in parts[:-1]:
        path = os.path.join(path, p)
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
            if iso.uid is not None:
                os.chown(path, iso.uid, iso.gid)
    path = os.path.join(path, parts[-1])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        if iso.uid is not None:
            os.fchown(fd, iso.uid, iso.gid)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
    finally:
        os.close(fd)


def _read(rundir: str, name: str) -> bytes | None:
    """A regular file the converter wrote; a symbolic link or anything else counts as missing."""
    if "/" in name:
        raise ValueError(f"outputs are top-level files, not {name!r}")
    try:
        fd = os.open(os.path.join(rundir, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ELOOP):
            return None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read()
