"""The outbox: final outbound faxes, their documents, resubmission and deletion."""
from __future__ import annotations

from faxd.api.resources.base import FinalFax, Folder
from faxd.api.schemas import JOB_SYSTEM_FIELDS

# Not carried over to a resubmitted job (the identity only when it was set).
_NOT_RESUBMITTED = ("fax_identity_number", "fax_identity_name", "attempts", "send_at", "expires_at", "ttl")


class Outbox(Folder):
    def page(self, account_id, query, faxbox_id):
        return self._store.list_jobs(account_id, "outbox", query, faxbox_id=faxbox_id)


class OutboxItem(FinalFax):
    missing = "bad identifier: fax {id} not found in the outbox"
    action = "resubmit"

    def fetch(self, account_id, fax_id, faxbox_id):
        return self._store.get_job(account_id, fax_id, folder="outbox", faxbox_id=faxbox_id)

    def job_request(self, account_id, old, overrides):
        """Resubmit: a new job from this one, ``data`` overriding its fields."""
        base = {k: v for k, v in old.items()
                if k not in JOB_SYSTEM_FIELDS and not k.startswith("_") and k not in _NOT_RESUBMITTED}
        for k in ("fax_identity_number", "fax_identity_name"):
            if old.get(k):
                base[k] = old[k]
        return {**base, **overrides}, None

    def queue(self, account_id, fax_id, doc, faxbox_id):
        return self._store.resubmit_job(account_id, fax_id, doc, faxbox_id=faxbox_id)

    def remove(self, account_id, fax_id, faxbox_id):
        self._store.delete_job(account_id, fax_id, faxbox_id=faxbox_id)

    def remove_documents(self, account_id, fax_id, faxbox_id):
        self._store.delete_job_documents(account_id, fax_id, folder="outbox", faxbox_id=faxbox_id)
        return self._store.get_job(account_id, fax_id)

    def document(self, account_id, fax_id, role):
        return self._store.get_job_document(account_id, fax_id, role)
