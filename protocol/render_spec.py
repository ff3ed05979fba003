"""A render job's settings and the Blender frame-list grammar, shared by the API, the worker and the checker.

Everything here is plain Python and pydantic (no bpy), so the API can validate a job without Blender
and the worker can apply it without the API. Two models:

* :class:`JobSpec` — what a creator configures for a job, every field checked
  with a message a person understands (:func:`parse_job_spec` turns pydantic's errors into
  ``field: message`` lines for a 4xx answer);
* :class:`RenderParams` — the exact parameters one render applies (engine, device, format, size,
  samples, seed, scene, camera, optional border window); the worker renders frames with them and
  the checker re-renders crops with the same values plus a border.

The frame grammar (``1-250``, ``1,3,5-10``, ``1-100x5``) is :mod:`protocol.frames`; the job model validates
``frames`` with it.
"""

from __future__ import annotations

import re
import struct
from enum import StrEnum
from functools import lru_cache
from importlib import metadata
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from protocol.frames import MAX_FRAME_NUMBER, FrameSpecError, chunk_frames, format_frame_spec, parse_frame_spec

# --------------------------------------------------------------------------------------------------
# Enumerations (accepting the names people type)
# --------------------------------------------------------------------------------------------------


class RenderEngine(StrEnum):
    """Render engines; the values are Blender 5.0's ``scene.render.engine`` identifiers."""

    CYCLES = "CYCLES"
    EEVEE = "BLENDER_EEVEE"  # Blender 4.2–4.4 called it BLENDER_EEVEE_NEXT; 5.0 is back to BLENDER_EEVEE
    WORKBENCH = "BLENDER_WORKBENCH"


class Device(StrEnum):
    """Where Cycles renders (EEVEE and Workbench always use the node's OpenGL/Vulkan device)."""

    CPU = "CPU"
    GPU = "GPU"


class OutputFormat(StrEnum):
    """Output image formats; the values are Blender's ``image_settings.file_format`` identifiers."""

    PNG = "PNG"
    OPEN_EXR = "OPEN_EXR"
    JPEG = "JPEG"
    TIFF = "TIFF"

    @property
    def extension(self) -> str:
        """The file name extension Blender uses for this format."""
        return {"PNG": "png", "OPEN_EXR": "exr", "JPEG": "jpg", "TIFF": "tif"}[self.value]

    @property
    def color_depths(self) -> tuple[int, ...]:
        """Bit depths per channel Blender 5.0 offers for this format (measured)."""
        return {"PNG": (8, 16), "OPEN_EXR": (16, 32), "JPEG": (8,), "TIFF": (8, 16)}[self.value]

    @property
    def default_color_depth(self) -> int:
        """Depth used when a job does not choose one (EXR: half float, Blender's own default)."""
        return 16 if self is OutputFormat.OPEN_EXR else 8


class ColorMode(StrEnum):
    """Channels written to the file."""

    RGB = "RGB"
    RGBA = "RGBA"


class ResolutionPreset(StrEnum):
    """Named output sizes; CUSTOM takes ``resolution_x`` and ``resolution_y``."""

    HD = "HD"
    FHD = "FHD"
    QHD = "QHD"
    R2K = "2K"
    R4K = "4K"
    R8K = "8K"
    CUSTOM = "custom"


#: Width and height of each preset (2K is DCI 2K flat-ish 2048×1080).
RESOLUTION_PRESETS: dict[ResolutionPreset, tuple[int, int]] = {
    ResolutionPreset.HD: (1280, 720),
    ResolutionPreset.FHD: (1920, 1080),
    ResolutionPreset.QHD: (2560, 1440),
    ResolutionPreset.R2K: (2048, 1080),
    ResolutionPreset.R4K: (3840, 2160),
    ResolutionPreset.R8K: (7680, 4320),
}


class Region(StrEnum):
    """Where the job's workers must be (``any``: no restriction)."""

    ANY = "any"
    AFRICA = "africa"
    ASIA = "asia"
    EUROPE = "europe"
    NORTH_AMERICA = "north-america"
    OCEANIA = "oceania"
    SOUTH_AMERICA = "south-america"


class GpuVendor(StrEnum):
    """GPU makers a job may ask for."""

    ANY = "any"
    NVIDIA = "nvidia"
    AMD = "amd"
    INTEL = "intel"
    APPLE = "apple"


