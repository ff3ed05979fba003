"""Node telemetry: NVIDIA GPUs through NVML (pynvml), and CPU facts that every node reports, GPU or not."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as NVML sees it; a field NVML does not support on this GPU is None."""

    index: int
    name: str
    uuid: str
    vendor: str
    memory_total_mb: int
    memory_used_mb: int | None
    utilization_pct: int | None
    memory_utilization_pct: int | None
    temperature_c: int | None
    power_w: float | None
    power_limit_w: float | None


@dataclass(frozen=True)
class CpuInfo:
    """The host's processor and memory."""

    model: str
    architecture: str
    logical_cores: int
    physical_cores: int
    #: Cores this process may run on (affinity / container limits), what a render can actually use.
    usable_cores: int
    ram_total_mb: int
    ram_available_mb: int | None


@dataclass(frozen=True)
class NodeTelemetry:
    """A snapshot of the node's hardware for heartbeats and matching."""

    cpu: CpuInfo
    gpus: list[GpuInfo] = field(default_factory=list)
    driver_version: str | None = None
    #: Why there are no GPU facts (for example NVML's "library not found" on a machine without NVIDIA drivers).
    gpu_error: str | None = None
    collected_at: float = 0.0

    @property
    def has_gpu(self) -> bool:
        """Whether at least one GPU was found."""
        return bool(self.gpus)

    @property
    def gpu_vendor(self) -> str | None:
        """The vendor of the first GPU (None without one)."""
        return self.gpus[0].vendor if self.gpus else None

    @property
    def total_vram_mb(self) -> int:
        """VRAM of all GPUs together."""
        return sum(g.memory_total_mb for g in self.gpus)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (heartbeat payload)."""
        return {
            **asdict(self),
            "has_gpu": self.has_gpu,
            "gpu_vendor": self.gpu_vendor,
            "total_vram_mb": self.total_vram_mb,
        }


def collect_telemetry(nvml: ModuleType | None = None) -> NodeTelemetry:
    """GPU facts from NVML when it initialises, CPU facts always; never raises for a missing GPU."""
    gpus: list[GpuInfo] = []
    driver: str | None = None
    error: str | None = None
    try:
        if nvml is None:
            import pynvml as nvml  # noqa: PLC0415 - optional at import time: nvidia-ml-py
        gpus, driver = _nvml_gpus(nvml)
    except ImportError as exc:
        error = f"pynvml is not installed: {exc}"
    except Exception as exc:  # pynvml.NVMLError_LibraryNotFound, _DriverNotLoaded, … (and OSError from ctypes)
        error = f"{type(exc).__name__}: {exc}"
    return NodeTelemetry(cpu=cpu_info(), gpus=gpus, driver_version=driver, gpu_error=error, collected_at=time.time())


def _nvml_gpus(nvml: Any) -> tuple[list[GpuInfo], str | None]:
    """Query every GPU NVML can see; NVML is shut down again before returning."""
    nvml.nvmlInit()
    try:
        driver = _maybe(lambda: _text(nvml.nvmlSystemGetDriverVersion()))
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            rates = _maybe(lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h))
            power_mw = _maybe(lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h))
            limit_mw = _maybe(lambda h=handle: nvml.nvmlDeviceGetEnforcedPowerLimit(h))
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                    vendor="nvidia",
                    memory_total_mb=int(memory.total) // 2**20,
                    memory_used_mb=int(memory.used) // 2**20,
                    utilization_pct=None if rates is None else int(rates.gpu),
                    memory_utilization_pct=None if rates is None else int(rates.memory),
                    temperature_c=_maybe(
                        lambda h=handle: int(nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
                    ),
                    power_w=None if power_mw is None else power_mw / 1000.0,
                    power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
                )
            )
        return gpus, driver
    finally:
        _maybe(nvml.nvmlShutdown)


def _maybe(call: Any) -> Any:
    """The call's result, or None when NVML says the GPU does not support it."""
    try:
        return call()
    except Exception:  # NVMLError_NotSupported and friends: a missing reading, not a missing GPU
        return None


def _text(value: str | bytes) -> str:
    """NVML strings are bytes in old pynvml versions and str in new ones."""
    return value.decode() if isinstance(value, bytes) else value


def cpu_info(proc: Path = Path("/proc")) -> CpuInfo:
    """Processor model, cores and memory from /proc (Linux), with portable fallbacks elsewhere."""
    model, physical = _cpuinfo(proc / "cpuinfo")
    logical = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = logical
    total, available = _meminfo(proc / "meminfo")
    return CpuInfo(
        model=model or platform.processor() or platform.machine() or "unknown",
        architecture=platform.machine(),
        logical_cores=logical,
        physical_cores=physical or logical,
        usable_cores=usable,
        ram_total_mb=total,
        ram_available_mb=available,
    )


def _cpuinfo(path: Path) -> tuple[str | None, int | None]:
    """The CPU model name and the number of distinct physical cores in /proc/cpuinfo."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None, None
    model = None
    cores: set[tuple[str, str]] = set()
    physical_id = core_id = None
    for line in text.splitlines() + [""]:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not key:  # a blank line ends one processor's block
            if physical_id is not None and core_id is not None:
                cores.add((physical_id, core_id))
            physical_id = core_id = None
        elif key in ("model name", "Model", "Hardware", "cpu model") and model is None and value:
            model = value
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            core_id = value
    return model, len(cores) or None


def _meminfo(path: Path) -> tuple[int, int | None]:
    """Total and available RAM in MiB from /proc/meminfo (sysconf when it is missing)."""
    values: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key] = int(parts[0])  # kB
    except OSError:
        pass
    if "MemTotal" in values:
        available = values.get("MemAvailable")
        return values["MemTotal"] // 1024, None if available is None else available // 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20, None
    except (ValueError, OSError, AttributeError):
        return 0, None
