"""The one table formatter: aligned text and Markdown, number formatting, alignment, errors."""

import pytest
import torch

from cnnzoo.tables import confusion_table, format_cell, format_table


def test_cells_are_formatted():
    assert format_cell(0.12345) == "0.12" and format_cell(0.12345, ".3f") == "0.123"
    assert format_cell(7) == "7" and format_cell(None) == "-" and format_cell("x y") == "x y"


def test_text_table_aligns_numbers_right_and_text_left():
    out = format_table(["name", "n", "score"], [["alpha", 5, 0.5], ["b", 1234, 12.345], ["c", None, "1,000"]])
    lines = out.split("\n")
    assert lines[0] == "name      n  score"
    assert lines[1] == "-----  ----  -----"
    assert lines[2] == "alpha     5   0.50"
    assert lines[3] == "b      1234  12.35"
    assert lines[4] == "c         -  1,000"


def test_markdown_table_pads_escapes_and_marks_alignment():
    out = format_table(["a|b", "pct"], [["x", "95.1%"], ["long cell", "4.2%"]], markdown=True)
    assert out.split("\n") == [
        "| a\\|b      |   pct |",
        "|-----------|------:|",
        "| x         | 95.1% |",
        "| long cell |  4.2% |",
    ]


def test_explicit_alignment_and_float_format():
    out = format_table(["k", "v"], [["1", 2.0]], align="rc", floatfmt=".3f")
    assert out.split("\n")[2] == "1  2.000"
    md = format_table(["k", "v"], [["1", 2.0]], align="lc", markdown=True)
    assert md.split("\n")[1] == "|---|:----:|"


def test_bad_tables_are_clear_errors():
    with pytest.raises(ValueError, match="row 1 has 1 cells, the header 2"):
        format_table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="one of l, r, c per column"):
        format_table(["a", "b"], [[1, 2]], align="lx")
    with pytest.raises(ValueError, match="2×2 for 2 classes"):
        confusion_table([[1, 2, 3]], ["a", "b"])


def test_confusion_table():
    out = confusion_table(torch.tensor([[5, 1000], [0, 7]]), ["T-shirt/top", "Trouser"])
    lines = out.split("\n")
    assert lines[0].split() == ["true", "\\", "pred", "0", "1"]
    assert lines[2].split() == ["0", "T-shirt/to", "5", "1000"]  # names cut to 10 characters
    assert lines[3].endswith("0     7")
    assert confusion_table([[1, 0], [0, 1]], ["a", "b"], markdown=True).startswith("| true \\ pred |")
