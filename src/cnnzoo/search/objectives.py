"""The search objectives and the scaling grid, as plain formulas.

* MnasNet Eq. 2: reward = ACC(m) × [LAT(m)/T]^w, with w = α if LAT ≤ T else β. The paper's soft
  constraint sets α = β = −0.07 (§3: a model twice as slow must be about 5 % more accurate).
* EfficientNetV2 §3.2 (training-aware NAS): reward = A · S^w · P^v with w = −0.07 and v = −0.05, A the
  accuracy, S the normalised training-step time, P the parameter size (here both relative to a reference).
* EfficientNet §3.3: the (α, β, γ) grid, each ≥ 1, with α·β²·γ² ≈ 2 (FLOPs ∝ d·w²·r²).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["mnasnet_reward", "training_aware_reward", "coefficient_grid", "flops_ratio", "pareto_front"]

#: the finest step, the widest tolerance and the most candidates of the scaling grid (each candidate is a
#: training run; step 0.01 with tolerance 1 would be 103,738)
MIN_STEP, MAX_TOLERANCE, MAX_GRID = 0.01, 1.0, 10_000


def mnasnet_reward(accuracy: float, latency_ms: float, target_ms: float, alpha: float = -0.07,
                   beta: float = -0.07) -> float:
    """ACC × (LAT/T)^w (MnasNet Eq. 2): ``w = alpha`` when LAT ≤ T, else ``beta``."""
    if not target_ms > 0 or not latency_ms > 0:
        raise ValueError(f"latency and target must be > 0 ms, got {latency_ms!r} and {target_ms!r}")
    w = alpha if latency_ms <= target_ms else beta
    return accuracy * (latency_ms / target_ms) ** w


def training_aware_reward(accuracy: float, step_time: float, params: float, step_time_ref: float = 1.0,
                          params_ref: float = 1.0, w: float = -0.07, v: float = -0.05) -> float:
    """A · S^w · P^v (EfficientNetV2 §3.2) with S = step_time/step_time_ref and P = params/params_ref."""
    if not step_time > 0 or not params > 0 or not step_time_ref > 0 or not params_ref > 0:
        raise ValueError("step time, parameters and their references must be > 0")
    return accuracy * (step_time / step_time_ref) ** w * (params / params_ref) ** v


def flops_ratio(alpha: float, beta: float, gamma: float) -> float:
    """α·β²·γ²: how much one step of φ multiplies the FLOPs (EfficientNet Eq. 3)."""
    return alpha * beta ** 2 * gamma ** 2


def coefficient_grid(step: float = 0.05, tolerance: float = 0.05, target: float = 2.0
                     ) -> list[tuple[float, float, float]]:
    """Every (α, β, γ) on a grid of ``step`` from 1, each ≥ 1, with |α·β²·γ² − target| ≤ ``tolerance``
    (EfficientNet §3.3, step 1 of compound scaling), sorted."""
    if not MIN_STEP <= step <= 1:
        raise ValueError(f"step must be in [{MIN_STEP:g}, 1], got {step!r}")
    if not 0 <= tolerance <= MAX_TOLERANCE:
        raise ValueError(f"tolerance must be in [0, {MAX_TOLERANCE:g}], got {tolerance!r}")
    top = target + tolerance
    n_a = int((top - 1) / step + 1e-9)
    n_bg = int((top ** 0.5 - 1) / step + 1e-9)
    out = []
    for i in range(n_a + 1):
        a = round(1 + i * step, 6)
        for j in range(n_bg + 1):
            b = round(1 + j * step, 6)
            for k in range(n_bg + 1):
                g = round(1 + k * step, 6)
                if abs(flops_ratio(a, b, g) - target) <= tolerance + 1e-9:
                    out.append((a, b, g))
    if len(out) > MAX_GRID:
        raise ValueError(f"a grid of step {step} and tolerance {tolerance} has {len(out):,} candidates, more than "
                         f"{MAX_GRID:,}: use a coarser step or a smaller tolerance")
    if not out:
        raise ValueError(f"no (α, β, γ) on a grid of step {step} has α·β²·γ² within {tolerance} of {target}; "
                         f"use a finer step or a larger tolerance")
    return out


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (accuracy, latency) that no other point dominates (higher or equal accuracy
    and lower or equal latency, one of them strictly), sorted by latency."""
    front = []
    for i, (acc, lat) in enumerate(points):
        dominated = any((a >= acc and t <= lat) and (a > acc or t < lat) for j, (a, t) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][1])
