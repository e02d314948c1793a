"""Per-layer cost of a forward pass, counted on the operators that actually run.

A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every ATen operator of the
forward pass (convolutions, the residual ``add`` in a block's ``forward``, the ``mul`` of a
squeeze-and-excitation gate, DenseNet's ``cat`` …) and forward hooks say which module is running,
so each operator is charged to the innermost module that issued it. This runs on the ``meta``
device too (shapes only, no memory, no time), so the profile of a large model is instant.

Definitions (per operator, summed per module and in total):

* **MACs** — multiply-accumulates ("FLOPs" in the papers' sense of multiply-adds) of
  convolutions (``H'·W'·C_out·(C_in/g)·k_h·k_w``: grouped and depthwise convolutions at their real,
  divided cost) and matrix products (linear layers), by the rules of
  :func:`cnnzoo.analysis.flops.op_macs` that :func:`~cnnzoo.analysis.flops.count_macs` sums too.
  Other operators count no MACs.
* **memory access cost** — ShuffleNetV2's MAC (§2): elements read (every tensor input: feature
  maps *and* weights) plus elements written (every output), in elements and in bytes. Views and
  reshapes move no data and count nothing; an in-place operator reads and writes its tensor.
* **activation memory** — bytes of the feature maps a module writes.
* **arithmetic intensity** — ``2·MACs / bytes accessed`` (FLOP per byte, the roofline's x-axis).
* **kernels** — ATen compute operators run in eager mode (≈ kernel launches; views excluded).
* **element-wise ops** — operators tagged ``pointwise`` by PyTorch (activations, ``add``, ``mul``,
  gates …) plus batch norms (per-element scale and shift at inference), ShuffleNetV2's G4.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from cnnzoo.analysis.flops import op_macs
from cnnzoo.device import resolve_device
from cnnzoo.factory import create_model
from cnnzoo.registry import model_info
from cnnzoo.tables import format_table, plural
from cnnzoo.timing import measure_latency

__all__ = ["LayerStats", "ModelProfile", "profile_ops", "profile_model"]

_aten = torch.ops.aten
_NORM_OPS = {
    getattr(_aten, n).default
    for n in ("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit",
              "native_layer_norm", "native_group_norm")
    if hasattr(_aten, n)
}
# Operators that only allocate or relabel memory: no data moves, no kernel worth counting.
_NO_KERNEL = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "detach", "alias",
              "lift_fresh", "lift_fresh_copy", "_local_scalar_dense", "sym_size", "sym_stride", "sym_numel"}


@dataclass
class LayerStats:
    """Costs charged to one module (operators it ran itself, not those of its children)."""

    name: str
    kind: str
    params: int = 0
    macs: int = 0
    mac_elements: int = 0
    mac_bytes: int = 0
    activation_bytes: int = 0
    kernels: int = 0
    elementwise: int = 0
    output_shape: tuple[int, ...] | None = None

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP (= 2·MACs) per byte accessed."""
        return 2 * self.macs / self.mac_bytes if self.mac_bytes else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        d["intensity"] = self.intensity
        return d


_SUM_KEYS = ("params", "macs", "mac_elements", "mac_bytes", "activation_bytes", "kernels", "elementwise")


