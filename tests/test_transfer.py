"""Transfer learning: stage split of every model, freeze, batch-norm freeze, layer-wise learning rates."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.train.optim import create_optimizer
from cnnzoo.train.transfer import bn_eval, num_stages, param_stages


@pytest.mark.parametrize("name", cnnzoo.list_models())
def test_every_parameter_has_a_stage_in_module_order(name):
    with torch.device("meta"):
        model = cnnzoo.create_model(name)
    stages = param_stages(model)
    head = num_stages(model) + 1
    assert list(stages) == [n for n, _ in model.named_parameters()]
    assert set(stages.values()) <= set(range(head + 1))
    body = [k for k in stages.values() if k < head]
    assert body == sorted(body) and body[0] == 0
    assert all(k == head for n, k in stages.items() if n.startswith("head."))
    assert any(k == head for k in stages.values())


def _tiny():
    torch.manual_seed(0)
    return cnnzoo.create_model("resnet8", num_classes=3, in_chans=1)


def test_freeze_stages_stops_gradients_of_stem_and_first_stages():
    model = _tiny()
    frozen = cnnzoo.freeze(model, stages=1)
    stages = param_stages(model)
    assert set(frozen) == {n for n, k in stages.items() if k <= 1}
    model(torch.randn(2, 1, 32, 32)).sum().backward()
    for n, p in model.named_parameters():
        assert (p.grad is None) == (stages[n] <= 1), n


def test_freeze_backbone_trains_only_the_head():
    model = _tiny()
    cnnzoo.freeze(model, "backbone")
    assert {n for n, p in model.named_parameters() if p.requires_grad} == \
        {n for n, _ in model.named_parameters() if n.startswith("head.")}
    opt = create_optimizer(model, "sgd", 0.1)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.head.parameters()))


def test_freeze_beyond_the_stages_is_one_clear_error():
    model = _tiny()
    with pytest.raises(ValueError, match=r"cannot freeze 9 stages .* expected 0"):
        cnnzoo.freeze(model, stages=9)
    assert all(p.requires_grad for p in model.parameters())


def test_freeze_bn_keeps_running_statistics_after_train():
    model = _tiny()
    cnnzoo.freeze(model, stages=0, bn=True)
    before = {n: b.clone() for n, b in model.named_buffers()}
    bn_eval(model.train())
    model(torch.randn(4, 1, 32, 32) * 3 + 1)
    for n, b in model.named_buffers():
        assert torch.equal(b, before[n]), n
    assert not any(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_bn_eval_without_freeze_bn_leaves_training_mode():
    model = _tiny().train()
    bn_eval(model)
    assert all(m.training for m in model.modules())


def test_layer_decay_gives_each_stage_its_rate():
    model = _tiny()
    groups = cnnzoo.param_groups(model, lr=1.0, weight_decay=0.05, layer_decay=0.5, head_lr_mult=10.0)
    stages = param_stages(model)
    head = num_stages(model) + 1
    ids = {id(p): n for n, p in model.named_parameters()}
    seen = set()
    for g in groups:
        for p in g["params"]:
            k = stages[ids[id(p)]]
            assert g["lr"] == pytest.approx(10.0 if k == head else 0.5 ** (head - k))
            assert g["weight_decay"] == (0.05 if p.ndim > 1 else 0.0)
            seen.add(ids[id(p)])
    assert seen == set(stages)
    assert {g["name"] for g in groups} >= {"stem/decay", "stem/no_decay", "head/decay", "head/no_decay"}


def test_param_groups_default_is_the_trainers_two_groups():
    model = _tiny()
    decay, no_decay = cnnzoo.param_groups(model, lr=0.1, weight_decay=1e-4)
    assert all(p.ndim > 1 for p in decay["params"]) and decay["weight_decay"] == 1e-4
    assert all(p.ndim <= 1 for p in no_decay["params"]) and no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_layer_decay_scheduler_keeps_the_ratios():
    model = _tiny()
    opt = create_optimizer(model, "sgd", 0.1, layer_decay=0.5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5)
    opt.step()
    sched.step()
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["head/decay"] == pytest.approx(0.05)
    assert lrs["stem/decay"] == pytest.approx(0.05 * 0.5 ** (num_stages(model) + 1))


@pytest.mark.parametrize("bad", [dict(lr=0.0), dict(lr=0.1, layer_decay=1.5), dict(lr=0.1, head_lr_mult=0)])
def test_param_groups_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="must be"):
        cnnzoo.param_groups(_tiny(), **bad)
