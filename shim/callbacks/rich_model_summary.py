"""``RichModelSummary``: the model summary as a ``rich`` table."""

from typing import Any, Literal

from typing_extensions import override

from shim.callbacks.model_summary import ModelSummary
from shim.callbacks.progress.rich_theme import require_rich
from shim.utilities.model_summary.model_summary import get_formatted_model_size, get_human_readable_count

__all__ = ["RichModelSummary"]

# counts read best aligned on their last digit
_RIGHT_ALIGNED = {"Params", "Params per Device", "FLOPs", "In sizes", "Out sizes"}


class RichModelSummary(ModelSummary):
    """Prints the layer table and the totals with ``rich`` when fit starts.

    Args:
        max_depth: How deep to list submodules: 1 (default) lists the direct children, -1 all, 0 none.
        **summarize_kwargs: ``header_style``: the rich style of the header row (default ``"bold magenta"``).

    Raises:
        ModuleNotFoundError: If ``rich`` is not installed.
    """

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        require_rich(type(self).__name__)
        super().__init__(max_depth, **summarize_kwargs)

    @staticmethod
    @override
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        import rich
        from rich.table import Table

        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for i, (header, _) in enumerate(summary_data):
            style = "dim" if i == 0 else None
            justify: Literal["left", "right"] = "right" if header in _RIGHT_ALIGNED else "left"
            table.add_column(header, style=style, justify=justify, no_wrap=header == "Name")
        for row in zip(*(values for _, values in summary_data), strict=True):
            table.add_row(*(str(value) for value in row))

        totals = Table.grid(padding=(0, 1))
        totals.add_column(justify="right")
        totals.add_column()
        for value, label in (
            (get_human_readable_count(trainable_parameters), "Trainable params"),
            (get_human_readable_count(total_parameters - trainable_parameters), "Non-trainable params"),
            (get_human_readable_count(total_parameters), "Total params"),
            (get_formatted_model_size(model_size), "Total estimated model params size (MB)"),
            (str(total_training_modes["train"]), "Modules in train mode"),
            (str(total_training_modes["eval"]), "Modules in eval mode"),
            (get_human_readable_count(total_flops), "Total FLOPs"),
        ):
            totals.add_row(value, f"[bold]{label}[/]")

        console = rich.get_console()
        console.print(table)
        console.print(totals)
