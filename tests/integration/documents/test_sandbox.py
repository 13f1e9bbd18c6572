"""Converters in a sandbox: a hostile document reads, lists, writes and deletes nothing outside its
own run's directory, and reaches no network. Real Ghostscript and LibreOffice; OCR reads the fax."""
import glob
import os
import shutil
import subprocess
import tempfile
import time

import gevent
import pytest

from faxd.config import Config
from faxd.documents import DocumentError, DocumentPipeline, office
from tests.integration.documents import hostile_files as hf
from tests.integration.documents.helpers import child_processes


@pytest.fixture
def pipeline():
    """A pipeline in the system temp directory, where every faxd's conversions live."""
    before = set(child_processes())
    yield DocumentPipeline(Config.load(path=None, env={}, convert_timeout="60"))
    assert set(child_processes()) - before == set(), "a converter process was left running"


@pytest.fixture
def canaries():
    made = []

    def make(where, secret):
        path = hf.canary_in_tmp(secret) if where == "tmp" else hf.canary_in_other_job(secret)
        made.append(path)
        return path

    yield make
    for path in made:
        d = os.path.dirname(path)
        shutil.rmtree(os.path.dirname(d) if "faxd-doc-other-" in d else d, ignore_errors=True)


def assert_untouched(path, contents):
    assert hf.siblings(path) == [os.path.basename(path)], "a file was written, renamed or deleted"
    with open(path) as f:
        assert f.read() == contents


def test_postscript_cannot_read_list_write_or_delete_outside_its_directory(pipeline, canaries):
    tmp_canary = canaries("tmp", "PINEAPPLE")
    job_canary = canaries("job", "MANGO")
    probe = hf.postscript_probe([tmp_canary, job_canary],
                                lists=[os.path.dirname(tmp_canary) + "/*", "/tmp/faxd-doc-*/*/*"])

    doc = pipeline.convert([(probe, "application/postscript")])

    text = hf.ocr(doc.tiff)
    assert hf.CONTROL in text                       # OCR reads the page...
    assert "PINEAPPLE" not in text and "MANGO" not in text   # ...and no secret is on it
    assert "CANARY" not in text and "INPUT" not in text      # nor a listed file name
    assert_untouched(tmp_canary, "PINEAPPLE")
    assert_untouched(job_canary, "MANGO")


def test_pdf_external_streams_cannot_read_outside_its_directory(pipeline, canaries):
    # PDF has no file operators, but a stream may take its data from a file (/F): each canary
    # holds a content stream that draws its secret if Ghostscript reads it.
    tmp_canary = canaries("tmp", hf.drawing("PINEAPPLE", 500))
    job_canary = canaries("job", hf.drawing("MANGO", 300))

    doc = pipeline.convert([(hf.pdf_probe([tmp_canary, job_canary]), "application/pdf")])

    text = hf.ocr(doc.tiff)
    assert hf.CONTROL in text
    assert "PINEAPPLE" not in text and "MANGO" not in text
    assert_untouched(tmp_canary, hf.drawing("PINEAPPLE", 500))
    assert_untouched(job_canary, hf.drawing("MANGO", 300))


def victim_input() -> list[str]:
    return [p for p in glob.glob("/tmp/faxd-doc-*/**/input*.ps", recursive=True) if "GUAVA" in open(p).read()]


def test_a_job_cannot_see_another_job_being_converted(pipeline):
    # The victim's PostScript computes for 8 s: its input sits in its run's directory meanwhile.
    victim = (b"%!PS\n% SECRET GUAVA is in this file\n"
              b"realtime /t0 exch def { realtime t0 sub 8000 gt { exit } if } loop\n"
              b"/Helvetica findfont 30 scalefont setfont 60 500 moveto (victim page) show showpage\n")
    converting = gevent.spawn(pipeline.convert, [(victim, "application/postscript")])
    deadline = time.monotonic() + 20
    while not victim_input() and time.monotonic() < deadline:
        gevent.sleep(0.05)
    assert victim_input(), "the victim's conversion did not start"
    # The attacker lists every conversion directory, two levels deep, and prints what it finds
    # and the secret of every file it can read.
    read = b"".join(b"(%s) { (r) file 300 string readstring pop (SECRET ) search "
                    b"{ pop pop 0 12 getinterval line } { pop } ifelse } name filenameforall\n" % pattern
                    for pattern in (b"/tmp/faxd-doc-*/*", b"/tmp/faxd-doc-*/*/*"))
    attacker = hf.postscript_probe([], lists=["/tmp/faxd-doc-*/*", "/tmp/faxd-doc-*/*/*"]).replace(
        b"showpage", b"{ " + read + b"} stopped pop showpage")

    doc = pipeline.convert([(attacker, "application/postscript")])

    assert not converting.dead, "the victim finished first: the attack did not overlap"
    text = hf.ocr(doc.tiff)
    assert hf.CONTROL in text
    assert "GUAVA" not in text and "INPUT" not in text and "FAXD-DOC" not in text
    assert converting.get(timeout=60).pages == 1


