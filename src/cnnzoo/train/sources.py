"""The data of a training run: which source ``--data`` names, in memory or streamed, checked before training.

Fashion-MNIST and small image folders are decoded once into memory (:class:`~cnnzoo.train.batches.InMemoryBatches`,
:class:`~cnnzoo.train.batches.HeldImageBatches`; the fast path); large folders and WebDataset shards are streamed
(:class:`~cnnzoo.train.streaming.LoaderBatches`). Image folders and shards, in memory or streamed, get the
same transforms (:func:`~cnnzoo.data.transforms.transforms_for` of the model's data config): RandomResizedCrop
for training, resize and center crop for the test split, as ``cnnzoo eval`` reads it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cnnzoo.data import ImageData, is_fashion_mnist, load_data
from cnnzoo.data.config import DataConfig, resolve_data_config
from cnnzoo.data.folder import FolderSplit, read_images, scan_image_folder
from cnnzoo.data.shards import find_shards, is_shards
from cnnzoo.data.transforms import decode_held, transforms_for
from cnnzoo.files import read_yaml
from cnnzoo.registry import model_info
from cnnzoo.tables import plural
from cnnzoo.train.batches import BatchSource, HeldImageBatches, InMemoryBatches
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.streaming import (
    LoaderBatches,
    choose_data_cache,
    default_workers,
    folder_dataset,
    per_channel,
    shard_dataset,
    stats_for,
)

if TYPE_CHECKING:
    from cnnzoo.checkpoint import CheckpointHeader

__all__ = ["RunData", "load_run_data", "eval_source", "eval_data", "trained_on", "data_kind", "scan_folder_splits",
           "subset_split"]


@dataclass
class RunData:
    """The run's training batches and test split, with the input channels and final image size used;
    ``test_split`` names the split scored ("val" for a folder's ``val/`` and for shards)."""

    train: BatchSource
    test: Any  # an ImageData (scored in order) or a BatchSource
    in_chans: int
    img_size: int
    test_split: str = "test"

    @property
    def num_test(self) -> int:
        return self.test.num_images if hasattr(self.test, "num_images") else len(self.test)

    @property
    def skipped(self) -> list[str]:
        """Images skipped so far because they could not be decoded."""
        return [*getattr(self.train, "skipped", []), *getattr(self.test, "skipped", [])]


def data_kind(data: str | None) -> str:
    """``"fashion-mnist"``, ``"shards"`` or ``"folder"``: the kind of source a ``--data`` value names."""
    if is_fashion_mnist(data):
        return "fashion-mnist"
    return "shards" if is_shards(data) else "folder"


def scan_folder_splits(root: str) -> tuple[FolderSplit, FolderSplit]:
    """The train and val splits of an image folder, checked (the same classes, at least two, none empty)
    without reading an image; a ``test/`` split is used where there is no ``val/``."""
    from pathlib import Path

    train = scan_image_folder(root, "train")
    test_split = "val" if (Path(root) / "val").is_dir() or not (Path(root) / "test").is_dir() else "test"
    return train, scan_image_folder(root, test_split, train.classes)


def _transforms(cfg: TrainConfig, in_chans: int) -> tuple[Any, Any]:
    """Factories size → transform for training (RandomResizedCrop; flips are the batch augmentation's
    ``flip``) and evaluation (resize to size / crop_pct, center crop) with the model's data config: the
    evaluation is what ``cnnzoo eval`` does with a checkpoint of the run (:func:`transforms_for`)."""
    dc = resolve_data_config(cfg.model)
    ratio = (1 / cfg.rrc_max_ratio, cfg.rrc_max_ratio)
    train = functools.partial(_transform_at, dc, True, dict(scale=(cfg.rrc_min_scale, 1.0), ratio=ratio, hflip=0.0,
                                                            channels=in_chans))
    test = functools.partial(_transform_at, dc, False, dict(channels=in_chans))
    return train, test


def _transform_at(config: DataConfig, train: bool, kwargs: dict[str, Any], size: int) -> Any:
    return transforms_for(config, train, size=size, **kwargs)


def subset_split(split: FolderSplit, n: int | None) -> tuple[list, list[int]]:
    """``n`` files of a split drawn at random (seed 0; the folder lists its classes one after the other),
    in folder order; all of them when ``n`` is None."""
    if not n or n >= len(split):
        return split.files, split.labels
    keep = sorted(torch.randperm(len(split), generator=torch.Generator().manual_seed(0))[:n].tolist())
    return [split.files[i] for i in keep], [split.labels[i] for i in keep]


def load_run_data(cfg: TrainConfig, rank: int = 0, world_size: int = 1,
                  device: torch.device | None = None) -> RunData:
    """The data of ``cfg``, in memory or streamed (``data_cache``), checked against the model's minimum
    input size; every error about the data comes before training starts."""
    info = model_info(cfg.model)
    kind = data_kind(cfg.data)
    shards = find_shards(cfg.data) if kind == "shards" else None
    folder = scan_folder_splits(cfg.data) if kind == "folder" else None
    index = shards.index if shards else {}
    small = kind == "fashion-mnist" or index.get("channels") == 1
    in_chans = cfg.in_chans or index.get("channels") or (1 if small else info.default_in_chans)
    img_size = cfg.img_size or (max(28, info.min_size) if small else info.input_size[1])
    for key, size in (("img_size", img_size), ("prog_img_size_start", cfg.prog_img_size_start)):
        if size is not None and size < info.min_size:
            raise ValueError(f"{key}: {cfg.model} needs inputs of at least {info.min_size}×{info.min_size}, "
                             f"got {size}")
    n_train = len(folder[0]) if folder else 0
    how = choose_data_cache(cfg.data_cache, kind, min(n_train, cfg.train_subset or n_train), in_chans, img_size)
    if how == "memory" and folder:
        return _folder_in_memory(cfg, folder, in_chans, img_size, rank, world_size)
    if how == "memory":
        strict = cfg.strict_data
        train_data = load_data(cfg.data, "train", in_chans, img_size, strict).subset(cfg.train_subset)
        test_data = load_data(cfg.data, "test", in_chans, img_size, strict).subset(cfg.test_subset)
        test_data.mean, test_data.std = train_data.mean, train_data.std
        source = InMemoryBatches(train_data, cfg.batch_size, shuffle=True, seed=cfg.seed, rank=rank,
                                 world_size=world_size)
        return RunData(source, test_data, in_chans, img_size)
    if kind == "shards" and (cfg.train_subset or cfg.test_subset):
        raise ValueError("train_subset/test_subset: not available with shards (write fewer shards, or name a "
                         "subset of them with a brace pattern such as 'DIR/train-{000000..000009}.tar')")
    mean, std = stats_for(cfg.model, in_chans, index)
    make_train, make_test = _transforms(cfg, in_chans)
    workers = cfg.workers if cfg.workers is not None else default_workers(world_size)
    common = dict(mean=mean, std=std, batch_size=cfg.batch_size, img_size=img_size, seed=cfg.seed, rank=rank,
                  world_size=world_size, workers=workers, strict=cfg.strict_data,
                  pin_memory=device is not None and device.type == "cuda")
    if folder:
        train_split, test_split = folder
        tr_files, tr_labels = subset_split(train_split, cfg.train_subset)
        te_files, te_labels = subset_split(test_split, cfg.test_subset)
        train = LoaderBatches(folder_dataset(tr_files, tr_labels, make_train), classes=train_split.classes,
                              source=f"folder:{train_split.root}", shuffle=True, num_images=len(tr_files), **common)
        test = LoaderBatches(folder_dataset(te_files, te_labels, make_test), classes=train_split.classes,
                             source=f"folder:{test_split.root}", shuffle=False, num_images=len(te_files), **common)
        return RunData(train, test, in_chans, img_size, test_split.root.name)
    assert shards is not None
    if not shards.val:
        raise ValueError(f"{shards.directory}: the shard index has no val split to test on")
    if len(shards.train) < world_size:
        raise ValueError(f"{cfg.data}: {plural(len(shards.train), 'training shard')} cannot give each of {world_size} "
                         f"processes a share; write at least {world_size} (cnnzoo shards --shard-size)")
    train = LoaderBatches(shard_dataset(shards.train, make_train, shuffle=True, seed=cfg.seed, rank=rank,
                                        world_size=world_size, shards=shards),
                          classes=shards.classes, source=f"shards:{shards.directory}", shuffle=True,
                          num_images=shards.count("train"), shard_sizes=shards.shard_sizes("train"), **common)
    test = LoaderBatches(shard_dataset(shards.val, make_test, shuffle=False, seed=cfg.seed, rank=rank,
                                       world_size=world_size, shards=shards),
                         classes=shards.classes, source=f"shards:{shards.directory} (val)", shuffle=False,
                         num_images=shards.count("val"), shard_sizes=shards.shard_sizes("val"), **common)
    return RunData(train, test, in_chans, img_size, "val")


def _folder_in_memory(cfg: TrainConfig, folder: tuple[FolderSplit, FolderSplit], in_chans: int, img_size: int,
                      rank: int, world_size: int) -> RunData:
    """An image folder held in memory with the streamed path's transforms and normalisation: training
    images decoded once at their size (the shorter side at most ``img_size``), RandomResizedCrop per
    batch; test images resized and center-cropped once, as ``cnnzoo eval`` reads them."""
    train_split, test_split = folder
    make_train, make_test = _transforms(cfg, in_chans)
    mean, std = stats_for(cfg.model, in_chans)
    interpolation = resolve_data_config(cfg.model).interpolation
    skipped: list[str] | None = None if cfg.strict_data else []
    splits = []
    for split, subset in ((train_split, cfg.train_subset), (test_split, cfg.test_subset)):
        files, labels = subset_split(split, subset)
        splits.append(FolderSplit(split.root, files, labels, train_split.classes))
    held, train_labels = read_images(splits[0], lambda f: decode_held(f, in_chans, img_size, interpolation), skipped)
    test_images, test_labels = read_images(splits[1], make_test(img_size), skipped)
    train = ImageData(held, train_labels, train_split.classes, mean, std,  # type: ignore[arg-type]  # held images
                      f"folder:{train_split.root}", skipped=skipped or [])
    test = ImageData(torch.stack(test_images), test_labels, train_split.classes, mean, std, f"folder:{test_split.root}")
    source = HeldImageBatches(train, make_train, img_size, cfg.batch_size, seed=cfg.seed, rank=rank,
                              world_size=world_size)
    return RunData(source, test, in_chans, img_size, test_split.root.name)


def eval_source(data: str, split: str, config: DataConfig, in_chans: int, batch_size: int,
                subset: int | None = None, workers: int | None = None, pin_memory: bool = False) -> LoaderBatches:
    """An image folder's ``split`` (``test`` falls back to ``val`` where there is no ``test/``; checked against
    ``train/``'s classes where there is one) or a shard directory's val split, streamed in order with the
    evaluation transform of ``config`` (resize to ``test_input_size / crop_pct``, center crop) at
    ``config.test_input_size``; ``subset`` images of a folder drawn at random (seed 0). ``split="train"`` reads
    a shard directory's train split."""
    from pathlib import Path

    make = functools.partial(_transform_at, config, False, dict(channels=in_chans))
    common = dict(mean=per_channel(config.mean, in_chans), std=per_channel(config.std, in_chans),
                  batch_size=batch_size, img_size=config.test_input_size, shuffle=False,
                  workers=default_workers() if workers is None else workers, pin_memory=pin_memory)
    if data_kind(data) == "shards":
        shards = find_shards(data)
        part = "train" if split == "train" else "val"
        if not getattr(shards, part):
            raise ValueError(f"{shards.directory}: the shard index has no {part} split to evaluate on")
        return LoaderBatches(shard_dataset(getattr(shards, part), make, shuffle=False, seed=0, rank=0, world_size=1,
                                           shards=shards),
                             classes=shards.classes, source=f"shards:{shards.directory} ({part})",
                             num_images=shards.count(part), shard_sizes=shards.shard_sizes(part), **common)
    root = Path(data)
    split = split if split != "test" or (root / "test").is_dir() else "val"
    train_classes = scan_image_folder(root, "train").classes if (root / "train").is_dir() else None
    folder = scan_image_folder(root, split, train_classes)
    files, labels = subset_split(folder, subset)
    return LoaderBatches(folder_dataset(files, labels, make), classes=folder.classes, source=f"folder:{folder.root}",
                         num_images=len(files), **common)


def trained_on(checkpoint: str | os.PathLike) -> str | None:
    """The data a training run used (``data`` of the ``config.yaml`` beside its checkpoint), else None."""
    config = Path(checkpoint).parent / "config.yaml"
    if not config.is_file():
        return None
    try:
        values = read_yaml(config, "the config.yaml that cnnzoo train writes")
    except (ValueError, OSError):  # not a run's config: no data to take from it
        return None
    data = values.get("data") if isinstance(values, dict) else None
    return str(data) if data else None


def eval_data(data: str | None, split: str, model: nn.Module, header: CheckpointHeader, batch_size: int,
              subset: int | None = None, workers: int | None = None, pin_memory: bool = False,
              config: DataConfig | None = None, checkpoint: str = "the model"
              ) -> tuple[ImageData | LoaderBatches, int, int]:
    """A split prepared as ``cnnzoo eval`` scores it: (the data, its image size, the images in the split).

    Fashion-MNIST in memory at the header's size and normalisation (``subset``: the first N images); an image
    folder's split or a shard directory's val split (train split for ``split="train"``) streamed with
    ``config`` (default: the model's data config, :func:`~cnnzoo.data.config.resolve_data_config` — resize to
    size / crop_pct, center crop), ``subset`` images drawn at random (seed 0). Data whose number of classes
    is not the checkpoint's is a ValueError naming ``checkpoint``."""
    if data_kind(data) == "fashion-mnist":
        prepared: ImageData | LoaderBatches = load_data(data, split, header.in_chans, header.img_size).subset(subset)
        prepared.mean, prepared.std, size = tuple(header.mean), tuple(header.std), header.img_size
        n_images = len(prepared)
    else:
        assert data is not None
        config = config if config is not None else resolve_data_config(model)
        prepared = eval_source(data, split, config, header.in_chans, batch_size, subset, workers, pin_memory)
        size, n_images = config.test_input_size, prepared.num_images
    if len(prepared.classes) != header.num_classes:
        raise ValueError(f"{checkpoint}: the checkpoint has {plural(header.num_classes, 'class')}, "
                         f"{prepared.source} has {len(prepared.classes)}")
    return prepared, size, n_images
