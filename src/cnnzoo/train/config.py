"""The training configuration: every setting defined once, with its type, default, help and range.

``TrainConfig``'s fields carry their help text and allowed values in ``dataclasses.field(metadata=...)``;
the ``cnnzoo train`` flags, the recipe YAML keys and the checks of every value are generated from them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cnnzoo._warn import warn_user
from cnnzoo.device import PRECISIONS, parse_dtype, precision_name, resolve_device, usable_cores
from cnnzoo.files import read_yaml
from cnnzoo.limits import MAX_IMG_SIZE, MAX_IN_CHANS

__all__ = ["TrainConfig", "Setting", "settings", "check_setting", "load_recipe", "list_recipes", "recipe_path",
           "model_recipe", "RESUME_CHANGEABLE", "DOC_KEYS", "merge_for_resume", "MAX_WORKERS", "MAX_IMG_SIZE",
           "load_run_config"]

#: keys a recipe may carry for documentation only (results, notes)
DOC_KEYS = ("description", "result", "results", "notes", "command")

#: settings a resumed run takes from the command line; every other one is kept from the run
RESUME_CHANGEABLE = ("epochs", "eval_every", "progress", "num_threads", "device", "workers")

#: the most data-loading processes per process: twice the usable cores, or 8 where that is more (more
#: processes than that only compete for the cores and memory; --workers 100000 would fork them all)
MAX_WORKERS = max(8, 2 * usable_cores())


def _s(default: Any, help: str, *, choices: tuple | None = None, ge: float | None = None,  # noqa: A002
       gt: float | None = None, le: float | None = None, lt: float | None = None, flag: bool = True,
       factory: Any = None) -> Any:
    """A setting: a dataclass field whose metadata holds its help and allowed values."""
    meta = dict(help=help, choices=choices, ge=ge, gt=gt, le=le, lt=lt, flag=flag)
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


_OPTIMIZERS = ("sgd", "rmsprop_tf", "rmsprop", "adamw")
_SCHEDULES = ("step", "cosine", "onecycle", "exponential", "constant")
_POLICIES = ("randaugment", "autoaugment", "trivialaugment")


@dataclass
class TrainConfig:
    """Everything a training run depends on (the resolved form is saved as ``runs/<name>/config.yaml``)."""

    # what
    model: str = _s("fashion_cnn", "registry name")
    model_kwargs: dict[str, Any] = _s(None, "extra model constructor keywords (YAML mapping)", factory=dict,
                                      flag=False)
    arch: str | None = _s(None, "stage-table YAML of --model mbconv (e.g. the best_arch.yaml of cnnzoo search arch)")
    data: str | None = _s(None, "Fashion-MNIST IDX directory, image folder with train/ and val/, or WebDataset "
                                "shards of `cnnzoo shards` (their directory or 'DIR/train-{000000..000099}.tar') "
                                "(default: Fashion-MNIST from $CNNZOO_DATA or /usr/share/datasets/fashion-mnist)")
    img_size: int | None = _s(None, "square input side (default: the data's, 28 for Fashion-MNIST)", ge=1,
                              le=MAX_IMG_SIZE)
    in_chans: int | None = _s(None, "input channels (default 1 for Fashion-MNIST, else the model's)", ge=1,
                              le=MAX_IN_CHANS)
    train_subset: int | None = _s(None, "use only the first N training images (an image folder: N drawn at "
                                        "random, seed 0) (default: all)", ge=1)
    test_subset: int | None = _s(None, "use only the first N test images (an image folder: N drawn at "
                                       "random, seed 0) (default: all)", ge=1)
    # how the data is read
    data_cache: str = _s("auto", "auto: Fashion-MNIST and image folders whose images fit in 512 MiB as uint8 "
                                 "squares are decoded once and held in memory, larger folders and shards are "
                                 "streamed (decoded per batch by workers); memory or none "
                                 "force either path", choices=("auto", "memory", "none"))
    workers: int | None = _s(None, "DataLoader worker processes per process for streamed data (default: the "
                                   "cores shared by the local processes, at most 8; 0 = decode in the main process; "
                                   "at most twice the usable cores, or 8 where that is more)",
                             ge=0, le=MAX_WORKERS)
    strict_data: bool = _s(False, "an image that cannot be decoded stops the run (default: it is skipped with a "
                                  "warning naming it and counted in the report)")
    rrc_min_scale: float = _s(0.08, "RandomResizedCrop of image-folder and shard training images: the smallest "
                                    "crop area as a fraction of the image (Inception, Szegedy et al. 2015: 0.08; "
                                    "1 = whole image)",
                              gt=0, le=1)
    rrc_max_ratio: float = _s(4 / 3, "RandomResizedCrop: crop aspect ratios within [1/X, X] (1 = square crops)",
                              ge=1)
    # how long
    epochs: int = _s(10, "number of epochs", ge=1)
    batch_size: int = _s(128, "batch size per process", ge=1)
    # optimiser and schedule
    optimizer: str = _s("sgd", "sgd (Nesterov), rmsprop_tf, rmsprop or adamw", choices=_OPTIMIZERS)
    lr: float = _s(0.05, "base learning rate", gt=0)
    momentum: float = _s(0.9, "momentum", ge=0, lt=1)
    weight_decay: float = _s(5e-4, "weight decay (not on biases / norm parameters)", ge=0)
    schedule: str = _s("onecycle", "learning-rate schedule, per step", choices=_SCHEDULES)
    warmup_epochs: float = _s(0.0, "linear warm-up epochs", ge=0)
    step_epochs: float = _s(30.0, "step schedule: ×gamma every N epochs", gt=0)
    gamma: float = _s(0.1, "step schedule: decay factor", gt=0, le=1)
    decay_rate: float = _s(0.97, "exponential schedule: factor per decay_epochs", gt=0, le=1)
    decay_epochs: float = _s(2.4, "exponential schedule: epochs per decay", gt=0)
    clip_grad: float = _s(0.0, "clip the global gradient norm to this value (Inception v3: 2.0; 0 = off)", ge=0)
    pretrained: str | None = _s(None, "start from these weights: a cnnzoo checkpoint, a run directory (its "
                                      "best.safetensors), a torchvision or timm file, or true (the weights that ship "
                                      "with cnnzoo for --model); the classifier is re-initialised when the classes "
                                      "differ, the stem adapted when the input channels do (a resumed run starts "
                                      "from its resume state)")
    # fine-tuning (cnnzoo.freeze / cnnzoo.param_groups: stem, stages and head from the model's feature_info)
    freeze: str | None = _s(None, "freeze the stem and the first N stages (0: the stem only), or 'backbone': only "
                                  "the classifier trains (a linear probe)")
    freeze_bn: bool = _s(False, "keep every batch-norm layer's running statistics fixed (eval mode while training)")
    layer_decay: float | None = _s(None, "layer-wise learning-rate decay D: each stage from the head down gets the "
                                         "rate × D once more (ConvNeXt/BEiT style; default: off)", gt=0, le=1)
    head_lr_mult: float = _s(1.0, "multiplier of the classifier's learning rate", gt=0)
    # regularisation
    label_smoothing: float = _s(0.0, "label smoothing ε", ge=0, lt=1)
    whiten_stem: bool = _s(False, "first convolution = frozen patch-whitening transform of the training images")
    drop_rate: float | None = _s(None, "classifier dropout (default: the model's own)", ge=0, lt=1)
    drop_path_rate: float = _s(0.0, "stochastic depth rate", ge=0, lt=1)
    ema: bool = _s(False, "keep and evaluate an EMA of the weights")
    ema_decay: float = _s(0.9998, "EMA decay", gt=0, lt=1)
    aux_weight: float = _s(0.3, "weight of auxiliary losses (GoogLeNet 0.3)", ge=0)
    # augmentation (kornia, on batches)
    crop_padding: int = _s(0, "random translation: pad N pixels and crop back", ge=0, le=256)
    flip: bool = _s(False, "random horizontal flip")
    policy: str | None = _s(None, "augmentation policy", choices=_POLICIES)
    ra_n: int = _s(2, "RandAugment ops per image (kornia draws them from its 15 sub-policies)", ge=1, le=15)
    ra_m: float = _s(9.0, "RandAugment magnitude", ge=0, le=30)
    erasing: float = _s(0.0, "random-erasing probability", ge=0, le=1)
    mixup: float = _s(0.0, "mixup strength: λ ~ U(0, mixup)", ge=0, le=1)
    cutmix: float = _s(0.0, "cutmix weight (against mixup when both are set)", ge=0, le=1)
    # progressive learning (EfficientNetV2): values grow linearly from *_start to the final ones
    prog_stages: int = _s(0, "progressive learning: number of stages (0 = off)", ge=0)
    prog_img_size_start: int | None = _s(None, "progressive learning: first stage's image size", ge=1,
                                         le=MAX_IMG_SIZE)
    prog_drop_rate_start: float = _s(0.0, "progressive learning: first stage's dropout", ge=0, lt=1)
    prog_ra_m_start: float = _s(0.0, "progressive learning: first stage's RandAugment magnitude", ge=0, le=30)
    prog_mixup_start: float = _s(0.0, "progressive learning: first stage's mixup", ge=0, le=1)
    # speed
    amp: str = _s("fp32", "precision: fp32 (none), bf16 autocast, fp16 autocast (CUDA)", choices=PRECISIONS)
    channels_last: bool = _s(False, "channels-last memory format")
    num_threads: int | None = _s(None, "torch CPU threads (default: torch's)", ge=1, le=1024)
    sync_bn: bool = _s(False, "SyncBatchNorm under torchrun (CUDA)")
    device: str | None = _s(None, "cpu, cuda or cuda:N (default: cuda if available)")
    # bookkeeping
    seed: int = _s(0, "random seed", ge=0, le=2**32 - 1)
    deterministic: bool = _s(False, "deterministic algorithms")
    tta_flip: bool = _s(False, "flip test-time augmentation in the final evaluation")
    eval_every: int = _s(1, "evaluate the test split every N epochs and after the last (0: the last only)", ge=0)
    name: str | None = _s(None, "run name: writes <out_dir>/<name>/ (default <model>-<time>)")
    out_dir: str = _s("runs", "parent directory of runs")
    progress: bool = _s(True, "progress bar", flag=False)
    recipe: str | None = _s(None, "the recipe the settings started from", flag=False)
    notes: dict[str, Any] = _s(None, "documentation keys of the recipe", factory=dict, flag=False)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, check_setting(f.name, getattr(self, f.name)))

    def update(self, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Set ``values`` (from YAML, flags or ``--set``), each checked; ``source`` (a file) prefixes the errors."""
        for key, value in values.items():
            if key in DOC_KEYS:
                self.notes[key] = value
                continue
            if key not in _SETTINGS:
                raise ValueError(f"{source or 'command line'}: unknown setting {key!r}; known settings: "
                                 f"{', '.join(sorted(_SETTINGS))}")
            try:
                setattr(self, key, check_setting(key, value))
            except ValueError as err:
                raise ValueError(f"{source}: {err}" if source else str(err)) from None
        return self

    def validate(self) -> None:
        """Check every value and the settings that depend on each other; a ``ValueError`` naming the setting."""
        for f in dataclasses.fields(self):
            check_setting(f.name, getattr(self, f.name))
        if self.device is not None:
            try:
                resolve_device(self.device)
            except ValueError as err:
                raise ValueError(f"device: {err}") from None
        if self.amp == "fp16" and self.device is not None and resolve_device(self.device).type != "cuda":
            raise ValueError("amp: fp16 needs CUDA; on the CPU use bf16 or fp32")
        if self.arch is not None and self.model != "mbconv":
            raise ValueError(f"arch: a stage-table YAML is read by --model mbconv only, not by {self.model!r}")
        if self.prog_stages > self.epochs:
            raise ValueError(f"prog_stages: expected at most epochs ({self.epochs}), got {self.prog_stages}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------ the settings

@dataclass(frozen=True)
class Setting:
    """One setting of :class:`TrainConfig`: name, base type, whether None is allowed, default, help, range."""

    name: str
    type: type
    optional: bool
    default: Any
    help: str
    choices: tuple | None
    ge: float | None
    gt: float | None
    le: float | None
    lt: float | None
    flag: bool

    def expected(self) -> str:
        """What the setting accepts, in words."""
        if self.name == "freeze":
            return "a number of stages >= 0, backbone or none"
        what = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
                dict: "a mapping"}[self.type]
        if self.choices:
            what = "one of " + ", ".join(map(str, self.choices))
        lo = f">= {_num(self.ge)}" if self.ge is not None else f"> {_num(self.gt)}" if self.gt is not None else None
        hi = f"<= {_num(self.le)}" if self.le is not None else f"< {_num(self.lt)}" if self.lt is not None else None
        if lo and hi:
            what += f" in {'[' if self.ge is not None else '('}{_num(self.ge if self.ge is not None else self.gt)}, " \
                    f"{_num(self.le if self.le is not None else self.lt)}{']' if self.le is not None else ')'}"
        elif lo or hi:
            what += " " + (lo or hi)
        return what + (" or none" if self.optional else "")


