"""Broadcast: one ``PUT /faxes`` to many recipients.

``to_number`` may be a list of numbers, or ``recipients`` a list of objects (``to_number`` and
any per-recipient job fields, such as ``to_name``), merged over the request's own fields. The
request's document is fetched (``document.url``) or taken from the upload and converted **once**,
here, while the client waits (so a bad document is a 422 and nothing is queued); then one job
per recipient is created in one transaction, each already ``pending`` with the fax TIFF, under
one ``batch_id``. The account's rate and quota count every recipient, all or none.
"""
from __future__ import annotations

import falcon

from faxd import ids
from faxd.api.errors import KazooError, field_error
from faxd.api.schemas import Errors, validate_job
from faxd.documents.detect import document_type
from faxd.policy import require_submissions

PER_RECIPIENT = ("to_number", "to_name", "subject", "notifications", "fax_identity_name", "send_window")


def is_broadcast(data) -> bool:
    return isinstance(data, dict) and (isinstance(data.get("to_number"), list) or "recipients" in data)


def recipients_of(data: dict, limit: int) -> list[dict]:
    """The per-recipient overrides, in order; 400 naming what is wrong."""
    if "recipients" in data:
        if "to_number" in data:
            raise field_error("recipients", "exclusive", "give either recipients or a list in to_number, not both")
        given = data["recipients"]
        if not isinstance(given, list) or not all(isinstance(r, dict) for r in given):
            raise field_error("recipients", "type", "Value did not match type(s): array(object())")
        for i, r in enumerate(given):
            unknown = sorted(set(r) - set(PER_RECIPIENT))
            if unknown:
                raise field_error(f"recipients.{i}", "properties",
                                  f"a recipient may give {', '.join(PER_RECIPIENT)}; not {', '.join(unknown)}")
    else:
        given = [{"to_number": n} for n in data["to_number"]]
    if not given:
        raise field_error("recipients", "minItems", "a broadcast needs at least one recipient")
    if len(given) > limit:
        raise field_error("recipients", "maxItems", f"at most {limit} recipients per request "
                                                    "(broadcast_max_recipients); split the list", target=limit)
    return given


def validate_all(data: dict, given: list[dict], *, region: str, has_documents: bool, defaults: dict) -> list[dict]:
    """One validated job document per recipient; every recipient's errors at once, by index."""
    base = {k: v for k, v in data.items() if k not in ("recipients", "to_number")}
    if base.get("cover_page") is not None:
        raise field_error("cover_page", "unsupported", "a broadcast has no cover page: send one request per "
                                                       "recipient for cover pages")
    errors, docs, seen = Errors(), [], {}
    for i, r in enumerate(given):
        try:
            docs.append(validate_job({**base, **r}, region=region, has_documents=has_documents, defaults=defaults))
        except KazooError as e:
            for name, rules in (e.data or {}).items():
                for rule, detail in rules.items():
                    errors.add(f"recipients.{i}.{name}", rule, detail.get("message", str(detail)))
            continue
        number = docs[-1]["to_number"]
        if number in seen:
            errors.add(f"recipients.{i}.to_number", "unique", f"{number} is also recipient {seen[number]}")
        seen[number] = i
    errors.raise_if_any()
    return docs


def queue(resource, req, resp, account_id: str, data: dict, uploads, faxbox: dict | None) -> None:
    config, store = resource._config, resource._store
    from faxd.api.schemas import faxbox_defaults
    given = recipients_of(data, config.broadcast_max_recipients)
    docs = validate_all(data, given, region=config.default_region, has_documents=bool(uploads),
                        defaults=faxbox_defaults(faxbox))
    require_submissions(store, config, account_id, [d["to_number"] for d in docs])
    if uploads:
        inputs = [(u.data, document_type(u.data, u.content_type, u.filename)) for u in uploads]
    else:
        spec = docs[0].get("document") or {}
        inputs = [resource.documents.fetch(spec["url"], method=spec.get("method", "get"),
                                           content=spec.get("content"), content_type=spec.get("content_type"),
                                           host=spec.get("host"), referer=spec.get("referer"))]
    fax = resource.documents.convert(inputs, resolution=docs[0].get("resolution"),
                                     paper=docs[0].get("paper") or store.account_paper(account_id))
    batch_id = ids.new_id()
    for doc in docs:
        doc["batch_id"] = batch_id
    jobs = store.enqueue_batch(account_id, docs, faxbox_id=faxbox["id"] if faxbox else None, tiff=fax.tiff,
                               pages=fax.pages, width=fax.width, resolution=fax.resolution)
    resp.context.data = {"batch_id": batch_id, "jobs": [{"id": j["id"], "to_number": j["to_number"]} for j in jobs],
                         "page_count": fax.pages}
    resp.status = falcon.HTTP_201
    resp.set_header("Location", f"{req.path.rstrip('/').removesuffix('/outgoing')}/batches/{batch_id}")

