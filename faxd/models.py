"""Plain values shared by the daemon and the API: statuses, stages, tx_result/rx_result."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone

# Kazoo shows times as Gregorian seconds: Unix time + 62167219200.
GREGORIAN_OFFSET = 62167219200


def gregorian(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) + GREGORIAN_OFFSET


def from_gregorian(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds - GREGORIAN_OFFSET, tz=timezone.utc)


class JobStatus(str, enum.Enum):
    ATTACHING_FILES = "attaching_files"
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


OUTGOING_STATUSES = ("attaching_files", "pending", "processing")
OUTBOX_STATUSES = ("completed", "failed", "cancelled")


class Stage(str, enum.Enum):
    QUEUED = "queued"
    PREPARE = "prepare"
    ORIGINATE = "originate"
    NEGOTIATE = "negotiate"
    PAGES = "pages"
    RELEASE = "release"


@dataclass
class TxResult:
    """The result of one transmission (or reception: rx_result has the same fields)."""
    success: bool = False
    pages_sent: int = 0
    pages_total: int = 0
    fax_speed: int = 0
    fax_bad_rows: int = 0
    fax_error_correction: bool = False
    fax_receiver_id: str = ""
    error_message: str = ""
    time_elapsed: int = 0
    result_code: int | None = None
    result_text: str = ""
    hangup_cause: str = ""
    t38_used: bool = False
    # why it failed, for people (faxd/failures.py, docs/errors.md); empty on success
    error_class: str = ""
    error_code: str = ""
    error_advice: str = ""

    def to_dict(self) -> dict:
        """Kazoo 3.x names plus the Kazoo 4.x aliases, so clients of either generation work."""
        # Flat fields of plain types: a shallow dict (dataclasses.asdict deep-copies each one).
        d = dict(self.__dict__)
        d.update(
            remote_station_id=self.fax_receiver_id,
            transfer_rate=self.fax_speed,
            ecm_used=self.fax_error_correction,
            transferred_pages=self.pages_sent,
        )
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> "TxResult":
        d = d or {}
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})
