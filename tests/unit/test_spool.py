"""Where an outbound TIFF waits during its call: spool files and in-memory files."""
import os

from faxd.switch.spool import MemoryFile, SpoolFile, memory_files_work


def test_spool_file_is_written_and_released(tmp_path):
    f = SpoolFile(str(tmp_path), "tx-1.tif", b"II*\x00data")
    assert open(f.path, "rb").read() == b"II*\x00data"
    f.release()
    assert not os.path.exists(f.path)
    f.release()  # twice is harmless


def test_memory_file_is_readable_and_writable_by_path_and_leaves_no_file():
    assert memory_files_work()
    f = MemoryFile("tx-2.tif", b"x" * 100_000)
    fd = int(f.path.rsplit("/", 1)[1])
    # No file anywhere: the path names an anonymous memory file with no directory entry.
    assert os.readlink(f.path) == "/memfd:tx-2.tif (deleted)"
    assert os.stat(f.path).st_nlink == 0
    with open(f.path, "rb") as g:
        assert g.read() == b"x" * 100_000
    # A writer opening the path again (libtiff writing a received fax) truncates it.
    with open(f.path, "wb") as g:
        g.write(b"received")
    assert f.size() == len(b"received")
    with open(f.path, "rb") as g:
        assert g.read() == b"received"
    f.release()
    # Released: the descriptor is closed, so the memory is freed and the path is gone.
    assert f.size() == 0
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except FileNotFoundError:
        target = None
    assert target != "/memfd:tx-2.tif (deleted)"
    f.release()  # twice is harmless