@dataclass
class ModelProfile:
    """The per-layer profile of one forward pass, with totals and (optionally) measured latency."""

    model: str
    input_shape: tuple[int, ...]
    dtype: str
    layers: list[LayerStats]
    latency: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> dict[str, Any]:
        t: dict[str, Any] = {k: sum(getattr(layer, k) for layer in self.layers) for k in _SUM_KEYS}
        t["intensity"] = 2 * t["macs"] / t["mac_bytes"] if t["mac_bytes"] else 0.0
        t["flops"] = 2 * t["macs"]
        return t

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype,
            "total": self.total,
            "latency": self.latency,
            **self.extra,
            "layers": [layer.as_dict() for layer in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def to_csv(self) -> str:
        """One row per layer and a final ``TOTAL`` row."""
        cols = ["name", "kind", *_SUM_KEYS, "intensity", "output_shape"]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for layer in self.layers:
            d = layer.as_dict()
            shape = "x".join(map(str, d["output_shape"])) if d["output_shape"] else ""
            writer.writerow([d[c] if c != "output_shape" else shape for c in cols[:-1]] + [shape])
        t = self.total
        writer.writerow(["TOTAL", "", *[t[k] for k in _SUM_KEYS], f"{t['intensity']:.4g}", ""])
        return buf.getvalue()

    def to_table(self, max_rows: int | None = None) -> str:
        """An aligned text table (per layer, then the totals and the measured latency)."""
        header = ["layer", "type", "params", "MMACs", "MAC (M el.)", "act. KiB", "FLOP/B", "kern", "elt", "output"]
        rows = []
        for layer in self.layers[: max_rows if max_rows else None]:
            rows.append([
                layer.name or "(model)", layer.kind, f"{layer.params:,}", f"{layer.macs / 1e6:.3f}",
                f"{layer.mac_elements / 1e6:.3f}", f"{layer.activation_bytes / 1024:.1f}",
                f"{layer.intensity:.2f}", str(layer.kernels), str(layer.elementwise),
                "×".join(map(str, layer.output_shape)) if layer.output_shape else "",
            ])
        t = self.total
        rows.append(["TOTAL", "", f"{t['params']:,}", f"{t['macs'] / 1e6:.3f}", f"{t['mac_elements'] / 1e6:.3f}",
                     f"{t['activation_bytes'] / 1024:.1f}", f"{t['intensity']:.2f}", str(t["kernels"]),
                     str(t["elementwise"]), ""])
        lines = format_table(header, rows, align="llrrrrrrrl").split("\n")
        rule, total = lines[1], lines[-1]
        lines = lines[:-1]
        if max_rows and len(self.layers) > max_rows:
            lines.append(f"… {plural(len(self.layers) - max_rows, 'more layer')} (see --json / --csv)")
        lines += [rule, total]
        lines.append(
            f"{self.model}: input {tuple(self.input_shape)} {self.dtype}; {t['params']:,} params, "
            f"{t['macs'] / 1e9:.3f} GMACs, MAC {t['mac_bytes'] / 2**20:.1f} MiB, "
            f"activations {t['activation_bytes'] / 2**20:.1f} MiB, {t['kernels']} kernels, "
            f"{t['elementwise']} element-wise ops"
        )
        if self.latency:
            lat = self.latency
            lines.append(
                f"latency on {lat['device']} ({lat['device_name']}, {plural(lat['threads'], 'thread')}): median "
                f"{lat['median_ms']:.3f} ms, IQR {lat['iqr_ms']:.3f} ms, min {lat['min_ms']:.3f} ms over "
                f"{plural(lat['repeats'], 'run')} after {lat['warmup']} warm-up; {lat['throughput']:.1f} images/s"
            )
        for rt, lat in self.extra.get("runtimes", {}).items():  # cnnzoo.analysis.bench.runtime_latency
            lines.append(f"latency deployed on {rt} ({lat['dtype']}): median {lat['median_ms']:.3f} ms, IQR "
                         f"{lat['iqr_ms']:.3f} ms; {lat['throughput']:.1f} images/s")
        return "\n".join(lines)


class _CostMode(TorchDispatchMode):
    """Charges every ATen operator to the innermost running module."""

    def __init__(self, stack: list[str], stats: dict[str, LayerStats]) -> None:
        super().__init__()
        self.stack = stack
        self.stats = stats

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func._schema.name.split("::")[-1]
        if func.is_view or name in _NO_KERNEL:
            return out
        layer = self.stats[self.stack[-1]]
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        read = sum(t.numel() for t in inputs)
        written = sum(t.numel() for t in outputs)
        layer.mac_elements += read + written
        layer.mac_bytes += sum(t.numel() * t.element_size() for t in inputs + outputs)
        # An in-place operator (``relu_``) writes into memory that exists already: no new activation.
        aliased = [r.alias_info is not None for r in func._schema.returns]
        fresh = [t for t, a in zip(outputs, aliased + [False] * len(outputs), strict=False) if not a]
        layer.activation_bytes += sum(t.numel() * t.element_size() for t in fresh)
        layer.macs += op_macs(func, args, out)
        layer.kernels += 1
        if torch.Tag.pointwise in func.tags or func in _NORM_OPS:
            layer.elementwise += 1
        return out


@torch.no_grad()
def profile_ops(model: nn.Module, inputs: torch.Tensor | Sequence[torch.Tensor], name: str = "model") -> ModelProfile:
    """Profile one forward pass of ``model`` on ``inputs`` (any device, ``meta`` included).

    Returns a :class:`ModelProfile` with one :class:`LayerStats` per module that ran an operator
    or owns parameters, in the order the modules first ran. The model is run in eval mode.
    """
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    names = {}
    for mod_name, module in model.named_modules(remove_duplicate=True):
        names[module] = mod_name
    stats: dict[str, LayerStats] = {"": LayerStats("", type(model).__name__)}
    stack = [""]

    def pre_hook(module: nn.Module, _args: tuple) -> None:
        mod_name = names[module]
        if mod_name not in stats:
            stats[mod_name] = LayerStats(mod_name, type(module).__name__,
                                         params=sum(p.numel() for p in module.parameters(recurse=False)))
        stack.append(mod_name)

    def post_hook(module: nn.Module, _args: tuple, output: Any) -> None:
        stack.pop()
        if isinstance(output, torch.Tensor):
            stats[names[module]].output_shape = tuple(output.shape)

    handles = []
    for module in names:
        if module is not model:
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(post_hook))
    stats[""].params = sum(p.numel() for p in model.parameters(recurse=False))
    was_training = model.training
    model.eval()
    try:
        with _CostMode(stack, stats):
            out = model(*inputs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    if isinstance(out, torch.Tensor):
        stats[""].output_shape = tuple(out.shape)
    # Parameters of modules that never ran (e.g. an unused auxiliary classifier) still count.
    for mod_name, module in model.named_modules():
        if mod_name not in stats and any(True for _ in module.parameters(recurse=False)):
            stats[mod_name] = LayerStats(mod_name, type(module).__name__,
                                         params=sum(p.numel() for p in module.parameters(recurse=False)))
    layers = [s for s in stats.values() if s.kernels or s.params]
    dtype = str(inputs[0].dtype).replace("torch.", "") if inputs else ""
    return ModelProfile(model=name, input_shape=tuple(inputs[0].shape) if inputs else (), dtype=dtype, layers=layers)


def profile_model(
    name: str,
    img_size: int | None = None,
    batch_size: int = 1,
    device: str = "cpu",
    latency: bool = True,
    warmup: int = 3,
    repeats: int = 10,
    **model_kwargs: Any,
) -> ModelProfile:
    """Profile a registered model: counts on ``meta`` at (``batch_size``, C, ``img_size``, ``img_size``),
    then (``latency=True``) the measured latency of a randomly initialised copy on ``device``."""

    info = model_info(name)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch size must be a positive int, got {batch_size!r}")
    dev = resolve_device(device) if latency else None
    meta = create_model(name, device="meta", **model_kwargs)
    size = info.input_size[1] if img_size is None else img_size
    min_size = int(getattr(meta, "min_size", 1))
    if not isinstance(size, int) or size < min_size:
        raise ValueError(f"{name} needs an image size of at least {min_size}, got {size!r}")
    shape = (batch_size, info.input_size[0], size, size)
    prof = profile_ops(meta, torch.zeros(shape, device="meta"), name=name)
    if latency:
        assert dev is not None
        model = create_model(name, device=dev, **model_kwargs).eval()
        x = torch.randn(shape, device=dev)
        prof.latency = measure_latency(model, x, warmup=warmup, repeats=repeats)
    return prof
