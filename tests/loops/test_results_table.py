"""The results table of validate/test: the same text as real Lightning 2.6.6 prints for the same metrics."""

import io
from contextlib import redirect_stdout
from functools import partial
from types import ModuleType
from typing import Any

import pytest
import torch

from shim.loops.results_table import print_results

CASES: list[tuple[list[dict[str, Any]], str]] = [
    ([{"log": torch.tensor(5)}, {"no_log": torch.tensor(6)}], "test"),
    (
        [
            {"value": torch.tensor(2), "nested": {"b:1": torch.tensor(0), "a": torch.tensor(3.5)}},
            {"other value": torch.tensor(1.5), "x:y": {"p": torch.tensor(6), "q": torch.tensor([1, 2])}},
        ],
        "test",
    ),
    (
        [{f"a {'very ' * 14}long name": torch.tensor(5)}, {f"a {'very ' * 14}long name": torch.tensor([[6]])}],
        "validate",
    ),  # fmt: skip
    ([{f"loss/dataloader_idx_{i}": torch.tensor(float(i))} for i in range(5)], "validate"),
    ([{"acc": 0.5, "loss": 1}], "test"),
    ([{}], "test"),
]


def _printed(print_fn: Any, results: list[dict[str, Any]], stage: str) -> str:
    with redirect_stdout(io.StringIO()) as out:
        print_fn(results, stage)
    return out.getvalue()


@pytest.mark.parametrize(("results", "stage"), CASES)
@pytest.mark.parametrize("columns", ["120", "80"])
def test_table_is_lightnings(
    lightning: ModuleType, monkeypatch: pytest.MonkeyPatch, results: list[dict[str, Any]], stage: str, columns: str
) -> None:
    from pytorch_lightning.loops import evaluation_loop

    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(evaluation_loop, "_RICH_AVAILABLE", False)  # the plain-text table
    expected = _printed(evaluation_loop._EvaluationLoop._print_results, results, stage)
    assert _printed(partial(print_results, use_rich=False), results, stage) == expected
    assert bool(expected) is any(results)


@pytest.mark.parametrize(("results", "stage"), CASES)
def test_rich_table_is_lightnings(lightning: ModuleType, results: list[dict[str, Any]], stage: str) -> None:
    pytest.importorskip("rich")
    from pytorch_lightning.loops import evaluation_loop

    assert evaluation_loop._RICH_AVAILABLE  # Lightning draws with rich when it is installed, and so does shim
    expected = _printed(evaluation_loop._EvaluationLoop._print_results, results, stage)
    actual = _printed(print_results, results, stage)
    assert actual == expected
    assert ("┃" in actual) is any(results)


class _Latin1(io.StringIO):
    encoding = "latin-1"


def test_a_stream_without_box_characters_gets_hyphens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    with redirect_stdout(_Latin1()) as out:
        print_results([{"loss": torch.tensor(1.0)}], "test", use_rich=False)
    text = out.getvalue()
    text.encode("latin-1")
    assert text.splitlines()[0] == "-" * 60
