"""What real clients and attackers send: pictures that are not, bombs, broken bodies (shared by the tests).

Every builder returns bytes; images are made with Pillow and then damaged the way files get damaged
(truncated, bit-flipped) or forged (a header that declares a huge size over a few bytes of data).
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw


def picture(fmt: str = "PNG", size: tuple[int, int] = (64, 64), mode: str = "L") -> bytes:
    """A dark digit-like stroke on light paper, encoded as ``fmt``."""
    image = Image.new(mode, size, "white")
    ImageDraw.Draw(image).line([(size[0] // 2, 4), (size[0] // 2, size[1] - 4)], fill="black", width=5)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, *, data_rows: int = 1) -> bytes:
    """A well-formed PNG header declaring width x height (valid CRCs) over a tiny IDAT: a pixel bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    rows = zlib.compress(b"\x00" * (1 + min(width, 4096)) * data_rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def png_zero_bomb(side: int) -> bytes:
    """A real PNG of side x side black pixels: megapixels in a few hundred kilobytes."""
    raw = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    body = b"".join(raw.compress(row) for _ in range(side)) + raw.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF whose logical screen and frame declare width x height (max 65535 each)."""
    gif = bytearray(picture("GIF", (8, 8)))
    gif[6:10] = struct.pack("<HH", width, height)
    start = gif.index(b"\x2c")  # image descriptor: left, top, width, height
    gif[start + 5 : start + 9] = struct.pack("<HH", width, height)
    return bytes(gif)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 frame header declares width x height (max 65535 each)."""
    jpeg = bytearray(picture("JPEG", (16, 16)))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpeg)


def bmp_declaring(width: int, height: int) -> bytes:
    bmp = bytearray(picture("BMP", (8, 8)))
    bmp[18:26] = struct.pack("<ii", width, height)
    return bytes(bmp)


def webp_declaring(width: int, height: int) -> bytes:
    """An extended WebP (VP8X) whose canvas declares width x height (24-bit fields)."""
    payload = bytes([0, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]


def flipped(data: bytes, positions: list[int]) -> bytes:
    damaged = bytearray(data)
    for position in positions:
        damaged[position % len(damaged)] ^= 0xFF
    return bytes(damaged)


def multipart(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str = "hardening") -> bytes:
    """A multipart/form-data body from (field, filename, content type, data) parts."""
    chunks = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        chunks.append(head.encode() + b"\r\n" + data + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


def nested_json(depth: int, key: str = "pixels") -> bytes:
    return b'{"' + key.encode() + b'":' + b"[" * depth + b"]" * depth + b"}"


def blank(size: int = 48) -> bytes:
    """A picture of paper with nothing on it."""
    buffer = io.BytesIO()
    Image.new("L", (size, size), 235).save(buffer, format="PNG")
    return buffer.getvalue()
