"""Which JPEG decoder to train with: decode + RandomResizedCrop(224) + horizontal flip, per image.

    python benchmarks/make_jpeg_folder.py /tmp/jpegs --train 500 --val 10 --classes 10
    python benchmarks/decoders.py /tmp/jpegs/train --images 500 --rounds 7 [--json benchmarks/results/decoders.json]
        [--turbojpeg-lib /path/libturbojpeg.so.0] [--simd-python /path/venv-with-pillow-simd/bin/python]

The optional candidates need (once):

    python -m venv /tmp/simd && /tmp/simd/bin/pip install pillow-simd     # builds from source, minutes
    pip install --target /tmp/tj1 --no-deps "PyTurboJPEG<2"              # 1.x: works with libjpeg-turbo 2.x
    dpkg -x /var/cache/apt/archives/libturbojpeg0_*.deb /tmp/turbo       # or apt-get install libturbojpeg0
    PYTHONPATH=/tmp/tj1 python benchmarks/decoders.py /tmp/jpegs/train \
        --turbojpeg-lib /tmp/turbo/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0 --simd-python /tmp/simd/bin/python

Single process, one thread. The files are read into memory first (disk reads are the same for every
decoder), then each round times every candidate on all images, in an order balanced over the rounds (``round_order``)
(interleaved, so that load from other processes falls on all alike); the table gives the median over
rounds of µs per image, images/s, the speed-up over plain Pillow and the mean absolute pixel difference
from plain Pillow's output for the same crops (0–255 scale; the draft modes differ by the DCT's own
downscaling).

Candidates:

* ``pillow``             Pillow, full-size decode; crop and resize as TrainTransform does (PyTorch uint8 kernel)
* ``pillow-draft``       Pillow with JPEG draft mode: DCT-domain downscale by 1/2, 1/4 or 1/8 as the crop allows
* ``simplejpeg``         libjpeg-turbo through simplejpeg (a dependency of cnnzoo), full size
* ``simplejpeg-draft``   simplejpeg with its reduced-size decoding (``min_width`` / ``min_height``)
* ``turbojpeg``, ``turbojpeg-scaled``  PyTurboJPEG (``--turbojpeg-lib``: it needs libjpeg-turbo's shared
  libturbojpeg; PyTurboJPEG 2.x needs libjpeg-turbo >= 3.0, 1.x works with 2.x)
* ``pillow-simd-w``, ``pillow-simd-w-draft`` beside ``pillow-w``, ``pillow-w-draft`` (with ``--simd-python``):
  the same pipeline without torch (crop boxes from Python's ``random`` by the same algorithm), run in
  ``--worker`` mode under a Python whose PIL is pillow-simd and under this one (Pillow). pillow-simd
  replaces Pillow, so it cannot share the project's venv; that interpreter needs nothing else. Compare
  the ``-w`` rows with each other; start-up is outside the timed loop.

The first four are cnnzoo's own ``TrainTransform(224, draft=..., decoder=...)``; the others are written
here only to be measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZE_DEFAULT = 224
#: wall time, or this process's CPU time (steadier on a machine others load; the work is single-threaded)
CLOCKS = {"wall": time.perf_counter, "process": time.process_time}


# -- the torch-free pipeline (the --worker mode under pillow-simd) --------------------------------------
def _crop_params(width: int, height: int, rng: random.Random) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop box algorithm with Python's RNG (scale 0.08–1, ratio 3/4–4/3)."""
    area, lo, hi = width * height, math.log(3 / 4), math.log(4 / 3)
    for _ in range(10):
        target, aspect = area * rng.uniform(0.08, 1.0), math.exp(rng.uniform(lo, hi))
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    side = min(width, height)
    return (height - side) // 2, (width - side) // 2, side, side


