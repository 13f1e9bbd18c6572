"""The HylaFAX installation's own parts that need no call: its directory and its syslog sink."""
import os
import re
import subprocess
import sys
import time

import pytest

from .hylafax import SYSLOG_SINK, HylaFax, private_root


def test_the_private_directory_is_hex_and_has_no_underscore():
    # HylaFAX turns '_' in a device id back into '/': a '_' in the modem's path sends faxsend
    # to a device that does not exist (docs/interop.md).
    roots = [private_root() for _ in range(200)]
    try:
        assert len(set(roots)) == len(roots)
        for root in roots:
            assert re.fullmatch(r"/tmp/faxd-hylafax-[0-9a-f]{12}", root), root
            assert os.stat(root).st_mode & 0o777 == 0o755
    finally:
        for root in roots:
            os.rmdir(root)


def test_a_directory_with_an_underscore_is_refused():
    root = f"/tmp/faxd-hylafax-{os.getpid()}_x"
    with pytest.raises(ValueError, match=r"turns '_' in a modem's device path into '/'"):
        HylaFax(4569, root=root)
    assert not os.path.exists(root)


def test_the_syslog_sink_writes_what_logger_sends(tmp_path):
    sock, out = str(tmp_path / "log.sock"), str(tmp_path / "syslog.log")
    sink = subprocess.Popen([sys.executable, SYSLOG_SINK, sock, out])
    try:
        end = time.monotonic() + 10
        while not os.path.exists(sock):
            assert sink.poll() is None and time.monotonic() < end, "the sink did not start"
            time.sleep(0.05)
        # util-linux logger sends the way syslog(3) does: "<pri>Mmm dd hh:mm:ss tag[pid]: text"
        subprocess.run(["logger", "-u", sock, "-p", "daemon.err", "-t", "FaxSend",
                        "/dev/ttyIAX: Can not open modem"], check=True, timeout=10)
        end = time.monotonic() + 10
        while "FaxSend" not in open(out).read():
            assert time.monotonic() < end, open(out).read()
            time.sleep(0.05)
    finally:
        sink.terminate()
        sink.wait(5)
    last = open(out).read().splitlines()[-1]
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} err     FaxSend(\[\d+\])?: /dev/ttyIAX: Can not open modem", last), last
