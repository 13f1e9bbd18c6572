"""Our G.711 mu-law (audioop is gone from Python 3.13's standard library) against the standard's
fixed points and against audioop for every 16-bit sample: the standard library's on 3.11 and
3.12, the audioop-lts package (a test dependency) from 3.13."""
import struct
import warnings

from tests.integration.interop.ulaw import lin2ulaw, ulaw2lin


def test_known_codes_and_every_code_survives_a_round_trip():
    assert lin2ulaw(struct.pack("=3h", 0, 32767, -32768)) == bytes([0xFF, 0x80, 0x00])
    assert struct.unpack("=4h", ulaw2lin(bytes([0xFF, 0x80, 0x00, 0x7F]))) == (0, 32124, -32124, 0)
    codes = bytes(c for c in range(256) if c != 0x7F)      # 0x7F is -0, encoded back as +0 (0xFF)
    assert lin2ulaw(ulaw2lin(codes)) == codes


def test_same_bytes_as_audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop   # here, so that 3.11's and 3.12's DeprecationWarning is silenced
    pcm = struct.pack("=65536h", *range(-32768, 32768))
    assert lin2ulaw(pcm) == audioop.lin2ulaw(pcm, 2)
    assert ulaw2lin(bytes(range(256))) == audioop.ulaw2lin(bytes(range(256)), 2)
