"""Across processes: two ranks over WebDataset shards read disjoint samples whose union is the epoch, and end
with identical weights.

    torchrun --nproc_per_node=2 benchmarks/data_torchrun.py --work /tmp/ddp-shards --images 2000

Rank 0 writes a folder of ``--images`` grayscale PNGs whose two halves encode the image's number (so
that a sample is recognised after decoding) and writes it as shards of ``--images / 10`` samples. Then,
on CPU processes joined with gloo, each rank reads its share of two epochs through cnnzoo's streamed
source (``--workers`` workers each; shards split by rank, then by worker): rank 0 checks that the two
shares are disjoint and together hold every image of the epoch. Finally both ranks train LeNet-5 for
two epochs on the shards with ``cnnzoo.train`` (DistributedDataParallel) and the report says whether
every rank holds rank 0's weights. About 1 minute for 2,000 images on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from PIL import Image  # noqa: E402

from cnnzoo.data.shards import write_shards  # noqa: E402
from cnnzoo.train import TrainConfig, train  # noqa: E402
from cnnzoo.train.sources import load_run_data  # noqa: E402


def _write(work: Path, n: int) -> None:
    folder = work / "png"
    for split, count in (("train", n), ("val", max(10, n // 10))):
        for i in range(count):
            c = f"c{i % 10}"
            (folder / split / c).mkdir(parents=True, exist_ok=True)
            a = np.zeros((32, 32), np.uint8)
            a[:, :16], a[:, 16:] = i // 256, i % 256
            Image.fromarray(a, "L").save(folder / split / c / f"{i:06d}.png")
    write_shards(folder, work / "shards", shard_size=max(1, n // 10))


def _ids(batches) -> list[int]:
    return [int(x[0, 16, 4]) * 256 + int(x[0, 16, 27]) for b, _ in batches for x in b]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="/tmp/ddp-shards")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    work = Path(args.work)
    if rank == 0 and not (work / "shards" / "index.json").is_file():
        _write(work, args.images)
    dist.barrier()
    cfg = TrainConfig(model="lenet5", data=str(work / "shards"), in_chans=1, img_size=32, batch_size=50, epochs=2,
                      workers=args.workers, rrc_min_scale=1.0, rrc_max_ratio=1.0, device="cpu", num_threads=1,
                      progress=False, out_dir=str(work / "runs"), name=f"ddp-{os.getpid() if rank == 0 else 0}")
    source = load_run_data(cfg, rank, world).train
    ok = True
    for epoch in range(2):
        shares: list[list[int]] = [[] for _ in range(world)]
        dist.all_gather_object(shares, _ids(source.batches(epoch)))
        if rank == 0:
            union = sorted(i for s in shares for i in s)
            disjoint = all(not set(a) & set(b) for k, a in enumerate(shares) for b in shares[k + 1:])
            whole = union == list(range(args.images))
            ok &= disjoint and whole
            print(f"epoch {epoch}: shares of {[len(s) for s in shares]} samples; disjoint: {disjoint}; "
                  f"union is the epoch ({args.images} images): {whole}", flush=True)
    name = [cfg.name]
    dist.broadcast_object_list(name, 0)
    cfg.name = name[0]
    report = train(cfg)  # joins the existing process group and ends it
    if rank == 0:
        print(f"\n| ranks | images | disjoint shares, union = epoch | identical weights |\n|---:|---:|---|---|\n"
              f"| {world} | {args.images} | {ok} | {report['ranks_identical']} |")
    return 0 if ok and report["ranks_identical"] else 1


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
