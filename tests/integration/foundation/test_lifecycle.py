"""Daemon lifecycle in-process: a crashed service stops faxd with exit 1; stop drains in order."""
import gc
import io

import gevent

from faxd.daemon import Daemon
from faxd.service import Service


class Crashing(Service):
    name = "crashing"

    def start(self):
        def boom():
            gevent.sleep(0.05)
            raise RuntimeError("switch connection exploded")
        return [gevent.spawn(boom)]


class Recorder(Service):
    def __init__(self, name, log):
        super().__init__()
        self.name = name
        self._log = log

    def stop_intake(self):
        self._log.append(("stop_intake", self.name))

    def drain(self, timeout):
        self._log.append(("drain", self.name))

    def stop(self):
        self._log.append(("stop", self.name))


def _daemon(config, extra):
    out = io.StringIO()
    return Daemon(config.replace(api_listen=("127.0.0.1", 0)), out=out, extra_services=extra), out


def test_crashed_service_stops_the_daemon_with_exit_1(config, caplog):
    log = []
    d, out = _daemon(config, [Recorder("first", log), Crashing()])
    with gevent.Timeout(30):
        code = d.run()
    assert code == 1
    assert "service crashing crashed" in caplog.text
    assert log == [("stop_intake", "first"), ("drain", "first"), ("stop", "first")]


def test_request_stop_stops_services_in_reverse_order(config):
    log = []
    d, out = _daemon(config, [Recorder("a", log), Recorder("b", log)])
    g = gevent.spawn(d.run)
    with gevent.Timeout(30):
        while "API listening" not in out.getvalue():
            gevent.sleep(0.02)
        d.request_stop()
        assert g.get() == 0
    # Embedded in another program (this one), faxd leaves the program's heap alone: only
    # `faxd run`, whose process is its own, freezes its start-up (see test_metrics_health).
    assert gc.get_freeze_count() == 0 and gc.get_threshold()[0] == 700
    assert log == [("stop_intake", "b"), ("stop_intake", "a"), ("drain", "b"), ("drain", "a"),
                   ("stop", "b"), ("stop", "a")]
