"""Loading a worker's frame, the whole-frame checks, and the per-crop comparison metrics.

Pixels are loaded as float32 arrays (height, width, channels), top row first:

* PNG, JPEG and TIFF (8 or 16 bits) are display-referred already (Blender wrote them through the view
  transform): values are the integers divided by 255 or 65535;
* OpenEXR (half or float) is scene-linear: metrics use ``srgb(clip(x, 0, 1))`` — what Blender's
  *Standard* view shows — so SSIM/PSNR/hashes mean the same on every format; the linear maximum
  difference is kept as an extra number.

Decoders: ``imagecodecs`` for PNG (Pillow drops 16-bit colour PNGs to 8 bits) and JPEG, ``tifffile``
for TIFF, ``OpenEXR`` for EXR.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

from blender.crops import CropBox


class FrameDecodeError(ValueError):
    """The file cannot be decoded as a PNG, JPEG, TIFF or OpenEXR image."""


@dataclass
class LoadedFrame:
    """A decoded frame: float pixels plus what the file said about itself."""

    pixels: np.ndarray  # float32 (h, w, c); display-referred for uint formats, linear for EXR
    file_format: str  # PNG, JPEG, TIFF, OPEN_EXR
    bit_depth: int
    channels: int

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.pixels.shape[0])

    @property
    def linear(self) -> bool:
        """Whether the values are scene-linear (OpenEXR)."""
        return self.file_format == "OPEN_EXR"

    def display(self) -> np.ndarray:
        """Display-referred RGB in [0, 1] (alpha dropped; grey expanded to three channels)."""
        return to_display(self.pixels, linear=self.linear)


def load_frame(path: str | os.PathLike[str]) -> LoadedFrame:
    """Decode a PNG/JPEG/TIFF/OpenEXR file into a :class:`LoadedFrame`; :class:`FrameDecodeError` otherwise."""
    data = Path(path).read_bytes()
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            import imagecodecs  # noqa: PLC0415 - heavy, only needed here

            return _from_uint(imagecodecs.png_decode(data), "PNG")
        if data.startswith(b"\xff\xd8"):
            import imagecodecs  # noqa: PLC0415 - heavy, only needed here

            return _from_uint(imagecodecs.jpeg8_decode(data), "JPEG")
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            import tifffile  # noqa: PLC0415 - heavy, only needed for TIFF frames

            return _from_uint(tifffile.imread(path), "TIFF")
        if data.startswith(b"\x76\x2f\x31\x01"):
            return _exr(path)
    except FrameDecodeError:
        raise
    except Exception as exc:  # every decoder has its own exception types
        raise FrameDecodeError(f"{os.fspath(path)}: cannot decode: {exc}") from None
    raise FrameDecodeError(f"{os.fspath(path)}: not a PNG, JPEG, TIFF or OpenEXR file")


def _from_uint(array: np.ndarray, fmt: str) -> LoadedFrame:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or array.shape[0] == 0 or array.shape[1] == 0:
        raise FrameDecodeError(f"unexpected {fmt} pixel layout {array.shape}")
    if array.dtype == np.uint8:
        depth, scale = 8, 255.0
    elif array.dtype == np.uint16:
        depth, scale = 16, 65535.0
    else:
        raise FrameDecodeError(f"unsupported {fmt} sample type {array.dtype}")
    return LoadedFrame(array.astype(np.float32) / np.float32(scale), fmt, depth, int(array.shape[2]))


def _exr(path: str | os.PathLike[str]) -> LoadedFrame:
    import OpenEXR  # noqa: PLC0415 - heavy, only needed for EXR frames

    with OpenEXR.File(os.fspath(path)) as exr:
        channels = exr.channels()
        if "RGBA" in channels or "RGB" in channels:
            pixels = channels.get("RGBA", channels.get("RGB")).pixels
        else:
            names = [n for n in ("R", "G", "B", "A", "Y", "V") if n in channels]
            if not names:
                raise FrameDecodeError(f"OpenEXR without R/G/B/A channels: {sorted(channels)}")
            pixels = np.stack([channels[n].pixels for n in names], axis=-1)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    depth = 16 if pixels.dtype == np.float16 else 32
    return LoadedFrame(np.asarray(pixels, dtype=np.float32), "OPEN_EXR", depth, int(pixels.shape[2]))


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer function on values already clipped to [0, 1]."""
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055).astype(np.float32)


