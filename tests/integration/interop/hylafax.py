"""A private HylaFAX installation for one test: spool, iaxmodem, faxgetty, faxq, hfaxd.

Everything lives under one directory of its own, ``/tmp/faxd-hylafax-<hex>`` (world-traversable,
since HylaFAX's daemons drop to the ``uucp`` user; no ``_`` in it, see ``private_root``): the spool (``spool/``, given to every daemon with ``-q``),
iaxmodem's configuration and its pty link (``ttyIAX``), lock files, logs (HylaFAX's syslog
in ``syslog.log``) and the ``HOME`` of HylaFAX's client (sendfax). The system's
spool (/var/spool/hylafax) and configuration (/etc/hylafax) are read only for the scripts
HylaFAX ships (``bin/``). Processes are started here and stopped here, by PID.

iaxmodem reads its configuration from ``/etc/iaxmodem/<name>`` and nowhere else, so it is
given a name that leads back out of that directory (``../../<our dir>/iaxmodem.conf``).
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

SPOOL_DIRS = ("archive", "client", "config", "dev", "docq", "doneq", "etc", "info", "log", "pollq",
              "recvq", "sendq", "status", "tmp")
BUSY_OUT = 5.0
# HylaFAX's daemons log with syslog(3) to /dev/log, and with LOG_CONS: with no syslog daemon (no
# /dev/log) every message goes to /dev/console, where in a container nobody reads and the writes
# block, and faxq stalls mid-job. Each daemon runs in a mount namespace of its own (util-linux
# unshare, propagation private) whose /dev is a small tmpfs holding the host's device nodes it
# needs (bound in), /dev/console bound to /dev/null, and /dev/log leading to the test's syslog
# socket (syslogsink.py), so HylaFAX's own log of a failed run can be shown. Nothing outside
# the namespace changes. $0 is the daemon, "$@" its arguments; {root} is the private directory.
PRIVATE_DEV = """
set -e
host={root}/ns-dev
mount --rbind /dev "$host"
mount -t tmpfs -o mode=755,size=64k faxd-hylafax-dev /dev
for n in null zero full random urandom tty ptmx; do : > /dev/$n; mount --bind "$host/$n" /dev/$n; done
for d in pts shm; do mkdir /dev/$d; mount --rbind "$host/$d" /dev/$d; done
: > /dev/console; mount --bind /dev/null /dev/console
ln -s /proc/self/fd /dev/fd; ln -s fd/0 /dev/stdin; ln -s fd/1 /dev/stdout; ln -s fd/2 /dev/stderr
ln -s {root}/log.sock /dev/log
exec "$0" "$@"
"""
SYSLOG_SINK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "syslogsink.py")
SYSTEM_SPOOL = "/var/spool/hylafax"
SYSTEM_ETC = "/etc/hylafax"


def private_root() -> str:
    """A new directory ``/tmp/faxd-hylafax-<12 hex digits>``, made here (0755).

    HylaFAX names a modem by its device path with every ``/`` turned into ``_`` (the device id:
    ``config.<id>``, ``FIFO.<id>``, ``faxsend -m <id>``) and turns the id back into a path by
    turning every ``_`` into ``/``. A ``_`` in the path (``tempfile.mkdtemp``'s random names
    have one about one time in five) so sends faxsend to a device that does not exist: it
    cannot open the modem, the job is requeued and never dialled. Hex digits have no ``_``."""
    while True:
        path = f"/tmp/faxd-hylafax-{secrets.token_hex(6)}"
        try:
            os.mkdir(path, 0o755)
            return path
        except FileExistsError:
            continue


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MODEM_CONFIG = """\
CountryCode:		1
AreaCode:		202
FAXNumber:		+1.202.555.0199
LongDistancePrefix:	1
InternationalPrefix:	011
DialStringRules:	etc/dialrules
ServerTracing:		0xFFF
SessionTracing:		0xFFF
RecvFileMode:		0644
LogFileMode:		0644
DeviceMode:		0660
RingsBeforeAnswer:	1
SpeakerVolume:		off
GettyArgs:		"-h %l dx_%s"
LocalIdentifier:	"HYLAFAX INTEROP"
TagLineFont:		etc/lutRS18.pcf
TagLineFormat:		"From %%l|%c|Page %%P of %%T"
MaxRecvPages:		50
ModemType:		Class1
Class1AdaptRecvCmd:	AT+FAR=1
Class1TMConnectDelay:	400
ModemResetDelay:	500
ModemSoftResetCmdDelay:	500
UUCPLockDir:		{lockdir}
"""


class HylaFax:
    """HylaFAX with one iaxmodem line; the far end of the line is our IAX2 endpoint."""

    def __init__(self, endpoint_port: int, root: str | None = None, *, modem_config: str = "",
                 iaxmodem_config: tuple[str, ...] = ()):
        self.root = root or private_root()
        if "_" in self.root:
            raise ValueError(f"{self.root!r}: HylaFAX turns '_' in a modem's device path into '/' "
                             "(its device ids), so the path of its spool and modem must have none")
        os.makedirs(self.root, 0o755, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.uucp = pwd.getpwnam("uucp")
        self.spool = os.path.join(self.root, "spool")
        self.device = os.path.join(self.root, "ttyIAX")
        self.devid = self.device.replace("/", "_")
        self.iax_port = free_udp_port()
        self.endpoint_port = endpoint_port
        self.hfaxd_port = free_tcp_port()
        self.home = os.path.join(self.root, "home")     # HOME of sendfax
        self.syslog = os.path.join(self.root, "syslog.log")
        self.procs: dict[str, subprocess.Popen] = {}
        self.modem_config = modem_config            # lines added to etc/config.<device>
        self.iaxmodem_config = iaxmodem_config      # lines added to iaxmodem's configuration
        self._make_spool()

    # --- files

    def _own(self, path: str) -> None:
        os.chown(path, self.uucp.pw_uid, self.uucp.pw_gid)

    def _write(self, rel: str, text: str, mode: int = 0o644) -> str:
        path = os.path.join(self.root, rel)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        self._own(path)
        return path

    def _make_spool(self) -> None:
        os.makedirs(self.spool)
        self._own(self.spool)
        for d in SPOOL_DIRS:
            p = os.path.join(self.spool, d)
            os.makedirs(p)
            self._own(p)
        os.chmod(os.path.join(self.spool, "tmp"), 0o1777)
        os.symlink(os.path.join(SYSTEM_SPOOL, "bin"), os.path.join(self.spool, "bin"))
        for name in ("dialrules", "lutRS18.pcf", "pagesizes", "typerules", "faxcover.ps", "hfaxd.conf"):
            src = os.path.join(SYSTEM_ETC, name)
            if os.path.exists(src):
                shutil.copy(src, os.path.join(self.spool, "etc", name))
        lockdir = os.path.join(self.root, "lock")
        os.makedirs(lockdir)
        self._own(lockdir)
        self._write(f"spool/etc/config.{self.devid}", MODEM_CONFIG.format(lockdir=lockdir) + self.modem_config)
        # faxq reads only this file (not config.<device>) and locks the modem before it starts
        # faxsend: without UUCPLockDir here it locks in /var/lock while faxgetty looks in our
        # lock directory, finds the modem free 30 s into the call (its LOCKWAIT poll), opens it,
        # sends ATZ and reads the responses meant for faxsend (OK, CONNECT): see docs/interop.md.
        self._write("spool/etc/config", "LogFacility: daemon\nCountryCode: 1\nAreaCode: 202\n"
                    "LongDistancePrefix: 1\nInternationalPrefix: 011\nDialStringRules: etc/dialrules\n"
                    f"ServerTracing: 0xFFF\nUUCPLockDir: {lockdir}\n"
                    # faxq requeues a job whose faxsend ended before dialling after JobReqOther/2 +
                    # random() % JobReqOther seconds (default 300: 2.5-7.5 min); 20 s keeps such a
                    # retry inside the test's wait (see private_root for what used to cause one).
                    "JobReqOther: 20\n")
        self._write("spool/etc/hosts.hfaxd", "127.0.0.1\n", 0o600)
        # The clients' data connections in passive mode: in active mode (the default) hfaxd
        # connects back from its own port minus one, which another process may hold.
        os.makedirs(self.home)
        self._write("home/.hylarc", "PassiveMode: yes\n")
        os.makedirs(os.path.join(self.root, "ns-dev"))  # the host's /dev, inside each namespace
        # What HylaFAX's scripts (bin/tiff2fax, bin/notify...) read; faxsetup would write it.
        self._write("spool/etc/setup.cache", "".join(f"{k}='{v}'\n" for k, v in {
            "SPOOL": self.spool, "SBIN": "/usr/lib/hylafax/bin", "BIN": "/usr/bin", "LIBEXEC": "/usr/sbin",
            "LIBDATA": "/etc/hylafax", "TIFFBIN": "/usr/bin", "AWK": "/usr/bin/awk", "SED": "/bin/sed",
            "PSPACKAGE": "gs", "PATH_GSRIP": "/usr/bin/gs", "PATH_PSRIP": "/usr/bin/gs", "ENCODING": "base64",
            "SENDMAIL": "/bin/true", "TTYCMD": "/usr/bin/tty", "CP": "/bin/cp", "CAT": "/bin/cat",
            "GREP": "/bin/grep", "RM": "/bin/rm", "DATE": "/bin/date", "FAXQ_SERVER": "yes", "HFAXD_SERVER": "yes",
        }.items()))
        os.makedirs(os.path.join(self.root, "iaxlog"))
        self._write("iaxmodem.conf", "\n".join([
            f"device {self.device}", "owner uucp:uucp", "mode 660", f"port {self.iax_port}",
            "refresh 0", f"server 127.0.0.1:{self.endpoint_port}", "peername faxd", "secret none",
            "cidname HylaFAX", "cidnumber 12025550199", "codec ulaw", *self.iaxmodem_config, ""]))

    # --- processes

    def _start(self, name: str, argv: list[str], namespace: bool = False) -> subprocess.Popen:
        trace_dir = os.environ.get("FAXD_INTEROP_STRACE")       # investigation: strace -f the daemons
        if trace_dir and name in ("faxq", "faxgetty"):
            os.makedirs(trace_dir, exist_ok=True)
            argv = ["strace", "-f", "-tt", "-s", "200", "-e", "trace=execve,openat,write,kill,exit_group",
                    "-o", os.path.join(trace_dir, f"{os.path.basename(self.root)}-{name}.strace"), *argv]
        if namespace:
            self._start_syslog()
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    PRIVATE_DEV.format(root=self.root), *argv]
        log = open(os.path.join(self.root, f"{name}.out"), "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                             start_new_session=True)
        self.procs[name] = p
        return p

    def _start_syslog(self, timeout: float = 10.0) -> None:
        """The socket the daemons' /dev/log leads to, and the process writing it to syslog.log."""
        if "syslog" in self.procs:
            return
        sock = os.path.join(self.root, "log.sock")
        p = self._start("syslog", [sys.executable, SYSLOG_SINK, sock, self.syslog])
        end = time.monotonic() + timeout
        while not os.path.exists(sock):
            if p.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"the syslog sink did not start: {self.output('syslog')}")
            time.sleep(0.05)

    def start_modem(self, timeout: float = 10.0) -> None:
        conf = os.path.relpath(os.path.join(self.root, "iaxmodem.conf"), "/etc/iaxmodem")
        # Line-buffered: iaxmodem logs with stdio, and a block-buffered log is lost when it is stopped.
        self._start("iaxmodem", ["stdbuf", "-oL", "-eL", "/usr/bin/iaxmodem", conf])
        end = time.monotonic() + timeout
        while not os.path.exists(self.device):
            if self.procs["iaxmodem"].poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"iaxmodem did not create {self.device}: {self.output('iaxmodem')}")
            time.sleep(0.1)

    def start_faxgetty(self) -> None:
        self._start("faxgetty", ["/usr/sbin/faxgetty", "-q", self.spool, self.device], namespace=True)

    def status(self) -> str:
        try:
            with open(os.path.join(self.spool, "status", self.devid), errors="replace") as f:
                return f.read().strip()
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        """faxgetty has reset and probed the modem (about 8 s) and waits for a call. iaxmodem
        still refuses calls to it (REJECT "Busy") for BUSY_OUT seconds after the modem last went
        on-hook, which faxgetty's reset did: its post-hangup busy-out (calls out are not refused)."""
        end = time.monotonic() + timeout
        while "Running and idle" not in self.status():
            if self.procs["faxgetty"].poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"faxgetty not ready: status {self.status()!r}")
            time.sleep(0.2)

    def start_faxq(self) -> None:
        """The scheduler and the client-server protocol (hfaxd on 127.0.0.1), for sendfax."""
        self._start("faxq", ["/usr/sbin/faxq", "-D", "-q", self.spool], namespace=True)
        self._start("hfaxd", ["/usr/sbin/hfaxd", "-d", "-q", self.spool, "-l", "127.0.0.1",
                              "-i", str(self.hfaxd_port)], namespace=True)
        end = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.hfaxd_port), 0.5).close()
                return
            except OSError:
                if time.monotonic() > end or self.procs["hfaxd"].poll() is not None:
                    raise RuntimeError(f"hfaxd did not start: {self.output('hfaxd')}")
                time.sleep(0.1)

    def _client_env(self) -> dict[str, str]:
        return {**os.environ, "HOME": self.home}

    def sendfax(self, number: str, document: str) -> str:
        """Queue a fax with HylaFAX's own client; returns its job id."""
        out = subprocess.run(["/usr/bin/sendfax", "-h", f"127.0.0.1:{self.hfaxd_port}", "-n", "-R",
                              "-d", number, document], capture_output=True, text=True, timeout=60,
                             cwd=self.root, env=self._client_env())
        if out.returncode != 0:
            raise RuntimeError(f"sendfax failed: {out.stdout} {out.stderr}")
        return out.stdout

    def output(self, name: str) -> str:
        try:
            with open(os.path.join(self.root, f"{name}.out"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def logs(self) -> str:
        """HylaFAX's session logs (spool/log/c*), oldest first."""
        out = []
        logdir = os.path.join(self.spool, "log")
        for name in sorted(os.listdir(logdir)):
            with open(os.path.join(logdir, name), errors="replace") as f:
                out.append(f"== {name}\n{f.read()}")
        return "\n".join(out)

    def jobs(self) -> str:
        """The queue's job files (sendq/, doneq/): state, status text, tries, dial attempts."""
        out = []
        for d in ("sendq", "doneq"):
            path = os.path.join(self.spool, d)
            for name in sorted(os.listdir(path)):
                if name.startswith("q"):
                    with open(os.path.join(path, name), errors="replace") as f:
                        keep = [line.strip() for line in f if line.split(":", 1)[0] in (
                            "state", "status", "statuscode", "tottries", "totdials", "ndials", "tts", "npages")]
                    out.append(f"{d}/{name}: {'; '.join(keep)}")
        return "\n".join(out)

    def report(self) -> str:
        """What to show when a test fails: modem status, jobs, session logs, daemons' output."""
        return (f"modem status: {self.status()!r}\njobs:\n{self.jobs()}\n"
                f"iaxmodem: {self.output('iaxmodem')[-1500:]}\nsession logs:\n{self.logs()[-6000:]}\n"
                f"syslog (faxq, faxsend, faxgetty, hfaxd):\n{self.syslog_tail()}")

    def syslog_tail(self, chars: int = 6000) -> str:
        try:
            with open(self.syslog, errors="replace") as f:
                return f.read()[-chars:]
        except OSError:
            return ""

    def received(self) -> list[str]:
        d = os.path.join(self.spool, "recvq")
        return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".tif"))

    def stop(self) -> None:
        """Stop what we started: each daemon leads its own process group (start_new_session),
        which also holds the helpers it forked (faxsend, notify scripts)."""
        for name, p in reversed(list(self.procs.items())):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    p.wait(5)
                    break
                except subprocess.TimeoutExpired:
                    continue
