"""Timing: the latency of a model (warm-up, then the median and spread of repeated runs) and the balanced
order of interleaved timing rounds; used by analysis, bench, deploy's automatic choice and the search.

Timing is wall-clock (``time.perf_counter``) around each call; on CUDA the device is synchronised
before the clock starts and after each run, so asynchronous kernel launches are not mistaken for
finished work. Every result records the threads, the device and the PyTorch version it ran under.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from cnnzoo.device import device_name, resolve_device

__all__ = ["measure_latency", "round_order"]


def round_order(keys: Sequence[Any], round_index: int) -> list[Any]:
    """The order of round ``round_index`` of an interleaved timing: a Williams design, so that over ``n``
    rounds (``2n`` for an odd number of keys) every key is timed at every position equally often and right
    after every other key equally often. Neither the position in a round nor the after-effects of whatever
    ran before (a runtime's threads still awake, caches) favour any candidate. The first ``n`` rounds
    of three keys are plain rotations (A B C, B C A, C A B), the next three their mirror images."""
    n = len(keys)
    if n < 2:
        return list(keys)
    base, low, high = [0], 1, n - 1  # 0, 1, n-1, 2, n-2, …: every difference between neighbours once
    while len(base) < n:
        base.append(low)
        low += 1
        if len(base) < n:
            base.append(high)
            high -= 1
    i = round_index % (n if n % 2 == 0 else 2 * n)
    order = [keys[(b + i) % n] for b in base]
    return order if i < n else order[::-1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _tensor_device(x: Any) -> torch.device:
    if isinstance(x, torch.Tensor):
        return x.device
    if isinstance(x, (tuple, list)) and x and isinstance(x[0], torch.Tensor):
        return x[0].device
    return torch.device("cpu")


@torch.no_grad()
def measure_latency(
    fn: Callable[..., Any],
    inputs: torch.Tensor | tuple,
    warmup: int = 3,
    repeats: int = 10,
    min_time_s: float = 0.0,
    clock: str = "wall",
) -> dict[str, Any]:
    """Time ``fn(inputs)`` (a model, a ``cnnzoo.deploy`` engine or any callable; ``inputs`` a tensor, a numpy
    array or a tuple of them): ``warmup`` untimed calls, then at least
    ``repeats`` timed ones (and more until ``min_time_s`` has passed).

    Returns the median, mean, standard deviation, interquartile range, min and max in
    milliseconds, every call's time (``times_ms``, in call order, to pool over interleaved rounds),
    throughput (batch / median, items per second), and the conditions: warm-up and
    repeat counts, batch size, threads, device and device name, PyTorch version.

    ``clock="process"`` times with this process's CPU time instead of wall-clock time: on a CPU
    shared with other jobs that is far steadier (time slices given to others do not count), and
    with one thread it is the compute time itself; it is refused on CUDA, where work is not CPU time.
    """
    if clock not in ("wall", "process"):
        raise ValueError(f"clock must be 'wall' or 'process', got {clock!r}")
    timer = time.perf_counter if clock == "wall" else time.process_time
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, got {warmup!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    device = _tensor_device(args[0] if args else None)
    if device.type == "cuda":
        resolve_device(device)
        if clock != "wall":
            raise ValueError("clock='process' measures CPU time; CUDA latency needs clock='wall'")
    if isinstance(fn, torch.nn.Module):
        fn.eval()
    for _ in range(warmup):
        fn(*args)
    _sync(device)
    calls: list[float] = []
    start_all = time.perf_counter()
    while len(calls) < repeats or time.perf_counter() - start_all < min_time_s:
        _sync(device)
        t0 = timer()
        fn(*args)
        _sync(device)
        calls.append((timer() - t0) * 1e3)
    times = sorted(calls)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    # a torch tensor or a numpy array (a deployed engine takes either)
    batch = int(args[0].shape[0]) if args and getattr(args[0], "ndim", 0) else 1
    median = statistics.median(times)
    return {
        "median_ms": median,
        "mean_ms": statistics.fmean(times),
        "std_ms": statistics.stdev(times) if len(times) > 1 else 0.0,
        "iqr_ms": q[2] - q[0],
        "min_ms": times[0],
        "max_ms": times[-1],
        "times_ms": calls,
        "repeats": len(times),
        "warmup": warmup,
        "batch": batch,
        "throughput": batch / (median / 1e3),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "clock": clock,
    }
