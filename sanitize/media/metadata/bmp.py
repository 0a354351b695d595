"""BMP: no tags, but a V5 header can embed or link an ICC profile, and bytes may follow."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sanitize.media.metadata.base import Parser, Part, failed, item, trailing

_FILE_HEADER = 14
_V5_HEADER = 124


class BmpParser(Parser):
    formats = frozenset({"bmp"})

    def walk(self) -> Iterator[Part]:
        buf = self.buf
        header = struct.unpack_from("<I", buf, _FILE_HEADER)[0]
        if header >= _V5_HEADER and len(buf) >= _FILE_HEADER + _V5_HEADER:
            cs_type = bytes(buf[_FILE_HEADER + 56:_FILE_HEADER + 60])
            if cs_type in (b"DEBM", b"KNIL"):  # 'MBED'/'LINK' stored little-endian
                yield Part.both(item("icc_profile", "bmp", "ICC"))
        declared = struct.unpack_from("<I", buf, 2)[0]
        if declared > len(buf):
            yield failed("bmp", "file size past end of file")
        elif declared < len(buf):
            yield from trailing(buf, declared, "bmp", "after bitmap")
