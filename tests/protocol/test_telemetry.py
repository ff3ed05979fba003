"""Telemetry: NVML when there is an NVIDIA GPU, CPU facts always (this machine has no GPU)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from protocol.telemetry import collect_telemetry, cpu_info


def test_without_a_gpu_falls_back_to_cpu_facts():
    telemetry = collect_telemetry()
    if telemetry.has_gpu:
        pytest.skip("this machine has an NVIDIA GPU")
    assert telemetry.gpus == [] and telemetry.gpu_vendor is None and telemetry.total_vram_mb == 0
    assert telemetry.gpu_error  # e.g. "NVMLError_LibraryNotFound: NVML Shared Library Not Found"
    cpu = telemetry.cpu
    assert cpu.model and cpu.model != "unknown"
    assert cpu.logical_cores >= 1 and 1 <= cpu.physical_cores <= cpu.logical_cores
    assert 1 <= cpu.usable_cores <= cpu.logical_cores
    assert cpu.ram_total_mb > 256 and 0 < cpu.ram_available_mb <= cpu.ram_total_mb
    assert json.loads(json.dumps(telemetry.to_dict()))["has_gpu"] is False


class NotSupported(Exception):
    """Stands in for pynvml.NVMLError_NotSupported."""


def fake_nvml(*, fail_init: Exception | None = None) -> SimpleNamespace:
    """An NVML with two GPUs; the second cannot report power (as some boards cannot)."""
    calls = {"shutdown": 0}

    def power(handle: int) -> int:
        if handle == 1:
            raise NotSupported
        return 251_500

    def init() -> None:
        if fail_init:
            raise fail_init

    def shutdown() -> None:
        calls["shutdown"] += 1

    return SimpleNamespace(
        calls=calls,
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=init,
        nvmlShutdown=shutdown,
        nvmlSystemGetDriverVersion=lambda: b"550.54.15",
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: ["NVIDIA GeForce RTX 4090", b"NVIDIA H100 80GB HBM3"][h],
        nvmlDeviceGetUUID=lambda h: f"GPU-0000000{h}-aaaa-bbbb-cccc-dddddddddddd",
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=(24 if h == 0 else 80) * 2**30, used=512 * 2**20),
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=97, memory=40),
        nvmlDeviceGetTemperature=lambda h, sensor: 71,
        nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetEnforcedPowerLimit=lambda h: 450_000,
    )


def test_gpus_from_nvml():
    nvml = fake_nvml()
    telemetry = collect_telemetry(nvml)
    assert telemetry.gpu_error is None and telemetry.driver_version == "550.54.15"
    first, second = telemetry.gpus
    assert (first.name, first.vendor, first.memory_total_mb, first.memory_used_mb) == (
        "NVIDIA GeForce RTX 4090",
        "nvidia",
        24_576,
        512,
    )
    assert (first.utilization_pct, first.memory_utilization_pct, first.temperature_c) == (97, 40, 71)
    assert (first.power_w, first.power_limit_w) == (251.5, 450.0)
    assert first.uuid.startswith("GPU-")
    assert second.name == "NVIDIA H100 80GB HBM3" and second.power_w is None  # unsupported reading, not an error
    assert telemetry.total_vram_mb == 24_576 + 81_920 and telemetry.gpu_vendor == "nvidia"
    assert nvml.calls["shutdown"] == 1
    assert telemetry.cpu.logical_cores >= 1


def test_nvml_init_failure_is_reported_not_raised():
    class NVMLError_DriverNotLoaded(Exception):  # noqa: N801 - pynvml's naming
        pass

    telemetry = collect_telemetry(fake_nvml(fail_init=NVMLError_DriverNotLoaded("Driver Not Loaded")))
    assert telemetry.gpus == [] and telemetry.gpu_error == "NVMLError_DriverNotLoaded: Driver Not Loaded"


def test_cpu_facts_from_another_machine(tmp_path):
    (tmp_path / "cpuinfo").write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 7763 64-Core Processor\nphysical id\t: 0\ncore id\t\t: 0\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 7763 64-Core Processor\nphysical id\t: 0\ncore id\t\t: 0\n\n"
        "processor\t: 2\nmodel name\t: AMD EPYC 7763 64-Core Processor\nphysical id\t: 0\ncore id\t\t: 1\n\n"
    )
    (tmp_path / "meminfo").write_text("MemTotal:       65536000 kB\nMemFree:  100 kB\nMemAvailable:   32768000 kB\n")
    cpu = cpu_info(tmp_path)
    assert (cpu.model, cpu.physical_cores, cpu.ram_total_mb, cpu.ram_available_mb) == (
        "AMD EPYC 7763 64-Core Processor",
        2,
        64_000,
        32_000,
    )


def test_cpu_facts_without_proc(tmp_path):
    cpu = cpu_info(tmp_path / "missing")
    assert cpu.model and cpu.ram_total_mb > 0 and cpu.physical_cores == cpu.logical_cores
