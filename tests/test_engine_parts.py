"""The training engine's parts: batch sources, one epoch, evaluation, run state, run writer, repair on resume."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from cnnzoo.checkpoint import read_header
from cnnzoo.data import ImageData, iterate_batches
from cnnzoo.train import BatchSource, InMemoryBatches, NonFiniteLossError, RunState, TrainConfig, evaluate, train
from cnnzoo.train import losses as losses_mod
from cnnzoo.train import writer as run_writer
from cnnzoo.train.loop import train_one_epoch
from cnnzoo.train.optim import create_optimizer, create_scheduler
from cnnzoo.train.tensorboard import read_events
from cnnzoo.train.writer import RunWriter
from tests._util import needs_fmnist

TINY = dict(model="fashion_cnn", model_kwargs={"batch_norm": True}, img_size=12, drop_rate=0.0, progress=False,
            num_threads=1, epochs=2, batch_size=50, train_subset=200, test_subset=100)


def read_metadata(path):
    """The header of a cnnzoo checkpoint as a dict."""
    return dataclasses.asdict(read_header(path))


def _data(n: int = 40, classes: int = 4) -> ImageData:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % classes
    images = (labels.view(-1, 1, 1, 1) * 60 + torch.randint(0, 30, (n, 1, 8, 8), generator=g)).to(torch.uint8)
    return ImageData(images, labels, [f"c{i}" for i in range(classes)], (0.4,), (0.3,), "synthetic")


class FloatSource:
    """A BatchSource of float images that is not in-memory ImageData: what a streaming loader looks like."""

    def __init__(self, data: ImageData, batch_size: int) -> None:
        self.d, self.bs = data, batch_size
        self.classes, self.mean, self.std, self.source = data.classes, data.mean, data.std, "float"
        self.epochs_seen: list[int] = []

    num_classes = property(lambda self: len(self.classes))
    num_images = property(lambda self: len(self.d))
    steps_per_epoch = property(lambda self: len(self.d) // self.bs)

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.epochs_seen.append(epoch)
        for s in range(0, self.steps_per_epoch * self.bs, self.bs):
            yield self.d.images[s:s + self.bs].float() / 255, self.d.labels[s:s + self.bs]

    def sample(self, n: int) -> torch.Tensor:
        return self.d.images[:n].float() / 255


def _state(model: nn.Module, steps: int, epochs: int = 2) -> RunState:
    opt = create_optimizer(model, "sgd", 0.05, 0.0, 0.9)
    return RunState(model, opt, create_scheduler(opt, "constant", steps * epochs, steps, 0.0),
                    torch.amp.GradScaler("cpu", enabled=False))


def _tiny_model(classes: int = 4) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, classes))


def test_in_memory_batches_follow_the_epoch_order_and_shard_the_test_split():
    data = _data(40)
    src = InMemoryBatches(data, 16, shuffle=True, seed=3)
    assert isinstance(src, BatchSource) and src.num_classes == 4 and src.num_images == 40
    assert src.steps_per_epoch == 2  # full batches only
    got = list(src.batches(5))
    want = list(iterate_batches(40, 16, True, 3, 5, drop_last=True))
    assert len(got) == 2 and all(torch.equal(x, data.images[i]) and torch.equal(y, data.labels[i])
                                 for (x, y), i in zip(got, want, strict=True))
    assert not torch.equal(got[0][1], list(src.batches(6))[0][1])  # another epoch, another order
    # evaluation: every image once over the ranks, in order, nothing padded
    shards = [InMemoryBatches(data, 7, shuffle=False, rank=r, world_size=3) for r in range(3)]
    labels = torch.cat([y for s in shards for _, y in s.batches(0)])
    assert len(labels) == 40 and [s.steps_per_epoch for s in shards] == [2, 2, 2]
    assert InMemoryBatches(_data(10), 16).steps_per_epoch == 1  # fewer images than a batch: one short batch


def test_one_epoch_runs_any_batch_source_and_steps_once_per_batch():
    torch.manual_seed(0)
    data = _data(48)
    src = FloatSource(data, 8)
    model = _tiny_model()
    state = _state(model, src.steps_per_epoch)
    before = [p.detach().clone() for p in model.parameters()]
    cfg = TrainConfig(epochs=2, img_size=8, lr=0.05, label_smoothing=0.1, flip=True)
    stats = train_one_epoch(state, model, src, cfg, 1, 8, torch.device("cpu"))
    assert src.epochs_seen == [1] and stats.images == 48 and stats.img_size == 8
    assert state.scheduler.last_epoch == src.steps_per_epoch  # one schedule step per batch
    assert 0 <= stats.acc <= 100 and stats.loss > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_non_finite_loss_hint_fits_the_precision(monkeypatch):
    monkeypatch.setattr(losses_mod, "soft_cross_entropy", lambda o, t: torch.tensor(float("nan")))
    data = _data(16)
    for amp, hint in (("fp32", "Try a lower --lr."), ("bf16", "Try a lower --lr or --amp fp32 (now bf16).")):
        model = _tiny_model()
        with pytest.raises(NonFiniteLossError) as err:
            train_one_epoch(_state(model, 2), model, InMemoryBatches(data, 8), TrainConfig(epochs=1, amp=amp), 0,
                            8, torch.device("cpu"), checkpoint_hint="none (first epoch)")
        assert str(err.value).endswith(hint) and "at epoch 1, step 1 (global step 1)" in str(err.value)
        assert amp != "fp32" or "--amp" not in str(err.value)


def test_evaluate_scores_image_data_and_batch_sources_alike():
    data = _data(40)
    model = _tiny_model().eval()
    a = evaluate(model, data, 8, batch_size=9)
    b = evaluate(model, FloatSource(data, 10), 8)
    assert a.count == b.count == 40 and a.top1 == pytest.approx(b.top1) and a.loss == pytest.approx(b.loss)
    assert torch.equal(a.confusion, b.confusion) and int(a.confusion.sum()) == 40
    pred = model((data.images.float() / 255 - 0.4) / 0.3).argmax(1)
    assert a.top1 == pytest.approx(100 * float((pred == data.labels).float().mean()))


def test_run_state_round_trip_restores_everything_and_the_rngs(tmp_path):
    torch.manual_seed(1)
    model = _tiny_model()
    state = _state(model, 3)
    state.record(dict(epoch=1, test_top1=40.0), 40.0, "model")
    assert not state.record(dict(epoch=2, test_top1=30.0), 30.0, "model")  # not better
    state.save(tmp_path / "s.pt", {"lr": 0.05})
    expected = torch.rand(3)
    other = _state(_tiny_model(), 3)
    config = other.load(tmp_path / "s.pt")
    assert torch.equal(torch.rand(3), expected)  # the torch RNG is back where it was saved
    assert config == {"lr": 0.05} and other.epoch == 2 and other.best_epoch == 1 and other.best_acc == 40.0
    assert [r["epoch"] for r in other.history] == [1, 2]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.model.state_dict().values(),
                                                 strict=True))


@needs_fmnist
def test_resume_removes_stale_temporary_files_and_saves_the_config_used(tmp_path, capsys):
    cfg = TrainConfig(**{**TINY, "epochs": 1}, out_dir=str(tmp_path), name="r")
    train(cfg)
    run = tmp_path / "r"
    stale = [run / ".last.safetensors.k1lled.tmp", run / ".last.state.pt.x.tmp"]
    for p in stale:
        p.write_bytes(b"partial")
    keep = run / "notes.tmp"  # not an atomic write's name: left alone
    keep.write_text("mine")
    train(TrainConfig(**{**TINY, "epochs": 2}, out_dir=str(tmp_path), name="r"), resume=True)
    assert not any(p.exists() for p in stale) and keep.exists()
    import yaml

    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 2
    assert read_metadata(run / "last.safetensors")["epoch"] == 2


@needs_fmnist
@pytest.mark.parametrize("fail_at", ["last.safetensors", "last_ema.safetensors", "best.safetensors"])
def test_a_kill_between_checkpoint_files_is_repaired_on_resume(tmp_path, monkeypatch, fail_at):
    real = run_writer.save_state_dict

    def dies_in_epoch_2(path, state_dict, header, dtype=None):
        if str(path).endswith("/" + fail_at) and header.epoch == 2:
            raise KeyboardInterrupt("killed between the checkpoint files")
        return real(path, state_dict, header, dtype)

    monkeypatch.setattr(run_writer, "save_state_dict", dies_in_epoch_2)
    cfg = dict(TINY, ema=True, ema_decay=0.5, lr=0.01, out_dir=str(tmp_path), name="k")
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**cfg))
    run = tmp_path / "k"
    assert torch.load(run / "last.state.pt", weights_only=True)["epoch"] == 2
    assert read_metadata(run / fail_at)["epoch"] < 2 if (run / fail_at).exists() else True
    monkeypatch.setattr(run_writer, "save_state_dict", real)
    report = train(TrainConfig(**cfg), resume=True)  # nothing left to train: only the repair
    state = torch.load(run / "last.state.pt", weights_only=True)
    assert read_metadata(run / "last.safetensors")["epoch"] == 2
    assert read_metadata(run / "last_ema.safetensors")["epoch"] == 2
    best = read_metadata(run / "best.safetensors")
    assert best["epoch"] == state["best_epoch"] == report["best_epoch"]
    assert best["weights"] == state["best_kind"]
    assert (run / "metrics.csv").read_text().count("\n") == 3  # header + 2 epochs
    steps = set()
    for f in (run / "tensorboard").glob("events.out.tfevents.*"):
        steps |= {s for s, _ in read_events(f)}
    assert steps == {1, 2}
    # the repaired weights are the state's
    from safetensors.torch import load_file

    last = load_file(run / "last.safetensors")
    assert all(torch.equal(last[k], state["model"][k]) for k in last)


def test_run_writer_writes_nothing_when_disabled(tmp_path):
    w = RunWriter(tmp_path / "off", {}, enabled=False)
    w.start({"a": 1})
    assert not (tmp_path / "off").exists()


def test_uncompressed_fashion_mnist_is_recognised_as_fashion_mnist(tmp_path):
    from cnnzoo.train.sources import load_run_data
    from tests.test_data import _fake_fashion_mnist

    root = _fake_fashion_mnist(tmp_path, gz=False)
    data = load_run_data(TrainConfig(model="lenet5", data=str(root), batch_size=4))
    assert data.in_chans == 1 and data.img_size == 28  # Fashion-MNIST's defaults, not an image folder's