def _num(x: float) -> str:
    """A bound in words: integers in full (4294967295, not 4.29497e+09), other numbers as ``%g``."""
    return str(x) if isinstance(x, int) else f"{x:g}"


def _settings() -> dict[str, Setting]:
    hints = typing.get_type_hints(TrainConfig)
    out = {}
    for f in dataclasses.fields(TrainConfig):
        hint = hints[f.name]
        args = typing.get_args(hint)
        optional = type(None) in args
        base = next(a for a in args if a is not type(None)) if optional else hint
        base = typing.get_origin(base) or base
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        m = f.metadata
        out[f.name] = Setting(f.name, base, optional, default, m["help"], m["choices"], m["ge"], m["gt"], m["le"],
                              m["lt"], m["flag"])
    return out


_SETTINGS: dict[str, Setting] = {}

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def settings() -> dict[str, Setting]:
    """Every setting of :class:`TrainConfig` by name, in definition order."""
    return dict(_SETTINGS)


def check_setting(name: str, value: Any) -> Any:
    """``value`` as setting ``name`` takes it (strings from flags are parsed), or a ``ValueError`` such as
    ``epochs: expected an integer >= 1, got 'ten'``."""
    s = _SETTINGS[name]
    shown = repr(value)
    if len(shown) > 40:  # a 5000-digit number is not repeated in full
        shown = f"{shown[:20]}… ({len(shown)} characters)"
    bad = ValueError(f"{name}: expected {s.expected()}, got {shown}")
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "~")
                         and (s.optional or name == "amp")):
        if name == "amp" and value is not None:
            return "fp32"  # "none": no mixed precision, the old spelling of fp32
        if s.optional:
            return None
        raise bad
    if s.type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise bad
    if s.type in (int, float):
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):
            try:
                value = s.type(value.strip())
            except ValueError:
                raise bad from None
        if s.type is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, (int, float) if s.type is float else int) or not math.isfinite(value):
            raise bad
        value = s.type(value)
    elif name == "pretrained" and (isinstance(value, bool)
                                   or isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE):
        return "true" if value is True or str(value).strip().lower() in _TRUE else None  # the shipped weights
    elif name == "freeze":  # a number of stages or "backbone"
        value = str(value).strip().lower() if isinstance(value, (int, str)) and not isinstance(value, bool) else None
        if value is None or not (value == "backbone" or value.isdigit()):
            raise bad
        value = value if value == "backbone" else str(int(value))
    elif s.type is str:
        if not isinstance(value, str):
            raise bad
        if name == "amp":
            try:
                value = precision_name(parse_dtype(value))
            except ValueError:
                raise bad from None
    elif s.type is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if s.choices is not None and value not in s.choices:
        raise bad
    if ((s.ge is not None and value < s.ge) or (s.gt is not None and value <= s.gt)
            or (s.le is not None and value > s.le) or (s.lt is not None and value >= s.lt)):
        raise bad
    return value