class PricingTier(StrEnum):
    """Pricing tiers: which workers may take the job, and at what price."""

    TIER_1 = "tier-1"  # cost optimization
    TIER_2 = "tier-2"  # productivity
    TIER_3 = "tier-3"  # trusted partners
    NONE = "none"


PRICING_TIER_LABELS: dict[PricingTier, str] = {
    PricingTier.TIER_1: "Tier 1 — cost optimization",
    PricingTier.TIER_2: "Tier 2 — productivity",
    PricingTier.TIER_3: "Tier 3 — trusted partners",
    PricingTier.NONE: "no tier",
}


def _fail(message: str) -> PydanticCustomError:
    """A validation error whose text is exactly ``message`` (no "Value error," prefix)."""
    return PydanticCustomError("invalid_setting", "{reason}", {"reason": message})


def _key(value: object) -> str:
    """A loose lookup key: lower case, no spaces, dashes or underscores."""
    return re.sub(r"[\s_\-()]+", "", str(value)).lower()


def _choice(enum: type[StrEnum], aliases: dict[str, str], what: str, choices: str) -> Any:
    """A before-validator mapping what people type (any case, aliases) onto ``enum``."""

    def parse(value: object) -> object:
        if isinstance(value, enum):
            return value
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _fail(f"{what} must be one of {choices}")
        key = _key(value)
        for member in enum:
            if key in (_key(member.value), _key(member.name)):
                return member
        if key in aliases:
            return enum(aliases[key])
        raise _fail(f"unknown {what} {str(value)!r}; choose one of {choices}")

    return BeforeValidator(parse)


def _between(low: float, high: float, unit: str = "") -> Any:
    """An after-validator for ``low <= value <= high`` with a readable message."""

    def check(value: float | None) -> float | None:
        if value is not None and not low <= value <= high:
            raise _fail(f"must be between {_num(low)} and {_num(high)}{unit} (got {_num(value)})")
        return value

    return AfterValidator(check)


