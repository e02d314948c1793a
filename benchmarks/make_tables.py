"""Markdown tables for BENCHMARKS.md from the JSON files that ``compare_reference.py --json`` writes.

    python benchmarks/make_tables.py benchmarks/results/compare_reference_b1.json \
        benchmarks/results/compare_reference_b16.json
"""

from __future__ import annotations

import json
import sys


def main(paths: list[str]) -> None:
    rows, metas = [], []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        metas.append(data["meta"])
        rows += data["results"]
    print("| model | batch | GMACs | ref img/s | zoo img/s | opt img/s | zoo / ref | opt / ref "
          "| fraction of fp32 peak: ref / zoo / opt | opt vs zoo fp32: max abs diff (logit scale), top-1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["batch"], r["model"])):
        t, f = r["throughput"], r["peak_fraction"]
        a = r["agreement"].get("opt", {})
        scale = f" ({a['logit_scale']:.2g})" if "logit_scale" in a else ""
        agree = f"{a.get('max_abs_diff', float('nan')):.1e}{scale}, {'same' if a.get('top1_equal') else 'DIFFERS'}"
        print(f"| {r['model']} | {r['batch']} | {r['gmacs']:.2f} | {t['ref']:.1f} | {t['zoo']:.1f} | {t['opt']:.1f} "
              f"| {t['zoo'] / t['ref']:.2f}× | {t['opt'] / t['ref']:.2f}× | {f['ref']:.0%} / {f['zoo']:.0%} / "
              f"{f['opt']:.0%} | {agree} |")
    for m in metas:
        print(f"\n{m['threads']} thread(s), {m['clock']} clock, torch {m['torch']}, {m['cpu']}; matmul peak fp32 "
              f"{m['peaks_gflops']['fp32']:.1f} GFLOP/s, bf16 {m['peaks_gflops']['bf16']:.1f} GFLOP/s; "
              f"{m['rounds']} rounds × {m['repeats']} runs after {m['warmup']} warm-up; load average at the end "
              f"{m['load_avg'][0]:.1f}; not registered: {', '.join(m['missing']) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1:])
