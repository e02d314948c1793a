import pytest

import cnnzoo
from cnnzoo.data import find_fashion_mnist


def small_size(name: str) -> int:
    """The small test input of a model: 28 for small-image models, 32 for ImageNet ones (or its minimum)."""
    info = cnnzoo.model_info(name)
    base = 28 if info.input_size[1] < 64 else 32
    return max(base, info.min_size)


def main_output(out):
    """Main logits of a model that may return auxiliary outputs as a tuple in training mode."""
    return out[0] if isinstance(out, (tuple, list)) else out


def one_model_per_family() -> list[str]:
    """The smallest registered model (by parameters) of every family, so new families are covered."""
    families: dict[str, list[str]] = {}
    for name in cnnzoo.list_models():
        families.setdefault(cnnzoo.model_info(name).family, []).append(name)
    return sorted(min(names, key=lambda n: (cnnzoo.model_info(n).params, n)) for names in families.values())


def _have_fashion_mnist() -> bool:
    try:
        find_fashion_mnist()
    except (FileNotFoundError, ValueError):
        return False
    return True


HAVE_FMNIST = _have_fashion_mnist()
needs_fmnist = pytest.mark.skipif(not HAVE_FMNIST, reason="Fashion-MNIST not installed (dataset-fashion-mnist)")
