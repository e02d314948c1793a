"""Training settings: defined once in TrainConfig, checked wherever they come from, CLI generated from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from cnnzoo.cli import build_parser, main
from cnnzoo.cli.train import resolve_config
from cnnzoo.train import TrainConfig, load_recipe
from cnnzoo.train.config import RESUME_CHANGEABLE, check_setting, merge_for_resume, model_recipe, settings


def _parse(argv: list[str]):
    return build_parser().parse_args(["train", *argv])


@pytest.mark.parametrize("name, value, message", [
    ("epochs", "ten", "epochs: expected an integer >= 1, got 'ten'"),
    ("epochs", 0, "epochs: expected an integer >= 1, got 0"),
    ("in_chans", "0", "in_chans: expected an integer in [1, 1024] or none, got '0'"),
    ("num_threads", 0, "num_threads: expected an integer in [1, 1024] or none, got 0"),
    ("decay_rate", 1e6, "decay_rate: expected a number in (0, 1], got 1000000.0"),
    ("train_subset", 0, "train_subset: expected an integer >= 1 or none, got 0"),
    ("policy", "randaug", "policy: expected one of randaugment, autoaugment, trivialaugment or none, got 'randaug'"),
    ("mixup", -1, "mixup: expected a number in [0, 1], got -1"),
    ("amp", "fp64", "amp: expected one of fp32, bf16, fp16, got 'fp64'"),
    ("flip", "maybe", "flip: expected true or false, got 'maybe'"),
    ("lr", True, "lr: expected a number > 0, got True"),
    ("model_kwargs", "batch_norm", "model_kwargs: expected a mapping, got 'batch_norm'"),
])
def test_bad_values_name_the_setting_and_what_it_accepts(name, value, message):
    with pytest.raises(ValueError) as err:
        check_setting(name, value)
    assert str(err.value) == message


def test_values_from_text_and_yaml_are_parsed_to_the_setting_type():
    assert check_setting("epochs", "12") == 12 and check_setting("epochs", 12.0) == 12
    assert check_setting("lr", "1e-3") == 0.001  # YAML 1.1 reads 1e-3 as a string
    assert check_setting("flip", "yes") is True and check_setting("flip", False) is False
    assert check_setting("policy", "none") is None and check_setting("img_size", None) is None
    # one precision vocabulary; "none" is the old spelling of fp32
    assert check_setting("amp", "none") == "fp32" and check_setting("amp", "bfloat16") == "bf16"
    assert TrainConfig(amp="none").amp == "fp32"


def test_device_is_checked_by_the_device_module():
    with pytest.raises(ValueError, match="device: unknown device 'tpu': expected 'cpu' or 'cuda'"):
        TrainConfig(device="tpu").validate()
    TrainConfig(device="cpu").validate()


def test_flags_are_generated_from_the_settings():
    parser = build_parser()
    train_parser = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("train"))
    flags = {a.dest: a for a in train_parser._actions}
    for s in settings().values():
        assert (s.name in flags) == s.flag, s.name
        if s.flag:
            assert f"--{s.name.replace('_', '-')}" in flags[s.name].option_strings
            assert s.help.split(" (")[0] in flags[s.name].help
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert list(settings()) == names
    assert all(s.help for s in settings().values())


@pytest.mark.parametrize("argv, message", [
    (["--in-chans", "0"], "in_chans: expected an integer in [1, 1024]"),
    (["--num-threads", "0"], "num_threads: expected an integer in [1, 1024]"),
    (["--decay-rate", "1e6"], "decay_rate: expected a number in (0, 1]"),
    (["--train-subset", "0"], "train_subset: expected an integer >= 1"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--policy", "randaug"], "policy: expected one of randaugment"),
    (["--mixup", "-1"], "mixup: expected a number in [0, 1]"),
    (["--img-size", "3", "--train-subset", "10", "--test-subset", "10"],
     "img_size: fashion_cnn needs inputs of at least 8×8, got 3"),
    (["--set", "epochs=ten"], "epochs: expected an integer >= 1, got 'ten'"),
    (["--set", "lr_max=1"], "unknown setting 'lr_max'"),
])
def test_bad_flags_fail_before_anything_is_written(tmp_path, capsys, argv, message):
    out = tmp_path / "runs"
    assert main(["train", *argv, "--out-dir", str(out), "--name", "bad"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_model_starts_from_its_own_recipe(capsys):
    logged: list[str] = []
    cfg, resume = resolve_config(_parse(["--model", "fashion_cnn", "--epochs", "1"]), logged.append)
    recipe = load_recipe("fashion_cnn")
    assert not resume and cfg.recipe == "fashion_cnn" and cfg.epochs == 1  # the flag wins over the recipe
    assert cfg.model_kwargs == recipe["model_kwargs"] and cfg.tta_flip is recipe["tta_flip"]
    assert cfg.label_smoothing == recipe["label_smoothing"]
    assert len(logged) == 1 and "recipe fashion_cnn" in logged[0]
    # --config none: the defaults only; a model without a recipe of its name: the defaults, silently
    logged.clear()
    cfg, _ = resolve_config(_parse(["--model", "fashion_cnn", "--config", "none"]), logged.append)
    assert cfg.recipe is None and cfg.model_kwargs == {} and logged == []
    cfg, _ = resolve_config(_parse(["--model", "resnet8"]), logged.append)
    assert cfg.recipe is None and logged == [] and model_recipe("resnet8") is None
    assert model_recipe("lenet5") == "lenet5"
    # an explicit --config is used as given
    cfg, _ = resolve_config(_parse(["--model", "fashion_cnn", "--config", "lenet5"]), logged.append)
    assert cfg.recipe == "lenet5" and cfg.model == "fashion_cnn" and logged == []


def test_a_bad_value_in_a_recipe_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: lenet5\nepochs: ten\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: epochs: expected an integer >= 1, got 'ten'"):
        resolve_config(_parse(["--config", str(bad)]))


def _saved_run(tmp_path: Path, **values) -> Path:
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(TrainConfig(**values).to_dict()))
    return run


def test_resume_takes_the_changeable_settings_and_reports_the_others(tmp_path):
    run = _saved_run(tmp_path, model="lenet5", epochs=2, lr=0.05, amp="none", name="r")
    logged: list[str] = []
    cfg, resume = resolve_config(_parse(["--resume", str(run), "--epochs", "5", "--lr", "0.1", "--seed", "0"]),
                                 logged.append)
    assert resume and cfg.epochs == 5 and cfg.lr == 0.05 and cfg.model == "lenet5" and cfg.amp == "fp32"
    assert cfg.out_dir == str(run.parent) and cfg.name == "r"
    assert len(logged) == 2  # seed 0 is the run's own value: nothing to say
    assert "takes epochs = 5" in logged[0] and "the run had 2" in logged[0]
    assert "keeps lr = 0.05" in logged[1] and "not 0.1" in logged[1]
    assert set(RESUME_CHANGEABLE) >= {"epochs", "eval_every", "device", "num_threads", "progress"}
    with pytest.raises(ValueError, match="epochs: expected an integer >= 1, got 'x'"):
        merge_for_resume(TrainConfig(), {"epochs": "x"})
    # the saved configuration of the run is checked too
    (run / "config.yaml").write_text(yaml.safe_dump(dict(TrainConfig().to_dict(), epochs=-3)))
    with pytest.raises(ValueError, match=r"config\.yaml: epochs: expected an integer >= 1, got -3"):
        resolve_config(_parse(["--resume", str(run)]))
