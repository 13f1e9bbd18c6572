"""/v2/openapi.json describes exactly the routes Falcon serves."""
from __future__ import annotations

import json
import re

from falcon import inspect

from faxd.api.app import create_app


def _routes(app) -> set[tuple[str, str]]:
    out = set()
    for route in inspect.inspect_routes(app):
        for m in route.methods:
            if m.internal or m.method == "OPTIONS":
                continue
            out.add((route.path, m.method))
    return out


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_route_is_described_and_nothing_else(client, config, store):
    r = client.simulate_get("/v2/openapi.json")
    assert r.status_code == 200
    doc = r.json
    assert doc["openapi"].startswith("3.")
    described = {(_normalise(p), m.upper()) for p, ops in doc["paths"].items() for m in ops}
    served = {(_normalise(p), m) for p, m in _routes(create_app(config, store))}
    assert served == described, {"undescribed": served - described, "not served": described - served}


def test_path_parameters_and_refs_resolve(client):
    doc = client.simulate_get("/v2/openapi.json").json
    schemas = doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (path, method)
            for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', str(op).replace("'", '"')):
                assert ref in schemas, ref


def _described(spec: dict, path: str, method: str) -> set[str]:
    for template, ops in spec["paths"].items():
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)), path):
            return set(ops[method.lower()]["responses"])
    raise AssertionError(f"{path} is not described")


def test_every_status_a_request_gets_is_described(client, acct, store):
    """The statuses schemathesis does not generate, each provoked for real: the description lists
    them (no catch-all "default"), so a client knows every answer it can get."""
    from tests.unit.api.helpers import finish_job
    from tests.unit.api.conftest import URL_JOB
    spec = client.simulate_get("/v2/openapi.json").json
    for ops in spec["paths"].values():
        for op in ops.values():
            assert "default" not in op["responses"]
    job = client.simulate_put(acct.base + "/faxes", headers=acct.headers, json={"data": URL_JOB}).json["data"]["id"]
    finish_job(store, job)
    h = acct.headers
    empty_upload = (b'--b\r\nContent-Disposition: attachment; name="content"\r\nContent-Type: application/json\r\n\r\n'
                    + json.dumps({"data": URL_JOB}).encode() + b'\r\n--b\r\nContent-Disposition: attachment; '
                    b'name="content"; filename="e.pdf"\r\nContent-Type: application/pdf\r\n\r\n\r\n--b--\r\n')
    cases = [
        ("PUT", "/faxes", dict(body=empty_upload, headers={**h, "Content-Type": "multipart/mixed; boundary=b"}), 422),
        ("PUT", "/faxes", dict(body=b"{}", headers={**h, "Content-Type": "application/pdf"}), 415),
        ("PUT", "/faxes", dict(body=b" " * (1024 * 1024 + 10), headers={**h, "Content-Type": "application/json"}), 413),
        ("DELETE", f"/faxes/outgoing/{job}", dict(headers=h), 409),
        ("GET", "/faxes/outbox", dict(headers={**h, "Accept": "text/html"}), 406),
        ("GET", "/faxes/outbox", dict(headers=h, params={"filter_no such": "x"}), 400),
        ("GET", "/faxes/outbox", dict(headers=h, params={"filter_status": "completed"}), 200),
        ("GET", "/faxes/outbox", dict(), 401),
    ]
    for method, path, kw, expected in cases:
        r = client.simulate_request(method, acct.base + path, **kw)
        assert r.status_code == expected, (method, path, r.status_code, r.text[:300])
        assert str(expected) in _described(spec, acct.base + path, method), (method, path, expected)
    r = client.simulate_put("/v2/api_auth", json={"data": {"api_key": "wrong"}})
    assert r.status_code == 401 and "401" in _described(spec, "/v2/api_auth", "PUT")


def test_listing_filters_are_described(client):
    spec = client.simulate_get("/v2/openapi.json").json
    names = {p["name"] for p in spec["paths"]["/v2/accounts/{account_id}/faxes/outbox"]["get"]["parameters"]}
    assert {"filter_status", "filter_to", "filter_from", "filter_faxbox_id", "filter_source"} <= names
