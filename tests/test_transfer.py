"""Freezing and layer-wise learning rates (cnnzoo.freeze, cnnzoo.param_groups) on every family."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.train.transfer import bn_eval, num_stages, param_stages


def _forward_order(model: nn.Module, input_size: tuple[int, int, int]) -> list[str]:
    """Names of the parameters in the order their modules first run (eval mode, on meta)."""
    order: list[str] = []
    handles = []
    for mod_name, mod in model.named_modules():
        own = [f"{mod_name}.{p}" if mod_name else p for p, _ in mod.named_parameters(recurse=False)]
        if own:
            def hook(_m, _i, own=own):
                order.extend(n for n in own if n not in order)
            handles.append(mod.register_forward_pre_hook(hook))
    with torch.no_grad():
        model.eval()(torch.empty(1, *input_size, device="meta"))
    for h in handles:
        h.remove()
    return order


@pytest.mark.parametrize("name", cnnzoo.list_models())
def test_every_parameter_has_one_stage_in_forward_order(name):
    model = cnnzoo.create_model(name, device="meta")
    stages = param_stages(model)
    n = num_stages(model)
    assert list(stages) == [p for p, _ in model.named_parameters()]  # each parameter exactly once
    assert set(stages.values()) <= set(range(n + 2))
    assert stages[next(p for p, _ in model.head.named_parameters(prefix="head"))] == n + 1
    assert min(stages.values()) == 0
    # the stages follow the forward pass: stem, stage 1, …, stage S, then the classifier
    seq = [stages[p] for p in _forward_order(model, cnnzoo.model_info(name).input_size) if stages[p] <= n]
    assert seq == sorted(seq), name
    # the layer-decay groups hold every trainable parameter exactly once
    groups = cnnzoo.param_groups(model, lr=1.0, layer_decay=0.5)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())


def test_freeze_beyond_the_stages_is_one_clear_error():
    model = cnnzoo.create_model("resnet8", device="meta")
    with pytest.raises(ValueError, match=r"cannot freeze 3 stages of ResNetCifar: it has a stem and 2 stages"):
        cnnzoo.freeze(model, stages=3)
    with pytest.raises(ValueError, match="'backbone'"):
        cnnzoo.freeze(model, stages="all")
    assert all(p.requires_grad for p in model.parameters())  # nothing frozen by a refused call


def _batch(model_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    c, h, w = cnnzoo.model_info(model_name).input_size
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, c, h, w, generator=g), torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize("name", ["resnet8", "fashion_cnn", "lenet5"])
@pytest.mark.parametrize("stages", [0, 1, "backbone"])
def test_frozen_parameters_receive_no_gradient(name, stages):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name, num_classes=4)
    frozen = set(cnnzoo.freeze(model, stages=stages))
    limit = num_stages(model) if stages == "backbone" else stages
    assert frozen == {p for p, k in param_stages(model).items() if k <= limit}
    x, y = _batch(name)
    nn.functional.cross_entropy(model.train()(x), y).backward()
    for p_name, p in model.named_parameters():
        assert (p.grad is None) == (p_name in frozen), p_name
        assert p.requires_grad == (p_name not in frozen)
    if stages == "backbone":  # a linear probe: only the classifier trains
        assert all(k == num_stages(model) + 1 for p, k in param_stages(model).items() if p not in frozen)


def test_layer_decay_learning_rates_per_stage():
    model = cnnzoo.create_model("resnet8", num_classes=4)
    assert num_stages(model) == 2
    groups = cnnzoo.param_groups(model, lr=0.1, weight_decay=1e-4, layer_decay=0.5, head_lr_mult=10.0)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {f"{s}/{d}" for s in ("stem", "stage1", "stage2", "head") for d in ("decay", "no_decay")}
    expected_lr = {"stem": 0.1 * 0.5**3, "stage1": 0.1 * 0.5**2, "stage2": 0.1 * 0.5, "head": 0.1 * 10.0}
    stages = param_stages(model)
    names = {id(p): n for n, p in model.named_parameters()}
    for g in groups:
        stage, decay = g["name"].split("/")
        assert g["lr"] == pytest.approx(expected_lr[stage])
        assert g["weight_decay"] == (1e-4 if decay == "decay" else 0.0)
        for p in g["params"]:
            k = stages[names[id(p)]]
            assert ["stem", "stage1", "stage2", "head"][k] == stage
            assert (p.ndim > 1) == (decay == "decay")
    assert model.head.fc.weight in by_name["head/decay"]["params"]
    assert model.head.fc.bias in by_name["head/no_decay"]["params"]
    # the per-group rates survive the scheduler (LambdaLR scales each group's own rate)
    opt = torch.optim.SGD(groups, lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(
        [expected_lr[g["name"].split("/")[0]] * 0.5 for g in opt.param_groups])


def test_param_groups_without_decay_are_the_trainers_two_groups_and_skip_frozen():
    model = cnnzoo.create_model("fashion_cnn", num_classes=4)
    groups = cnnzoo.param_groups(model, lr=0.1, weight_decay=5e-4)
    assert [g["name"] for g in groups] == ["all/decay", "all/no_decay"]
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    cnnzoo.freeze(model, "backbone")
    groups = cnnzoo.param_groups(model, lr=0.1, layer_decay=0.7)
    assert [g["name"] for g in groups] == ["head/decay", "head/no_decay"]
    assert all(g["lr"] == 0.1 for g in groups)
    with pytest.raises(ValueError, match="layer_decay"):
        cnnzoo.param_groups(model, lr=0.1, layer_decay=1.5)


def test_freeze_bn_keeps_running_statistics_after_train():
    torch.manual_seed(0)
    model = cnnzoo.create_model("resnet8", num_classes=4)
    cnnzoo.freeze(model, stages=0, bn=True)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    before = [(m.running_mean.clone(), m.running_var.clone()) for m in bns]
    bn_eval(model.train())
    assert model.training and not any(m.training for m in bns)
    x, y = _batch("resnet8")
    nn.functional.cross_entropy(model(x), y).backward()
    for m, (mean, var) in zip(bns, before, strict=True):
        assert torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var)
    # BN affine parameters of unfrozen stages still train
    assert model.layer3[0].bn1.weight.grad is not None
    # without bn=True, bn_eval leaves the statistics to train
    other = cnnzoo.create_model("resnet8", num_classes=4)
    bn_eval(other.train())
    assert all(m.training for m in other.modules() if isinstance(m, nn.BatchNorm2d))