def to_display(pixels: np.ndarray, *, linear: bool) -> np.ndarray:
    """RGB display values in [0, 1]: sRGB of the clipped linear values for EXR, the stored values otherwise."""
    channels = pixels.shape[2]
    rgb = np.repeat(pixels[:, :, :1], 3, axis=2) if channels in (1, 2) else pixels[:, :, :3]
    rgb = np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0)
    rgb = np.clip(rgb, 0.0, 1.0)
    return srgb_encode(rgb) if linear else rgb.astype(np.float32)


def cut(pixels: np.ndarray, box: CropBox) -> np.ndarray:
    """The box's pixels of an (h, w, c) array."""
    return pixels[box.top : box.bottom, box.left : box.right]


# -- metrics ---------------------------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical arrays."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al., scikit-image, 7×7 windows or the largest odd window that fits) over RGB in [0, 1]."""
    side = min(a.shape[0], a.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=2, win_size=win))


def _to_pil(display: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(display, 0, 1) * 255).astype(np.uint8), "RGB")


def perceptual_hashes(display: np.ndarray) -> dict[str, str]:
    """pHash and dHash (imagehash, 64 bits each, hex) of display RGB in [0, 1]."""
    image = _to_pil(display)
    return {"phash": str(imagehash.phash(image)), "dhash": str(imagehash.dhash(image))}


def hash_distance(a: str, b: str) -> int:
    """Hamming distance between two hex hashes of the same length."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@dataclass
class CropMetrics:
    """How a worker's crop compares with the checker's re-render of the same pixels."""

    ssim: float
    psnr_db: float  # inf when identical
    max_abs_diff: float  # display values, [0, 1]
    mean_abs_diff: float
    #: Share of pixels (any channel) differing by more than 3/255 in display values.
    frac_over_3: float
    phash_distance: int
    dhash_distance: int
    max_abs_diff_linear: float | None = None  # OpenEXR only: before the display transform

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``inf`` as the string "inf")."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float) and math.isinf(value):
                data[key] = "inf"
            elif isinstance(value, float):
                data[key] = round(value, 6)
        return data


def compare_crops(worker: np.ndarray, reference: np.ndarray, *, linear: bool = False) -> CropMetrics:
    """All metrics between two crops of the same shape (raw loaded pixels; ``linear`` for EXR)."""
    if worker.shape[:2] != reference.shape[:2]:
        raise ValueError(f"crop shapes differ: {worker.shape} vs {reference.shape}")
    a, b = to_display(worker, linear=linear), to_display(reference, linear=linear)
    diff = np.abs(a - b)
    ha, hb = perceptual_hashes(a), perceptual_hashes(b)
    linear_diff = None
    if linear:
        channels = min(worker.shape[2], reference.shape[2], 3)
        linear_diff = float(np.max(np.abs(worker[:, :, :channels] - reference[:, :, :channels])))
    return CropMetrics(
        ssim=ssim(a, b),
        psnr_db=psnr(a, b),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        frac_over_3=float(np.mean(np.any(diff > 3.5 / 255, axis=2))),
        phash_distance=hash_distance(ha["phash"], hb["phash"]),
        dhash_distance=hash_distance(ha["dhash"], hb["dhash"]),
        max_abs_diff_linear=linear_diff,
    )


# -- whole-frame checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameFingerprint:
    """What the checker remembers of a job's other frames to spot copies: perceptual hashes and a pixel hash."""

    phash: str
    dhash: str
    pixels_sha256: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> FrameFingerprint:
        """From :meth:`to_dict`."""
        return cls(phash=data["phash"], dhash=data["dhash"], pixels_sha256=data["pixels_sha256"])


