"""The bottom file module: every write atomic, what a killed write left removed, CSV with its columns in order."""

from cnnzoo.files import remove_stale_temps, write_bytes, write_csv


def test_remove_stale_temps(tmp_path):
    (tmp_path / ".last.safetensors.k3j_9xQa.tmp").write_bytes(b"half")
    (tmp_path / ".config.yaml.abcdEFGH.tmp").write_text("half")
    (tmp_path / "keep.tmp").write_text("a user's file")
    (tmp_path / "last.safetensors").write_text("ok")
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == [".config.yaml.abcdEFGH.tmp", ".last.safetensors.k3j_9xQa.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tmp", "last.safetensors"]
    assert remove_stale_temps(tmp_path / "missing") == []


def test_write_bytes_and_csv(tmp_path):
    assert write_bytes(tmp_path / "sub" / "a.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    write_csv(tmp_path / "m.csv", [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "acc": 90.0}])
    assert (tmp_path / "m.csv").read_text().splitlines() == ["epoch,loss,acc", "1,0.5,", "2,,90.0"]
    write_csv(tmp_path / "none.csv", [])
    assert not (tmp_path / "none.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "sub"]