@pytest.mark.parametrize("make, ctype", [
    (hf.odt_with_remote_image, "application/vnd.oasis.opendocument.text"),
    (hf.docx_with_remote_image, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
], ids=["odt", "docx"])
def test_office_documents_make_no_requests(pipeline, make, ctype):
    with hf.CountingServer() as server:
        doc = pipeline.convert([(make(server.url), ctype)])
    assert server.requests == []
    assert doc.pages == 1 and hf.CONTROL in hf.ocr(doc.tiff)


@pytest.mark.parametrize("make", [hf.odt_with_remote_image, hf.docx_with_remote_image], ids=["odt", "docx"])
def test_the_libreoffice_profile_alone_blocks_remote_images(tmp_path, make):
    """Without the network namespace: LibreOffice with faxd's profile makes no request, and the
    same document without it does (so the server would have counted)."""
    def convert(profile: bool) -> list[str]:
        work = tmp_path / ("with" if profile else "without")
        (work / "profile" / "user").mkdir(parents=True)
        if profile:
            (work / "profile" / "user" / "registrymodifications.xcu").write_text(office.PROFILE)
        with hf.CountingServer() as server:
            (work / "doc.bin").write_bytes(make(server.url))
            subprocess.run([office.find_soffice(), f"-env:UserInstallation=file://{work}/profile", "--headless",
                            "--norestore", "--nolockcheck", "--nodefault", "--convert-to", "pdf",
                            "--outdir", str(work), str(work / "doc.bin")],
                           env={"PATH": os.environ["PATH"], "HOME": str(work), "TMPDIR": str(work)},
                           capture_output=True, timeout=120, check=True)
        assert (work / "doc.pdf").stat().st_size > 0
        return server.requests

    assert convert(profile=True) == []
    assert convert(profile=False) != []


def test_no_temporary_directory_is_left(pipeline):
    before = set(glob.glob("/tmp/faxd-doc-*"))
    pipeline.convert([(hf.postscript_probe([], lists=[]), None)])
    with pytest.raises(DocumentError):
        pipeline.convert([(b"%!PS\n/foo bar baz undefinedop\n", None)])
    assert set(glob.glob("/tmp/faxd-doc-*")) - before == set()


def test_faxd_run_sweeps_stale_conversion_directories_at_start(tmp_path):
    from faxd.documents import sandbox
    from tests.integration.foundation.daemon import FaxdProcess

    home = tempfile.mkdtemp(prefix="faxd-home-", dir="/tmp")   # reachable by the postgres user
    os.chmod(home, 0o755)
    temp = tmp_path / "tmp"
    me = os.getpid()
    killed = temp / "faxd-doc-999999999-42-abcdef"           # a faxd killed during a conversion
    running = temp / f"faxd-doc-{me}-{sandbox.start_time(me)}-abcdef"   # a live faxd's conversion
    for d in (killed, running):
        (d / "0123456789abcdef").mkdir(parents=True)
        (d / "0123456789abcdef" / "input.ps").write_bytes(b"%!PS\n")
    faxd = FaxdProcess({"FAXD_HOME": home, "TMPDIR": str(temp), "FAXD_SMTP_LISTEN": ""}).wait_ready()
    try:
        assert faxd.get("/health").status_code == 200
        assert not killed.exists()
        assert running.exists()
    finally:
        assert faxd.stop() == 0, faxd.stderr_text()
        shutil.rmtree(home, ignore_errors=True)
    assert "removed 1 stale conversion directories" in faxd.stderr_text()
