from cnnzoo.cli import main


def test_list_prints_params(capsys):
    assert main(["list", "fashion*"]) == 0
    out = capsys.readouterr().out
    assert "fashion_cnn" in out and "1,413,834" in out


def test_list_unknown_pattern_is_an_error(capsys):
    assert main(["list", "nothing_like_this*"]) == 2
    assert "no model matches" in capsys.readouterr().err


def test_info(capsys):
    assert main(["info", "fashion_cnn"]) == 0
    assert "minimum 8x8" in capsys.readouterr().out


def test_unknown_model_points_to_cnnzoo_list(capsys):
    assert main(["info", "resnet5O"]) == 2
    err = capsys.readouterr().err
    assert "`cnnzoo list`" in err and "resnet50" in err and "list_models()" in err