_SETTINGS.update(_settings())


def merge_for_resume(saved: TrainConfig, given: dict[str, Any]) -> tuple[TrainConfig, dict[str, Any], dict[str, Any]]:
    """The configuration of a resumed run: ``saved`` with the command line's ``given`` values of the
    :data:`RESUME_CHANGEABLE` settings. Returns (config, taken {name: (old, new)}, kept {name: (run's, given)})."""
    cfg = dataclasses.replace(saved, model_kwargs=dict(saved.model_kwargs), notes=dict(saved.notes))
    taken: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    for key, value in given.items():
        if key in DOC_KEYS or key in ("name", "out_dir", "recipe"):
            continue
        value = check_setting(key, value) if key in _SETTINGS else value
        old = getattr(saved, key)
        if value == old:
            continue
        if key in RESUME_CHANGEABLE:
            setattr(cfg, key, value)
            taken[key] = (old, value)
        else:
            kept[key] = (old, value)
    return cfg, taken, kept


def load_run_config(path: str | os.PathLike) -> TrainConfig:
    """The settings of a run's ``config.yaml`` (as ``cnnzoo train`` writes it), checked. Any fault (not YAML,
    not a mapping, an unknown setting, a value of the wrong type or range) is one ``ValueError`` naming the file,
    the place or setting and what is expected, never quoting the file's content."""
    path = Path(path)
    expected = "the config.yaml that cnnzoo train writes (a mapping of settings)"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; --resume RUN_DIR needs a run directory of cnnzoo train")
    values = read_yaml(path, expected)
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected {expected}, got {'nothing' if values is None else _kind(values)}")
    cfg = TrainConfig()
    for key, value in values.items():
        if key in DOC_KEYS:
            cfg.notes[key] = value
            continue
        if not isinstance(key, str) or key not in _SETTINGS:
            name = repr(key) if isinstance(key, str) and key.isidentifier() and len(key) <= 40 else "a key"
            raise ValueError(f"{path}: unknown setting {name}; expected {expected}")
        if key == "workers" and type(value) is int and value > MAX_WORKERS:  # saved on a machine with more cores
            warn_user(f"{path}: workers {value} is more than this machine allows ({MAX_WORKERS}); the default is "
                      f"used (--workers N sets it)")
            continue
        try:
            setattr(cfg, key, check_setting(key, value))
        except ValueError:
            raise ValueError(f"{path}: {key}: expected {_SETTINGS[key].expected()}, got {_kind(value)}") from None
    return cfg


