"""Lightning 2.6.6 public names that shim deliberately lacks for now, each with the reason.

tests/test_exports.py fails on a missing name that is not listed here, and on a listed name that shim now has.
A whole missing module is listed once under its own path.
"""

_NOT_YET = "not implemented yet"
_NO_DEPENDENCY = "needs a third-party service or library that shim does not depend on"
_NOT_IN_SCOPE = "hardware or large-model strategy outside shim's scope (single device, DDP, AMP)"
_NOT_API = "helper Lightning uses internally; scripts do not import it"

GAPS: dict[str, str] = {
    # accelerators
    "pytorch_lightning.accelerators.find_usable_cuda_devices": _NOT_YET,
    # callbacks
    "pytorch_lightning.callbacks.SpikeDetection": _NOT_YET,
    # core
    # demos
    "pytorch_lightning.demos.boring_classes.DemoModel": _NOT_YET,
    "pytorch_lightning.demos.boring_classes.Net": _NOT_YET,
    # loggers
    "pytorch_lightning.loggers.CometLogger": _NO_DEPENDENCY,
    "pytorch_lightning.loggers.LitLogger": _NO_DEPENDENCY,
    # plugins
    "pytorch_lightning.plugins.AsyncCheckpointIO": _NOT_YET,
    "pytorch_lightning.plugins.BitsandbytesPrecision": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.CheckpointIO": _NOT_YET,
    "pytorch_lightning.plugins.DeepSpeedPrecision": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.FSDPPrecision": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.LayerSync": _NOT_YET,
    "pytorch_lightning.plugins.TorchCheckpointIO": _NOT_YET,
    "pytorch_lightning.plugins.TorchSyncBatchNorm": _NOT_YET,
    "pytorch_lightning.plugins.TransformerEnginePrecision": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.XLACheckpointIO": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.XLAPrecision": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.precision.BitsandbytesPrecision": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.precision.DeepSpeedPrecision": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.precision.FSDPPrecision": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.precision.TransformerEnginePrecision": _NOT_IN_SCOPE,
    "pytorch_lightning.plugins.precision.XLAPrecision": _NOT_IN_SCOPE,
    # profilers
    "pytorch_lightning.profilers.XLAProfiler": _NOT_IN_SCOPE,
    # strategies
    "pytorch_lightning.strategies.DeepSpeedStrategy": _NOT_IN_SCOPE,
    "pytorch_lightning.strategies.FSDPStrategy": _NOT_IN_SCOPE,
    "pytorch_lightning.strategies.ModelParallelStrategy": _NOT_IN_SCOPE,
    "pytorch_lightning.strategies.ParallelStrategy": _NOT_YET,
    # trainer
    "pytorch_lightning.trainer.seed_everything": _NOT_YET,
    # utilities
    "pytorch_lightning.utilities.find_shared_parameters": _NOT_YET,
    "pytorch_lightning.utilities.grad_norm": _NOT_YET,
    "pytorch_lightning.utilities.is_shared_filesystem": _NOT_YET,
    "pytorch_lightning.utilities.set_shared_parameters": _NOT_YET,
    "pytorch_lightning.utilities.model_summary.DeepSpeedSummary": _NOT_IN_SCOPE,
    "pytorch_lightning.utilities.model_summary.LayerSummary": _NOT_YET,
    "pytorch_lightning.utilities.model_summary.parse_batch_shape": _NOT_YET,
    "pytorch_lightning.utilities.rank_zero.rank_prefixed_message": _NOT_YET,
}
