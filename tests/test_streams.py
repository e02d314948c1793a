"""Streamed sources: lazy image folders and WebDataset shards through a DataLoader, their errors, the choice
of the in-memory path, exact resume at an epoch boundary, and `cnnzoo eval` / `cnnzoo shards` on them."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from cnnzoo.cli import main
from cnnzoo.data import shards as shards_mod
from cnnzoo.data.shards import find_shards, write_shards
from cnnzoo.data.streams import ShardError, ShardSampleError
from cnnzoo.train import TrainConfig, train
from cnnzoo.train.batches import InMemoryBatches
from cnnzoo.train.sources import data_kind, load_run_data, scan_folder_splits
from cnnzoo.train.streaming import MEMORY_CACHE_BYTES, LoaderBatches, choose_data_cache

CLASSES = ("ant", "bee", "cat")


def _folder(root: Path, n_train: int = 8, n_val: int = 2, size=(14, 10)) -> Path:
    """A folder whose every image is one gray level, unique over the folder: the level identifies the image
    after any resize or crop (PNG, lossless)."""
    level = 0
    for split, n in (("train", n_train), ("val", n_val)):
        for c in CLASSES:
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                level += 1
                Image.fromarray(np.full((size[1] + i, size[0], 3), level, np.uint8)).save(root / split / c / f"{i}.png")
    return root


def _cfg(data: Path, **kw) -> TrainConfig:
    base = dict(model="lenet5", data=str(data), img_size=32, batch_size=4, workers=0, data_cache="none",
                rrc_min_scale=1.0, rrc_max_ratio=1.0, progress=False, num_threads=1)
    return TrainConfig(**{**base, **kw})


def _ids(batches) -> list[int]:
    """The gray levels (image identities) of a stream of batches."""
    return [int(x[0, 5, 5]) for b, _ in batches for x in b]


def test_lazy_folder_batches_each_image_once_in_a_reproducible_order(tmp_path):
    root = _folder(tmp_path / "img")
    data = load_run_data(_cfg(root, workers=2))
    train_src, test_src = data.train, data.test
    assert isinstance(train_src, LoaderBatches) and train_src.classes == list(CLASSES)
    assert train_src.num_images == 24 and train_src.steps_per_epoch == 6 and data.in_chans == 1
    batches = list(train_src.batches(0))
    assert all(x.dtype == torch.uint8 and x.shape == (4, 1, 32, 32) for x, _ in batches)
    ids = _ids(batches)
    assert sorted(ids) == list(range(1, 25)) and ids != sorted(ids)  # every image once, shuffled
    for x, y in batches:  # labels travel with their images (levels 1-8 are ant, 9-16 bee, …)
        assert ((x[:, 0, 5, 5].long() - 1) // 8).tolist() == y.tolist()
    assert _ids(train_src.batches(0)) == ids and _ids(train_src.batches(1)) != ids  # seeded by (seed, epoch)
    assert sorted(_ids(test_src.batches(0))) == list(range(25, 31))
    train_src.set_image_size(16)  # progressive learning: the workers crop at the stage's size
    assert {x.shape[-1] for x, _ in train_src.batches(2)} == {16}


def test_ranks_read_disjoint_shares_whose_union_is_the_epoch(tmp_path):
    root = _folder(tmp_path / "img", n_val=3)
    write_shards(root, tmp_path / "sh", shard_size=3, log=lambda _: None)  # 8 train shards of 3
    for data in (root, tmp_path / "sh/train-{000000..000007}.tar"):
        shares = [_ids(load_run_data(_cfg(data, workers=2, batch_size=3), rank=r, world_size=2).train.batches(1))
                  for r in range(2)]
        assert len(shares[0]) == len(shares[1]) == 12, data
        assert not set(shares[0]) & set(shares[1]) and sorted(shares[0] + shares[1]) == list(range(1, 25)), data
        tests = [_ids(load_run_data(_cfg(data, batch_size=4), rank=r, world_size=2).test.batches(0)) for r in range(2)]
        assert sorted(tests[0] + tests[1]) == list(range(25, 34)), data  # evaluation: every image once


def test_shards_round_trip_with_index_and_cli(tmp_path, capsys):
    root = _folder(tmp_path / "img")
    assert main(["shards", str(root), str(tmp_path / "sh"), "--shard-size", "5"]) == 0
    assert "train: 24 samples in 5 shards" in capsys.readouterr().out
    index = json.loads((tmp_path / "sh" / "index.json").read_text())
    assert index["classes"] == list(CLASSES) and index["splits"]["val"]["count"] == 6
    assert index["splits"]["train"]["per_class"] == {c: 8 for c in CLASSES}
    assert list(index["splits"]["train"]["shards"].values()) == [5, 5, 5, 5, 4]
    assert not list((tmp_path / "sh").glob("*.partial"))
    shards = find_shards(tmp_path / "sh/train-{000000..000001}.tar")
    assert [Path(u).name for u in shards.train] == ["train-000000.tar", "train-000001.tar"]
    assert shards.count("train") == 10
    data = load_run_data(_cfg(tmp_path / "sh", batch_size=5))
    assert data.train.steps_per_epoch == 4  # 24 // 5, full batches
    ids = _ids(data.train.batches(0))
    assert len(ids) == 20 and len(set(ids)) == 20 and _ids(data.train.batches(0)) == ids
    test = [(i, int(y)) for x, ys in data.test.batches(0) for i, y in zip(_ids([(x, ys)]), ys, strict=True)]
    assert sorted(test) == [(lvl, (lvl - 25) // 2) for lvl in range(25, 31)]
    data.train.set_image_size(20)
    assert {x.shape[-1] for x, _ in data.train.batches(1)} == {20}
    with pytest.raises(ValueError, match="already holds shards"):
        write_shards(root, tmp_path / "sh")


def test_bad_image_is_skipped_once_and_counted_or_an_error_when_strict(tmp_path):
    root = _folder(tmp_path / "img", n_train=3)
    (root / "train/bee/broken.png").write_bytes(b"\x89PNG not really")
    logged: list[str] = []
    data = load_run_data(_cfg(root, batch_size=5))  # 10 files, 2 steps
    data.train._log = logged.append
    for epoch in range(2):
        assert len(_ids(data.train.batches(epoch))) == 9
    assert data.train.skipped == [str(root / "train/bee/broken.png")]
    assert len(logged) == 1 and "broken.png" in logged[0]
    with pytest.raises(ValueError, match=r"broken\.png.*strict_data is on"):
        list(load_run_data(_cfg(root, strict_data=True, batch_size=5)).train.batches(0))
    write_shards(root, tmp_path / "sh", shard_size=4, log=lambda _: None)
    data = load_run_data(_cfg(tmp_path / "sh", batch_size=2, workers=1))
    ids = _ids(data.train.batches(0))  # 5 steps: the 9 good images, then one from another pass over the shards
    assert len(ids) == 10 and len(set(ids)) == 9 and len(data.train.skipped) == 1
    assert data.train.skipped[0].startswith(str(tmp_path / "sh" / "train-"))


def _members(tar: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(tar) as t:
        return t.getmembers()


def _corrupt_header(tar: Path, member: int) -> None:
    """Overwrite the tar header of the ``member``-th file (0-based) in place: Python's tarfile, which
    webdataset reads with, then ends the archive there without an error."""
    off = _members(tar)[member].offset
    data = bytearray(tar.read_bytes())
    data[off:off + 512] = b"\xff" * 512
    tar.write_bytes(bytes(data))


def test_a_corrupt_shard_is_one_error_naming_it_when_strict(tmp_path):
    write_shards(_folder(tmp_path / "img"), tmp_path / "sh", shard_size=6, log=lambda _: None)
    bad = tmp_path / "sh" / "train-000002.tar"
    bad.write_bytes(bad.read_bytes()[:1500])
    for workers in (0, 1):
        with pytest.raises(ShardError, match=r"train-000002\.tar: corrupt or truncated shard .*read 0 of its 6 "
                                             r"samples.*strict_data is on"):
            list(load_run_data(_cfg(tmp_path / "sh", workers=workers, strict_data=True)).train.batches(0))
        data = load_run_data(_cfg(tmp_path / "sh", workers=workers))
        data.train._log = lambda _: None
        list(data.train.batches(0))
        assert len(data.train.skipped) == 6 and all("train-000002.tar" in n for n in data.train.skipped)


def test_a_shard_with_a_corrupt_header_mid_file_counts_every_sample_it_lost(tmp_path):
    """tarfile stops silently at a corrupt header past the first: the count of the index tells."""
    write_shards(_folder(tmp_path / "img"), tmp_path / "sh", shard_size=6, log=lambda _: None)
    bad = tmp_path / "sh" / "train-000001.tar"
    _corrupt_header(bad, 5)  # the image of the third sample (.cls then .jpg/.png): 2 of 6 samples are whole
    for workers in (0, 1):
        logged: list[str] = []
        data = load_run_data(_cfg(tmp_path / "sh", workers=workers, batch_size=2))
        data.train._log = logged.append
        for epoch in range(2):
            ids = _ids(data.train.batches(epoch))
            assert len(ids) == 24 and len(set(ids)) == 20  # 24 - 4: the rest of the epoch from another pass
        assert len(data.skipped) == 4 and all(n.startswith(str(bad)) for n in data.skipped)  # the report's count
        assert len(logged) == 1 and re.search(r"skipped 4 sample\(s\) of a damaged shard: .*train-000001\.tar: "
                                              r"corrupt or truncated shard .*read 2 of its 6 samples", logged[0])
        with pytest.raises(ShardError, match=r"train-000001\.tar: corrupt or truncated shard .*read 2 of its 6"):
            list(load_run_data(_cfg(tmp_path / "sh", workers=workers, strict_data=True)).train.batches(0))


def test_eval_counts_the_images_it_scored_against_the_split(tmp_path, capsys):
    root = _folder(tmp_path / "img", n_train=2, n_val=2)
    write_shards(root, tmp_path / "sh", shard_size=4, log=lambda _: None)  # val: shards of 4 and 2
    _corrupt_header(tmp_path / "sh" / "val-000000.tar", 4)  # the third sample: 2 of 4 lost
    from cnnzoo.checkpoint import save_checkpoint

    model = __import__("cnnzoo").create_model("lenet5", num_classes=3)
    save_checkpoint(model, tmp_path / "m.safetensors", classes=list(CLASSES), img_size=32, mean=[0.5], std=[0.25])
    assert main(["eval", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "sh"), "--workers", "1",
                 "--out", str(tmp_path / "ev")]) == 0
    out, err = capsys.readouterr()
    assert "scored 4 of 6 images (2 skipped: 2 sample(s) of damaged shards)" in out
    assert "cnnzoo: warning: skipped 2 sample(s) of a damaged shard" in err and "val-000000.tar" in err
    res = json.loads(next((tmp_path / "ev").glob("*.json")).read_text())
    assert (res["images"], res["scored"], res["skipped"]["count"]) == (6, 4, 2)


def _undecodable(root: Path, cls: str) -> None:
    for f in (root / "train" / cls).iterdir():
        f.write_bytes(b"\x89PNG not really")


def test_a_class_of_undecodable_images_is_the_same_error_streamed_as_in_memory(tmp_path):
    root = _folder(tmp_path / "img", n_train=3, n_val=1)
    _undecodable(root, "bee")
    expected = rf"^{re.escape(str(root / 'train' / 'bee'))}: none of its 3 image\(s\) can be decoded"
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=expected):
        load_run_data(_cfg(root, data_cache="memory"))
    for workers in (0, 1):
        data = load_run_data(_cfg(root, workers=workers, batch_size=2))
        data.train._log = lambda _: None
        with pytest.raises(ValueError, match=expected):
            list(data.train.batches(0))
    write_shards(root, tmp_path / "sh", shard_size=4, log=lambda _: None)
    data = load_run_data(_cfg(tmp_path / "sh", batch_size=2))
    data.train._log = lambda _: None
    with pytest.raises(ValueError, match=r"shards:.*sh, class bee: none of its 3 image\(s\) can be decoded"):
        list(data.train.batches(0))


def _rewrite_label(tar: Path, key: str, cls: bytes | None) -> None:
    """Rewrite ``tar`` with the label of sample ``key`` replaced by ``cls`` (None: removed)."""
    with tarfile.open(tar) as t:
        members = [(m, t.extractfile(m).read()) for m in t.getmembers()]
    with tarfile.open(tar, "w") as t:
        for m, data in members:
            if m.name == f"{key}.cls":
                if cls is None:
                    continue
                data, m.size = cls, len(cls)
            t.addfile(m, io.BytesIO(data))


@pytest.mark.parametrize(("cls", "what"), [(None, "has no .cls label"),
                                           (b"1e3", "has a .cls label that is not an integer"),
                                           (b"3", "has label 3, outside the 3 classes of the shard index")])
def test_a_shard_sample_without_a_valid_label_is_one_error_naming_it(tmp_path, capsys, cls, what):
    write_shards(_folder(tmp_path / "img"), tmp_path / "sh", shard_size=6, log=lambda _: None)
    tar = tmp_path / "sh" / "train-000003.tar"
    key = _members(tar)[2].name.split(".")[0]
    _rewrite_label(tar, key, cls)
    for workers in (0, 2):
        with pytest.raises(ShardSampleError, match=rf"^{re.escape(str(tar))}: sample {key} {re.escape(what)} "
                                                   rf"\(every sample needs a \.cls label: its class index, 0 to 2\)$"):
            list(load_run_data(_cfg(tmp_path / "sh", workers=workers)).train.batches(0))
    assert main(["train", "--model", "lenet5", "--data", str(tmp_path / "sh"), "--img-size", "32", "--workers", "1",
                 "--epochs", "1", "--no-progress", "--out-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cnnzoo train: error: {tar}: sample {key} {what}") and err.count("\n") == 1, err


def test_shards_a_killed_writer_left_without_their_index_are_named_so(tmp_path, monkeypatch, capsys):
    root = _folder(tmp_path / "img")
    payload, calls = shards_mod._payload, []

    def dies_in_val(item):  # the writer stops in the val split, after every train shard was published
        calls.append(item)
        if len(calls) > 25:
            raise KeyboardInterrupt
        return payload(item)

    monkeypatch.setattr(shards_mod, "_payload", dies_in_val)
    with pytest.raises(KeyboardInterrupt):
        write_shards(root, tmp_path / "sh", shard_size=5, log=lambda _: None)
    assert len(list((tmp_path / "sh").glob("train-*.tar"))) == 5 and not (tmp_path / "sh" / "index.json").exists()
    assert not (tmp_path / "sh" / "val-000000.tar").exists()  # the shard being written is not published
    missing = r"index\.json: the shard index is missing \(`cnnzoo shards` writes it last"
    with pytest.raises(FileNotFoundError, match=missing):
        load_run_data(_cfg(tmp_path / "sh"))
    for f in (tmp_path / "sh").iterdir():  # killed while writing its first shard: a partial file only
        f.unlink()
    (tmp_path / "sh" / "train-000000.tar.partial").write_bytes(b"\0" * 512)
    assert main(["train", "--model", "lenet5", "--data", str(tmp_path / "sh"), "--epochs", "1",
                 "--out-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert re.match(rf"cnnzoo train: error: .*{missing}.*write the shards again", err) and err.count("\n") == 1
    (tmp_path / "sh" / "train-000000.tar").write_bytes(b"\0" * 512)
    with pytest.raises(ValueError, match="already holds shards without an index"):
        write_shards(root, tmp_path / "sh")


def test_class_sets_are_checked_before_training(tmp_path):
    root = _folder(tmp_path / "img", n_train=1, n_val=1)
    (root / "val" / "dog").mkdir()
    Image.new("RGB", (4, 4)).save(root / "val" / "dog" / "0.png")
    with pytest.raises(ValueError, match=r"val: the class folders differ from the training split's \(not in train"):
        scan_folder_splits(str(root))
    (root / "val" / "dog" / "0.png").unlink()
    (root / "val" / "dog").rmdir()
    (root / "train" / "dog").mkdir()
    with pytest.raises(ValueError, match=r"train/dog: no images in this class folder"):
        load_run_data(_cfg(root))
    for c in CLASSES[1:]:
        for split in ("train", "val"):
            for f in (root / split / c).iterdir():
                f.unlink()
            (root / split / c).rmdir()
    (root / "train" / "dog").rmdir()
    with pytest.raises(ValueError, match=r"at least 2 class sub-directories.*only 'ant'"):
        load_run_data(_cfg(root, data_cache="memory"))


def test_data_cache_auto_keeps_small_data_in_memory(tmp_path):
    assert data_kind(None) == "fashion-mnist" and choose_data_cache("auto", "fashion-mnist") == "memory"  # make demo
    assert choose_data_cache("auto", "folder", 1000, 3, 224) == "memory"
    assert choose_data_cache("auto", "folder", MEMORY_CACHE_BYTES // (3 * 224 * 224) + 1, 3, 224) == "stream"
    assert choose_data_cache("memory", "folder", 10**7) == "memory"
    assert choose_data_cache("none", "folder", 10) == "stream" and choose_data_cache("auto", "shards") == "stream"
    with pytest.raises(ValueError, match="shards are always streamed"):
        choose_data_cache("memory", "shards")
    with pytest.raises(ValueError, match="Fashion-MNIST is always held in memory"):
        choose_data_cache("none", "fashion-mnist")
    root = _folder(tmp_path / "img", n_train=2, n_val=1)
    assert isinstance(load_run_data(_cfg(root, data_cache="auto")).train, InMemoryBatches)


def test_resume_at_an_epoch_boundary_gives_the_same_weights(tmp_path):
    root = _folder(tmp_path / "img", n_train=6, n_val=1, size=(40, 36))
    kw = dict(epochs=2, rrc_min_scale=0.3, rrc_max_ratio=1.5, lr=0.01, schedule="constant", workers=1, eval_every=0,
              device="cpu", out_dir=str(tmp_path / "runs"))  # a constant schedule: the 1-epoch run is the first half
    train(_cfg(root, name="ref", **kw))
    train(_cfg(root, name="cut", **{**kw, "epochs": 1}))
    train(_cfg(root, name="cut", **kw), resume=True)
    a, b = load_file(tmp_path / "runs/ref/last.safetensors"), load_file(tmp_path / "runs/cut/last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    report = json.loads((tmp_path / "runs/ref/report.json").read_text())
    assert report["skipped_images"]["count"] == 0 and report["history"][0]["data_wait_s"] >= 0


def test_eval_cli_on_a_folder_with_the_model_data_config(tmp_path, capsys):
    root = _folder(tmp_path / "img", n_train=2, n_val=2)
    model = __import__("cnnzoo").create_model("lenet5", num_classes=3)
    from cnnzoo.checkpoint import save_checkpoint

    save_checkpoint(model, tmp_path / "m.safetensors", classes=list(CLASSES), img_size=32, mean=[0.5], std=[0.25])
    assert main(["eval", "--data", str(root), "--model", "lenet5", "--checkpoint", str(tmp_path / "m.safetensors"),
                 "--workers", "0", "--out", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert "on folder:" in out and "at 32 px: scored 6 of 6 images\n" in out and "images/s" in out
    res = json.loads(next((tmp_path / "ev").glob("*.json")).read_text())
    assert set(res["per_class"]) == set(CLASSES) and res["img_size"] == 32 and res["images_per_s"] > 0
    assert main(["eval", "--data", str(root), "--model", "lenet5"]) == 2  # no checkpoint given
    write_shards(root, tmp_path / "sh", shard_size=4, log=lambda _: None)
    assert main(["eval", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "sh"), "--workers", "1",
                 "--out", str(tmp_path / "ev")]) == 0
    assert "at 32 px: scored 6 of 6 images\n" in capsys.readouterr().out


@pytest.mark.slow
def test_torchrun_two_processes_over_shards(tmp_path):
    """Two gloo ranks over shards: disjoint shares whose union is the epoch, then identical weights
    after training (benchmarks/data_torchrun.py, at a tenth of its benchmark size)."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "data_torchrun.py"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29541",
                          str(script), "--work", str(tmp_path), "--images", "200"],
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert re.search(r"\|\s*2\s*\|\s*200\s*\|\s*True\s*\|\s*True\s*\|", res.stdout), res.stdout[-2000:]


_HEAP_PROBE = """
import ctypes, sys
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
if sys.argv[1] == "bounded":
    from cnnzoo.data.streams import bounded_heap_worker
    bounded_heap_worker(0)
libc.free(libc.malloc(4 << 20))  # freeing a mapped 4 MiB block: glibc raises its mmap threshold past it
p = libc.malloc(1 << 20)  # an image-sized block after that
heap = next(tuple(int(v, 16) for v in line.split()[0].split("-"))
            for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]"))
print("heap" if heap[0] <= p < heap[1] else "mapped")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc/self/maps")
def test_bounded_heap_worker_keeps_image_sized_blocks_off_the_heap():
    """Without it glibc serves a 1 MiB block from the heap once a 4 MiB one was freed (the fragmentation of
    BENCHMARKS.md, "Data loading"); with it the block gets its own mapping, given back when freed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    where = {mode: subprocess.run([sys.executable, "-c", _HEAP_PROBE, mode], env=env, capture_output=True,
                                  text=True, timeout=60).stdout.strip() for mode in ("default", "bounded")}
    assert where == {"default": "heap", "bounded": "mapped"}
