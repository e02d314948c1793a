"""``mbconv``: a network built from a stage table given as data — a YAML file, a mapping or a list of rows.

The zoo's inverted-residual families (MobileNetV2/V3, MnasNet, EfficientNet, EfficientNetV2) are all a
stage table plus a few network options run through :class:`~cnnzoo.models._mbconv_net.MBConvNet`. This
module lets such a table live outside the code, e.g. an architecture found by ``cnnzoo search arch``::

    stem_chs: 32            # network options (all optional; these are the defaults)
    head_chs: 1280          # null: no 1×1 head convolution
    act: relu
    stages:                 # one row per stage, the fields of layers.inverted_residual.Stage
      - {block: mbconv, repeats: 1, out_chs: 16, kernel: 3, stride: 1, expansion: 1}
      - {block: fused, repeats: 2, out_chs: 24, kernel: 3, stride: 2, expansion: 4, se_ratio: 0.25}

A row may also be a list in ``Stage`` order (``[mbconv, 2, 24, 3, 2, 6, 0.25]``), and the whole file may
be just the list of rows. :func:`parse_arch` checks every row and returns the canonical mapping, which
is what a checkpoint records (``model_args["arch"]``), so a saved model rebuilds without the file; a
header's ``arch`` is never read as a path. Every count is bounded (:data:`MAX_STAGES`, :data:`MAX_REPEATS`,
:data:`MAX_CHANNELS`, :data:`MAX_KERNEL`, :data:`MAX_EXPANSION`): memory is sized from the table.
:func:`zoo_arch` writes the zoo's searched models (MnasNet-A1, EfficientNet-B0, EfficientNetV2-S,
MobileNetV3-Large) in this form.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from cnnzoo.files import read_yaml
from cnnzoo.layers.activations import get_act_layer
from cnnzoo.layers.inverted_residual import BlockOptions, Stage, batch_norm, round_channels
from cnnzoo.models._mbconv_net import MBConvNet
from cnnzoo.registry import register_model

__all__ = ["ARCH_OPTIONS", "MAX_CHANNELS", "MAX_EXPANSION", "MAX_KERNEL", "MAX_REPEATS", "MAX_STAGES", "parse_arch",
           "load_arch", "dump_arch", "arch_table", "zoo_arch", "ZOO_ARCHS"]

PAPER = "Stage-table YAML (a searched or hand-written network; default: EfficientNet-B0's table)"

#: network options of an arch mapping and their defaults
ARCH_OPTIONS: dict[str, Any] = {
    "stem_chs": 32, "head_chs": 1280, "act": "relu", "stem_act": None, "head_act": None,
    "se_from": "in", "se_divisor": 1, "se_act": None, "se_gate": "sigmoid", "head_hidden": [],
    "head_hidden_act": None, "bn_eps": 1e-5, "bn_momentum": 0.1, "round_stem": True,
}
#: bounds of a stage table (it may come from a checkpoint header: memory is sized from it)
MAX_STAGES = 64          # rows of a table
MAX_REPEATS = 100        # blocks of one row, before depth scaling
MAX_CHANNELS = 8192      # any channel count: out_chs, exp_chs, stem_chs, head_chs, head_hidden
MAX_KERNEL = 31          # kernel side
MAX_EXPANSION = 64       # expansion ratio
_ROW_DEFAULTS = {f: Stage._field_defaults.get(f) for f in Stage._fields}
_REQUIRED = [f for f in Stage._fields if f not in Stage._field_defaults]
_BLOCKS = ("mbconv", "fused")


def _int(v: Any, lo: int = 1, hi: int = MAX_CHANNELS) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _act_ok(v: Any) -> bool:
    if v is None:
        return True
    try:
        get_act_layer(v)
    except (ValueError, TypeError):
        return False
    return isinstance(v, str)


# field -> (check, what is expected)
_ROW_CHECKS: dict[str, tuple[Any, str]] = {
    "block": (lambda v: v in _BLOCKS, f"one of {', '.join(_BLOCKS)}"),
    "repeats": (lambda v: _int(v, hi=MAX_REPEATS), f"an integer in [1, {MAX_REPEATS}]"),
    "out_chs": (_int, f"an integer in [1, {MAX_CHANNELS}]"),
    "kernel": (lambda v: _int(v, hi=MAX_KERNEL) and v % 2 == 1, f"an odd integer in [1, {MAX_KERNEL}]"),
    "stride": (lambda v: v in (1, 2) and not isinstance(v, bool), "1 or 2"),
    "expansion": (lambda v: _num(v) and 0 < v <= MAX_EXPANSION, f"a number in (0, {MAX_EXPANSION}]"),
    "se_ratio": (lambda v: _num(v) and 0 <= v < 1, "a number in [0, 1)"),
    "act": (_act_ok, "an activation name (relu, relu6, silu, hard_swish, …) or null"),
    "exp_chs": (lambda v: v is None or _int(v), f"an integer in [1, {MAX_CHANNELS}] or null"),
    "exp_base": (lambda v: v is None or _int(v), f"an integer in [1, {MAX_CHANNELS}] or null"),
    "skip": (lambda v: isinstance(v, bool), "true or false"),
}
_OPTION_CHECKS: dict[str, tuple[Any, str]] = {
    "stem_chs": (_int, f"an integer in [1, {MAX_CHANNELS}]"),
    "head_chs": (lambda v: v is None or _int(v), f"an integer in [1, {MAX_CHANNELS}] or null"),
    "act": (lambda v: v is not None and _act_ok(v), "an activation name"),
    "stem_act": (_act_ok, "an activation name or null"),
    "head_act": (_act_ok, "an activation name or null"),
    "se_from": (lambda v: v in ("in", "mid"), "'in' (× block input, MnasNet/EfficientNet) or 'mid' (MobileNetV3)"),
    "se_divisor": (_int, f"an integer in [1, {MAX_CHANNELS}]"),
    "se_act": (_act_ok, "an activation name or null"),
    "se_gate": (lambda v: v is not None and _act_ok(v), "an activation name (sigmoid, hard_sigmoid)"),
    "head_hidden": (lambda v: isinstance(v, list) and len(v) <= MAX_STAGES and all(_int(x) for x in v),
                    f"a list of at most {MAX_STAGES} integers in [1, {MAX_CHANNELS}]"),
    "head_hidden_act": (_act_ok, "an activation name or null"),
    "bn_eps": (lambda v: _num(v) and 0 < v < 1, "a number in (0, 1)"),
    "bn_momentum": (lambda v: _num(v) and 0 < v < 1, "a number in (0, 1)"),
    "round_stem": (lambda v: isinstance(v, bool), "true or false"),
}


def _parse_row(i: int, row: Any, where: str) -> dict[str, Any]:
    if isinstance(row, Mapping):
        values = dict(row)
        unknown = [k for k in values if k not in Stage._fields]
        if unknown:
            raise ValueError(f"{where}: stage row {i}: unknown field(s) {', '.join(map(repr, unknown))}; "
                             f"a row has {', '.join(Stage._fields)}")
    elif isinstance(row, (list, tuple)):
        if len(row) > len(Stage._fields):
            raise ValueError(f"{where}: stage row {i}: {len(row)} values, at most {len(Stage._fields)} expected "
                             f"({', '.join(Stage._fields)})")
        values = dict(zip(Stage._fields, row, strict=False))  # a prefix of the fields
    else:
        raise ValueError(f"{where}: stage row {i}: expected a mapping of {', '.join(Stage._fields)} "
                         f"(or a list in that order), got {type(row).__name__}")
    missing = [f for f in _REQUIRED if f not in values]
    if missing:
        raise ValueError(f"{where}: stage row {i}: missing field(s) {', '.join(missing)} "
                         f"(required: {', '.join(_REQUIRED)})")
    for key, value in values.items():
        check, expected = _ROW_CHECKS[key]
        if not check(value):
            raise ValueError(f"{where}: stage row {i}, field {key!r}: expected {expected}, got {value!r}")
    out = {f: values[f] for f in Stage._fields if f in values}
    for key in ("expansion", "se_ratio"):
        if key in out:
            out[key] = float(out[key])
    # canonical: required fields, then only the optional ones that differ from the defaults
    return {k: v for k, v in out.items() if k in _REQUIRED or v != _ROW_DEFAULTS[k]}


def parse_arch(spec: Any, where: str = "arch") -> dict[str, Any]:
    """The canonical arch mapping of ``spec``: a YAML file path, a mapping (options + ``stages``) or a
    list of rows. Every row and option is checked; a ``ValueError`` names the row, the field and what
    it expects. The result holds plain values only (it goes into checkpoint headers as JSON)."""
    if isinstance(spec, (str, os.PathLike)):
        return load_arch(spec)
    if isinstance(spec, (list, tuple)):
        spec = {"stages": list(spec)}
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: expected a YAML file, a mapping with 'stages' or a list of stage rows, "
                         f"got {type(spec).__name__}")
    unknown = [k for k in spec if k != "stages" and k not in ARCH_OPTIONS]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; expected 'stages' and the "
                         f"options {', '.join(ARCH_OPTIONS)}")
    stages = spec.get("stages")
    if not isinstance(stages, (list, tuple)) or not stages:
        got = "an empty list" if isinstance(stages, (list, tuple)) else type(stages).__name__
        raise ValueError(f"{where}: 'stages' must be a non-empty list of stage rows, got {got}")
    if len(stages) > MAX_STAGES:
        raise ValueError(f"{where}: 'stages' has {len(stages)} rows, at most {MAX_STAGES} expected")
    out: dict[str, Any] = {}
    for key, default in ARCH_OPTIONS.items():
        value = spec.get(key, default)
        if isinstance(value, tuple):
            value = list(value)
        check, expected = _OPTION_CHECKS[key]
        if not check(value):
            raise ValueError(f"{where}: option {key!r}: expected {expected}, got {value!r}")
        out[key] = float(value) if key in ("bn_eps", "bn_momentum") else value
    out["stages"] = [_parse_row(i, r, where) for i, r in enumerate(stages)]
    return out


def load_arch(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a stage-table YAML file (see :func:`parse_arch`)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such stage-table YAML file")
    spec = read_yaml(p, "a stage table: a mapping with 'stages', or a list of stage rows")
    if not isinstance(spec, (Mapping, list)):
        raise ValueError(f"{p} is not a stage-table YAML file (expected a mapping with 'stages' or a list of stage "
                         f"rows, got {type(spec).__name__})")
    return parse_arch(spec, where=str(p))


def dump_arch(arch: Any) -> str:
    """The YAML text of an arch (checked first): options, then one flow-style line per stage row."""
    canon = parse_arch(arch)
    opts = {k: v for k, v in canon.items() if k != "stages"}
    text = yaml.safe_dump(opts, sort_keys=False)
    rows = "".join("  - " + yaml.safe_dump(r, default_flow_style=True, sort_keys=False, width=1000).strip() + "\n"
                   for r in canon["stages"])
    return text + "stages:\n" + rows


def arch_table(arch: Mapping[str, Any]) -> list[Stage]:
    """The :class:`Stage` rows of a canonical arch mapping."""
    return [Stage(**{**_ROW_DEFAULTS, **row}) for row in arch["stages"]]


def _network(arch: dict[str, Any], num_classes: int, in_chans: int, drop_rate: float, drop_path_rate: float,
             width_mult: float, depth_mult: float, depth_rounding: str) -> MBConvNet:
    opts = BlockOptions(act=arch["act"], norm_layer=batch_norm(arch["bn_eps"], arch["bn_momentum"]),
                        se_from=arch["se_from"], se_divisor=arch["se_divisor"], se_act=arch["se_act"],
                        se_gate=arch["se_gate"])
    head = arch["head_chs"]
    head = None if head is None else round_channels(head, width_mult) if width_mult != 1 else head
    hidden = tuple(round_channels(c, width_mult) if width_mult != 1 else c for c in arch["head_hidden"])
    return MBConvNet(arch_table(arch), num_classes=num_classes, in_chans=in_chans, stem_chs=arch["stem_chs"],
                     head_chs=head, width_mult=width_mult, depth_mult=depth_mult, opts=opts,
                     stem_act=arch["stem_act"], head_act=arch["head_act"], head_hidden=hidden,
                     head_hidden_act=arch["head_hidden_act"], drop_rate=drop_rate, drop_path_rate=drop_path_rate,
                     round_stem=arch["round_stem"], depth_rounding=depth_rounding)


# -- the zoo's searched models as arch mappings ---------------------------------------------------------
def _rows(table: Sequence[Stage]) -> list[dict[str, Any]]:
    return [dict(r._asdict()) for r in table]


def _zoo_archs() -> dict[str, dict[str, Any]]:
    from cnnzoo.models.efficientnet import EFFICIENTNET_B0_STAGES
    from cnnzoo.models.efficientnet_v2 import EFFICIENTNET_V2_S_STAGES
    from cnnzoo.models.mnasnet import MNASNET_A1_STAGES
    from cnnzoo.models.mobilenet_v2 import MOBILENET_V2_STAGES
    from cnnzoo.models.mobilenet_v3 import MOBILENET_V3_LARGE

    return {
        "efficientnet_b0": dict(act="silu", stages=_rows(EFFICIENTNET_B0_STAGES)),
        "efficientnet_v2_s": dict(act="silu", stem_chs=24, bn_eps=1e-3, stages=_rows(EFFICIENTNET_V2_S_STAGES)),
        "mnasnet_a1": dict(stages=_rows(MNASNET_A1_STAGES)),
        "mobilenet_v2": dict(act="relu6", stages=_rows(MOBILENET_V2_STAGES)),
        "mobilenet_v3_large": dict(stem_chs=16, head_chs=960, stem_act="hard_swish", head_act="hard_swish",
                                   se_from="mid", se_divisor=8, se_act="relu", se_gate="hard_sigmoid",
                                   head_hidden=[1280], head_hidden_act="hard_swish", bn_eps=1e-3,
                                   bn_momentum=0.01, stages=_rows(MOBILENET_V3_LARGE)),
    }


#: zoo models whose architecture :func:`zoo_arch` writes as an arch mapping
ZOO_ARCHS = ("efficientnet_b0", "efficientnet_v2_s", "mnasnet_a1", "mobilenet_v2", "mobilenet_v3_large")


def zoo_arch(name: str) -> dict[str, Any]:
    """The canonical arch mapping of a zoo model (one of :data:`ZOO_ARCHS`): ``create_model("mbconv",
    arch=zoo_arch(name))`` has the same layers and parameter count as ``create_model(name)`` (dropout
    and initialisation aside)."""
    archs = _zoo_archs()
    if name not in archs:
        raise ValueError(f"no stage-table arch for {name!r}; available: {', '.join(ZOO_ARCHS)}")
    return parse_arch(archs[name], where=name)


@register_model(paper=PAPER, scaling={"width_mult": 1.0, "depth_mult": 1.0, "resolution": 224, "dropout": 0.2})
def mbconv(num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
           arch: str | os.PathLike | Mapping[str, Any] | Sequence[Any] | None = None, width_mult: float = 1.0,
           depth_mult: float = 1.0, depth_rounding: str = "ceil") -> MBConvNet:
    """A network from a stage table: ``arch`` is a YAML file, a mapping (options + ``stages``) or a
    list of rows (default: EfficientNet-B0's table, Table 1). The checked table itself is recorded in
    ``model_args["arch"]``, so checkpoints hold the table and rebuild the model without the file (a
    checkpoint header that names a file instead is refused, never followed)."""
    canon = zoo_arch("efficientnet_b0") if arch is None else parse_arch(arch)
    model = _network(canon, num_classes, in_chans, drop_rate, drop_path_rate, width_mult, depth_mult, depth_rounding)
    model.resolved_args = {"arch": canon}
    return model


# Arguments that may name a file to read. A checkpoint header is data: it must hold the table itself,
# and cnnzoo refuses a header whose value here is a path (cnnzoo.checkpoint).
mbconv.file_arguments = ("arch",)  # type: ignore[attr-defined]
