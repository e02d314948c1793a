"""What a search leaves behind: the trials CSV (rewritten atomically after every trial), a Markdown
report with a table, and a plot of proxy accuracy against measured latency (and FLOPs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnnzoo.files import atomic_write, write_text
from cnnzoo.search.objectives import pareto_front
from cnnzoo.tables import format_table

__all__ = ["trial_rows", "plot_points", "write_report", "latency_spread"]


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One flat row per trial of the study (all workers'): number, state, value(s), metrics, params."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = dict(number=t.number, state=t.state.name)
        values = t.values or []
        for i, v in enumerate(values):
            row["value" if len(values) == 1 else f"value_{i}"] = v
        for k, v in t.user_attrs.items():
            if not isinstance(v, (dict, list)):
                row[k] = v
        row.update(t.params)
        row["seconds"] = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        rows.append(row)
    return rows


def plot_points(path: str | Path, points: Sequence[dict[str, Any]], x_keys: Sequence[tuple[str, str]],
                title: str) -> Path:
    """Accuracy against each of ``x_keys`` ((key, label), one panel each); points with a ``"label"`` are
    named (the zoo's models), the Pareto front of the first panel is drawn as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(x_keys), figsize=(6 * len(x_keys), 4.5), squeeze=False)
    for ax, (key, label) in zip(axes[0], x_keys, strict=True):
        pts = [p for p in points if _finite(p.get(key)) and _finite(p.get("accuracy"))]
        search = [p for p in pts if not p.get("label")]
        ax.scatter([p[key] for p in search], [p["accuracy"] for p in search], s=18, alpha=0.6, label="candidates")
        for p in pts:
            if p.get("label"):
                ax.scatter([p[key]], [p["accuracy"]], marker="*", s=120)
                ax.annotate(p["label"], (p[key], p["accuracy"]), textcoords="offset points", xytext=(4, 4),
                            fontsize=8)
        front = [pts[i] for i in pareto_front([(p["accuracy"], p[key]) for p in pts])]
        if front:
            ax.plot([p[key] for p in front], [p["accuracy"] for p in front], "k--", lw=1, label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel("proxy accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()

    def save(tmp: str) -> None:
        fig.savefig(tmp, format="png", dpi=110)

    atomic_write(path, save)
    plt.close(fig)
    return Path(path)


def latency_spread(values: dict[str, Any]) -> str:
    """``"median / q3"`` of a candidate's timed calls (``""`` when not recorded): how far above the lower
    quartile (its latency) the other calls went; a wide spread is a busy CPU."""
    med, q3 = values.get("latency_median_ms"), values.get("latency_q3_ms")
    return f"{med:.3f} / {q3:.3f}" if _finite(med) and _finite(q3) else ""


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def write_report(path: str | Path, title: str, lines: Sequence[str], headers: Sequence[str],
                 rows: Sequence[Sequence[Any]], plot: str | None = None) -> Path:
    """A Markdown report: title, free lines, one table, the plot."""
    table = format_table(list(headers), [list(r) for r in rows], markdown=True)
    text = f"# {title}\n\n" + "".join(f"{line}\n" for line in lines) + "\n" + table + "\n"
    if plot:
        text += f"\n![{title}]({plot})\n"
    return write_text(path, text)
