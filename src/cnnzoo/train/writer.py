"""What a run writes into its directory: configuration, checkpoints, metrics, TensorBoard events, report.

Only rank 0 writes (a ``RunWriter(enabled=False)`` does nothing). After every epoch the files are written
in this order: the resume state ``last.state.pt`` (the source of truth), ``last.safetensors``,
``last_ema.safetensors``, ``best.safetensors``, ``metrics.csv``, TensorBoard. A kill between two of them
leaves the later ones behind the state; :meth:`RunWriter.repair` rewrites those from the state on resume.
A run that fails before its first checkpoint takes back what it wrote (:meth:`RunWriter.discard`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from cnnzoo.checkpoint import CheckpointHeader, read_header, save_state_dict
from cnnzoo.files import remove_stale_temps, write_bytes, write_csv, write_text
from cnnzoo.tables import confusion_table, format_table, plural
from cnnzoo.train.evaluation import TOP5_MIN_CLASSES, EvalResult, format_top5
from cnnzoo.train.report import plot_confusion, plot_curves
from cnnzoo.train.state import RunState
from cnnzoo.train.tensorboard import EventWriter, read_events

__all__ = ["RunWriter"]


def _accuracy(value: float | None) -> float | None:
    """A checkpoint's recorded accuracy: None for an epoch whose test split was not evaluated."""
    return None if value is None or math.isnan(value) else round(value, 4)


