"""What people read: counts in the singular where they are one, top-5 only where it means something, and a
confusion plot whose text fits."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.text import Text
from PIL import Image
from torch import nn

from cnnzoo.cli import main
from cnnzoo.data import ImageData
from cnnzoo.tables import plural
from cnnzoo.train.evaluation import evaluate
from cnnzoo.train.report import _plt, confusion_figure


def test_plural():
    assert plural(1, "epoch") == "1 epoch"
    assert plural(2, "epoch") == "2 epochs"
    assert plural(0, "shard") == "0 shards"
    assert plural(1, "class") == "1 class" and plural(3, "class") == "3 classes"
    assert plural(12000, "image", fmt=",") == "12,000 images"
    assert plural(1.0, "point", fmt="g") == "1 point" and plural(0.5, "point", fmt="g") == "0.5 points"
    assert plural(2, "index", "indices") == "2 indices" and plural(2, "batch", "batches") == "2 batches"


class _Fixed(nn.Module):
    """Logits that rank the classes by index, whatever the input."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x):
        return torch.arange(self.k, dtype=torch.float32).expand(len(x), self.k)


@pytest.mark.parametrize("k", [2, 5, 6, 10])
def test_top5_only_with_more_than_five_classes(k):
    labels = torch.arange(k)
    data = ImageData(torch.zeros(k, 1, 4, 4, dtype=torch.uint8), labels, [f"c{i}" for i in range(k)], (0.5,), (0.5,))
    res = evaluate(_Fixed(k), data, 4)
    assert res.top1 == pytest.approx(100 / k)
    if k <= 5:
        assert res.top5 is None  # 100 % by construction: not reported
    else:
        assert res.top5 == pytest.approx(500 / k)


def _three_classes(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for c, name in enumerate(["ant", "bee", "cricket"]):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.clip(rng.normal(40 + 80 * c, 20, (14, 14)), 0, 255).astype(np.uint8)).save(
                    d / f"{i}.png")
    return root


def test_a_three_class_run_reports_no_top5_and_says_1_epoch(tmp_path, capsys):
    data = _three_classes(tmp_path / "bugs")
    argv = ["train", "--data", str(data), "--model", "fashion_cnn", "--config", "none", "--in-chans", "1",
            "--img-size", "12", "--epochs", "1", "--batch-size", "12", "--no-progress", "--num-threads", "1",
            "--out-dir", str(tmp_path / "runs"), "--name", "three"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 epoch × 1 step," in out and "epochs" not in out.split("\n")[0]
    assert "top-5" not in out and "top-1" in out and "val accuracy:" in out
    run = tmp_path / "runs" / "three"
    assert "top-5" not in (run / "report.md").read_text()
    assert json.loads((run / "report.json").read_text())["test_top5"] is None
    assert main(["eval", str(run), "--out", str(tmp_path / "evals")]) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "top-5" not in out
    (result,) = (tmp_path / "evals").glob("*.json")
    assert json.loads(result.read_text())["top5"] is None


@pytest.mark.parametrize("n", [3, 12])
def test_confusion_plot_text_fits_with_long_class_names(n):
    classes = [f"{i:02d} a class name forty characters long..."[:40] for i in range(n)]
    assert all(len(c) == 40 for c in classes)
    cm = torch.randint(0, 5000, (n, n), generator=torch.Generator().manual_seed(0))
    fig = confusion_figure(cm, classes, "resnet8_fast on my-own-photo-folder-with-a-long-name: test top-1 "
                                        "93.12% after 30 epochs with flip TTA")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        bounds = fig.bbox
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
        assert len(texts) >= n * n + 2 * n + 1  # the counts, both axes' names and the title
        outside = [(t.get_text(), t.get_window_extent(renderer).extents.round().tolist()) for t in texts
                   if not (bounds.x0 - 0.5 <= (e := t.get_window_extent(renderer)).x0 and e.x1 <= bounds.x1 + 0.5
                           and bounds.y0 - 0.5 <= e.y0 and e.y1 <= bounds.y1 + 0.5)]
        assert outside == []
    finally:
        _plt().close(fig)
