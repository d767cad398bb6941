"""What a new Trainer tells the user about this machine's accelerators: which exist and which one it uses."""

from shim.accelerators.accelerator import Accelerator
from shim.accelerators.cuda import CUDAAccelerator
from shim.accelerators.mps import MPSAccelerator
from shim.accelerators.xla import XLAAccelerator
from shim.utilities.rank_zero import PossibleUserWarning, rank_zero_info, rank_zero_warn

__all__ = ["report_devices"]


def report_devices(accelerator: Accelerator | None) -> None:
    """Log (rank zero, INFO) whether a GPU and a TPU exist and are used; warn when one exists but is left idle.

    Lightning reports the same two facts when a Trainer is built, and warns (``PossibleUserWarning`` for a GPU,
    ``UserWarning`` for a TPU) when the run does not use an accelerator the machine has.
    """
    gpu_kind = "cuda" if CUDAAccelerator.is_available() else "mps" if MPSAccelerator.is_available() else None
    uses_gpu = isinstance(accelerator, (CUDAAccelerator, MPSAccelerator))
    kind = f" ({gpu_kind})" if gpu_kind else ""
    rank_zero_info(f"GPU on this machine: {gpu_kind is not None}{kind}; the run uses it: {uses_gpu}")
    # shim cannot train on TPUs (XLAAccelerator refuses to be built), so none is ever in use
    has_tpu = XLAAccelerator.is_available()
    rank_zero_info(f"TPU on this machine: {has_tpu}; TPU cores the run uses: 0")
    if gpu_kind is not None and not uses_gpu:
        rank_zero_warn(
            f"This machine has a GPU ({gpu_kind}) that the run does not use; pass `Trainer(accelerator='gpu')`"
            " to train on it.",
            category=PossibleUserWarning,
        )
    if has_tpu:
        rank_zero_warn("This machine has a TPU that the run does not use; shim cannot train on TPUs yet.")
