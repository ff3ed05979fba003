"""Image headers read without an image library (rendered files are covered in test_render_session)."""

from __future__ import annotations

import struct
import zlib

import pytest

from blender.imageinfo import ImageInfoError, read_image_info


def test_png_grey_16(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 3, 2, 16, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path = tmp_path / "grey.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk)
    info = read_image_info(path)
    assert (info.format, info.width, info.height, info.channels, info.bit_depth) == ("PNG", 3, 2, 1, 16)


def test_big_endian_tiff(tmp_path):
    entries = [(256, 3, 1, 7 << 16), (257, 3, 1, 5 << 16), (258, 3, 1, 16 << 16), (277, 3, 1, 1 << 16)]
    ifd = struct.pack(">H", len(entries)) + b"".join(struct.pack(">HHII", *e) for e in entries) + b"\0\0\0\0"
    path = tmp_path / "be.tif"
    path.write_bytes(b"MM\x00*" + struct.pack(">I", 8) + ifd)
    info = read_image_info(path)
    assert (info.format, info.width, info.height, info.channels, info.bit_depth) == ("TIFF", 7, 5, 1, 16)


@pytest.mark.parametrize("data", [b"", b"GIF89a....", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_unknown_or_damaged(tmp_path, data):
    path = tmp_path / "x.img"
    path.write_bytes(data)
    with pytest.raises(ImageInfoError):
        read_image_info(path)
