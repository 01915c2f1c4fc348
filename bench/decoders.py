"""Faster PNG decoding for the canvas upload? Pillow beside the alternatives, on the benchmark's canvas PNG.

Decoding a 280x280 RGBA canvas export is about half of the service's preprocessing. A PNG decode is
inflate (zlib) + un-filtering; the canvas is mostly transparent, so 5.8 KB inflate to 306 KB. Compared:
Pillow (what the service uses), stdlib zlib inflating the IDAT data alone, Intel ISA-L's inflate
(``isal``), libspng (``pyspng``), OpenCV (``cv2.imdecode``), and Pillow fed a PNG whose IDAT was
re-packed as stored (uncompressed) deflate blocks after an ISA-L inflate (a trick to keep Pillow's
un-filtering and checks while swapping its inflate). CPU time of this thread per call, best of 9.

Runs with whichever of these are installed; the peers' venv has them all:
    /work/peers-venv/bin/python bench/decoders.py     # writes bench/results/decoders-latest.json
"""

from __future__ import annotations

import io
import json
import struct
import sys
import time
import timeit
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import payloads

RESULTS = Path(__file__).resolve().parent / "results"


def best(fn: Callable[[], object], number: int = 300) -> float:
    return min(timeit.Timer(fn, timer=time.thread_time).repeat(number=number, repeat=9)) / number * 1e6


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        out.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def main() -> None:
    png = payloads.canvas_png()
    parts = chunks(png)
    idat = b"".join(data for kind, data in parts if kind == b"IDAT")
    reference = np.asarray(Image.open(io.BytesIO(png)))
    rows: dict[str, float] = {}
    rows["Pillow Image.open + load"] = best(lambda: Image.open(io.BytesIO(png)).load())
    rows["stdlib zlib: inflate IDAT only"] = best(lambda: zlib.decompress(idat))
    try:
        from isal import isal_zlib

        rows["isal: inflate IDAT only"] = best(lambda: isal_zlib.decompress(idat))

        def repacked() -> bytes:
            stored = zlib.compress(isal_zlib.decompress(idat), 0)
            body = [chunk(kind, data) for kind, data in parts if kind not in (b"IDAT", b"IEND")]
            return png[:8] + b"".join(body) + chunk(b"IDAT", stored) + chunk(b"IEND", b"")

        assert (np.asarray(Image.open(io.BytesIO(repacked()))) == reference).all()
        rows["isal inflate + stored re-pack + Pillow"] = best(
            lambda: Image.open(io.BytesIO(repacked())).load()
        )
    except ImportError:
        pass
    try:
        import pyspng

        assert (pyspng.load(png) == reference).all()
        rows["pyspng.load (libspng)"] = best(lambda: pyspng.load(png))
    except ImportError:
        pass
    try:
        import cv2

        buffer = np.frombuffer(png, np.uint8)
        assert cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED).shape == reference.shape
        rows["cv2.imdecode (OpenCV, libpng)"] = best(lambda: cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED))
    except ImportError:
        pass
    for name, value in rows.items():
        print(f"{name:42s} {value:8.1f} us CPU")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"png_bytes": len(png), "raw_bytes": reference.nbytes, "rows_us": rows, "pillow": Image.__version__}
    (RESULTS / "decoders-latest.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