class RunWriter:
    """The files of the run directory ``run_dir``; ``header`` is the weights files' header (model, its arguments,
    classes, input size, normalisation), completed per file with the epoch, accuracy and kind of weights."""

    def __init__(self, run_dir: str | os.PathLike, header: CheckpointHeader, enabled: bool = True) -> None:
        self.run_dir, self.header, self.enabled = Path(run_dir), header, enabled
        self.state_path = self.run_dir / "last.state.pt"
        self._tb: EventWriter | None = None
        #: the epoch of the resume state on disk (set by the engine on resume, then by every epoch_end)
        self.saved_epoch: int | None = None
        self._saving: tuple[int, tuple[int, int] | None] | None = None  # (epoch, state file before) while saving
        self._started = False
        self._checkpointed = False  # this run has written a resume state
        self._previous_config: bytes | None = None

    # -------------------------------------------------------------------------------- start and resume
    def start(self, config: dict[str, Any]) -> None:
        """Create the directory, remove temporary files a killed run left, write ``config.yaml``."""
        if not self.enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.remove_stale_tmp()
        path = self.run_dir / "config.yaml"
        self._previous_config = path.read_bytes() if path.is_file() else None
        self._started = True
        write_text(path, yaml.safe_dump(config, sort_keys=False))

    def discard(self) -> bool:
        """Take back what :meth:`start` wrote when the run ends before its first checkpoint: ``config.yaml`` is
        removed, or given back its previous content where a previous run wrote one; nothing else is touched.
        Returns whether anything was taken back (nothing once this run has saved a resume state)."""
        if not self.enabled or not self._started or self._checkpointed:
            return False
        self._started = False
        path, previous = self.run_dir / "config.yaml", self._previous_config
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            write_bytes(path, previous)
        return True

    def remove_stale_tmp(self) -> list[Path]:
        """Delete the ``.<name>.*.tmp`` files of interrupted atomic writes; returns them."""
        return remove_stale_temps(self.run_dir)

    def _stale(self, name: str, epoch: int) -> bool:
        try:
            header = read_header(self.run_dir / name)
            return header is None or header.epoch != epoch
        except (FileNotFoundError, ValueError):
            return True

    def repair(self, state: RunState) -> list[str]:
        """Bring every file written after the resume state up to it (after a kill between the files);
        returns the names of the files rewritten."""
        if not self.enabled or not state.history:
            return []
        fixed = []
        row = state.history[-1]
        if self._stale("last.safetensors", state.epoch):
            self._weights("last.safetensors", state.model, state.epoch, row.get("test_top1"), "model")
            fixed.append("last.safetensors")
        if state.ema is not None and self._stale("last_ema.safetensors", state.epoch):
            self._weights("last_ema.safetensors", state.ema.module, state.epoch, row.get("ema_top1"), "ema")
            fixed.append("last_ema.safetensors")
        if state.best_epoch == state.epoch and self._stale("best.safetensors", state.epoch):
            self._weights("best.safetensors", state.best_module(), state.epoch, state.best_acc, state.best_kind)
            fixed.append("best.safetensors")
        csv = self.run_dir / "metrics.csv"
        if not csv.is_file() or csv.read_text().count("\n") != len(state.history) + 1:
            write_csv(csv, state.history)
            fixed.append("metrics.csv")
        logged = self._logged_steps()
        missing = [r for r in state.history if int(r["epoch"]) not in logged]
        for r in missing:
            self._scalars(r)
        if missing:
            fixed.append("tensorboard")
        return fixed

    def _logged_steps(self) -> set[int]:
        steps: set[int] = set()
        for path in (self.run_dir / "tensorboard").glob("events.out.tfevents.*"):
            try:
                steps |= {s for s, _ in read_events(path)}
            except ValueError:  # a record cut by a kill: the complete ones before it are not recoverable here
                continue
        return steps

    # -------------------------------------------------------------------------------- every epoch
    def _weights(self, name: str, module: Any, epoch: int, acc: float | None, kind: str) -> None:
        save_state_dict(self.run_dir / name, module.state_dict(),
                        replace(self.header, epoch=epoch, accuracy=_accuracy(acc), weights=kind))

    def _scalars(self, row: dict[str, Any]) -> None:
        if self._tb is None:
            self._tb = EventWriter(self.run_dir / "tensorboard")
        self._tb.add_scalars({k: float(v) for k, v in row.items()
                              if k != "epoch" and v is not None and not math.isnan(float(v))},
                             int(row["epoch"]))

    def epoch_end(self, state: RunState, config: dict[str, Any]) -> None:
        """Write the files of the epoch ``state`` has just recorded, the resume state first."""
        if not self.enabled:
            return
        row = state.history[-1]
        self._saving = (state.epoch, self._file_id())
        state.save(self.state_path, config)
        self._checkpointed, self.saved_epoch, self._saving = True, state.epoch, None
        self._weights("last.safetensors", state.model, state.epoch, row["test_top1"], "model")
        if state.ema is not None:
            self._weights("last_ema.safetensors", state.ema.module, state.epoch, row["ema_top1"], "ema")
        if state.best_epoch == state.epoch:
            self._weights("best.safetensors", state.best_module(), state.epoch, state.best_acc, state.best_kind)
        write_csv(self.run_dir / "metrics.csv", state.history)
        self._scalars(row)

    def _file_id(self) -> tuple[int, int] | None:
        try:
            st = self.state_path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def saved(self) -> int | None:
        """The epoch of the resume state on disk (None: none yet), also when an interrupt cut :meth:`epoch_end`
        short, before or after the state file was replaced."""
        if self._saving is not None and self._file_id() != self._saving[1]:
            self._checkpointed, self.saved_epoch, self._saving = True, self._saving[0], None
        return self.saved_epoch

    # -------------------------------------------------------------------------------- the end
    def finish(self, report: dict[str, Any], final: EvalResult, final_ema: EvalResult | None, title: str) -> str:
        """Write curves, confusion matrix, ``report.md`` and ``report.json``; returns the epoch table."""
        history, classes = report["history"], report["classes"]
        ema, split = final_ema is not None, report.get("test_split", "test")  # a folder's val/ is "val"
        top5 = len(classes) >= TOP5_MIN_CLASSES  # top-5 is not reported with 5 classes or fewer
        table = format_table(
            ["epoch", "lr", "train loss", "train acc %", f"{split} loss", f"{split} top-1 %"]
            + ([f"{split} top-5 %"] if top5 else [])
            + (["EMA top-1 %"] if ema else []) + ["img/s", "time s"],
            [[r["epoch"], f"{r['lr']:.2e}", r["train_loss"], r["train_acc"], r["test_loss"], r["test_top1"]]
             + ([r["test_top5"]] if top5 else []) + ([r["ema_top1"]] if ema else [])
             + [f"{r['img_per_s']:.0f}", f"{r['epoch_time_s']:.0f}"]
             for r in history], markdown=True)
        if not self.enabled:
            return table
        self.close()
        plot_curves(self.run_dir / "curves.png", history, title, split)
        plot_confusion(self.run_dir / "confusion.png", final.confusion, classes,
                       f"{report['model']}: {split} top-1 {final.top1:.2f}%")
        per_class = format_table(["class", "accuracy %"], [[c, a] for c, a in report["per_class"].items()],
                                 markdown=True)
        text = (f"# {title}\n\n{table}\n\n"
                f"Final {split} top-1 {final.top1:.2f}%{format_top5(final.top5, ' (top-5 {:.2f}%)')}"
                + (f", EMA {final_ema.top1:.2f}%" if final_ema else "")
                + f"; best {report['best_top1']:.2f}% at epoch {report['best_epoch']}; training time "
                  f"{report['train_wall_s']:.0f} s."
                + (f" Skipped {plural(n, 'image')} that could not be decoded (listed in report.json)."
                   if (n := report.get("skipped_images", {}).get("count")) else "") + "\n\n"
                f"## Per class\n\n{per_class}\n\n## Confusion matrix\n\n"
                f"{confusion_table(final.confusion, classes, markdown=True)}\n")
        write_text(self.run_dir / "report.md", text)
        write_text(self.run_dir / "report.json", json.dumps(report, indent=1))
        return table

    def close(self) -> None:
        """Close the TensorBoard file."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
