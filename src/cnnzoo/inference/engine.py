"""``deploy`` and its ``Engine``: a model or a checkpoint on the runtime it should ship on, chosen by measurement.

    engine = cnnzoo.deploy("runs/x/best.safetensors", runtime="auto", batch=1)
    engine(x)           # torch tensor in → torch tensor out; numpy in → numpy out
    print(engine.report)

``runtime="auto"`` builds every candidate this machine can run — OpenVINO fp32, OpenVINO bf16 (where
the CPU computes bf16 natively and ``dtype="bf16"`` allows it), ONNX Runtime fp32, PyTorch through
``optimize_for_inference`` — checks each against eager PyTorch fp32 on a fixed random batch, times the
ones that agree in interleaved rounds and keeps the fastest. The seeds' lesson (ShuffleNetV2, §2;
EfficientNetV2, §3.2) is that only speed measured on the target counts, so nothing is assumed.

Agreement, per dtype: ``max |engine − eager| ≤ tol · max(1, max |eager|)`` with ``tol`` from
:data:`TOLERANCES` (fp32 1e-3, bf16 5e-2), and the same top-1 class on every checked sample whose
eager lead over the runner-up exceeds that bound (a smaller lead is a tie within the precision).

``dtype`` is the lowest precision allowed: ``"fp32"`` measures fp32 candidates only, ``"bf16"`` adds the
bf16 ones (fp32 candidates stay in the race: never slower to be exact), ``"int8"`` quantises (see
:mod:`cnnzoo.inference.quantize`) and keeps the int8 model only if its top-1 on the validation split
drops by at most ``max_drop`` points; otherwise it deploys the float model and says so in the report.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnzoo.checkpoint import CheckpointHeader, header_for, load_checkpoint
from cnnzoo.device import device_name, native_bf16
from cnnzoo.factory import create_model
from cnnzoo.files import write_text
from cnnzoo.inference.quantize import Int8Check, Int8Data, int8_data, int8_top1, normalized, quantize_onnx
from cnnzoo.inference.runtimes import (
    DEPLOY_DTYPES,
    RUNTIME_DTYPES,
    RUNTIMES,
    OnnxRuntimeBackend,
    OpenVinoBackend,
    TorchBackend,
    openvino_native_bf16,
    runtime_available,
    write_onnx,
)
from cnnzoo.registry import model_info
from cnnzoo.tables import format_table, plural
from cnnzoo.timing import measure_latency, round_order
from cnnzoo.train.sources import trained_on
from cnnzoo.weights import shipped_models

__all__ = ["TOLERANCES", "Candidate", "DeployReport", "Engine", "deploy", "auto_candidates", "default_measure",
           "race_latency"]

#: relative tolerance of each dtype: max |engine − eager fp32| ≤ tol · max(1, max |eager fp32|)
TOLERANCES = {"fp32": 1e-3, "bf16": 5e-2, "int8": 0.25}
_CHECK_SAMPLES = 8  # the fixed batch every candidate is checked on (at least this many images)

#: ``measure(engine, x) -> milliseconds``: one call's (or one summary) time, or each timed call's; the default
#: times with measure_latency and returns every call
Measure = Callable[["Engine", torch.Tensor], "float | Sequence[float]"]


@dataclass
class Candidate:
    """One (runtime, dtype) tried: how it agreed with eager fp32, how fast it ran, or why it failed.
    ``latency_ms`` ranks the race: the lower quartile of every timed call (see :func:`race_latency`);
    ``median_ms`` is the typical call."""

    runtime: str
    dtype: str
    latency_ms: float | None = None
    median_ms: float | None = None
    max_abs_diff: float | None = None
    tolerance: float | None = None
    top1_agree: bool | None = None
    error: str | None = None

    @property
    def agrees(self) -> bool:
        return self.error is None and bool(self.top1_agree) and self.max_abs_diff is not None \
            and self.tolerance is not None and self.max_abs_diff <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), agrees=self.agrees)


@dataclass
class DeployReport:
    """What ``deploy`` measured and why it chose: printed by ``cnnzoo deploy``, written beside the artefact."""

    model: str
    runtime: str
    dtype: str
    batch: int
    img_size: int
    requested_runtime: str
    requested_dtype: str
    reason: str
    candidates: list[Candidate] = field(default_factory=list)
    int8: Int8Check | None = None
    device_name: str = ""
    threads: int = 0
    artefacts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("candidates", "int8")}
        d["candidates"] = [c.to_dict() for c in self.candidates]
        if self.int8 is not None:
            d["int8"] = dict(asdict(self.int8), drop=self.int8.drop, kept_int8=self.int8.kept_int8)
        d["tolerances"] = TOLERANCES
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        rows = []
        for c in self.candidates:
            fps = "-" if c.latency_ms is None else f"{self.batch / (c.latency_ms / 1e3):.1f}"
            verdict = ("error: " + c.error) if c.error else ("agrees" if c.agrees else "DISAGREES")
            if c.dtype == "int8" and not c.error:
                verdict = "accuracy guard"  # random inputs fall outside int8's calibrated ranges
            rows.append([c.runtime, c.dtype, "-" if c.latency_ms is None else f"{c.latency_ms:.2f}",
                         "-" if c.median_ms is None else f"{c.median_ms:.2f}", fps,
                         "-" if c.max_abs_diff is None else f"{c.max_abs_diff:.2e}",
                         "-" if c.tolerance is None else f"{c.tolerance:.2e}",
                         {True: "same", False: "differs", None: "-"}[c.top1_agree], verdict,
                         "<-" if (c.runtime, c.dtype) == (self.runtime, self.dtype) else ""])
        return format_table(["runtime", "dtype", "ms (q1)", "median", "img/s", "max |diff|", "tolerance", "top-1",
                             "verdict", "chosen"], rows, align="llrrrrrlll")

    def __str__(self) -> str:
        lines = [f"{self.model}, batch {self.batch}, {self.img_size}×{self.img_size}, on {self.device_name} "
                 f"({plural(self.threads, 'thread')}): asked runtime={self.requested_runtime}, "
                 f"dtype={self.requested_dtype}",
                 self.table()]
        if self.int8 is not None:
            lines.append(self.int8.summary())
        lines.append(f"chosen: {self.runtime} {self.dtype} ({self.reason})")
        return "\n".join(lines)


class Engine:
    """A deployed model: ``engine(x)`` runs a float NCHW batch (torch tensor → torch tensor, numpy array →
    numpy array) on ``engine.runtime`` at ``engine.dtype``; with ``preprocess=True`` it takes [0, 1] floats
    or uint8 images and applies the weights' resize and normalisation itself."""

    def __init__(self, backend: Any, input_shape: tuple[int, ...], mean: Sequence[float], std: Sequence[float],
                 preprocess: bool = False, report: DeployReport | None = None, workdir: Any = None) -> None:
        self.backend = backend
        self.input_shape = tuple(input_shape)
        self.mean, self.std = list(mean), list(std)
        self.preprocess = preprocess
        self.report = report
        self._workdir = workdir  # the temporary directory holding the ONNX files, alive as long as the engine

    @property
    def runtime(self) -> str:
        return self.backend.runtime

    @property
    def dtype(self) -> str:
        return self.backend.dtype

    @property
    def batch(self) -> int:
        return self.input_shape[0]

    def __repr__(self) -> str:
        return f"Engine(runtime={self.runtime!r}, dtype={self.dtype!r}, input_shape={self.input_shape})"

    def __call__(self, x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        as_numpy = isinstance(x, np.ndarray)
        if not as_numpy and not isinstance(x, torch.Tensor):
            raise TypeError(f"an engine takes a torch tensor or a numpy array, got {type(x).__name__}")
        c, h, w = self.input_shape[1:]
        if self.preprocess:
            t = normalized(torch.as_tensor(x), self.mean, self.std, h)
        else:
            if x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w):
                raise ValueError(f"this engine takes (N, {c}, {h}, {w}) float batches, got shape {tuple(x.shape)}"
                                 + ("" if x.ndim != 4 or x.shape[1] != c else
                                    "; deploy(..., img_size=…) for another size, or preprocess=True to resize"))
            t = x
        if self.backend.takes == "torch":
            out = self.backend(torch.as_tensor(t, dtype=torch.float32))
            return out.numpy() if as_numpy else out
        out = self.backend(t)
        return out if as_numpy else torch.from_numpy(out)

    def save(self, out_dir: str | os.PathLike, stem: str | None = None) -> list[Path]:
        """Write the artefact the chosen runtime loads (``.onnx``, OpenVINO ``.xml``+``.bin``, or TorchScript
        ``.pt``) and the report into ``out_dir``: ``STEM.deploy.json`` for an fp32 deploy, ``STEM.DTYPE.deploy.json``
        for a bf16 or int8 one (the dtype asked for: an int8 deploy that kept the float model included), so
        that one never replaces the other; returns the paths written."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = stem or (self.report.model if self.report else "model")
        paths = self.backend.save(out / f"{stem}.{self.runtime}.{self.dtype}")
        asked = self.report.requested_dtype if self.report else self.dtype
        report_path = out / (f"{stem}.deploy.json" if asked == "fp32" else f"{stem}.{asked}.deploy.json")
        if self.report is not None:
            self.report.artefacts = [p.name for p in paths]
            write_text(report_path, self.report.to_json() + "\n")
        else:
            write_text(report_path, json.dumps({"runtime": self.runtime, "dtype": self.dtype}) + "\n")
        return [*paths, report_path]


_WORKDIR_PREFIX = "cnnzoo-deploy-"


def _workdir() -> tempfile.TemporaryDirectory:
    """deploy's temporary directory (its ONNX files), named with this process's id; the directories of
    deploys whose process no longer runs (killed) are removed first."""
    remove_stale_workdirs()
    return tempfile.TemporaryDirectory(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_workdirs() -> list[Path]:
    """Remove this user's ``cnnzoo-deploy-PID-*`` temporary directories whose process ``PID`` is gone;
    returns them."""
    stale = []
    for p in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*-*"):
        pid = p.name[len(_WORKDIR_PREFIX):].split("-", 1)[0]
        try:
            mine = p.is_dir() and not p.is_symlink() and p.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            stale.append(p)
    return stale


# -- resolving what to deploy ---------------------------------------------------------------------------
def _resolve(model_or_checkpoint: nn.Module | str | os.PathLike) -> tuple[nn.Module, CheckpointHeader, str]:
    """The model, its header (normalisation, input size) and its name."""
    if isinstance(model_or_checkpoint, nn.Module):
        model = model_or_checkpoint
    elif isinstance(model_or_checkpoint, (str, os.PathLike)):
        target = str(model_or_checkpoint)
        if Path(target).is_file():
            model = load_checkpoint(target)
        else:
            try:
                model_info(target)
            except ValueError:
                raise FileNotFoundError(f"{target}: no such checkpoint file, and no model of that name "
                                        f"(`cnnzoo list` shows the names)") from None
            model = create_model(target, pretrained=target in shipped_models())
    else:
        raise TypeError(f"deploy takes an nn.Module, a checkpoint path or a model name, "
                        f"got {type(model_or_checkpoint).__name__}")
    header = getattr(model, "checkpoint_header", None)
    if header is None:
        cfg = getattr(model, "pretrained_cfg", None) or {}
        if getattr(model, "model_info", None) is None:
            raise ValueError(f"{type(model).__name__} is not a cnnzoo model (no model_info): build it with "
                             f"cnnzoo.create_model or load it with cnnzoo.load_checkpoint")
        mean, std = cfg.get("mean"), cfg.get("std")
        header = header_for(model, mean=tuple(mean) if mean else None, std=tuple(std) if std else None,
                            img_size=cfg.get("img_size"))
    return model.eval(), header, header.model


def auto_candidates(dtype: str) -> list[tuple[str, str]]:
    """The (runtime, dtype) pairs ``runtime="auto"`` tries on this machine for the lowest allowed ``dtype``."""
    if dtype == "int8":
        pairs = [("openvino", "int8"), ("onnxruntime", "int8")]
    else:
        pairs = []
        if dtype == "bf16":
            if runtime_available("openvino") and openvino_native_bf16():
                pairs.append(("openvino", "bf16"))
            if native_bf16("cpu"):
                pairs.append(("torch", "bf16"))
        pairs += [("openvino", "fp32"), ("onnxruntime", "fp32"), ("torch", "fp32")]
    return [p for p in pairs if runtime_available(p[0])]


def _check_args(runtime: str, dtype: str, batch: int, max_drop: float) -> None:
    if runtime != "auto" and runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; expected auto, {', '.join(RUNTIMES)}")
    if dtype not in DEPLOY_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DEPLOY_DTYPES)}")
    if runtime != "auto" and dtype not in RUNTIME_DTYPES[runtime]:
        raise ValueError(f"the {runtime} runtime runs {', '.join(RUNTIME_DTYPES[runtime])}, not {dtype}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if not max_drop >= 0:
        raise ValueError(f"max_drop must be >= 0 percentage points, got {max_drop!r}")


# -- building, checking, measuring ------------------------------------------------------------------------
class _Builder:
    """Builds back ends for one model and input shape, writing the ONNX files once."""

    def __init__(self, model: nn.Module, input_shape: tuple[int, ...], workdir: Path) -> None:
        self.model, self.input_shape, self.workdir = model, input_shape, workdir
        self._onnx: Path | None = None
        self.int8_onnx: Path | None = None

    def onnx(self) -> Path:
        if self._onnx is None:
            self._onnx = write_onnx(self.model, self.workdir / "model.onnx", self.input_shape)
        return self._onnx

    def quantize(self, calibration: torch.Tensor) -> Path:
        if self.int8_onnx is None:
            self.int8_onnx = quantize_onnx(self.onnx(), self.workdir / "model.int8.onnx", calibration,
                                           batch=self.input_shape[0])
        return self.int8_onnx

    def build(self, runtime: str, dtype: str) -> Any:
        return _build_backend(self, runtime, dtype)


def _build_backend(builder: _Builder, runtime: str, dtype: str) -> Any:
    """One back end (a module-level function, so that tests can replace it)."""
    if runtime == "torch":
        return TorchBackend(builder.model, dtype, builder.input_shape)
    path = builder.int8_onnx if dtype == "int8" else builder.onnx()
    if path is None:
        raise ValueError("int8 needs calibration images: deploy(..., dtype='int8', data=DIR)")
    if runtime == "onnxruntime":
        return OnnxRuntimeBackend(path, dtype)
    return OpenVinoBackend(path, dtype, builder.input_shape)


def _check_inputs(input_shape: tuple[int, ...]) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    calls = math.ceil(_CHECK_SAMPLES / input_shape[0])
    return [torch.randn(*input_shape, generator=gen) for _ in range(calls)]


def _agreement(engine: Engine, inputs: list[torch.Tensor], refs: list[torch.Tensor], dtype: str,
               cand: Candidate) -> None:
    got = torch.cat([torch.as_tensor(engine(x)).float() for x in inputs])
    ref = torch.cat(refs)
    if got.shape != ref.shape:
        raise RuntimeError(f"outputs of shape {tuple(got.shape)}, eager PyTorch {tuple(ref.shape)}")
    tol = TOLERANCES[dtype] * max(1.0, float(ref.abs().max()))
    cand.max_abs_diff, cand.tolerance = float((got - ref).abs().max()), tol
    if ref.ndim != 2 or ref.shape[1] < 2:
        cand.top1_agree = True
        return
    top2 = ref.topk(2, dim=1).values
    decided = (top2[:, 0] - top2[:, 1]) > tol  # leads smaller than the tolerance are ties at this precision
    cand.top1_agree = bool(torch.equal(got.argmax(1)[decided], ref.argmax(1)[decided]))


def default_measure(engine: Engine, x: torch.Tensor) -> list[float]:
    """Each call's latency (ms) of ``engine(x)``: 1 warm-up call, then at least 3 timed calls and as many as
    fit in 0.3 s (``measure_latency``), so fast models are timed over many calls and slow ones stay cheap."""
    return measure_latency(engine, x, warmup=1, repeats=3, min_time_s=0.3)["times_ms"]


def race_latency(times: Sequence[float]) -> float:
    """The statistic a race ranks by: the lower quartile of every timed call, pooled over the rounds.

    On a shared CPU, interference (other processes, the hypervisor taking a core from a 2-thread runtime)
    only ever adds time, so the slow calls measure the neighbours and the fast ones the engine; the lower
    quartile keeps that signal without resting on one lucky call (as the minimum would), and pooling every
    call is steadier than the median of per-round medians (``benchmarks/timing_estimators.py``)."""
    if not times:
        raise ValueError("no timed calls")
    return statistics.quantiles(times, n=4, method="inclusive")[0] if len(times) > 1 else float(times[0])


#: candidates within this fraction of the fastest (by :func:`race_latency`) get a second set of rounds,
#: and any still within it afterwards are reported as tied with the winner
CLOSE_CALL = 0.05


def _close_to_fastest(latency: dict[tuple[str, str], float]) -> list[tuple[str, str]]:
    """The keys whose latency lies within :data:`CLOSE_CALL` of the smallest one (the fastest included)."""
    fastest = min(latency.values())
    return [k for k, ms in latency.items() if ms <= fastest * (1 + CLOSE_CALL)]


def _measure_all(engines: dict[tuple[str, str], Engine], cands: dict[tuple[str, str], Candidate],
                 input_shape: tuple[int, ...], measure: Measure, rounds: int) -> None:
    """Interleaved rounds so that a noisy neighbour slows every candidate alike, in a balanced order
    (:func:`~cnnzoo.timing.round_order`: no candidate always first, or always right after the
    same other one); each candidate's calls pooled over the rounds and ranked by :func:`race_latency`.
    A close call (candidates within :data:`CLOSE_CALL` of the fastest) gets as many rounds again among
    those candidates only."""
    x = torch.randn(*input_shape, generator=torch.Generator().manual_seed(1))
    times: dict[tuple[str, str], list[float]] = {k: [] for k in engines}

    def run(keys: list[tuple[str, str]]) -> None:
        for r in range(rounds):
            for key in round_order(keys, r):
                got = measure(engines[key], x)
                times[key].extend(float(t) for t in (got if isinstance(got, Sequence) else [got]))

    run(list(engines))
    close = _close_to_fastest({k: race_latency(ts) for k, ts in times.items()})
    if len(close) > 1:
        run(close)
    for key, ts in times.items():
        cands[key].latency_ms, cands[key].median_ms = race_latency(ts), statistics.median(ts)


def _tied_with(best: tuple[str, str], timed: list[tuple[str, str]],
               cands: dict[tuple[str, str], Candidate]) -> str:
    """The timed candidates within :data:`CLOSE_CALL` of ``best``, with their slowdown (e.g. "onnxruntime fp32
    1.03×"); empty when the fastest won clearly."""
    close = _close_to_fastest({k: cands[k].latency_ms for k in timed})
    return ", ".join(f"{k[0]} {k[1]} {cands[k].latency_ms / cands[best].latency_ms:.2f}×" for k in close if k != best)


def _race(builder: _Builder, pairs: list[tuple[str, str]], model: nn.Module, header: CheckpointHeader,
          measure: Measure | None, rounds: int, strict: bool
          ) -> tuple[Engine | None, list[Candidate], str]:
    """Build, check and (with more than one in the race, or ``measure`` given) time each pair; the fastest
    that agrees wins. ``strict``: a build error is raised rather than recorded."""
    shape = builder.input_shape
    inputs = _check_inputs(shape)
    with torch.no_grad():
        refs = [model(x) for x in inputs]
    refs = [(r[0] if isinstance(r, (tuple, list)) else r).float() for r in refs]
    cands: dict[tuple[str, str], Candidate] = {}
    engines: dict[tuple[str, str], Engine] = {}
    for runtime, dtype in pairs:
        cand = cands[(runtime, dtype)] = Candidate(runtime, dtype)
        try:
            # checked and timed on model inputs; the preprocessing is switched on once chosen
            engine = Engine(builder.build(runtime, dtype), shape, header.mean, header.std)
            _agreement(engine, inputs, refs, dtype, cand)
        except Exception as err:  # noqa: BLE001 - a runtime that cannot run this model loses the race, saying why
            if strict:
                raise
            cand.error = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
            continue
        if dtype == "int8" or cand.agrees:  # int8 answers to the accuracy guard on real images instead
            engines[(runtime, dtype)] = engine
    if not engines:
        return None, list(cands.values()), "no candidate agreed with eager fp32"
    if len(engines) > 1 or measure is not None:
        _measure_all(engines, cands, shape, measure or default_measure, rounds)
    timed = [k for k in engines if cands[k].latency_ms is not None]
    best = min(timed, key=lambda k: cands[k].latency_ms) if timed else next(iter(engines))
    if len(engines) == 1:
        reason = "the only candidate that ran and agreed with eager fp32" if len(pairs) > 1 else "as asked"
    else:
        rejected = [f"{c.runtime} {c.dtype}" for c in cands.values() if (c.runtime, c.dtype) not in engines]
        what = "int8 candidates" if best[1] == "int8" else "candidates that agree with eager fp32"
        reason = f"fastest of {len(engines)} {what} ({cands[best].latency_ms:.2f} ms per batch of {shape[0]})"
        tied = _tied_with(best, timed, cands)
        if tied:
            reason += f"; within {CLOSE_CALL:.0%} of it, a tie at this machine's timing precision: {tied}"
        if rejected:
            reason += f"; not eligible: {', '.join(rejected)}"
    return engines[best], list(cands.values()), reason


def _int8_guard(engine: Engine, data: Int8Data, max_drop: float) -> Int8Check:
    """The int8 engine's top-1 on the guard's validation split against the float model's (scored before)."""
    int8, _ = int8_top1(lambda x: _batched(engine, x), data.val, data.img_size)
    return Int8Check(data.fp32_top1, int8, data.count, max_drop, len(data.calibration), data.source)


def _batched(engine: Engine, x: torch.Tensor) -> torch.Tensor:
    """Run ``x`` through an engine built for a fixed batch, in chunks of that batch (the last one padded)."""
    b = engine.batch
    outs = []
    for i in range(0, len(x), b):
        chunk = x[i:i + b]
        n = len(chunk)
        if n < b:
            chunk = torch.cat([chunk, chunk[-1:].expand(b - n, *chunk.shape[1:])])
        outs.append(torch.as_tensor(engine(chunk))[:n])
    return torch.cat(outs)


def deploy(
    model_or_checkpoint: nn.Module | str | os.PathLike,
    runtime: str = "auto",
    dtype: str = "fp32",
    batch: int = 1,
    img_size: int | None = None,
    *,
    preprocess: bool = False,
    data: str | os.PathLike | None = None,
    max_drop: float = 0.5,
    calib_images: int = 300,
    val_images: int | None = None,
    candidates: Sequence[tuple[str, str]] | None = None,
    measure: Measure | None = None,
    rounds: int = 5,
) -> Engine:
    """Put a model on a runtime: ``runtime`` ``"torch"``, ``"onnxruntime"``, ``"openvino"`` or ``"auto"``
    (measure the candidates here, keep the fastest that agrees with eager fp32; see the module docstring).

    Args:
        model_or_checkpoint: a cnnzoo model, a checkpoint file, or a model name (its shipped weights, else
            random weights).
        dtype: ``"fp32"``, ``"bf16"`` or ``"int8"`` (for ``"auto"``: the lowest precision allowed).
        batch: the batch size the engine is built and timed for (OpenVINO compiles once more for another).
        img_size: input side (default: the checkpoint's training size, else the model's).
        preprocess: the engine takes [0, 1] or uint8 images and resizes/normalises them itself.
        data: int8 only: the images to calibrate on and to guard accuracy with — an image folder
            (``DIR/train``, ``DIR/val``), shards or Fashion-MNIST; default: the data of the run a checkpoint
            file comes from (its ``config.yaml``), else Fashion-MNIST. Prepared and scored as ``cnnzoo eval``
            does; data that does not fit the model, or on which the float model is at chance, is a ValueError.
        max_drop: int8 only: the largest accepted top-1 drop in percentage points, else the float model.
        calib_images: int8 only: calibration images, drawn from the training split.
        val_images: int8 only: validation images scored by the guard (default: the whole split).
        candidates: ``(runtime, dtype)`` pairs for ``"auto"`` instead of :func:`auto_candidates`.
        measure: ``measure(engine, x) -> ms``, one time or each call's (default: :func:`default_measure`,
            every call of :func:`cnnzoo.timing.measure_latency`); replace it to choose without timing.
        rounds: interleaved timing rounds of ``"auto"`` (all calls pooled, ranked by :func:`race_latency`).

    Returns:
        an :class:`Engine`; ``engine.report`` (a :class:`DeployReport`) says what was measured and chosen.
    """
    _check_args(runtime, dtype, batch, max_drop)
    model, header, name = _resolve(model_or_checkpoint)
    size = header.img_size if img_size is None else int(img_size)
    min_size = int(getattr(model, "min_size", 1))
    if size < min_size:
        raise ValueError(f"{name} needs inputs of at least {min_size}×{min_size}, got img_size {size}")
    if size != header.img_size:
        header = CheckpointHeader(**{**asdict(header), "img_size": size})
    shape = (batch, header.in_chans, size, size)
    if runtime == "auto":
        pairs = list(candidates) if candidates is not None else auto_candidates(dtype)
        if not pairs:
            raise RuntimeError(f"no runtime can run {dtype} here")
    else:
        pairs = [(runtime, dtype)]
    guard_data = None
    if dtype == "int8":  # the data checked and the float model scored before anything is built
        checkpoint = model_or_checkpoint if isinstance(model_or_checkpoint, (str, os.PathLike)) and \
            Path(model_or_checkpoint).is_file() else None
        if data is None and checkpoint is not None:
            data = trained_on(checkpoint)  # the run's own data, as cnnzoo eval takes it
        guard_data = int8_data(data, model, header, size, calib_images, val_images,
                               str(checkpoint) if checkpoint is not None else name)
    workdir = _workdir()
    try:
        return _deploy_in(workdir, model, header, name, shape, pairs, runtime, dtype, batch, size, preprocess,
                          guard_data, max_drop, measure, rounds)
    except BaseException:  # an error or Ctrl-C: the ONNX files go with it
        workdir.cleanup()
        raise


def _deploy_in(workdir: tempfile.TemporaryDirectory, model: nn.Module, header: CheckpointHeader, name: str,
               shape: tuple[int, ...], pairs: list[tuple[str, str]], runtime: str, dtype: str, batch: int, size: int,
               preprocess: bool, guard_data: Int8Data | None, max_drop: float, measure: Measure | None,
               rounds: int) -> Engine:
    """:func:`deploy` once its arguments are checked, with its ONNX files in ``workdir``."""
    builder = _Builder(model, shape, Path(workdir.name))
    strict = runtime != "auto"
    int8_check = None
    if dtype == "int8":
        assert guard_data is not None
        builder.quantize(guard_data.calibration)
        engine, cands, reason = _race(builder, pairs, model, header, measure, rounds, strict)
        if engine is not None:
            int8_check = _int8_guard(engine, guard_data, max_drop)
        if engine is None or not int8_check.kept_int8:
            float_pairs = ([(runtime, "fp32")] if runtime != "auto" else auto_candidates("fp32"))
            engine, float_cands, float_reason = _race(builder, float_pairs, model, header, measure,
                                                      rounds, strict)
            cands += float_cands
            why = int8_check.summary() if int8_check is not None else "no int8 candidate ran"
            reason = f"float model kept ({why}); {float_reason}"
        else:
            reason = f"{reason}; {int8_check.summary()}"
    else:
        engine, cands, reason = _race(builder, pairs, model, header, measure, rounds, strict)
    if engine is None:
        raise RuntimeError(f"deploy {name}: no runtime agreed with eager fp32:\n" +
                           "\n".join(f"  {c.runtime} {c.dtype}: {c.error or f'max |diff| {c.max_abs_diff:.3g}'}"
                                     for c in cands))
    engine._workdir = workdir
    engine.preprocess = preprocess
    engine.report = DeployReport(model=name, runtime=engine.runtime, dtype=engine.dtype, batch=batch, img_size=size,
                                 requested_runtime=runtime, requested_dtype=dtype, reason=reason, candidates=cands,
                                 int8=int8_check, device_name=device_name(torch.device("cpu")),
                                 threads=torch.get_num_threads())
    return engine
