"""``ModelSummary``: the layer table (name, type, parameters, mode, FLOPs) printed at the start of fit."""

import math
from typing import Any

import torch
from torch import nn

__all__ = ["ModelSummary", "format_summary_table", "get_formatted_model_size", "get_human_readable_count", "summarize"]

_UNITS = [" ", "K", "M", "B", "T"]


def get_human_readable_count(number: int) -> str:
    """``123`` -> ``"123  "``, ``1234`` -> ``"1.2 K"``, ``2e6`` -> ``"2.0 M"`` (three significant digits)."""
    digits = int(math.floor(math.log10(number)) + 1) if number > 0 else 1
    groups = min(int(math.ceil(digits / 3)), len(_UNITS))
    scaled = number * 10 ** (-3 * (groups - 1))
    unit = _UNITS[groups - 1]
    if groups == 1 or scaled >= 100:
        return f"{int(scaled):,d} {unit}"
    return f"{scaled:,.1f} {unit}"


def get_formatted_model_size(total_model_size: float) -> str:
    """The model size in MB with thousands separators and three decimals: ``5500.0`` -> ``"5,500.000"``."""
    return f"{total_model_size:,.3f}"


def _count(params: Any) -> int:
    return sum(p.numel() for p in params if not isinstance(p, nn.parameter.UninitializedParameter))


class ModelSummary:
    """Summarises the submodules of ``model`` down to ``max_depth`` (-1: all, 0: none, 1: direct children)."""

    def __init__(self, model: nn.Module, max_depth: int = 1) -> None:
        if not isinstance(max_depth, int) or max_depth < -1:
            raise ValueError(f"max_depth={max_depth!r} is not valid: give an int >= -1")
        self._model = model
        self._max_depth = max_depth
        self._flops = self._count_flops()

    def _layers(self) -> list[tuple[str, nn.Module]]:
        if self._max_depth == 0:
            return []
        layers = []
        for name, module in self._model.named_modules():
            if not name:
                continue
            depth = name.count(".") + 1
            if self._max_depth == -1 or depth <= self._max_depth:
                layers.append((name, module))
        return layers

    def _count_flops(self) -> dict[str, int]:
        example = getattr(self._model, "example_input_array", None)
        if example is None:
            return {}
        from torch.utils.flop_counter import FlopCounterMode

        device = next((p.device for p in self._model.parameters()), torch.device("cpu"))
        from shim.utilities.apply_func import move_data_to_device

        example = move_data_to_device(example, device)
        mode = self._model.training
        self._model.eval()
        counter = FlopCounterMode(display=False)
        try:
            with torch.no_grad(), counter:
                if isinstance(example, (list, tuple)):
                    self._model(*example)
                elif isinstance(example, dict):
                    self._model(**example)
                else:
                    self._model(example)
        finally:
            self._model.train(mode)
        counts = counter.get_flop_counts()
        root = type(self._model).__name__
        result = {}
        for key, by_op in counts.items():
            name = key[len(root) + 1 :] if key.startswith(root + ".") else ("" if key == root else key)
            result[name] = int(sum(by_op.values()))
        return result

    @property
    def layer_names(self) -> list[str]:
        return [name for name, _ in self._layers()]

    @property
    def layer_types(self) -> list[str]:
        return [type(m).__name__ for _, m in self._layers()]

    @property
    def param_nums(self) -> list[int]:
        return [_count(m.parameters()) for _, m in self._layers()]

    @property
    def training_modes(self) -> list[bool]:
        return [m.training for _, m in self._layers()]

    @property
    def total_parameters(self) -> int:
        return _count(self._model.parameters())

    @property
    def trainable_parameters(self) -> int:
        return _count(p for p in self._model.parameters() if p.requires_grad)

    @property
    def total_layer_params(self) -> int:
        return sum(self.param_nums)

    @property
    def model_size(self) -> float:
        """Size of the parameters in MB, assuming the Trainer's precision (32 bits unless told otherwise)."""
        trainer = getattr(self._model, "_trainer", None)
        bits = 32
        if trainer is not None:
            precision = str(trainer.precision)
            bits = 64 if precision.startswith("64") else 16 if precision.startswith(("16", "bf16")) else 32
        return self.total_parameters * bits / 8 * 1e-6

    @property
    def total_training_modes(self) -> dict[str, int]:
        modes = [m.training for name, m in self._model.named_modules() if name]
        return {"train": sum(modes), "eval": len(modes) - sum(modes)}

    @property
    def total_flops(self) -> int:
        return self._flops.get("", 0)

    def rows(self) -> list[tuple[str, list[str]]]:
        layers = self._layers()
        return [
            (" ", [str(i) for i in range(len(layers))]),
            ("Name", [name for name, _ in layers]),
            ("Type", [type(m).__name__ for _, m in layers]),
            ("Params", [get_human_readable_count(n) for n in self.param_nums]),
            ("Mode", ["train" if m.training else "eval" for _, m in layers]),
            ("FLOPs", [get_human_readable_count(self._flops.get(name, 0)) for name, _ in layers]),
        ]

    def __str__(self) -> str:
        return format_summary_table(
            self.rows(),
            self.total_parameters,
            self.trainable_parameters,
            self.model_size,
            self.total_training_modes,
            self.total_flops,
        )

    def __repr__(self) -> str:
        return str(self)


def format_summary_table(
    summary_data: list[tuple[str, list[str]]],
    total_parameters: int,
    trainable_parameters: int,
    model_size: float,
    total_training_modes: dict[str, int],
    total_flops: int,
) -> str:
    """The plain-text table of ``summary_data`` (the columns from ``ModelSummary.rows()``) and the totals below it."""
    widths = [max([len(header)] + [len(v) for v in values]) for header, values in summary_data]
    # the rule is as wide as the header line plus three characters per column (as Lightning prints it)
    rule = "-" * (sum(widths) + 3 * (len(summary_data) + 1))
    lines = [" | ".join(h.ljust(w) for (h, _), w in zip(summary_data, widths, strict=True)), rule]
    n_rows = len(summary_data[0][1]) if summary_data else 0
    if n_rows:
        for i in range(n_rows):
            lines.append(" | ".join(values[i].ljust(w) for (_, values), w in zip(summary_data, widths, strict=True)))
        lines.append(rule)
    lines += [
        f"{get_human_readable_count(trainable_parameters):<10}Trainable params",
        f"{get_human_readable_count(total_parameters - trainable_parameters):<10}Non-trainable params",
        f"{get_human_readable_count(total_parameters):<10}Total params",
        f"{get_formatted_model_size(model_size):<10}Total estimated model params size (MB)",
        f"{total_training_modes['train']:<10}Modules in train mode",
        f"{total_training_modes['eval']:<10}Modules in eval mode",
        f"{get_human_readable_count(total_flops):<10}Total Flops",
    ]
    return "\n".join(lines)


def summarize(lightning_module: nn.Module, max_depth: int = 1) -> ModelSummary:
    """Build the summary of ``lightning_module``."""
    return ModelSummary(lightning_module, max_depth=max_depth)
