"""The training configuration: one dataclass, filled from a recipe YAML and then from command-line flags."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["TrainConfig", "load_recipe", "list_recipes", "recipe_path"]

#: keys a recipe may carry for documentation only (results, notes)
DOC_KEYS = ("description", "result", "results", "notes", "command")


@dataclass
class TrainConfig:
    """Everything a training run depends on (the resolved form is saved as ``runs/<name>/config.yaml``)."""

    # what
    model: str = "fashion_cnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data: str | None = None              # None: Fashion-MNIST; else a directory (IDX files or ImageFolder)
    img_size: int | None = None           # None: the data's native size (28 for Fashion-MNIST)
    in_chans: int | None = None           # None: the model's default
    train_subset: int | None = None       # first N training images only (tests, quick looks)
    test_subset: int | None = None
    # how long
    epochs: int = 10
    batch_size: int = 128
    # optimiser and schedule
    optimizer: str = "sgd"                # sgd (Nesterov) | rmsprop_tf | rmsprop | adamw
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"            # step | cosine | onecycle | exponential | constant
    warmup_epochs: float = 0.0
    step_epochs: float = 30.0             # step: ×gamma every step_epochs
    gamma: float = 0.1
    decay_rate: float = 0.97              # exponential: ×decay_rate every decay_epochs
    decay_epochs: float = 2.4
    clip_grad: float = 0.0                # clip the global gradient norm to this (Inception v3 §8: 2.0); 0 = off
    # regularisation
    label_smoothing: float = 0.0
    whiten_stem: bool = False             # first conv = frozen patch-whitening of the training images
    drop_rate: float | None = None        # None: the model's own default (e.g. 0.5 in fashion_cnn's head)
    drop_path_rate: float = 0.0
    ema: bool = False
    ema_decay: float = 0.9998
    aux_weight: float = 0.3               # GoogLeNet: auxiliary losses weigh 0.3
    # augmentation (kornia, on batches)
    crop_padding: int = 0
    flip: bool = False
    policy: str | None = None             # randaugment | autoaugment | trivialaugment
    ra_n: int = 2
    ra_m: float = 9.0
    erasing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    # progressive learning (EfficientNetV2): values grow linearly from *_start to the final ones
    prog_stages: int = 0                  # 0: off
    prog_img_size_start: int | None = None
    prog_drop_rate_start: float = 0.0
    prog_ra_m_start: float = 0.0
    prog_mixup_start: float = 0.0
    # speed
    amp: str = "none"                     # none | bf16 | fp16 (fp16: CUDA only)
    channels_last: bool = False
    num_threads: int | None = None
    sync_bn: bool = False
    device: str | None = None             # None: cuda if available, else cpu
    # bookkeeping
    seed: int = 0
    deterministic: bool = False
    tta_flip: bool = False
    eval_every: int = 1                   # test-split evaluation every N epochs (and after the last); 0: last only
    name: str | None = None
    out_dir: str = "runs"
    progress: bool = True
    recipe: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def update(self, values: dict[str, Any], source: str = "config") -> TrainConfig:
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in values.items():
            if key in DOC_KEYS:
                self.notes[key] = value
                continue
            if key not in names:
                raise ValueError(f"{source}: unknown setting {key!r}; known settings: {', '.join(sorted(names))}")
            setattr(self, key, value)
        return self

    def validate(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0 (0: evaluate after the last epoch only), got {self.eval_every}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"amp must be none, bf16 or fp16, got {self.amp!r}")
        if self.clip_grad < 0:
            raise ValueError(f"clip_grad must be >= 0 (0: no clipping), got {self.clip_grad}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _recipes_dir() -> Path:
    return Path(str(resources.files("cnnzoo") / "recipes"))


def list_recipes() -> list[str]:
    """Names of the recipes shipped in ``cnnzoo/recipes`` (file stems)."""
    return sorted(p.stem for p in _recipes_dir().glob("*.yaml"))


def recipe_path(name_or_path: str | os.PathLike) -> Path:
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
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: invalid YAML ({err})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a recipe must be a mapping of settings, got {type(values).__name__}")
    values.setdefault("recipe", str(path.stem))
    return values
