"""The job's render settings: accepted spellings, derived values, and a readable error for every bad field."""

from __future__ import annotations

import pytest

from protocol.render_spec import (
    RESOLUTION_PRESETS,
    BorderWindow,
    ColorMode,
    Device,
    JobSpec,
    JobSpecError,
    OutputFormat,
    PricingTier,
    Region,
    RenderEngine,
    RenderParams,
    ResolutionPreset,
    installed_blender_version,
    output_size,
    parse_job_spec,
)


def job(**fields):
    return parse_job_spec({"frames": "1-10", **fields})


def test_defaults():
    settings = job()
    assert settings.blender_version == installed_blender_version() == "5.0.1"
    assert settings.engine is RenderEngine.CYCLES and settings.device is Device.CPU
    assert settings.output_format is OutputFormat.PNG
    assert settings.resolution is ResolutionPreset.FHD and settings.output_size == (1920, 1080)
    assert settings.frames == "1-10" and settings.frame_list() == list(range(1, 11))
    assert settings.frames_per_node == 1 and len(settings.chunks()) == 10
    assert settings.timeouts.stop_after_s == 3600 and settings.timeouts.alert_after_s is None
    assert settings.worker_location is Region.ANY and settings.pricing_tier is PricingTier.NONE
    assert settings.min_gpu_count == 0


@pytest.mark.parametrize(
    ("field", "typed", "value"),
    [
        ("engine", "cycles", RenderEngine.CYCLES),
        ("engine", "Cycles", RenderEngine.CYCLES),
        ("engine", "EEVEE", RenderEngine.EEVEE),
        ("engine", "BLENDER_EEVEE_NEXT", RenderEngine.EEVEE),  # the 4.2–4.4 name still works
        ("engine", "Workbench", RenderEngine.WORKBENCH),
        ("engine", "BLENDER_WORKBENCH", RenderEngine.WORKBENCH),
        ("output_format", "OpenEXR", OutputFormat.OPEN_EXR),
        ("output_format", "exr", OutputFormat.OPEN_EXR),
        ("output_format", "jpg", OutputFormat.JPEG),
        ("output_format", "TIFF", OutputFormat.TIFF),
        ("device", "gpu", Device.GPU),
        ("pricing_tier", "Tier 1", PricingTier.TIER_1),
        ("pricing_tier", 2, PricingTier.TIER_2),
        ("pricing_tier", "trusted partners", PricingTier.TIER_3),
        ("pricing_tier", "no tier", PricingTier.NONE),
        ("worker_location", "Europe", Region.EUROPE),
        ("worker_location", "north_america", Region.NORTH_AMERICA),
        ("resolution", "4k", ResolutionPreset.R4K),
        ("resolution", "1080p", ResolutionPreset.FHD),
    ],
)
def test_accepted_spellings(field, typed, value):
    assert getattr(job(**{field: typed}), field) is value


@pytest.mark.parametrize(("preset", "size"), [(p.value, s) for p, s in RESOLUTION_PRESETS.items()])
def test_presets(preset, size):
    assert job(resolution=preset).output_size == size


def test_named_sizes_match_the_issue():
    sizes = {p.value: s for p, s in RESOLUTION_PRESETS.items()}
    assert sizes == {
        "HD": (1280, 720),
        "FHD": (1920, 1080),
        "QHD": (2560, 1440),
        "2K": (2048, 1080),
        "4K": (3840, 2160),
        "8K": (7680, 4320),
    }


def test_custom_resolution_and_percentage():
    settings = job(resolution="custom", resolution_x=64, resolution_y=48, resolution_percentage=50)
    assert (settings.width, settings.height, settings.output_size) == (64, 48, (32, 24))
    assert output_size(1920, 1080, 33) == (633, 356)  # Blender: integer arithmetic, rounded down
    # A preset with its own numbers spelled out is fine.
    assert job(resolution="HD", resolution_x=1280, resolution_y=720).output_size == (1280, 720)


def test_frames_are_normalised_and_accept_lists():
    assert job(frames=" 5, 1-3 ,2").frames == "1-3,5"
    assert job(frames=[1, 2, 3, 9]).frames == "1-3,9"
    assert job(frames=7).frames == "7"
    settings = job(frames="1-100x5", frames_per_node=8, pretest_frame=51)
    assert [len(c) for c in settings.chunks()] == [8, 8, 4]


def test_json_round_trip():
    settings = job(
        engine="eevee",
        output_format="exr",
        color_depth=32,
        pricing_tier="Tier 3",
        hardware={"gpu_vendor": "nvidia", "min_vram_gb": 8},
        device="GPU",
        timeouts={"alert_after_s": 60, "stop_after_s": 600},
    )
    again = JobSpec.model_validate_json(settings.model_dump_json())
    assert again == settings
    assert again.min_gpu_count == 1


