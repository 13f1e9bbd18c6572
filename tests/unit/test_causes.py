"""The hangup cause table (faxd.switch.causes) against the switches' own source.

The excerpts in tests/data/causes/ are FreeSWITCH's switch_types.h (the switch_call_cause_t
enum) and switch_channel.c (CAUSE_CHART, switch_channel_cause_q850), and Asterisk's causes.h
(AST_CAUSE_ numbers) and channel.c (causes[], the texts of ast_cause2str), each headed by the
commit it was taken from.
"""
from __future__ import annotations

import os
import re

import pytest

from faxd.switch import causes
from tests.data import captures

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "causes")


def read(name: str) -> str:
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def freeswitch_enum() -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"SWITCH_CAUSE_(\w+) = (\d+)", read("freeswitch-switch_types.h.txt"))}


def freeswitch_chart() -> dict[str, str]:
    """CAUSE_CHART: printed name -> the enum constant it stands for."""
    return dict(re.findall(r'\{"(\w+)", SWITCH_CAUSE_(\w+)\}', read("freeswitch-switch_channel.c.txt")))


def asterisk_numbers() -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"#define AST_CAUSE_(\w+)\s+(\d+)\s*$", read("asterisk-causes.h.txt"),
                                                 re.M)}


def asterisk_texts() -> dict[int, str]:
    numbers = asterisk_numbers()
    return {numbers[m[1]]: m[3] for m in re.finditer(r'\{ AST_CAUSE_(\w+), "(\w+)", "([^"]*)" \}',
                                                     read("asterisk-channel.c.txt"))}


def test_the_excerpts_are_whole():
    assert len(freeswitch_enum()) > 80 and freeswitch_enum()["REJECT_ALL"] == 825
    assert len(asterisk_texts()) == len(re.findall(r"\{ AST_CAUSE_", read("asterisk-channel.c.txt"))) > 45


def test_every_name_and_number_is_freeswitchs():
    enum, chart = freeswitch_enum(), freeswitch_chart()
    for name, number in causes.Q850.items():
        assert enum.get(name) == number, name
        assert chart.get(name) == name, f"{name} is not printed as FreeSWITCH prints it"
    for name, number in causes.FREESWITCH_ONLY.items():
        assert enum.get(name) == number, name
        assert chart.get(name) == name, name


def test_no_freeswitch_cause_is_missing():
    enum = freeswitch_enum()
    q850 = {n: v for n, v in enum.items() if 0 < v <= 127}
    assert q850 == causes.Q850
    assert {n: v for n, v in enum.items() if v > 127} == causes.FREESWITCH_ONLY


def test_asterisk_texts_are_asterisks():
    assert causes.ASTERISK_TEXTS == asterisk_texts()
    # A number Asterisk and FreeSWITCH both know is the same cause.
    numbers = asterisk_numbers()
    for number, fs_name, ast_name, _ in causes._ROWS:
        if ast_name is not None:
            assert numbers[ast_name] == number, ast_name


def test_freeswitch_reports_16_for_its_own_causes():
    # switch_channel_cause_q850: anything above INTERWORKING becomes NORMAL_CLEARING.
    source = read("freeswitch-switch_channel.c.txt")
    assert re.search(r"if \(cause <= SWITCH_CAUSE_INTERWORKING\) \{\s*return cause;\s*\} else \{\s*"
                     r"return SWITCH_CAUSE_NORMAL_CLEARING;", source)
    assert '"hangup_cause_q850", "%d", cause_q850' in source
    for name in causes.FREESWITCH_ONLY:
        assert causes.q850(name) == 16, name
    assert causes.q850("USER_BUSY") == 17
    assert causes.q850(causes.SWITCH_LOST) == 0


@pytest.mark.parametrize("recording", ["originate-failure-no-answer.plain.txt", "txfax-audio-success.plain.txt",
                                       "originate-failure-no-route.plain.txt"])
def test_recorded_freeswitch_numbers_agree(recording):
    text = captures.freeswitch(recording).decode()
    pairs = set(re.findall(r"variable_hangup_cause: (\w+)\nvariable_hangup_cause_q850: (\d+)", text))
    assert pairs
    for name, number in pairs:
        assert causes.q850(name) == int(number), name


def test_names_and_numbers_for_asterisk():
    assert causes.name(17) == "USER_BUSY"
    assert causes.name(63) == "SERVICE_UNAVAILABLE"
    assert causes.name(14) == "NORMAL_UNSPECIFIED"      # Asterisk's NUMBER_PORTED_NOT_HERE: no FreeSWITCH name
    assert causes.asterisk_text(19) == "User alerting, no answer"
    assert causes.asterisk_text(0) == "Unknown"
    assert causes.to_send("ORIGINATOR_CANCEL") == 16
    assert causes.to_send("SYSTEM_SHUTDOWN") == 41
    assert causes.to_send("RECOVERY_ON_TIMER_EXPIRE") == 102
    assert causes.to_send("NO_SUCH_CAUSE") == 16


def test_the_retry_policy_names_only_real_causes():
    from faxd import retry
    assert retry.PERMANENT_CAUSES <= set(causes.Q850) | set(causes.FREESWITCH_ONLY)
    assert retry.CANCELLED_CAUSE in causes.FREESWITCH_ONLY
