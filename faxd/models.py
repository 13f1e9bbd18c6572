"""Plain values shared by the daemon and the API: statuses, stages, jobs, tx_result/rx_result."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
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


class JobStatus(enum.StrEnum):
    """A job's ``status`` (the jobs table's CHECK); a str, so it is its value in SQL and JSON."""
    ATTACHING_FILES = "attaching_files"
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in OUTBOX_STATUSES


# The API's folders: jobs still on their way, and final ones.
OUTGOING_STATUSES = (JobStatus.ATTACHING_FILES, JobStatus.PENDING, JobStatus.PROCESSING)
OUTBOX_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(slots=True)
class Job:
    """An outbound fax job as the store hands it to the flows and to the API's job view.

    Built from a jobs row at the store's edge (``faxd.store.jobs.job_record``); a column the
    query did not select keeps its default here.
    """
    id: str
    account_id: str = ""
    faxbox_id: str | None = None
    status: JobStatus = JobStatus.PENDING
    source: str = "api"
    origin_id: str | None = None
    to_number: str = ""
    from_number: str = ""
    to_name: str | None = None
    from_name: str | None = None
    retries: int | None = None
    attempts: int = 0
    doc: dict = field(default_factory=dict)       # the job document as the client sent it
    tx_result: dict = field(default_factory=dict)
    progress: dict = field(default_factory=dict)
    page_count: int | None = None
    error: str | None = None
    call_id: str | None = None                    # the current attempt's call (recorded by the claim)
    switch: str | None = None
    cancel_requested: bool = False
    force_audio: bool = False
    not_fax_failures: int = 0
    revision: int = 1
    created: datetime | None = None
    modified: datetime | None = None
    delivered: datetime | None = None
    run_after: datetime | None = None             # not before; the claim: when it became runnable
    claimed: datetime | None = None               # the claim's transaction time (database clock)
    attempt_history: list = field(default_factory=list)
    # What the claim joins to a job it hands to a transmission: the document to send and the
    # faxbox's settings (faxbox_joined says they were looked up, even when there is no faxbox).
    fax_tiff: bytes | None = None
    faxbox_joined: bool = False
    faxbox_identity: str | None = None
    faxbox_header: str | None = None
    faxbox_media: dict | None = None
    faxbox_notifications: dict | list | None = None
    # What the attaching claim brings: the account's paper and the uploaded originals (bytes,
    # in order) with their content types.
    paper: str | None = None
    originals: list = field(default_factory=list)
    original_types: list = field(default_factory=list)


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
