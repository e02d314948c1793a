"""optuna, the search algorithm and study database of :mod:`cnnzoo.search`, is an optional dependency."""

from __future__ import annotations

from types import ModuleType

__all__ = ["require_optuna"]


def require_optuna() -> ModuleType:
    """The ``optuna`` module, or a ``RuntimeError`` naming the extra that installs it."""
    try:
        import optuna
    except ImportError:
        raise RuntimeError("cnnzoo search needs optuna (TPE/NSGA-II samplers, pruning, a resumable study "
                           "database): pip install 'cnnzoo[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by cnnzoo, without a traceback
    return optuna
