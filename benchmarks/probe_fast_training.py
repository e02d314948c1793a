"""Probe loop behind the fast recipe (`resnet8_fast`): which tricks buy accuracy in a 3–4-epoch run.

    python benchmarks/probe_fast_training.py --init he --lr 0.5 --whiten --ls 0.2 [--epochs 4] [--threads 1]

A plain in-memory training loop on Fashion-MNIST (no engine, no checkpoints) with its own copy of
the candidate networks, so that one option at a time can be switched: ``rs2`` is ResNet-8 ×2 with
a 2×2 stride-2 stem (the layout of ``resnet8(width=32, shortcut="B", stem_stride=2)``), ``air`` an
airbench-style conv-pool-BN-ReLU net (Jordan 2024). It prints the test top-1 after every epoch and,
at the end, with flip and ±``trs``-pixel shift test-time augmentation. Accuracy does not depend on
the thread count, so probes can run side by side with ``--threads 1``; their times mean nothing then.
BENCHMARKS.md quotes its results as probes, with the command of each.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.data.idx import find_fashion_mnist, load_fashion_mnist

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--net", default="rs2", choices=["rs2", "air"])
p.add_argument("--w", default="32,64,128", help="stage widths")
p.add_argument("--n", type=int, default=1, help="blocks per stage (rs2)")
p.add_argument("--stem", type=int, default=32, help="stem width")
p.add_argument("--stem-stride", type=int, default=2, choices=[1, 2],
               help="rs2's 2×2 stem: stride 2 (stages at 14, 7, 4 px) or 1 (27, 14, 7, 4 px with four widths)")
p.add_argument("--act", default="relu", choices=["relu", "gelu", "silu"])
p.add_argument("--pool", default="avg", choices=["avg", "max"])
p.add_argument("--init", default="torch", choices=["torch", "he"], help="PyTorch's default or He (fan-out)")
p.add_argument("--zero", action="store_true", help="zero-init the last BN of each residual branch")
p.add_argument("--whiten", action="store_true", help="frozen patch-whitening stem")
p.add_argument("--epochs", type=float, default=3)
p.add_argument("--bs", type=int, default=128)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--wd", type=float, default=5e-4)
p.add_argument("--ls", type=float, default=0.1, help="label smoothing")
p.add_argument("--warm", type=float, default=0.25, help="warm-up fraction of the steps")
p.add_argument("--sched", default="lin", choices=["lin", "cos"], help="decay after the warm-up")
p.add_argument("--flip", default="none", choices=["none", "random", "alt"])
p.add_argument("--translate", type=int, default=0, help="random shift of each batch by up to N pixels")
p.add_argument("--trs", type=int, default=2, help="shift of the test-time augmentation")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
t0 = time.perf_counter()
root = find_fashion_mnist(None)
xtr, ytr = load_fashion_mnist(root, "train")
xte, yte = load_fashion_mnist(root, "test")


def prep(x: torch.Tensor) -> torch.Tensor:
    return x.float().div(255).unsqueeze(1) if x.dim() == 3 else x.float()


xtr, xte = prep(xtr), prep(xte)
mean, std = xtr.mean(), xtr.std()
xtr = ((xtr - mean) / std).contiguous(memory_format=torch.channels_last)
xte = ((xte - mean) / std).contiguous(memory_format=torch.channels_last)
ACTS = {"relu": lambda: nn.ReLU(inplace=True), "gelu": nn.GELU, "silu": lambda: nn.SiLU(inplace=True)}
Act = ACTS[a.act]


def cbr(i: int, o: int, s: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), Act()]


class Basic(nn.Module):
    def __init__(self, i: int, o: int, stride: int) -> None:
        super().__init__()
        self.b = nn.Sequential(*cbr(i, o, stride), nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o))
        same = i == o and stride == 1
        self.sc = nn.Sequential() if same else nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
        self.r = Act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.r(self.b(x) + self.sc(x))


class Group(nn.Module):  # airbench: conv, pool, BN, act, conv, BN, act
    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.c1, self.p = nn.Conv2d(i, o, 3, 1, 1, bias=False), nn.MaxPool2d(2, ceil_mode=True)
        self.b1, self.a1 = nn.BatchNorm2d(o), Act()
        self.c2, self.b2, self.a2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o), Act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a2(self.b2(self.c2(self.a1(self.b1(self.p(self.c1(x)))))))


w = [int(v) for v in a.w.split(",")]
if a.net == "rs2":
    stem = nn.Conv2d(1, a.stem, 2, a.stem_stride, bias=False)
    layers: list[nn.Module] = [stem, nn.BatchNorm2d(a.stem), Act()]
    c = a.stem
    for i, o in enumerate(w):
        for j in range(a.n):
            layers.append(Basic(c, o, 2 if (j == 0 and i > 0) else 1))
            c = o
else:
    stem = nn.Conv2d(1, a.stem, 2, 2, bias=True)  # 14×14
    layers, c = [stem, Act()], a.stem
    for o in w:
        layers.append(Group(c, o))
        c = o
head = nn.AdaptiveAvgPool2d(1) if a.pool == "avg" else nn.AdaptiveMaxPool2d(1)
net = nn.Sequential(*layers, head, nn.Flatten(), nn.Linear(c, 10)).to(memory_format=torch.channels_last)
if a.init == "he":
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
if a.whiten:  # the 2×2 patches' whitening transform as ± pairs, frozen (cf. cnnzoo.train.whitening)
    pt = F.unfold(xtr[:10000].float().contiguous(), 2, stride=2).transpose(1, 2).reshape(-1, 4)
    pt = pt - pt.mean(0)
    ev, vecs = torch.linalg.eigh(pt.T @ pt / len(pt))
    wt = (vecs / torch.sqrt(ev + 1e-2)).T.reshape(4, 1, 2, 2)
    stem.weight.data.copy_(torch.cat([wt, -wt] * (a.stem // 8))[: a.stem])
    stem.weight.requires_grad_(False)
if a.zero:
    for m in net.modules():
        if isinstance(m, Basic):
            nn.init.zeros_(m.b[-1].weight)
params = [q for q in net.parameters() if q.requires_grad]
groups = [{"params": [q for q in params if q.ndim > 1], "weight_decay": a.wd},
          {"params": [q for q in params if q.ndim <= 1], "weight_decay": 0}]
opt = torch.optim.SGD(groups, lr=a.lr, momentum=0.9, nesterov=True)
N = len(xtr)
steps_per = N // a.bs
total = int(a.epochs * steps_per)


def lr_at(step: int) -> float:
    f = step / total
    if f < a.warm:
        return a.lr * (0.01 + 0.99 * f / a.warm if a.sched == "cos" else f / a.warm)
    rest = (f - a.warm) / (1 - a.warm)
    return a.lr * (max(1e-4, 0.5 * (1 + math.cos(math.pi * rest))) if a.sched == "cos"
                   else 1 - rest)


def evaluate(model: nn.Module, tta: tuple[str, ...] = ()) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(xte), 1000):
            x = xte[i:i + 1000]
            logits = model(x)
            if "flip" in tta:
                logits = logits + model(x.flip(3))
            if "tr" in tta:
                t = a.trs
                xp = F.pad(x, (t, t, t, t), mode="replicate")
                for d in (0, 2 * t):
                    v = xp[:, :, d:d + 28, d:d + 28].contiguous(memory_format=torch.channels_last)
                    logits = logits + 0.5 * model(v)
                    if "flip" in tta:
                        logits = logits + 0.5 * model(v.flip(3))
            correct += (logits.argmax(1) == yte[i:i + 1000]).sum().item()
    model.train()
    return 100 * correct / len(xte)


step, ep = 0, 0
g = torch.Generator().manual_seed(a.seed)
while step < total:
    perm = torch.randperm(N, generator=g)
    loss_sum, te = 0.0, time.perf_counter()
    for b in range(steps_per):
        if step >= total:
            break
        idx = perm[b * a.bs:(b + 1) * a.bs]
        x, y = xtr[idx], ytr[idx]
        if a.flip == "random":
            m = torch.rand(len(x), generator=g) < 0.5
            x = torch.where(m[:, None, None, None], x.flip(3), x)
        elif a.flip == "alt":  # each image flipped every other epoch
            m = (idx + ep) % 2 == 1
            x = torch.where(m[:, None, None, None], x.flip(3), x)
        if a.translate:
            t = a.translate
            xp = F.pad(x, (t, t, t, t), mode="replicate")
            dy, dx = torch.randint(0, 2 * t + 1, (2,), generator=g).tolist()
            x = xp[:, :, dy:dy + 28, dx:dx + 28]
        x = x.contiguous(memory_format=torch.channels_last)
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step)
        loss = F.cross_entropy(net(x), y, label_smoothing=a.ls)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        loss_sum += loss.item()
    ep += 1
    print(f"ep {ep} loss {loss_sum / steps_per:.3f} test {evaluate(net):.2f} ({time.perf_counter() - te:.0f}s)",
          flush=True)
res = {t: evaluate(net, t) for t in [(), ("flip",), ("tr",), ("flip", "tr")]}
print(" ".join(f"{'+'.join(k) or 'plain'} {v:.2f}" for k, v in res.items()),
      f"total {time.perf_counter() - t0:.0f}s", vars(a), flush=True)
