"""G.711 mu-law for 16-bit native-endian PCM: ``audioop.lin2ulaw(pcm, 2)`` and ``ulaw2lin(data, 2)``.

audioop left the standard library in Python 3.13; these two conversions are all the IAX2
endpoint needs (ITU-T G.711, byte for byte what audioop gives).
"""
from __future__ import annotations

from array import array

_BIAS = 0x84


def _encode(sample: int) -> int:
    """CPython audioop's st_14linear2ulaw on the sample's top 14 bits (arithmetic shift)."""
    value = sample >> 2
    mask = 0x7F if value < 0 else 0xFF
    magnitude = min(abs(value), 8159) + (_BIAS >> 2)
    segment = max(magnitude.bit_length() - 6, 0)      # the first of 0x3F, 0x7F, ... 0x1FFF at or above it
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)) ^ mask


def _decode(code: int) -> int:
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + _BIAS << ((code >> 4) & 7)) - _BIAS
    return -magnitude if code & 0x80 else magnitude


# Indexed by the sample as an unsigned 16-bit number, and by the mu-law byte.
_ENCODE = bytes(_encode(u - 0x10000 if u & 0x8000 else u) for u in range(0x10000))
_DECODE = array("h", (_decode(c) for c in range(256)))


def lin2ulaw(pcm: bytes) -> bytes:
    samples = array("H")
    samples.frombytes(pcm)
    return bytes(_ENCODE[s] for s in samples)


def ulaw2lin(data: bytes) -> bytes:
    return array("h", (_DECODE[c] for c in data)).tobytes()
