"""/v2/openapi.json describes exactly the routes Falcon serves."""
from __future__ import annotations

import re

from falcon import inspect

from api.app import create_app


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