def _pil_pipeline(data: bytes, size: int, draft: bool, rng: random.Random):
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(data))
    width, height = im.size
    top, left, h, w = _crop_params(width, height, rng)
    flip = rng.random() < 0.5
    factor = min(w, h) / size
    if draft and factor >= 2:
        im.draft("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
    im = im.convert("RGB")
    if im.size == (width, height):  # as cnnzoo's TrainTransform: crop, then resize
        out = im.crop((left, top, left + w, top + h)).resize((size, size), Image.Resampling.BILINEAR)
    else:
        sx, sy = im.size[0] / width, im.size[1] / height
        out = im.resize((size, size), Image.Resampling.BILINEAR,
                        box=(left * sx, top * sy, (left + w) * sx, (top + h) * sy))
    return out.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else out


def _worker(args: argparse.Namespace) -> int:
    """One timed round of a Pillow pipeline in this interpreter; prints seconds."""
    files = _files(args.folder, args.images)
    data = [f.read_bytes() for f in files]
    rng = random.Random(args.seed)
    draft = args.worker == "draft"
    clock = CLOCKS[args.clock]
    start = clock()
    for d in data:
        _pil_pipeline(d, args.size, draft, rng)
    print(json.dumps({"seconds": clock() - start}))
    return 0


# -- candidates in this interpreter -------------------------------------------------------------------
class Unavailable(Exception):
    pass


def _cnnzoo(draft: bool, decoder: str, size: int):
    from cnnzoo.data.decode import available_decoders
    from cnnzoo.data.transforms import TrainTransform

    if decoder not in available_decoders():  # (cnnzoo would fall back to Pillow)
        raise Unavailable(f"{decoder} is not installed (pip install simplejpeg)")
    return TrainTransform(size, draft=draft, decoder=decoder)


def _turbojpeg(scaled: bool, size: int, lib: str | None):
    try:
        from turbojpeg import TJPF_RGB, TurboJPEG
    except ImportError:
        raise Unavailable("PyTurboJPEG is not installed") from None
    try:
        jpeg = TurboJPEG(lib) if lib else TurboJPEG()
    except (OSError, RuntimeError) as err:
        raise Unavailable(f"PyTurboJPEG cannot load libturbojpeg ({str(err).splitlines()[0]}); "
                          f"give --turbojpeg-lib") from None
    import torch
    from PIL import Image

    from cnnzoo.data.transforms import random_resized_crop_params, to_tensor

    factors = sorted((f for f in jpeg.scaling_factors if f[0] <= f[1]), key=lambda f: f[0] / f[1])

    def run(data: bytes) -> torch.Tensor:
        width, height = jpeg.decode_header(data)[:2]
        top, left, h, w = random_resized_crop_params(width, height)
        flip = torch.rand(1).item() < 0.5
        factor = (1, 1)
        if scaled:  # the smallest libjpeg scale keeping the crop >= size
            factor = next(f for f in factors if min(w, h) * f[0] / f[1] >= size or f == (1, 1))
        im = Image.fromarray(jpeg.decode(data, pixel_format=TJPF_RGB, scaling_factor=factor))
        sx, sy = im.size[0] / width, im.size[1] / height
        out = im.resize((size, size), Image.Resampling.BILINEAR,
                        box=(left * sx, top * sy, (left + w) * sx, (top + h) * sy))
        return to_tensor(out.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else out)

    return run


def _files(folder: str, n: int) -> list[Path]:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"{folder}: no .jpg files (make some with benchmarks/make_jpeg_folder.py)")
    return files[:n]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", help="a folder of JPEGs (searched recursively), e.g. OUT/train of make_jpeg_folder.py")
    p.add_argument("--images", type=int, default=500, help="images per round (default 500)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    p.add_argument("--size", type=int, default=SIZE_DEFAULT, help="crop output side (default 224)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--turbojpeg-lib", default=None, help="path of libturbojpeg.so for PyTurboJPEG")
    p.add_argument("--simd-python", default=None, help="a Python whose PIL is pillow-simd (adds pillow-simd rows)")
    p.add_argument("--clock", choices=list(CLOCKS), default="wall",
                   help="wall time (default) or the process's CPU time (steadier when other processes run)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--worker", choices=["full", "draft"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return _worker(args)

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from cnnzoo.tables import format_table
    from cnnzoo.timing import round_order

    torch.set_num_threads(1)
    files = _files(args.folder, args.images)
    data = [f.read_bytes() for f in files]
    makers = {
        "pillow": lambda: _cnnzoo(False, "pillow", args.size),
        "pillow-draft": lambda: _cnnzoo(True, "pillow", args.size),
        "simplejpeg": lambda: _cnnzoo(False, "simplejpeg", args.size),
        "simplejpeg-draft": lambda: _cnnzoo(True, "simplejpeg", args.size),
        "turbojpeg": lambda: _turbojpeg(False, args.size, args.turbojpeg_lib),
        "turbojpeg-scaled": lambda: _turbojpeg(True, args.size, args.turbojpeg_lib),
    }
    runs, skipped = {}, {}
    for name, make in makers.items():
        try:
            runs[name] = make()
        except Unavailable as err:
            skipped[name] = str(err)
    if args.simd_python:  # the torch-free pipeline under pillow-simd and, to compare with, under Pillow
        probe = subprocess.run([args.simd_python, "-c", "import PIL; print(PIL.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode != 0 or ".post" not in probe.stdout:
            skipped["pillow-simd"] = f"{args.simd_python} has no pillow-simd ({(probe.stdout or probe.stderr).strip()})"
        else:
            for python, name in ((sys.executable, "pillow-w"), (args.simd_python, "pillow-simd-w")):
                runs[name], runs[name + "-draft"] = (python, "full"), (python, "draft")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}", file=sys.stderr)

    def one_round(name: str, seed: int) -> float:
        run = runs[name]
        if isinstance(run, tuple):  # the torch-free pipeline in another interpreter
            python, mode = run
            cmd = [python, __file__, args.folder, "--images", str(len(data)), "--size", str(args.size),
                   "--seed", str(seed), "--clock", args.clock, "--worker", mode]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ,
                                 "OMP_NUM_THREADS": "1"})
            return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
        torch.manual_seed(seed)
        clock = CLOCKS[args.clock]
        start = clock()
        for d in data:
            run(d)
        return clock() - start

    names = list(runs)
    for name in names:  # warm-up: first-call costs and the file cache stay out of the rounds
        if not isinstance(runs[name], tuple):
            for d in data[:20]:
                runs[name](d)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in round_order(names, r):
            times[name].append(one_round(name, args.seed + r))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {times[n][-1] * 1e6 / len(data):.0f} µs"
                                                           for n in names), file=sys.stderr)
    # pixel difference from plain Pillow on the same crops (first 50 images, per-image seeds)
    diffs = {}
    for name in names:
        if isinstance(runs[name], tuple):
            diffs[name] = None
            continue
        total = 0.0
        for i, d in enumerate(data[:50]):
            torch.manual_seed(i)
            a = runs[name](d).float()
            torch.manual_seed(i)
            b = runs["pillow"](d).float()
            total += float((a - b).abs().mean())
        diffs[name] = total / min(len(data), 50)
    base = statistics.median(times["pillow"])
    rows, results = [], []
    for name in names:
        med = statistics.median(times[name])
        us = med * 1e6 / len(data)
        rows.append([name, round(us), round(len(data) / med), f"{base / med:.2f}×",
                     "—" if diffs[name] is None else f"{diffs[name]:.2f}"])
        results.append(dict(decoder=name, us_per_image=us, images_per_s=len(data) / med, speedup=base / med,
                            mean_abs_diff=diffs[name], seconds=times[name]))
    print(f"decode + RandomResizedCrop({args.size}) + flip, {len(data)} JPEGs from {args.folder}, "
          f"1 process, 1 thread, median of {args.rounds} interleaved rounds, {args.clock} clock")
    print(format_table(["decoder", "µs/image", "images/s", "vs pillow", "mean |diff|"], rows, align="lrrrr"))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        meta = dict(images=len(data), rounds=args.rounds, size=args.size, clock=args.clock)
        Path(args.json).write_text(json.dumps(dict(meta, results=results, skipped=skipped), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
