"""SwitchWatch reports each change of a switch connection once, and the node's own going away."""
from faxd.errors import StoreError
from faxd.switch.watch import SwitchWatch


def _watch(statuses):
    events = []
    state = {"status": statuses}
    watch = SwitchWatch(lambda: state["status"], lambda kind, payload: events.append((kind, payload)), "n1")
    return watch, state, events


def test_one_event_per_change_and_none_while_nothing_changes():
    watch, state, events = _watch([{"name": "freeswitch", "connected": False, "calls": 0}])
    watch.check()
    assert events == []                     # never up: nothing to say
    state["status"] = [{"name": "freeswitch", "connected": True, "calls": 0}]
    watch.check()
    watch.check()
    state["status"] = [{"name": "freeswitch", "connected": False, "calls": 0}]
    watch.check()
    state["status"] = [{"name": "freeswitch", "connected": True, "calls": 3}]
    watch.check()
    assert events == [("switch_connected", {"switch": "freeswitch", "node": "n1"}),
                      ("switch_disconnected", {"switch": "freeswitch", "node": "n1"}),
                      ("switch_connected", {"switch": "freeswitch", "node": "n1"})]


def test_stopping_reports_the_connections_that_were_up_and_a_failed_write_is_tried_again():
    calls = []

    def emit(kind, payload):
        calls.append(kind)
        if len(calls) == 1:
            raise StoreError("database down")

    watch = SwitchWatch(lambda: [{"name": "asterisk", "connected": True}], emit, "n2")
    watch.check()              # the write fails: not recorded as reported
    watch.check()              # so it is tried again
    watch.stop()
    assert calls == ["switch_connected", "switch_connected", "switch_disconnected"]
