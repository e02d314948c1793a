"""The optional dependencies: importing one, or an error that names the extra that installs it, and keeping
their chatter off the user's terminal.

onnxruntime and openvino (deployment, export checks, int8) are the ``deploy`` extra, optuna (the search's
samplers, pruning and study database) the ``search`` extra, webdataset (``cnnzoo shards``) the ``shards`` extra.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

__all__ = ["DEPLOY_EXTRA_HELP", "require_module", "require_optuna", "require_webdataset", "quiet"]

DEPLOY_EXTRA_HELP = "pip install 'cnnzoo[deploy]'"


def require_module(name: str, what: str) -> Any:
    """Import ``name`` (onnxruntime, openvino, …) or say which extra provides it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise RuntimeError(f"{what} needs the package {name!r}, part of cnnzoo's 'deploy' extra: "
                           f"{DEPLOY_EXTRA_HELP} ({err})") from err


def require_optuna() -> ModuleType:
    """The ``optuna`` module, or a ``RuntimeError`` naming the extra that installs it."""
    try:
        import optuna
    except ImportError:
        raise RuntimeError("cnnzoo search needs optuna (TPE/NSGA-II samplers, pruning, a resumable study "
                           "database): pip install 'cnnzoo[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by cnnzoo, without a traceback
    return optuna


def require_webdataset() -> ModuleType:
    """The ``webdataset`` module, or an ImportError naming the extra that installs it."""
    try:
        import webdataset
    except ImportError:
        raise ImportError("WebDataset shards need the webdataset package: pip install 'cnnzoo[shards]'") from None
    return webdataset


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Within: the exporters' and runtimes' progress and deprecation chatter (printed, warned, or logged
    by ``torch.onnx``) kept off the user's terminal."""
    import logging

    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        onnx_logger.setLevel(level)
