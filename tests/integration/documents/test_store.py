"""Documents in PostgreSQL: original, fax TIFF and PDF rendition, with sizes and checksums."""
import hashlib

import pytest

from faxd import ids
from tests.integration.documents.helpers import make_pipeline
from tests.unit.documents import corpus


@pytest.fixture
def job(store):
    account = store.create_account("docs")
    job = store.enqueue_job(account.account_id, {"to_number": "+12025550123", "from_number": "+12025550100"})
    return account.account_id, job["id"]


def test_converted_job_documents_round_trip(store, job, tmp_path):
    account_id, job_id = job
    pipeline, _ = make_pipeline(tmp_path)
    original = corpus.pdf(2)
    fax = pipeline.convert([(original, "application/pdf")])
    pdf = pipeline.tiff_to_pdf(fax.tiff)
    with store.transaction() as cur:   # one transaction, as the job engine writes them
        store.add_document(account_id, job_id=job_id, role="original", content_type="application/pdf",
                           data=original, filename="letter.pdf", cur=cur)
        store.add_document(account_id, job_id=job_id, role="fax_tiff", content_type="image/tiff",
                           data=fax.tiff, pages=fax.pages, width=fax.width, resolution=fax.resolution, cur=cur)
        store.add_document(account_id, job_id=job_id, role="pdf", content_type="application/pdf",
                           data=pdf, pages=fax.pages)
    got = store.get_document(job_id=job_id, role="fax_tiff")
    assert got["data"] == fax.tiff and isinstance(got["data"], bytes)
    assert (got["pages"], got["width"], got["resolution"]) == (2, 1728, "204x196")
    assert got["size_bytes"] == len(fax.tiff)
    assert got["sha256"] == hashlib.sha256(fax.tiff).hexdigest()
    assert store.get_document(job_id=job_id, role="original")["filename"] == "letter.pdf"
    listed = store.list_documents(job_id=job_id)
    assert [d["role"] for d in listed] == ["original", "fax_tiff", "pdf"]
    assert all("data" not in d for d in listed)
    assert [d["role"] for d in store.list_documents(job_id=job_id, role="pdf")] == ["pdf"]
    assert store.delete_documents(job_id=job_id) == 3
    assert store.list_documents(job_id=job_id) == []
    assert store.get_document(job_id=job_id, role="fax_tiff") is None


def test_several_originals_keep_their_order(store, job):
    account_id, job_id = job
    for seq, data in enumerate([b"first", b"second", b"third"]):
        store.add_document(account_id, job_id=job_id, role="original", seq=seq,
                           content_type="text/plain", data=data)
    assert [store.get_document(job_id=job_id, role="original", seq=s)["data"] for s in range(3)] == \
        [b"first", b"second", b"third"]
    assert [d["seq"] for d in store.list_documents(job_id=job_id)] == [0, 1, 2]


def test_inbox_documents_are_separate_from_jobs(store, job):
    account_id, job_id = job
    inbox_id = ids.new_id()
    with store.transaction() as cur:
        cur.execute("INSERT INTO inbox (id, account_id, status, to_number) VALUES (%s, %s, 'received', '+1')",
                    (inbox_id, account_id))
    store.add_document(account_id, inbox_id=inbox_id, role="fax_tiff", content_type="image/tiff", data=b"II*\x00")
    store.add_document(account_id, job_id=job_id, role="fax_tiff", content_type="image/tiff", data=b"MM\x00*")
    assert store.get_document(inbox_id=inbox_id, role="fax_tiff")["data"] == b"II*\x00"
    assert store.delete_documents(inbox_id=inbox_id) == 1
    assert store.get_document(job_id=job_id, role="fax_tiff")["data"] == b"MM\x00*"


def test_owner_and_role_are_checked(store, job):
    account_id, job_id = job
    with pytest.raises(ValueError):
        store.add_document(account_id, role="original", content_type="x", data=b"x")
    with pytest.raises(ValueError):
        store.add_document(account_id, job_id=job_id, inbox_id="x", role="original", content_type="x", data=b"x")
    with pytest.raises(ValueError):
        store.add_document(account_id, job_id=job_id, role="thumbnail", content_type="x", data=b"x")
