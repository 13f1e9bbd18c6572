"""The shipped FreeSWITCH configuration agrees with faxd's defaults."""
import os
import xml.etree.ElementTree as ET

from faxd.config import Config
from faxd.switch.freeswitch.backend import parse_esl_url

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "dialplan", "freeswitch")


def parse(name):
    return ET.parse(os.path.join(ROOT, name)).getroot()


def test_inbound_fax_dids_go_to_faxds_socket_in_async_full_mode():
    config = Config.load(path=None, env={})
    actions = {a.get("application"): a.get("data") for a in parse("faxd.xml").iter("action")}
    host, port = config.esl_listen
    assert actions["socket"] == f"{host}:{port} async full"
    assert actions["set"]


def test_event_socket_settings_match_the_default_url():
    host, port, password = parse_esl_url(Config.load(path=None, env={}).esl_url[0])
    params = {p.get("name"): p.get("value") for p in parse("event_socket.conf.xml").iter("param")}
    assert (params["listen-ip"], int(params["listen-port"]), params["password"]) == (host, port, password)


def test_spandsp_defaults_and_gateway_parse():
    params = {p.get("name"): p.get("value") for p in parse("spandsp.conf.xml").iter("param")}
    assert params["use-ecm"] == "true" and params["enable-t38"] == "true"
    gw = parse("gateway-example.xml").find("gateway")
    assert gw.get("name") == "default"            # FAXD_DIAL_STRING's default names this gateway
    assert "sofia/gateway/default/" in Config.load(path=None, env={}).dial_string
