"""Read format, size, channels and bit depth from PNG, JPEG, TIFF and OpenEXR headers (no image library)."""

from __future__ import annotations

import os
import struct
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

#: Bytes read from the start of a file: headers of the formats Blender writes fit well inside.
_HEAD_BYTES = 1 << 16


class ImageInfoError(ValueError):
    """The file is not an image this module understands, or its header is damaged."""


@dataclass(frozen=True)
class ImageInfo:
    """What an image header says about its pixels."""

    format: str  # PNG, JPEG, TIFF or OPEN_EXR (Blender's names)
    width: int
    height: int
    channels: int
    bit_depth: int  # bits per channel
    sample_format: str  # "uint" or "float"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def read_image_info(path: str | os.PathLike[str]) -> ImageInfo:
    """Identify an image by its magic bytes and parse its header."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES)
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(head)
        if head.startswith(b"\xff\xd8"):
            return _jpeg(fh)
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(fh)
        if head.startswith(b"\x76\x2f\x31\x01"):
            return _exr(head)
    raise ImageInfoError(f"{os.fspath(path)}: not a PNG, JPEG, TIFF or OpenEXR file")


def _png(head: bytes) -> ImageInfo:
    """IHDR is the first chunk: width, height, bit depth, colour type."""
    if head[12:16] != b"IHDR":
        raise ImageInfoError("PNG without IHDR chunk")
    width, height, depth, color_type = struct.unpack(">IIBB", head[16:26])
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(color_type)
    if channels is None:
        raise ImageInfoError(f"PNG colour type {color_type} is invalid")
    return ImageInfo("PNG", width, height, channels, depth, "uint")


def _jpeg(fh: BinaryIO) -> ImageInfo:
    """Walk the markers to the first start-of-frame segment."""
    fh.seek(2)
    while True:
        byte = fh.read(1)
        while byte == b"\xff":  # fill bytes before a marker
            byte = fh.read(1)
        if not byte:
            raise ImageInfoError("JPEG ends before its frame header")
        marker = byte[0]
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        length_bytes = fh.read(2)
        if len(length_bytes) != 2:
            raise ImageInfoError("JPEG segment is truncated")
        (length,) = struct.unpack(">H", length_bytes)
        # SOF0–SOF15 carry the frame header; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            precision, height, width, components = struct.unpack(">BHHB", fh.read(6))
            return ImageInfo("JPEG", width, height, components, precision, "uint")
        fh.seek(length - 2, os.SEEK_CUR)


def _tiff(fh: BinaryIO) -> ImageInfo:
    """The first IFD's ImageWidth, ImageLength, BitsPerSample, SamplesPerPixel and SampleFormat tags."""
    fh.seek(0)
    order = "<" if fh.read(2) == b"II" else ">"
    fh.seek(4)
    (ifd,) = struct.unpack(order + "I", fh.read(4))
    fh.seek(ifd)
    (count,) = struct.unpack(order + "H", fh.read(2))
    tags: dict[int, list[int]] = {}
    sizes = {1: 1, 3: 2, 4: 4}  # BYTE, SHORT, LONG: the types these tags use
    codes = {1: "B", 3: "H", 4: "I"}
    for _ in range(count):
        tag, typ, n, raw = struct.unpack(order + "HHI4s", fh.read(12))
        if typ not in sizes or tag not in (256, 257, 258, 277, 339):
            continue
        size = sizes[typ] * n
        if size <= 4:
            data = raw[:size]
        else:
            (offset,) = struct.unpack(order + "I", raw)
            here = fh.tell()
            fh.seek(offset)
            data = fh.read(size)
            fh.seek(here)
        tags[tag] = list(struct.unpack(order + codes[typ] * n, data))
    try:
        width, height = tags[256][0], tags[257][0]
    except KeyError:
        raise ImageInfoError("TIFF without ImageWidth/ImageLength") from None
    depth = tags.get(258, [1])[0]
    channels = tags.get(277, [len(tags.get(258, [1]))])[0]
    sample_format = "float" if tags.get(339, [1])[0] == 3 else "uint"
    return ImageInfo("TIFF", width, height, channels, depth, sample_format)


def _exr(head: bytes) -> ImageInfo:
    """The header attributes ``channels`` (chlist) and ``dataWindow`` (box2i)."""
    pos = 8  # magic and version
    channels: list[int] = []
    window: tuple[int, int, int, int] | None = None
    while pos < len(head):
        name, pos = _cstring(head, pos)
        if not name:
            break
        _type, pos = _cstring(head, pos)
        (size,) = struct.unpack_from("<i", head, pos)
        pos += 4
        value = head[pos : pos + size]
        pos += size
        if name == "channels":
            at = 0
            while at < len(value) and value[at] != 0:
                _channel, at = _cstring(value, at)
                (pixel_type,) = struct.unpack_from("<i", value, at)
                channels.append(pixel_type)
                at += 16  # pixel type, pLinear + 3 reserved, x and y sampling
        elif name == "dataWindow":
            window = struct.unpack("<iiii", value)
    if not channels or window is None:
        raise ImageInfoError("OpenEXR header without channels or dataWindow")
    xmin, ymin, xmax, ymax = window
    # pixel types: 0 UINT (32 bit), 1 HALF, 2 FLOAT
    depth = 16 if all(t == 1 for t in channels) else 32
    sample_format = "uint" if all(t == 0 for t in channels) else "float"
    return ImageInfo("OPEN_EXR", xmax - xmin + 1, ymax - ymin + 1, len(channels), depth, sample_format)


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    """A NUL-terminated string at ``pos`` and the position after it."""
    end = data.index(b"\x00", pos)
    return data[pos:end].decode("latin-1"), end + 1