def _kind(value: Any) -> str:
    """A value described by its type, not its content (for messages about files that are not what they seem);
    a short number or a boolean is shown as it is."""
    if isinstance(value, (bool, float)) or (isinstance(value, int) and abs(value) < 10**18):
        return repr(value)
    return {dict: "a mapping", list: "a list", str: "a string", int: "an integer"}.get(type(value),
                                                                                     type(value).__name__)


# ------------------------------------------------------------------------------------ recipes

def _recipes_dir() -> Path:
    return Path(str(resources.files("cnnzoo") / "recipes"))


def list_recipes() -> list[str]:
    """Names of the recipes shipped in ``cnnzoo/recipes`` (file stems)."""
    return sorted(p.stem for p in _recipes_dir().glob("*.yaml"))


def recipe_path(name_or_path: str | os.PathLike) -> Path:
    """The file of a recipe given as a path or as the name of a shipped recipe."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    cand = _recipes_dir() / f"{p.stem}.yaml"
    if cand.is_file():
        return cand
    raise FileNotFoundError(f"{name_or_path}: no such config file or recipe; recipes: {', '.join(list_recipes())}")


def load_recipe(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The settings of a recipe YAML (a file path or the name of a shipped recipe)."""
    path = recipe_path(name_or_path)
    values = read_yaml(path, "a mapping of settings") or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of settings, got {type(values).__name__}")
    values.setdefault("recipe", str(path.stem))
    return values


def model_recipe(model: str) -> str | None:
    """The shipped recipe of ``model``: the one named exactly like the model (``recipes/<model>.yaml``)
    whose ``model`` is that model; None when there is none."""
    path = _recipes_dir() / f"{model}.yaml"
    if not path.is_file():
        return None
    return model if load_recipe(path).get("model", TrainConfig.model) == model else None

