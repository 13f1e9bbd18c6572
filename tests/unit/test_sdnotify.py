"""systemd's notify protocol: the datagram, abstract socket names, whose watchdog it is."""
import os
import socket
import uuid

from faxd import sdnotify


def test_a_message_is_one_datagram_and_at_names_the_abstract_namespace():
    name = f"faxd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        s.settimeout(2)
        assert sdnotify.notify("READY=1\nSTATUS=ready", "@" + name)
        assert s.recv(100) == b"READY=1\nSTATUS=ready"


def test_no_socket_no_message_and_no_service():
    assert sdnotify.notify("READY=1", "") is False
    assert sdnotify.services(("127.0.0.1", 1), env={}) == []


def test_the_watchdog_is_half_its_timeout_and_only_for_its_own_process():
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert sdnotify.watchdog_interval({}) is None
