"""The Service base and the ServiceRunner on their own (the Daemon's use of them: integration/foundation)."""
import time

import gevent
import gevent.pool

from faxd.service import Component, Service, ServiceRunner


class Worker(Service):
    """A service as the flows write them: one loop that waits on ``wakeup``, work in a pool."""
    name = "worker"

    def __init__(self, log=None):
        super().__init__(work=gevent.pool.Pool(4))
        self.rounds = 0
        self.log = log if log is not None else []

    def start(self):
        return self.spawn_loops(self._loop)

    def _loop(self):
        try:
            while self.accepting:
                self.wakeup.clear()
                self.rounds += 1
                self.wakeup.wait(timeout=60)
        finally:
            self.log.append("loop ended")

    def job(self, seconds):
        try:
            gevent.sleep(seconds)
            self.log.append(f"job of {seconds}s done")
        except gevent.GreenletExit:
            self.log.append(f"job of {seconds}s killed")
            raise


def test_stop_intake_wakes_the_waiting_loop_which_ends():
    w = Worker()
    (loop,) = w.start()
    gevent.sleep(0.01)
    w.stop_intake()
    loop.join(timeout=1)
    assert loop.dead and w.rounds == 1 and w.log == ["loop ended"]


def test_drain_waits_for_work_in_flight_for_at_most_its_timeout_and_stop_kills_the_rest():
    w = Worker()
    w.start()
    w.work.spawn(w.job, 0.05)
    w.work.spawn(w.job, 30)
    w.stop_intake()
    t0 = time.monotonic()
    w.drain(0.3)
    assert 0.25 <= time.monotonic() - t0 < 5
    assert w.log == ["loop ended", "job of 0.05s done"]
    w.stop()
    assert w.log[-1] == "job of 30s killed" and len(w.work) == 0


def test_stop_kills_the_loops_before_the_work():
    w = Worker()
    w.start()
    w.work.spawn(w.job, 30)
    gevent.sleep(0.01)
    w.stop()                    # without stop_intake: the loop is killed, not woken
    assert w.log == ["loop ended", "job of 30s killed"] and not w.accepting


class Recorder(Service):
    """Records each hook the runner calls; ``fails``: the hooks that raise after recording."""

    def __init__(self, name, log, fails=()):
        super().__init__()
        self.name = name
        self.log = log
        self.fails = fails

    def _record(self, hook):
        self.log.append((hook, self.name))
        if hook in self.fails:
            raise RuntimeError(f"{hook} failed")

    def start(self):
        self._record("start")
        return []

    def stop_intake(self):
        self._record("stop_intake")

    def drain(self, timeout):
        self._record("drain")

    def stop(self):
        self._record("stop")


def test_runner_starts_in_order_and_stops_in_reverse_step_by_step():
    log = []
    runner = ServiceRunner([Recorder("a", log), Recorder("fails", log, fails=("stop",)), Recorder("c", log)])
    runner.start()
    runner.request_stop()
    assert runner.wait() == 0
    runner.stop(grace=1)    # a service whose stop raises does not keep the others running
    assert log == [("start", "a"), ("start", "fails"), ("start", "c"),
                   ("stop_intake", "c"), ("stop_intake", "fails"), ("stop_intake", "a"),
                   ("drain", "c"), ("drain", "fails"), ("drain", "a"),
                   ("stop", "c"), ("stop", "fails"), ("stop", "a")]


def test_a_dying_watched_greenlet_stops_the_runner_with_exit_code_1(caplog):
    class Crashing(Service):
        name = "crashing"

        def start(self):
            return self.spawn_loops(lambda: 1 / 0)

    runner = ServiceRunner([Worker(), Crashing()])
    runner.start()
    with gevent.Timeout(5):
        assert runner.wait() == 1
    assert "service crashing crashed" in caplog.text
    runner.stop(grace=0)


def test_component_starts_and_stops_its_object_in_its_place():
    log = []

    class Switch:
        def start(self):
            log.append("switch started")

        def stop(self):
            log.append("switch stopped")

    runner = ServiceRunner([Component("switch", Switch()), Recorder("user", log)])
    runner.start()
    runner.stop(grace=0)
    assert log == ["switch started", ("start", "user"), ("stop_intake", "user"), ("drain", "user"),
                   ("stop", "user"), "switch stopped"]
