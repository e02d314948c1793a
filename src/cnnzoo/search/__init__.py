"""Searching for architectures and scaling coefficients, as the seed papers did (needs ``cnnzoo[search]``).

* :func:`search_arch` — MnasNet's platform-aware and EfficientNetV2's training-aware search over a
  factorized hierarchical space of stage-table rows, with latency measured on the deployment runtime;
* :func:`search_scaling` — EfficientNet's grid search of (α, β, γ) at φ = 1 under α·β²·γ² ≈ 2;
* the formulas (:mod:`cnnzoo.search.objectives`), the proxy task (:mod:`cnnzoo.search.proxy`) and the
  latency measurement (:func:`model_latency`) on their own.

optuna (samplers, pruning, the resumable SQLite study) is imported only when a search runs.
"""

from cnnzoo.search.arch import ArchSearch, search_arch
from cnnzoo.search.candidate import Deployment
from cnnzoo.search.latency import RUNTIMES, latency_stats, model_latency
from cnnzoo.search.objectives import coefficient_grid, flops_ratio, mnasnet_reward, pareto_front, training_aware_reward
from cnnzoo.search.proxy import NonFiniteLoss, ProxyTask, load_proxy_data, seeded_build, train_proxy
from cnnzoo.search.scaling import PAPER_COEFFICIENTS, ScalingSearch, search_scaling
from cnnzoo.search.space import SPACES, SearchSpace, sample_arch

__all__ = ["ArchSearch", "search_arch", "ScalingSearch", "search_scaling", "PAPER_COEFFICIENTS", "Deployment",
           "ProxyTask", "NonFiniteLoss", "load_proxy_data", "seeded_build", "train_proxy", "RUNTIMES",
           "model_latency", "latency_stats",
           "coefficient_grid", "flops_ratio", "mnasnet_reward", "training_aware_reward", "pareto_front", "SPACES",
           "SearchSpace", "sample_arch"]
