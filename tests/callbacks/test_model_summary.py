"""ModelSummary callback: what its summarize hook receives, as Lightning calls it."""

from typing import Any

import shim
from shim.callbacks import ModelSummary
from shim.demos.boring_classes import BoringModel


def _fit(callback: ModelSummary) -> None:
    trainer = shim.Trainer(max_steps=1, callbacks=[callback], logger=False, enable_progress_bar=False)
    trainer.fit(BoringModel())


def test_summarize_receives_the_table_columns_and_totals() -> None:
    seen: dict[str, Any] = {}

    class Recording(ModelSummary):
        @staticmethod
        def summarize(
            summary_data: list[tuple[str, list[str]]],
            total_parameters: int,
            trainable_parameters: int,
            model_size: float,
            total_training_modes: dict[str, int],
            total_flops: int,
            **summarize_kwargs: Any,
        ) -> None:
            seen.update(
                columns=[header for header, _ in summary_data],
                names=summary_data[1][1],
                totals=(total_parameters, trainable_parameters, total_training_modes, total_flops),
                kwargs=summarize_kwargs,
            )

    _fit(Recording(max_depth=1, marker="x"))
    assert seen["columns"][:5] == [" ", "Name", "Type", "Params", "Mode"]
    assert seen["names"] == ["layer"]
    assert seen["totals"][:3] == (66, 66, {"train": 1, "eval": 0})
    assert seen["kwargs"] == {"marker": "x"}


def test_an_override_without_total_flops_gets_it_among_the_keyword_arguments() -> None:
    # Lightning passes total_flops by name, so an override written before the parameter existed still works
    seen: dict[str, Any] = {}

    class Older(ModelSummary):
        @staticmethod
        def summarize(
            summary_data: list[tuple[str, list[str]]],
            total_parameters: int,
            trainable_parameters: int,
            model_size: float,
            total_training_modes: dict[str, int],
            **summarize_kwargs: Any,
        ) -> None:
            seen.update(summarize_kwargs)

    _fit(Older())
    assert set(seen) == {"total_flops"}