def fingerprint(frame: LoadedFrame) -> FrameFingerprint:
    """The frame's fingerprint (hashes of its display values at 8 bits)."""
    display = frame.display()
    hashes = perceptual_hashes(display)
    quantised = np.round(display * 255).astype(np.uint8)
    digest = hashlib.sha256(f"{quantised.shape}".encode() + quantised.tobytes()).hexdigest()
    return FrameFingerprint(hashes["phash"], hashes["dhash"], digest)


@dataclass
class Check:
    """One whole-frame check: its name, whether it passed, what was seen, and how bad a failure is."""

    name: str
    ok: bool
    detail: str
    #: "fail" (the frame is wrong) or "unsure" (suspicious, a second checker decides).
    severity: str = "fail"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class WholeFrameConfig:
    """Thresholds of the whole-frame checks (see checker_node/verify/DESIGN.md for how they were chosen)."""

    #: A frame whose display luminance varies less than this (std dev, [0, 1]) is blank/constant.
    min_std: float = 0.004
    #: Another frame of the job within this pHash *and* dHash distance counts as a copy (0: identical hashes).
    duplicate_max_distance: int = 0
    #: What a copy means: "fail", "unsure" (a second checker looks; the default), or "ignore" (static scenes).
    duplicate_policy: str = "unsure"

    def __post_init__(self) -> None:
        """Validate the policy name."""
        if self.duplicate_policy not in ("fail", "unsure", "ignore"):
            raise ValueError("duplicate_policy must be fail, unsure or ignore")


@dataclass
class ExpectedFrame:
    """What the job asked for: format, bit depth and pixel size (resolution × percentage)."""

    file_format: str
    bit_depth: int
    width: int
    height: int
    sha256: str  # from the signed manifest
    channels: tuple[int, ...] = field(default=(3, 4))


def whole_frame_checks(
    path: str | os.PathLike[str],
    expected: ExpectedFrame,
    other_frames: list[FrameFingerprint] | None = None,
    config: WholeFrameConfig | None = None,
) -> tuple[list[Check], LoadedFrame | None, FrameFingerprint | None]:
    """Run every whole-frame check; returns the checks, the decoded frame (None if undecodable) and its fingerprint."""
    config = config or WholeFrameConfig()
    checks: list[Check] = []
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    checks.append(
        Check("sha256", digest == expected.sha256.lower(), f"file {digest}, manifest {expected.sha256.lower()}")
    )
    try:
        frame = load_frame(path)
    except (FrameDecodeError, OSError) as exc:
        checks.append(Check("decodes", False, str(exc)))
        return checks, None, None
    checks.append(Check("decodes", True, f"{frame.file_format} {frame.width}×{frame.height}×{frame.channels}"))
    checks.append(
        Check("format", frame.file_format == expected.file_format, f"{frame.file_format}, job {expected.file_format}")
    )
    checks.append(
        Check("bit_depth", frame.bit_depth == expected.bit_depth, f"{frame.bit_depth}, job {expected.bit_depth}")
    )
    checks.append(
        Check(
            "dimensions",
            (frame.width, frame.height) == (expected.width, expected.height),
            f"{frame.width}×{frame.height}, job {expected.width}×{expected.height}",
        )
    )
    checks.append(
        Check("channels", frame.channels in expected.channels, f"{frame.channels}, job {list(expected.channels)}")
    )
    display = frame.display()
    luminance = display @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    std = float(luminance.std())
    checks.append(Check("not_blank", std >= config.min_std, f"luminance std {std:.5f}, minimum {config.min_std}"))
    print_ = fingerprint(frame)
    if config.duplicate_policy != "ignore":
        copies = []
        for index, other in enumerate(other_frames or []):
            same_pixels = other.pixels_sha256 == print_.pixels_sha256
            dp, dd = hash_distance(other.phash, print_.phash), hash_distance(other.dhash, print_.dhash)
            if same_pixels or (dp <= config.duplicate_max_distance and dd <= config.duplicate_max_distance):
                copies.append(f"#{index} (phash {dp}, dhash {dd}, same pixels {same_pixels})")
        checks.append(
            Check(
                "not_a_copy",
                not copies,
                ("like other frames " + ", ".join(copies)) if copies else f"checked against {len(other_frames or [])}",
                severity=config.duplicate_policy,
            )
        )
    return checks, frame, print_
