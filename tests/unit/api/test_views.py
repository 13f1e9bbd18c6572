"""Row -> document views: tx_result keeps TxResult's shape (Kazoo 3.x and 4.x names)."""
from __future__ import annotations

import pytest

from faxd.api.envelope import strip_private
from faxd.models import TxResult
from faxd.store.jobs import tx_view


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
