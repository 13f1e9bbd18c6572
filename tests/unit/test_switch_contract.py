"""Every switch backend against the seam's Protocols (faxd.switch.base), member by member.

A Protocol method must exist on the backend with the same parameters (names, kinds and
defaults), so a flow written against the Protocol runs on every backend; the calls each
backend hands out must be what the flows expect (an InboundCall for the inbound handler).
What the backends *do* with those calls is tests/integration/switch_conformance.
"""
from __future__ import annotations

import inspect

import pytest

from faxd.config import Config
from faxd.switch import base
from faxd.switch.asterisk.backend import AsteriskBackend, AsteriskCall
from faxd.switch.events import Negotiated
from faxd.switch.freeswitch.backend import FreeSwitchBackend, InboundCall as FreeSwitchInbound, OutboundCall
from faxd.switch.software import SoftwareCall, SoftwareSwitch
from faxd.switch.spool import MemoryFile, SpoolFile


def members(proto) -> dict[str, object]:
    """The Protocol's own methods and attributes, its bases' included."""
    out: dict[str, object] = {}
    for cls in reversed(proto.__mro__):
        if cls in (object, base.Protocol) or not getattr(cls, "_is_protocol", False):
            continue
        for name in getattr(cls, "__annotations__", {}):
            out[name] = None
        for name, value in vars(cls).items():
            if callable(value) and not name.startswith("_"):
                out[name] = value
    return out


def mismatches(cls, proto) -> list[str]:
    problems = []
    for name, spec in members(proto).items():
        if spec is None:
            continue      # a data attribute: checked on instances
        impl = getattr(cls, name, None)
        if impl is None or not callable(impl):
            problems.append(f"{cls.__name__}.{name} is missing")
            continue
        want = [(p.name, p.kind, p.default) for p in inspect.signature(spec).parameters.values()]
        have = [(p.name, p.kind, p.default) for p in inspect.signature(impl).parameters.values()]
        # A backend may take more, with defaults (stop(timeout=...)); never fewer or other ones.
        extra = have[len(want):]
        if have[:len(want)] != want or any(p.default is inspect.Parameter.empty for p in
                                           inspect.signature(impl).parameters.values()
                                           if p.name in {e[0] for e in extra}):
            problems.append(f"{cls.__name__}.{name}{inspect.signature(impl)} is not {name}{inspect.signature(spec)}")
    return problems


BACKENDS = [SoftwareSwitch, FreeSwitchBackend, AsteriskBackend]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda c: c.name)
def test_backends_fulfil_the_contract(backend):
    assert mismatches(backend, base.SwitchBackend) == []
    assert isinstance(backend.name, str)


@pytest.mark.parametrize("call_class", [SoftwareCall, FreeSwitchInbound, AsteriskCall], ids=lambda c: c.__name__)
def test_inbound_calls_take_the_receptions_decisions(call_class):
    assert mismatches(call_class, base.InboundCall) == []


def test_outbound_calls_are_calls_without_inbound_decisions():
    assert mismatches(OutboundCall, base.Call) == []
    assert mismatches(OutboundCall, base.InboundCall) != []     # no answer/receive_fax/reject


def test_the_checker_sees_a_wrong_signature():
    class Wrong:
        name = "wrong"

        def start(self): ...
        def stop(self): ...
        def status(self): ...
        def stage_document(self, name): ...
        def originate(self, request): ...
        def find_call(self, call_id): ...
        def on_incoming_call(self, handler): ...
    assert [p.split("(")[0] for p in mismatches(Wrong, base.SwitchBackend)] == ["Wrong.stage_document"]


def test_instances_and_staged_documents(tmp_path):
    config = Config.load(env={"FAXD_HOME": str(tmp_path)})
    (tmp_path / "spool").mkdir()          # the daemon creates it at start-up
    assert config.spool_path == str(tmp_path / "spool")
    switches = [SoftwareSwitch(config), FreeSwitchBackend(config), AsteriskBackend(config)]
    for switch in switches:
        assert isinstance(switch, base.SwitchBackend)
        staged = switch.stage_document("tx-contract.tif", b"II*\x00")
        try:
            assert isinstance(staged, base.StagedDocument)
            with open(staged.path, "rb") as f:
                assert f.read() == b"II*\x00"
        finally:
            staged.release()
    # The software switch keeps small documents in memory; the others write the spool directory.
    assert isinstance(switches[0].stage_document("a.tif", b"x"), MemoryFile)
    spooled = switches[1].stage_document("b.tif", b"x")
    assert isinstance(spooled, SpoolFile) and spooled.path.startswith(config.spool_path)
    spooled.release()


def test_fax_option_rule_and_negotiated_text():
    assert base.t38_mode(True, "accept") == base.t38_mode("true", "off") == "request"
    assert base.t38_mode(False, "request") == base.t38_mode("false", "accept") == "off"
    assert base.t38_mode("auto", "accept") == "accept"
    assert base.t38_mode(None, "request") == "request"
    assert Negotiated("c", bit_rate=14400, ecm=True, t38=True).text == "Negotiated 14400 bps ECM T.38"
    assert Negotiated("c", bit_rate=9600).text == "Negotiated 9600 bps"


def test_the_flows_know_no_backend():
    """outbound/ and inbound/ see the seam only: no import of a backend, no branch on a
    backend's name (FAXD_SWITCH's value is only passed through, as the job's ``switch``)."""
    import ast
    import pathlib

    import faxd

    root = pathlib.Path(faxd.__file__).parent
    backends = ("software", "freeswitch", "asterisk")
    found = []
    for flow in ("outbound", "inbound"):
        for path in sorted((root / flow).glob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and any(
                        node.module.startswith(f"faxd.switch.{b}") for b in backends):
                    found.append(f"{path.name}:{node.lineno} imports {node.module}")
                elif isinstance(node, ast.Import) and any(a.name.startswith(f"faxd.switch.{b}")
                                                          for a in node.names for b in backends):
                    found.append(f"{path.name}:{node.lineno} imports a backend")
                elif isinstance(node, ast.Compare) and any(
                        isinstance(c, ast.Constant) and c.value in backends for c in node.comparators):
                    found.append(f"{path.name}:{node.lineno} compares with a backend's name")
    assert found == []