def test_render_params():
    settings = job(
        resolution="custom",
        resolution_x=64,
        resolution_y=48,
        samples=4,
        seed=7,
        scene="Scene",
        camera="Camera",
        output_format="jpeg",
    )
    params = settings.render_params()
    assert isinstance(params, RenderParams)
    assert (params.resolution_x, params.resolution_y, params.resolution_percentage) == (64, 48, 100)
    assert (params.samples, params.seed, params.scene, params.camera) == (4, 7, "Scene", "Camera")
    assert params.effective_color_mode is ColorMode.RGB and params.effective_color_depth == 8
    assert params.border is None
    window = BorderWindow(min_x=0.1, min_y=0.1, max_x=0.5, max_y=0.5)
    assert settings.render_params(border=window).border == window


def test_effective_defaults_per_format():
    assert RenderParams(output_format="PNG").effective_color_depth == 8
    assert RenderParams(output_format="exr").effective_color_depth == 16
    assert RenderParams(output_format="PNG").effective_color_mode is ColorMode.RGBA
    assert RenderParams(output_format="jpg").effective_color_mode is ColorMode.RGB


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"frames": "10-1"}, "frames", "'10-1' ends before it starts"),
        ({"frames": ""}, "frames", "the frame list is empty"),
        ({"frames": None}, "frames", "must be text"),
        ({"engine": "unreal"}, "engine", "unknown engine 'unreal'; choose one of Cycles, EEVEE or Workbench"),
        ({"engine": 3.5}, "engine", "engine must be one of Cycles, EEVEE or Workbench"),
        ({"device": "TPU"}, "device", "unknown device 'TPU'; choose one of CPU or GPU"),
        (
            {"output_format": "gif"},
            "output_format",
            "unknown output format 'gif'; choose one of PNG, OpenEXR, JPEG or TIFF",
        ),
        ({"output_format": "jpeg", "color_depth": 16}, "color_depth", "JPEG files can be 8 bits per channel, not 16"),
        (
            {"output_format": "png", "color_depth": 32},
            "color_depth",
            "PNG files can be 8 or 16 bits per channel, not 32",
        ),
        ({"output_format": "exr", "color_depth": 8}, "color_depth", "OPEN_EXR files can be 16 or 32 bits per channel"),
        ({"output_format": "jpeg", "color_mode": "RGBA"}, "color_mode", "JPEG has no alpha channel"),
        ({"color_mode": "CMYK"}, "color_mode", "unknown color mode 'CMYK'"),
        ({"jpeg_quality": 0}, "jpeg_quality", "must be between 1 and 100 (got 0)"),
        (
            {"resolution": "5K"},
            "resolution",
            "unknown resolution preset '5K'; choose one of HD, FHD, QHD, 2K, 4K, 8K or custom",
        ),
        ({"resolution": "custom"}, "resolution", "a custom resolution needs both resolution_x and resolution_y"),
        ({"resolution": "custom", "resolution_x": 100}, "resolution", "needs both"),
        (
            {"resolution_x": 1000},
            "resolution",
            "FHD is 1920×1080 but resolution_x/resolution_y say 1000×1080; choose resolution 'custom'",
        ),
        (
            {"resolution": "custom", "resolution_x": 2, "resolution_y": 100},
            "resolution_x",
            "must be between 4 and 16384 pixels (got 2)",
        ),
        (
            {"resolution": "custom", "resolution_x": 100, "resolution_y": 20000},
            "resolution_y",
            "must be between 4 and 16384 pixels (got 20000)",
        ),
        ({"resolution_percentage": 0}, "resolution_percentage", "must be between 1 and 100% (got 0)"),
        ({"resolution_percentage": 150}, "resolution_percentage", "must be between 1 and 100%"),
        ({"samples": 0}, "samples", "must be between 1 and 65536 (got 0)"),
        ({"samples": 100_000}, "samples", "must be between 1 and 65536 (got 100000)"),
        ({"samples": "many"}, "samples", "valid integer"),
        (
            {"engine": "workbench", "samples": 7},
            "samples",
            "Workbench renders with 1, 5, 8, 11, 16, 32 anti-aliasing samples, not 7",
        ),
        ({"seed": -1}, "seed", "must be between 0 and 2147483647 (got -1)"),
        ({"scene": "  "}, "scene", "must not be blank"),
        ({"camera": "x" * 300}, "camera", "longer than Blender's 255-byte name limit"),
        ({"pretest_frame": 99}, "pretest_frame", "frame 99 is not one of the job's frames (1-10)"),
        ({"frames_per_node": 0}, "frames_per_node", "must be between 1 and 10000 frames (got 0)"),
        ({"timeouts": {"stop_after_s": 0}}, "timeouts.stop_after_s", "must be between 1 and 86400 seconds (got 0)"),
        (
            {"timeouts": {"analysis_timeout_s": 1}},
            "timeouts.analysis_timeout_s",
            "must be between 10 and 86400 seconds",
        ),
        (
            {"timeouts": {"alert_after_s": 600, "stop_after_s": 300}},
            "timeouts",
            "alert_after_s (600 s) must be shorter than stop_after_s (300 s)",
        ),
        ({"timeouts": {"stop": 5}}, "timeouts.stop", "is not a render setting"),
        ({"worker_location": "mars"}, "worker_location", "unknown worker location 'mars'; choose one of any, africa"),
        ({"hardware": {"gpu_vendor": "3dfx"}, "device": "GPU"}, "hardware.gpu_vendor", "unknown GPU vendor '3dfx'"),
        ({"hardware": {"gpu_count": 0}, "device": "GPU"}, "hardware.gpu_count", "must be between 1 and 16 (got 0)"),
        (
            {"hardware": {"min_vram_gb": 0}, "device": "GPU"},
            "hardware.min_vram_gb",
            "must be between 0.5 and 1024 GB (got 0)",
        ),
        ({"hardware": {"min_ram_gb": -4}}, "hardware.min_ram_gb", "must be between 0.5 and 16384 GB (got -4)"),
        (
            {"hardware": {"gpu_model": "RTX 4090"}},
            "hardware",
            "GPU requirements (vendor, model, count, VRAM) need device GPU",
        ),
        (
            {"pricing_tier": "gold"},
            "pricing_tier",
            "unknown pricing tier 'gold'; choose one of tier-1 (cost optimization)",
        ),
        (
            {"blender_version": "4.2"},
            "blender_version",
            "Blender 4.2 is not available; this network renders with Blender 5.0.1",
        ),
        ({"blender_version": "5.0.10"}, "blender_version", "is not available"),
        ({"colour": "red"}, "colour", "is not a render setting (check the spelling)"),
    ],
)
def test_every_bad_field_is_explained(fields, field, message):
    with pytest.raises(JobSpecError) as info:
        parse_job_spec({"frames": "1-10", **fields})
    problems = dict(info.value.problems)
    assert field in problems, info.value.problems
    assert message in problems[field], problems[field]
    assert f"{field}: " in str(info.value)


