"""The IAX2 endpoint's G.711 mu-law codec (its own: audioop is gone from Python 3.13)."""
import array
import struct

from .iax2 import lin2ulaw, ulaw2lin


def pcm(*samples: int) -> bytes:
    return array.array("h", samples).tobytes()


def test_mu_law_codes_of_g711():
    # G.711 Table 2a: zero is 0xFF (all bits inverted), the loudest codes 0x80 / 0x00
    assert lin2ulaw(pcm(0, 32767, -32768, 1000, -1000)) == bytes([0xFF, 0x80, 0x00, 0xCE, 0x4E])
    assert struct.unpack("<5h", ulaw2lin(bytes([0xFF, 0x80, 0x00, 0xCE, 0x4E]))) == (0, 32124, -32124, 988, -988)


def test_round_trip_error_is_logarithmic():
    samples = list(range(-32768, 32768, 7))
    back = array.array("h", ulaw2lin(lin2ulaw(pcm(*samples))))
    for s, b in zip(samples, back):
        # a segment's step is 8 near zero and doubles with each segment (1024 at full scale):
        # the error stays under about 1/16 of the magnitude (12-bit accuracy, 8 bits sent)
        assert abs(b - s) <= max(16, abs(s) // 16), (s, b)
