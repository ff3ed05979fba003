"""The GPU performance points weights of render points: a documented table of GPU models, CPU nodes lowest.

A points weight is in hundredths (``100`` = 1.00×, the RTX 3060 reference) so point arithmetic stays integer.
It weighs rendered reference-minutes by the class of hardware that rendered them: a points weight for the
testnet, not a benchmark claim. A GPU name matches the longest table key found in it (case and spaces
ignored), so "NVIDIA GeForce RTX 4070 Ti SUPER" is the ``RTX 4070 TI SUPER`` row, not ``RTX 4070``.
"""

from __future__ import annotations

import re

#: A node rendering on CPU only (the lowest points weight of the table).
CPU_POINTS_WEIGHT = 25
#: A GPU the table does not name: above any CPU, below every listed GPU.
UNKNOWN_GPU_POINTS_WEIGHT = 40

#: Model → points weight in hundredths.
GPU_POINTS_WEIGHTS: dict[str, int] = {
    # NVIDIA data centre
    "H200": 420,
    "H100": 400,
    "A100": 300,
    "L40S": 300,
    "L40": 280,
    "A40": 220,
    "A10": 150,
    "L4": 120,
    "V100": 120,
    "T4": 60,
    # NVIDIA workstation
    "RTX 6000 ADA": 320,
    "RTX A6000": 210,
    "RTX A5000": 170,
    "RTX A4000": 120,
    # NVIDIA GeForce 50
    "RTX 5090": 420,
    "RTX 5080": 300,
    "RTX 5070 TI": 250,
    "RTX 5070": 200,
    "RTX 5060 TI": 150,
    "RTX 5060": 130,
    # NVIDIA GeForce 40
    "RTX 4090": 330,
    "RTX 4080 SUPER": 260,
    "RTX 4080": 250,
    "RTX 4070 TI SUPER": 210,
    "RTX 4070 TI": 200,
    "RTX 4070 SUPER": 180,
    "RTX 4070": 160,
    "RTX 4060 TI": 130,
    "RTX 4060": 110,
    # NVIDIA GeForce 30 (the RTX 3060 is the 1.00× reference)
    "RTX 3090 TI": 200,
    "RTX 3090": 180,
    "RTX 3080 TI": 170,
    "RTX 3080": 160,
    "RTX 3070 TI": 130,
    "RTX 3070": 120,
    "RTX 3060 TI": 110,
    "RTX 3060": 100,
    "RTX 3050": 70,
    # NVIDIA GeForce 20 / 16 / 10
    "RTX 2080 TI": 100,
    "RTX 2080": 85,
    "RTX 2070": 75,
    "RTX 2060": 65,
    "GTX 1660": 45,
    "GTX 1080 TI": 50,
    "GTX 1080": 45,
    # AMD
    "RX 7900 XTX": 180,
    "RX 7900 XT": 160,
    "RX 6900 XT": 120,
    "RX 6800 XT": 110,
}


def _squash(text: str) -> str:
    """Upper case, runs of spaces/dashes/underscores as one space, padded so keys match whole words."""
    return " " + re.sub(r"[\s_\-]+", " ", text.upper()).strip() + " "


_KEYS = sorted(((_squash(k), v) for k, v in GPU_POINTS_WEIGHTS.items()), key=lambda kv: -len(kv[0]))


def gpu_points_weight(name: str) -> int:
    """The points weight (hundredths) of one GPU model name: its longest table key, else the unknown-GPU value."""
    squashed = _squash(name)
    for key, value in _KEYS:
        if key in squashed:
            return value
    return UNKNOWN_GPU_POINTS_WEIGHT


