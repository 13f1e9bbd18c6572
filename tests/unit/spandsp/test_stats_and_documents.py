"""T30Stats, completion texts and document probing against the real libspandsp."""
import pytest
from PIL import Image

from faxd.spandsp import DocumentError, FaxSession, T30Stats, completion_text, library_info, probe_tiff
from faxd.spandsp.stats import CALLDROPPED, FILEERROR, NOSIZESUPPORT, dpi, refusal_codes


def test_completion_texts_come_from_spandsp():
    assert completion_text(0) == "OK"
    assert completion_text(CALLDROPPED) == "The call dropped prematurely"
    assert completion_text(FILEERROR) == "TIFF/F file cannot be opened"
    assert completion_text(NOSIZESUPPORT) == "Far end cannot receive at the size of image"
    assert completion_text(2) == "Timed out waiting for initial communication"


def test_resolution_from_pixels_per_metre():
    assert (dpi(8031), dpi(7700), dpi(3850)) == (204, 196, 98)
    s = T30Stats(x_resolution=8031, y_resolution=7700, pages_rx=3, completion_code=0)
    assert s.resolution == "204x196" and s.pages == 3 and s.success
    assert s.to_dict()["resolution"] == "204x196"
    assert T30Stats().resolution == "" and not T30Stats().success


def test_station_id_is_checked():
    with pytest.raises(ValueError):
        FaxSession(True, station_id="x" * 21)
    s = FaxSession(True, station_id="+1 202 555 0111")
    assert s.stats().local_station_id == "+1 202 555 0111"
    s.close()
    assert s.closed


def _tiff(path, mode, size):
    Image.new(mode, size, 255 if mode != "1" else 1).save(path, dpi=(204, 196),
                                                          compression="group4" if mode == "1" else None)
    return str(path)


def test_probe_accepts_a_fax_tiff(tmp_path):
    info = probe_tiff(_tiff(tmp_path / "ok.tif", "1", (1728, 500)))
    assert (info.pages, info.width, info.resolution) == (1, 1728, "204x196")


def test_refusal_codes_follow_the_library_generation():
    assert refusal_codes(0) == (FILEERROR, NOSIZESUPPORT) == (41, 12)
    assert refusal_codes(3) == (46, 11)


@pytest.mark.parametrize("mode,size,which,words", [
    ("L", (1728, 300), 0, "1-bit"),
    ("RGB", (1728, 300), 0, "1-bit"),
    ("1", (1000, 300), 1, "1728"),
])
def test_probe_refuses_what_spandsp_refuses(tmp_path, mode, size, which, words):
    path = _tiff(tmp_path / "bad.tif", mode, size)
    with pytest.raises(DocumentError) as e:
        probe_tiff(path)
    code = refusal_codes(library_info()["generation"])[which]
    assert e.value.result_code == code and words in str(e.value) and path in str(e.value)


def test_probe_missing_and_garbage(tmp_path):
    with pytest.raises(DocumentError, match="no such file") as e:
        probe_tiff(str(tmp_path / "nope.tif"))
    assert e.value.result_code == FILEERROR
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff at all")
    with pytest.raises(DocumentError, match="not a readable TIFF"):
        probe_tiff(str(junk))
