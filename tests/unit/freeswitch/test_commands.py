"""The commands faxd sends, built by pure functions."""
import pytest

from faxd.switch.base import FaxOptions, OriginateRequest
from faxd.switch.freeswitch import commands
from faxd.switch.freeswitch.backend import parse_esl_url
from faxd.testing.esl.emulator import parse_originate


def request(**kw):
    base = dict(call_id="2f0b6d52-1e55-4d43-9b0a-8d3c1f6e7a21", job_id="job42", to_number="+4930987654",
                from_number="+4930123456", from_name="ACME Fax, Inc", tiff_path="/var/spool/faxd/out/job42.tif",
                options=FaxOptions(station_id="+49 30 123456", header="ACME Corp, page header", ecm=True,
                                   v17=True, t38="request"), ring_timeout=45)
    base.update(kw)
    return OriginateRequest(**base)


def test_originate_line():
    line = commands.originate(request(), "sofia/gateway/gw1/{digits}")
    assert line.startswith("originate {origination_uuid=2f0b6d52-1e55-4d43-9b0a-8d3c1f6e7a21,ignore_early_media=true,"
                           "originate_timeout=45,")
    assert line.endswith("}sofia/gateway/gw1/4930987654 &txfax(/var/spool/faxd/out/job42.tif)")
    assert "fax_ident=%2B49%2030%20123456" in line          # %-encoded: no quoting problems
    assert "fax_header=ACME%20Corp,%20page%20header" not in line
    assert "fax_header=ACME%20Corp\\,%20page%20header" in line
    assert "origination_caller_id_name='ACME Fax\\, Inc'" in line
    assert "origination_caller_id_number=+4930123456" in line
    assert "fax_use_ecm=true,fax_disable_v17=false,fax_enable_t38=true,fax_enable_t38_request=true" in line


@pytest.mark.parametrize("t38,enable,request_", [("off", "false", "false"), ("accept", "true", "false"),
                                                 ("request", "true", "true")])
def test_t38_modes(t38, enable, request_):
    v = commands.fax_variables(FaxOptions(t38=t38), sending=True)
    assert (v["fax_enable_t38"], v["fax_enable_t38_request"]) == (enable, request_)


def test_ecm_and_v17_switches():
    v = commands.fax_variables(FaxOptions(ecm=False, v17=False), sending=True)
    assert v["fax_use_ecm"] == "false" and v["fax_disable_v17"] == "true"
    assert "fax_ident" not in v and "fax_header" not in v
    assert "fax_header" not in commands.receive_variables(FaxOptions(header="x"))


def test_originate_parses_back_as_freeswitch_reads_it():
    o = parse_originate(commands.originate(request(), "sofia/gateway/gw1/{number}")[len("originate "):])
    v = o["variables"]
    assert v["origination_uuid"] == "2f0b6d52-1e55-4d43-9b0a-8d3c1f6e7a21"
    assert v["origination_caller_id_name"] == "ACME Fax, Inc"
    assert v["fax_header"] == "ACME%20Corp,%20page%20header"
    assert o["app"] == "txfax" and o["app_arg"] == "/var/spool/faxd/out/job42.tif"
    assert o["target"] == "sofia/gateway/gw1/+4930987654"


def test_a_spool_path_with_a_space_is_refused():
    with pytest.raises(ValueError):
        commands.originate(request(tiff_path="/var/spool/my fax.tif"), "x/{number}")


def test_subscription_names_the_six_spandsp_subclasses_after_custom():
    line = commands.subscribe()
    head, _, subs = line.partition(" CUSTOM ")
    assert head.startswith("event plain CHANNEL_CREATE") and "BACKGROUND_JOB" in head
    assert subs.split() == ["spandsp::txfaxnegociateresult", "spandsp::txfaxpageresult", "spandsp::txfaxresult",
                            "spandsp::rxfaxnegociateresult", "spandsp::rxfaxpageresult", "spandsp::rxfaxresult"]


def test_sendmsg_builders():
    assert commands.sendmsg_execute("rxfax", "/x.tif") == (
        "sendmsg", {"call-command": "execute", "execute-app-name": "rxfax", "execute-app-arg": "/x.tif",
                    "event-lock": "true"})
    assert commands.sendmsg_hangup("USER_BUSY", uuid="u") == (
        "sendmsg u", {"call-command": "hangup", "hangup-cause": "USER_BUSY"})
    assert commands.uuid_kill("u", "ORIGINATOR_CANCEL") == "uuid_kill u ORIGINATOR_CANCEL"


def test_esl_url():
    assert parse_esl_url("esl://:ClueCon@127.0.0.1:8021") == ("127.0.0.1", 8021, "ClueCon")
    assert parse_esl_url("esl://:p%40ss@fs1:9000") == ("fs1", 9000, "p@ss")


def test_originate_with_a_spool_url():
    line = commands.originate(request(), "sofia/gateway/gw1/{digits}", url="http://faxd:8085/spool/ab12.tif")
    assert line.endswith(" &txfax(${http_get(http://faxd:8085/spool/ab12.tif)})")
    with pytest.raises(ValueError):
        commands.http_get("http://faxd/spool/a b.tif")
