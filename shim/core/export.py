"""Exporting a LightningModule: TorchScript, ONNX and TensorRT, each from an example input moved to the module.

The ``LightningModule.to_*`` methods call these. Each puts the module in eval mode for the export, gives it back
in the mode it was in, and sends the example input through the module's batch-transfer hooks first, as a batch
would go.
"""

import copy
import os
from collections.abc import Generator
from contextlib import contextmanager, nullcontext
from io import BytesIO
from typing import TYPE_CHECKING, Any

import torch

from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.imports import RequirementCache
from shim.utilities.rank_zero import rank_zero_deprecation

if TYPE_CHECKING:
    from shim.core.module import LightningModule

__all__ = ["to_onnx", "to_tensorrt", "to_torchscript"]

_ONNX_AVAILABLE = RequirementCache("onnx")
_ONNXSCRIPT_AVAILABLE = RequirementCache("onnxscript")
_TORCH_TRT_AVAILABLE = RequirementCache("torch_tensorrt")


@contextmanager
def _eval_then_restore(module: "LightningModule") -> Generator[None, None, None]:
    mode = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(mode)


def _example_on_device(module: "LightningModule", example: Any, given_as: str, target: str) -> Any:
    """The example input (``module.example_input_array`` when ``example`` is None), through the transfer hooks.

    Raises:
        ValueError: If there is no example input at all.
    """
    if example is None:
        example = module.example_input_array
        if example is None:
            raise ValueError(
                f"Exporting to {target} needs an example input: pass `{given_as}=...` or set"
                f" `{type(module).__name__}.example_input_array`."
            )
    example = module._on_before_batch_transfer(example)
    return module._apply_batch_transfer_handler(example)


@torch.no_grad()
def to_torchscript(
    module: "LightningModule",
    file_path: str | os.PathLike[str] | None = None,
    method: str | None = "script",
    example_inputs: Any | None = None,
    **kwargs: Any,
) -> Any:
    """The module compiled with ``torch.jit.script`` (``method="script"``) or traced (``"trace"``), saved if asked.

    Raises:
        ValueError: For another ``method``, or for tracing without an example input.
    """
    rank_zero_deprecation(
        "`LightningModule.to_torchscript` is deprecated since Lightning 2.7 and goes away in 2.8, following PyTorch's"
        " deprecation of TorchScript; export with `torch.export.export()` instead."
    )
    from shim.core.module import _jit_is_scripting

    if method == "script":
        with _eval_then_restore(module), _jit_is_scripting():
            scripted = torch.jit.script(module, **kwargs)
    elif method == "trace":
        example = _example_on_device(module, example_inputs, "example_inputs", "TorchScript by tracing")
        if kwargs.get("check_inputs") is not None:
            kwargs["check_inputs"] = module._apply_batch_transfer_handler(
                module._on_before_batch_transfer(kwargs["check_inputs"])
            )
        with _eval_then_restore(module), _jit_is_scripting():
            scripted = torch.jit.trace(func=module, example_inputs=example, **kwargs)
    else:
        raise ValueError(f"to_torchscript(method={method!r}) is not supported; use 'script' or 'trace'.")
    if file_path is not None:
        with open(os.fspath(file_path), "wb") as file:
            torch.jit.save(scripted, file)
    return scripted


@torch.no_grad()
def to_onnx(
    module: "LightningModule",
    file_path: str | os.PathLike[str] | BytesIO | None = None,
    input_sample: Any | None = None,
    **kwargs: Any,
) -> Any:
    """``torch.onnx.export`` of the module on ``input_sample`` (or its ``example_input_array``); ``kwargs`` go to it.

    Raises:
        ModuleNotFoundError: If ``onnx`` (or, with ``dynamo=True``, ``onnxscript``) is not installed.
        ValueError: If there is no example input.
    """
    name = type(module).__name__
    if not _ONNX_AVAILABLE:
        raise ModuleNotFoundError(f"`{name}.to_onnx()` needs the `onnx` package, which is not installed.")
    if kwargs.get("dynamo", False) and not _ONNXSCRIPT_AVAILABLE:
        raise ModuleNotFoundError(
            f"`{name}.to_onnx(dynamo=True)` needs the `onnxscript` package, which is not installed."
        )
    example = _example_on_device(module, input_sample, "input_sample", "ONNX")
    if isinstance(file_path, os.PathLike):
        file_path = os.fspath(file_path)
    with _eval_then_restore(module):
        return torch.onnx.export(module, example, file_path, **kwargs)  # type: ignore[arg-type]


@torch.no_grad()
def to_tensorrt(
    module: "LightningModule",
    file_path: str | os.PathLike[str] | BytesIO | None = None,
    input_sample: Any | None = None,
    ir: str = "default",
    output_format: str = "exported_program",
    retrace: bool = False,
    default_device: str | torch.device = "cuda",
    **compile_kwargs: Any,
) -> Any:
    """Compile the module with ``torch_tensorrt`` on a CUDA device and save it if asked.

    A module on another device is compiled on ``default_device`` and moved back afterwards.

    Raises:
        ModuleNotFoundError: If ``torch_tensorrt`` is not installed.
        MisconfigurationException: If no CUDA device is available to compile on.
        ValueError: If there is no example input, or ``ir="ts"`` is asked to save another format than TorchScript.
    """
    if not _TORCH_TRT_AVAILABLE:
        raise ModuleNotFoundError(
            f"`{type(module).__name__}.to_tensorrt()` needs the `torch_tensorrt` package, which is not installed."
        )
    device = module.device
    if device.type != "cuda":
        target = torch.device(default_device) if isinstance(default_device, str) else default_device
        if not torch.cuda.is_available() or target.type != "cuda":
            raise MisconfigurationException(
                f"TensorRT compiles on CUDA only: the module is on {device} and default_device={default_device!r};"
                " pass a CUDA device as `default_device` on a machine that has one."
            )
        module.to(target)
    if input_sample is None and module.example_input_array is None:
        raise ValueError(
            "Exporting to TensorRT needs an example input: pass `input_sample=...` or set"
            f" `{type(module).__name__}.example_input_array`."
        )
    sample = input_sample if input_sample is not None else module.example_input_array
    sample = copy.deepcopy((sample,) if isinstance(sample, torch.Tensor) else sample)
    sample = _example_on_device(module, sample, "input_sample", "TensorRT")

    import torch_tensorrt

    from shim.core.module import _jit_is_scripting

    with _eval_then_restore(module), _jit_is_scripting() if ir == "ts" else nullcontext():
        compiled = torch_tensorrt.compile(module=module, ir=ir, inputs=sample, **compile_kwargs)
    module.to(device)
    if file_path is not None:
        if ir == "ts":
            if output_format != "torchscript":
                raise ValueError(
                    f"to_tensorrt(ir='ts') saves TorchScript only; output_format={output_format!r} is not possible."
                )
            torch.jit.save(compiled, file_path)
        else:
            torch_tensorrt.save(compiled, file_path, inputs=sample, output_format=output_format, retrace=retrace)
    return compiled
