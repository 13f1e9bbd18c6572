"""Row -> document views: tx_result keeps TxResult's shape (Kazoo 3.x and 4.x names)."""
from __future__ import annotations

import pytest

from faxd.api.envelope import strip_private
from faxd.models import Job, JobStatus, TxResult
from faxd.store.jobs import job_record, job_view, tx_view


@pytest.mark.parametrize("stored", [
    None, {}, {"success": True, "pages_sent": 3, "fax_speed": 14400, "fax_receiver_id": "REMOTE",
               "fax_error_correction": True, "result_code": 0, "unknown": 1},
    {"error_message": "busy", "hangup_cause": "USER_BUSY", "time_elapsed": 12},
])
def test_tx_view_is_txresult_shape(stored):
    assert tx_view(stored) == TxResult.from_dict(stored).to_dict()


def test_private_keys_never_leave():
    data, rev = strip_private({"id": "a", "_rev": 3, "pvt_type": "fax", "_id": "x", "to": "y"})
    assert data == {"id": "a", "to": "y"} and rev == 3


def test_a_row_becomes_a_job_record_whatever_columns_were_selected():
    job = job_record({"id": "j1", "status": "failed", "doc": None, "progress": None, "fax_tiff": memoryview(b"II"),
                      "not_a_job_column": 1})
    assert job == Job(id="j1", status=JobStatus.FAILED, fax_tiff=b"II")
    assert job.status is JobStatus.FAILED and job.doc == {} and not job.faxbox_joined
    assert job_record({"id": "j2", "faxbox_notifications": None}).faxbox_joined
    with pytest.raises(ValueError):
        job_record({"id": "j3", "status": "lost"})


def test_the_job_view_shows_statuses_as_plain_strings():
    view = job_view(Job(id="j1", status=JobStatus.PROCESSING, progress={"stage": "pages"}))
    assert type(view["status"]) is str and view["status"] == "processing"
    assert view["progress"] == {"stage": "pages", "pages_sent": 0, "pages_total": 0, "fax_speed": 0,
                                "text": "Sending"}