def _num(value: float) -> str:
    """A number as a person writes it (no trailing .0)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


EngineField = Annotated[
    RenderEngine,
    _choice(
        RenderEngine,
        {
            "eevee": "BLENDER_EEVEE",
            "eeveenext": "BLENDER_EEVEE",
            "blendereeveenext": "BLENDER_EEVEE",
            "workbench": "BLENDER_WORKBENCH",
        },
        "engine",
        "Cycles, EEVEE or Workbench",
    ),
]
DeviceField = Annotated[Device, _choice(Device, {}, "device", "CPU or GPU")]
OutputFormatField = Annotated[
    OutputFormat,
    _choice(
        OutputFormat,
        {"exr": "OPEN_EXR", "openexr": "OPEN_EXR", "jpg": "JPEG", "tif": "TIFF"},
        "output format",
        "PNG, OpenEXR, JPEG or TIFF",
    ),
]
ColorModeField = Annotated[ColorMode, _choice(ColorMode, {}, "color mode", "RGB or RGBA")]
PresetField = Annotated[
    ResolutionPreset,
    _choice(
        ResolutionPreset,
        {"720p": "HD", "1080p": "FHD", "1440p": "QHD", "2160p": "4K", "uhd": "4K", "4320p": "8K", "fullhd": "FHD"},
        "resolution preset",
        "HD, FHD, QHD, 2K, 4K, 8K or custom",
    ),
]
RegionField = Annotated[
    Region,
    _choice(
        Region,
        {"na": "north-america", "sa": "south-america", "eu": "europe", "us": "north-america"},
        "worker location",
        ", ".join(r.value for r in Region),
    ),
]
GpuVendorField = Annotated[
    GpuVendor, _choice(GpuVendor, {"amdati": "amd", "ati": "amd"}, "GPU vendor", "any, nvidia, amd, intel or apple")
]
PricingTierField = Annotated[
    PricingTier,
    _choice(
        PricingTier,
        {
            "1": "tier-1",
            "2": "tier-2",
            "3": "tier-3",
            "tier1costoptimization": "tier-1",
            "tier2productivity": "tier-2",
            "tier3trustedpartners": "tier-3",
            "notier": "none",
            "costoptimization": "tier-1",
            "productivity": "tier-2",
            "trustedpartners": "tier-3",
        },
        "pricing tier",
        "tier-1 (cost optimization), tier-2 (productivity), tier-3 (trusted partners) or none",
    ),
]

#: Bounds of a custom resolution side (Blender allows 4..65536; 16384 keeps one frame's memory sane).
MIN_RESOLUTION, MAX_RESOLUTION = 4, 16_384
#: Sample bounds for Cycles and EEVEE (Cycles' own limit is 2^24; beyond 65536 is a typo, not a job).
MIN_SAMPLES, MAX_SAMPLES = 1, 65_536
#: Workbench anti-aliasing sample counts (``scene.display.render_aa``); 1 means anti-aliasing off.
WORKBENCH_SAMPLES: dict[int, str] = {1: "OFF", 5: "5", 8: "8", 11: "11", 16: "16", 32: "32"}
#: Cycles' seed is a signed 32-bit int in RNA.
MAX_SEED = 2**31 - 1


def _check_name(value: str | None) -> str | None:
    """A Blender data-block name: not blank, at most 255 bytes (Blender 5.0's limit)."""
    if value is None:
        return None
    if not value.strip():
        raise _fail("must not be blank; leave it out to use the file's own")
    if len(value.encode()) > 255:
        raise _fail("is longer than Blender's 255-byte name limit")
    return value


BlenderName = Annotated[str | None, AfterValidator(_check_name)]


class BorderWindow(BaseModel):
    """A render border (Blender's ``border_min_x…``): fractions of the frame, y measured from the bottom."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_x: Annotated[float, _between(0.0, 1.0)]
    min_y: Annotated[float, _between(0.0, 1.0)]
    max_x: Annotated[float, _between(0.0, 1.0)]
    max_y: Annotated[float, _between(0.0, 1.0)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        """A window with no width or height renders nothing."""
        if self.min_x >= self.max_x or self.min_y >= self.max_y:
            raise _fail("border: min_x must be below max_x and min_y below max_y")
        return self

    def pixel_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The pixels Blender renders, as (left, top, right, bottom) in image coordinates (top row 0, end exclusive)."""
        # Blender stores the border as float and truncates float*int (render pipeline's disprect); do the same.
        x0, x1 = _f32_trunc(self.min_x, width), _f32_trunc(self.max_x, width)
        y0, y1 = _f32_trunc(self.min_y, height), _f32_trunc(self.max_y, height)
        return x0, height - y1, x1, height - y0

    @classmethod
    def from_pixel_box(cls, width: int, height: int, left: int, top: int, right: int, bottom: int) -> BorderWindow:
        """The border that renders exactly the pixels (left, top)–(right, bottom) of a width×height frame."""
        if not (0 <= left < right <= width and 0 <= top < bottom <= height):
            raise ValueError(f"pixel box {(left, top, right, bottom)} is not inside a {width}×{height} frame")
        # Aim at pixel centres: truncation then lands on the intended pixel whatever float rounding does.
        window = cls(
            min_x=(left + 0.5) / width if left else 0.0,
            max_x=(right + 0.5) / width if right < width else 1.0,
            min_y=(height - bottom + 0.5) / height if bottom < height else 0.0,
            max_y=(height - top + 0.5) / height if top else 1.0,
        )
        if window.pixel_box(width, height) != (left, top, right, bottom):  # pragma: no cover - a logic error
            raise AssertionError("border rounding does not reproduce the pixel box")
        return window


def _f32(value: float) -> float:
    """``value`` rounded to IEEE single precision, as Blender stores it."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _f32_trunc(fraction: float, size: int) -> int:
    """``int(float(fraction) * size)`` computed in single precision, as Blender's C code does."""
    # The product of a float32 and a small int is exact in double; rounding it once to float32 is the C result.
    return int(_f32(_f32(fraction) * size))


def output_size(resolution_x: int, resolution_y: int, percentage: int) -> tuple[int, int]:
    """The pixel size Blender renders for a resolution and percentage (integer arithmetic, as Blender does)."""
    return resolution_x * percentage // 100, resolution_y * percentage // 100


# --------------------------------------------------------------------------------------------------
# The parameters of one render
# --------------------------------------------------------------------------------------------------


class RenderParams(BaseModel):
    """The exact settings one Blender render applies; ``None`` keeps the value stored in the .blend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: EngineField = RenderEngine.CYCLES
    device: DeviceField = Device.CPU
    output_format: OutputFormatField = OutputFormat.PNG
    color_depth: int | None = None
    color_mode: ColorModeField | None = None
    jpeg_quality: Annotated[int, _between(1, 100)] = 90
    resolution_x: Annotated[int | None, _between(MIN_RESOLUTION, MAX_RESOLUTION, " pixels")] = None
    resolution_y: Annotated[int | None, _between(MIN_RESOLUTION, MAX_RESOLUTION, " pixels")] = None
    resolution_percentage: Annotated[int | None, _between(1, 100, "%")] = None
    samples: Annotated[int | None, _between(MIN_SAMPLES, MAX_SAMPLES)] = None
    seed: Annotated[int, _between(0, MAX_SEED)] = 0
    animated_seed: bool = False
    #: Denoising and adaptive sampling make a border crop differ from the same pixels of the full frame
    #: (measured: up to 0.2 and 0.04 in linear float); with both off, crops are bit-identical.
    denoising: bool | None = None
    adaptive_sampling: bool | None = None
    #: Blender's dither noise on 8/16-bit output (``render.dither_intensity``, default 1) depends on each
    #: pixel's place in the rendered buffer, so a crop differs from the full frame by up to 2/255 (measured);
    #: 0 makes 8-bit crops bit-identical too. Float output (OpenEXR) is never dithered.
    dither: Annotated[float | None, _between(0.0, 2.0)] = None
    scene: BlenderName = None
    camera: BlenderName = None
    border: BorderWindow | None = None
    #: With a border: write only the border's pixels (True) or the full frame with the rest transparent.
    crop_to_border: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Cross-field checks shared with the job model."""
        _check_format(self.output_format, self.color_depth, self.color_mode)
        _check_samples(self.engine, self.samples)
        return self

    @property
    def effective_color_depth(self) -> int:
        """The bit depth per channel that will be written."""
        return self.color_depth or self.output_format.default_color_depth

    @property
    def effective_color_mode(self) -> ColorMode:
        """The channels that will be written (RGBA unless the format has no alpha)."""
        if self.color_mode is not None:
            return self.color_mode
        return ColorMode.RGB if self.output_format is OutputFormat.JPEG else ColorMode.RGBA


def _check_format(fmt: OutputFormat, depth: int | None, mode: ColorMode | None) -> None:
    """Bit depth and channels must exist in the chosen format."""
    if depth is not None and depth not in fmt.color_depths:
        allowed = " or ".join(str(d) for d in fmt.color_depths)
        raise _fail(f"color_depth: {fmt.name} files can be {allowed} bits per channel, not {depth}")
    if fmt is OutputFormat.JPEG and mode is ColorMode.RGBA:
        raise _fail("color_mode: JPEG has no alpha channel; use RGB, or PNG/OpenEXR/TIFF for RGBA")


def _check_samples(engine: RenderEngine, samples: int | None) -> None:
    """Sample counts per engine (Workbench only knows a few anti-aliasing levels)."""
    if samples is None:
        return
    if engine is RenderEngine.WORKBENCH and samples not in WORKBENCH_SAMPLES:
        allowed = ", ".join(str(s) for s in WORKBENCH_SAMPLES)
        raise _fail(f"samples: Workbench renders with {allowed} anti-aliasing samples, not {samples}")


# --------------------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def installed_blender_version() -> str | None:
    """The version of the installed ``bpy`` wheel (read from its metadata; bpy itself is not imported)."""
    try:
        return metadata.version("bpy")
    except metadata.PackageNotFoundError:
        return None


def _check_blender_version(value: str | None) -> str:
    """The job's Blender version must be the one this network renders with (the installed bpy)."""
    installed = installed_blender_version()
    if installed is None:
        raise _fail("Blender (the bpy package) is not installed here, so no Blender version can be accepted")
    if value is None or value.strip() == "":
        return installed
    wanted = value.strip().lower().removeprefix("blender").strip()
    if installed == wanted or installed.startswith(wanted + "."):
        return installed
    raise _fail(f"Blender {value.strip()} is not available; this network renders with Blender {installed}")


class Timeouts(BaseModel):
    """Time limits, in seconds: warn about a slow frame, stop the scene analysis, stop a frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A frame still rendering after this long raises an alert (the creator is told; nothing stops).
    alert_after_s: Annotated[float | None, _between(1, 86_400, " seconds")] = None
    #: Scene inspection and the pre-test frame must finish within this.
    analysis_timeout_s: Annotated[float, _between(10, 86_400, " seconds")] = 600
    #: A frame rendering longer than this is killed and its task fails.
    stop_after_s: Annotated[float, _between(1, 86_400, " seconds")] = 3_600

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        """An alert after the stop would never be seen."""
        if self.alert_after_s is not None and self.alert_after_s >= self.stop_after_s:
            raise _fail(
                f"alert_after_s ({_num(self.alert_after_s)} s) must be shorter than stop_after_s ({_num(self.stop_after_s)} s)"
            )
        return self


class HardwareRequirements(BaseModel):
    """What a worker must have to take the job (``None``: no requirement)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpu_vendor: GpuVendorField = GpuVendor.ANY
    #: Case-insensitive substring of the GPU's model name, e.g. "RTX 4090".
    gpu_model: Annotated[str | None, Field(max_length=100)] = None
    #: Minimum number of GPUs (default: 1 when the device is GPU, else none).
    gpu_count: Annotated[int | None, _between(1, 16)] = None
    min_vram_gb: Annotated[float | None, _between(0.5, 1024, " GB")] = None
    min_ram_gb: Annotated[float | None, _between(0.5, 16_384, " GB")] = None

    @property
    def asks_for_gpu(self) -> bool:
        """Whether any GPU requirement is set."""
        return (
            self.gpu_vendor is not GpuVendor.ANY
            or bool(self.gpu_model)
            or self.gpu_count is not None
            or self.min_vram_gb is not None
        )


class JobSpec(BaseModel):
    """Everything a creator configures for a render job; validated field by field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blender_version: Annotated[str, BeforeValidator(_check_blender_version)] = Field(
        default_factory=lambda: _check_blender_version(None)
    )
    engine: EngineField = RenderEngine.CYCLES
    device: DeviceField = Device.CPU
    output_format: OutputFormatField = OutputFormat.PNG
    color_depth: int | None = None
    color_mode: ColorModeField | None = None
    jpeg_quality: Annotated[int, _between(1, 100)] = 90
    resolution: PresetField = ResolutionPreset.FHD
    resolution_x: Annotated[int | None, _between(MIN_RESOLUTION, MAX_RESOLUTION, " pixels")] = None
    resolution_y: Annotated[int | None, _between(MIN_RESOLUTION, MAX_RESOLUTION, " pixels")] = None
    resolution_percentage: Annotated[int, _between(1, 100, "%")] = 100
    #: None: the .blend's own sample count.
    samples: Annotated[int | None, _between(MIN_SAMPLES, MAX_SAMPLES)] = None
    seed: Annotated[int, _between(0, MAX_SEED)] = 0
    animated_seed: bool = False
    denoising: bool | None = None
    adaptive_sampling: bool | None = None
    scene: BlenderName = None
    camera: BlenderName = None
    frames: str
    pretest_frame: Annotated[int | None, _between(0, MAX_FRAME_NUMBER)] = None
    frames_per_node: Annotated[int, _between(1, 10_000, " frames")] = 1
    timeouts: Timeouts = Field(default_factory=Timeouts)
    worker_location: RegionField = Region.ANY
    hardware: HardwareRequirements = Field(default_factory=HardwareRequirements)
    pricing_tier: PricingTierField = PricingTier.NONE

    @model_validator(mode="before")
    @classmethod
    def _normalise_frames(cls, data: Any) -> Any:
        """Parse ``frames`` early so its error names the field and the exact problem."""
        if isinstance(data, dict) and "frames" in data:
            spec = data["frames"]
            # A single frame number or a list of frames is as clear as a spec string.
            if isinstance(spec, int) and not isinstance(spec, bool):
                spec = str(spec)
            elif isinstance(spec, list | tuple) and all(isinstance(f, int) and not isinstance(f, bool) for f in spec):
                spec = ",".join(str(f) for f in spec)
            try:
                frames = parse_frame_spec(spec)
            except FrameSpecError as exc:
                raise PydanticCustomError("invalid_frames", "frames: {reason}", {"reason": str(exc)}) from None
            data = {**data, "frames": format_frame_spec(frames)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Checks that involve more than one field."""
        _check_format(self.output_format, self.color_depth, self.color_mode)
        _check_samples(self.engine, self.samples)
        if self.resolution is ResolutionPreset.CUSTOM:
            if self.resolution_x is None or self.resolution_y is None:
                raise _fail("resolution: a custom resolution needs both resolution_x and resolution_y")
        else:
            preset = RESOLUTION_PRESETS[self.resolution]
            given = (self.resolution_x or preset[0], self.resolution_y or preset[1])
            if given != preset:
                raise _fail(
                    f"resolution: {self.resolution.value} is {preset[0]}×{preset[1]} but resolution_x/resolution_y "
                    f"say {given[0]}×{given[1]}; choose resolution 'custom' for your own size"
                )
        if self.pretest_frame is not None and self.pretest_frame not in set(self.frame_list()):
            raise _fail(f"pretest_frame: frame {self.pretest_frame} is not one of the job's frames ({self.frames})")
        if self.device is Device.CPU and self.hardware.asks_for_gpu:
            raise _fail("hardware: GPU requirements (vendor, model, count, VRAM) need device GPU")
        return self

    @property
    def width(self) -> int:
        """Resolution X before the percentage."""
        return (
            self.resolution_x if self.resolution is ResolutionPreset.CUSTOM else RESOLUTION_PRESETS[self.resolution][0]
        )

    @property
    def height(self) -> int:
        """Resolution Y before the percentage."""
        return (
            self.resolution_y if self.resolution is ResolutionPreset.CUSTOM else RESOLUTION_PRESETS[self.resolution][1]
        )

    @property
    def output_size(self) -> tuple[int, int]:
        """Pixel size of every rendered frame."""
        return output_size(self.width, self.height, self.resolution_percentage)

    @property
    def min_gpu_count(self) -> int:
        """GPUs a worker needs: the explicit count, else 1 for GPU jobs and 0 for CPU jobs."""
        if self.hardware.gpu_count is not None:
            return self.hardware.gpu_count
        return 1 if self.device is Device.GPU else 0

    def frame_list(self) -> list[int]:
        """The job's frames, sorted and de-duplicated."""
        return parse_frame_spec(self.frames)

    def chunks(self) -> list[list[int]]:
        """The job's tasks: consecutive frames, ``frames_per_node`` per task."""
        return chunk_frames(self.frame_list(), self.frames_per_node)

    def render_params(self, *, border: BorderWindow | None = None) -> RenderParams:
        """The exact parameters a worker (or, with a border, a checker) renders this job's frames with."""
        return RenderParams(
            engine=self.engine,
            device=self.device,
            output_format=self.output_format,
            color_depth=self.color_depth,
            color_mode=self.color_mode,
            jpeg_quality=self.jpeg_quality,
            resolution_x=self.width,
            resolution_y=self.height,
            resolution_percentage=self.resolution_percentage,
            samples=self.samples,
            seed=self.seed,
            animated_seed=self.animated_seed,
            denoising=self.denoising,
            adaptive_sampling=self.adaptive_sampling,
            scene=self.scene,
            camera=self.camera,
            border=border,
        )


class JobSpecError(ValueError):
    """Job settings that failed validation; ``problems`` lists ``(field, message)`` pairs for a 4xx answer."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        """Keep the problems and build one readable message."""
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" if field else message for field, message in problems))


def describe_validation_error(exc: ValidationError) -> list[tuple[str, str]]:
    """Turn pydantic's errors into ``(field, message)`` pairs a person can act on."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a render setting (check the spelling)"
        elif error["type"] == "missing":
            message = "is required"
        # Model-level messages start with the field they are about; lift it out of the text.
        head, sep, rest = message.partition(": ")
        if not field and sep and re.fullmatch(r"[a-z_]+", head):
            field, message = head, rest
        elif field and sep and re.fullmatch(r"[a-z_]+", head) and not field.endswith(head):
            field, message = f"{field}.{head}", rest
        problems.append((field, message))
    return problems


def parse_job_spec(data: Any) -> JobSpec:
    """Validate job settings from JSON-like data, raising :class:`JobSpecError` with readable problems."""
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        raise JobSpecError(describe_validation_error(exc)) from None