def test_blender_version_prefixes():
    assert job(blender_version="5.0").blender_version == "5.0.1"
    assert job(blender_version="Blender 5.0.1").blender_version == "5.0.1"


def test_missing_frames_and_several_problems_at_once():
    with pytest.raises(JobSpecError) as info:
        parse_job_spec({"engine": "nope", "samples": 0})
    fields = [field for field, _ in info.value.problems]
    assert "frames" in fields and "engine" in fields and "samples" in fields
    assert dict(info.value.problems)["frames"] == "is required"


def test_border_window():
    with pytest.raises(ValueError, match="min_x must be below max_x"):
        BorderWindow(min_x=0.5, max_x=0.5, min_y=0, max_y=1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        BorderWindow(min_x=-0.1, max_x=0.5, min_y=0, max_y=1)
    # Blender truncates border*size in single precision: 0.123*64 = 7.87 → 7, 0.901*48 = 43.2 → 43 (measured).
    window = BorderWindow(min_x=0.123, min_y=0.456, max_x=0.789, max_y=0.901)
    assert window.pixel_box(64, 48) == (7, 48 - 43, 50, 48 - 21)
    assert BorderWindow(min_x=0, min_y=0, max_x=1, max_y=1).pixel_box(64, 48) == (0, 0, 64, 48)


@pytest.mark.parametrize(("width", "height"), [(64, 48), (1920, 1080), (7680, 4320), (333, 97)])
def test_border_from_pixel_box_round_trips(width, height):
    boxes = [
        (0, 0, width, height),
        (1, 2, 3, 4),
        (width // 3, height // 3, width // 3 * 2, height - 1),
        (width - 1, height - 1, width, height),
    ]
    for box in boxes:
        assert BorderWindow.from_pixel_box(width, height, *box).pixel_box(width, height) == box
    with pytest.raises(ValueError, match="not inside"):
        BorderWindow.from_pixel_box(width, height, 0, 0, width + 1, height)
