"""``ModelPruning``: prune a model's weights with ``torch.nn.utils.prune`` while it trains.

At the end of each training epoch (or of each validation epoch, with ``prune_on_train_epoch_end=False``) the
callback masks a further ``amount`` of the chosen parameters, either across all of them at once (global) or layer by
layer. Optionally it then rewinds the surviving weights to their values before training (the lottery ticket
hypothesis). Pruned parameters live as ``<name>_orig`` plus a ``<name>_mask`` buffer until the pruning is made
permanent: at the end of ``fit``, and in every checkpoint it saves, without touching the training model.
"""

import inspect
import logging
from collections.abc import Callable, Sequence
from copy import deepcopy
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

import torch
import torch.nn.utils.prune as torch_prune
from torch import nn
from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import current_rank, get_logger, rank_zero_debug

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["ModelPruning"]

log: logging.Logger = get_logger(__name__)

Target: TypeAlias = tuple[nn.Module, str]
Targets: TypeAlias = Sequence[Target]
Amount: TypeAlias = int | float
PerEpoch: TypeAlias = Callable[[int], Any]

# each built-in name -> (the function that prunes one tensor, the method class global pruning needs)
_BUILT_IN: dict[str, tuple[Callable[..., Any], type[torch_prune.BasePruningMethod]]] = {
    "l1_unstructured": (torch_prune.l1_unstructured, torch_prune.L1Unstructured),
    "random_unstructured": (torch_prune.random_unstructured, torch_prune.RandomUnstructured),
    "ln_structured": (torch_prune.ln_structured, torch_prune.LnStructured),
    "random_structured": (torch_prune.random_structured, torch_prune.RandomStructured),
}


def _is_method_class(value: Any) -> bool:
    return inspect.isclass(value) and issubclass(value, torch_prune.BasePruningMethod)


def _per_epoch(setting: Any, epoch: int) -> Any:
    """A setting that may be a constant or a function of the epoch, read for ``epoch``."""
    return setting(epoch) if callable(setting) else setting


def _zeros_and_size(module: nn.Module, name: str) -> tuple[int, int]:
    """How many entries of ``module.<name>`` are masked, and of how many (an unpruned tensor counts as one entry)."""
    mask = getattr(module, f"{name}_mask", None)
    if mask is None:
        return 0, 1
    return int((mask == 0).sum().item()), mask.numel()


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.2%}" if whole else "0.00%"


class ModelPruning(Callback):
    """Prunes parameters with ``torch.nn.utils.prune`` during training (see the module docstring for when).

    ``pruning_fn`` is one of ``"l1_unstructured"``, ``"random_unstructured"``, ``"ln_structured"`` (needs
    ``pruning_dim`` and ``pruning_norm``), ``"random_structured"`` (needs ``pruning_dim``), or a
    ``BasePruningMethod`` subclass (global pruning only). ``parameters_to_prune`` lists ``(module, "weight")``
    pairs; left empty, every ``weight``/``bias`` named by ``parameter_names`` is pruned, which subclasses narrow
    with ``filter_parameters_to_prune``. ``amount`` (a fraction, a count, or a function of the epoch),
    ``apply_pruning`` and ``use_lottery_ticket_hypothesis`` may each be a function of the epoch. ``verbose=1`` logs
    the overall sparsity after each pruning, ``verbose=2`` also each tensor's.
    """

    PARAMETER_NAMES = ("weight", "bias")

    def __init__(
        self,
        pruning_fn: Callable[..., Any] | str,
        parameters_to_prune: Targets = (),
        parameter_names: list[str] | None = None,
        use_global_unstructured: bool = True,
        amount: Amount | Callable[[int], Amount] = 0.5,
        apply_pruning: bool | Callable[[int], bool] = True,
        make_pruning_permanent: bool = True,
        use_lottery_ticket_hypothesis: bool | Callable[[int], bool] = True,
        resample_parameters: bool = False,
        pruning_dim: int | None = None,
        pruning_norm: int | None = None,
        verbose: int = 0,
        prune_on_train_epoch_end: bool = True,
    ) -> None:
        self._names = tuple(parameter_names or self.PARAMETER_NAMES)
        unknown = [name for name in self._names if name not in self.PARAMETER_NAMES]
        if unknown:
            raise MisconfigurationException(
                f"ModelPruning prunes only parameters named {self.PARAMETER_NAMES}; got parameter_names={unknown}."
            )
        self._global = use_global_unstructured
        self._method_name: str
        self.pruning_fn: Callable[..., Any] = self._resolve_method(pruning_fn, pruning_dim, pruning_norm)
        if self._global and getattr(self.pruning_fn, "PRUNING_TYPE", None) != "unstructured":
            raise MisconfigurationException(
                f"Global pruning (use_global_unstructured=True) needs an unstructured method, but {self._method_name}"
                f" has PRUNING_TYPE={getattr(self.pruning_fn, 'PRUNING_TYPE', None)!r}. Pass"
                " use_global_unstructured=False to prune each tensor on its own."
            )
        if not (isinstance(amount, (int, float)) or callable(amount)):
            raise MisconfigurationException(
                f"ModelPruning's `amount` is a fraction (float), a count (int) or a function of the epoch: {amount!r}."
            )
        if verbose not in (0, 1, 2):
            raise MisconfigurationException(f"ModelPruning's `verbose` is 0, 1 or 2; got {verbose!r}.")
        self.amount = amount
        self._requested: Targets = parameters_to_prune
        self._targets: Targets = parameters_to_prune
        self._when = apply_pruning
        self._permanent = make_pruning_permanent
        self._rewind = use_lottery_ticket_hypothesis
        self._resample = resample_parameters
        self._verbose = verbose
        self._on_train_epoch_end = prune_on_train_epoch_end
        # id(module) -> (a copy of the module taken before training, [(index into the targets, parameter name)])
        self._initial: dict[int, tuple[nn.Module, list[tuple[int, str]]]] = {}

    def _resolve_method(self, pruning_fn: Any, dim: int | None, norm: int | None) -> Callable[..., Any]:
        """The callable pruning uses: a method class for global pruning, a one-tensor function otherwise."""
        if _is_method_class(pruning_fn):
            if not self._global:
                raise MisconfigurationException(
                    f"A custom pruning method ({pruning_fn.__name__}) works only with use_global_unstructured=True."
                )
            self._method_name = pruning_fn.__name__
            return pruning_fn
        if not isinstance(pruning_fn, str):
            raise MisconfigurationException(
                f"`pruning_fn` takes one of {sorted(_BUILT_IN)} or a subclass of torch's BasePruningMethod (the class"
                f" itself, not an instance); got {pruning_fn!r}."
            )
        key = pruning_fn.lower()
        if key not in _BUILT_IN:
            raise MisconfigurationException(f"Unknown pruning_fn {pruning_fn!r}: pick one of {sorted(_BUILT_IN)}.")
        options: dict[str, int] = {}
        if key.endswith("_structured"):
            if dim is None:
                raise MisconfigurationException(f"{key} prunes along a dimension: pass `pruning_dim` as well.")
            if key == "ln_structured":
                if norm is None:
                    raise MisconfigurationException("ln_structured ranks channels by a norm: pass `pruning_norm` too.")
                options["n"] = norm
            options["dim"] = dim
        function, method = _BUILT_IN[key]
        if self._global:
            self._method_name = method.__name__
            return method
        self._method_name = function.__name__
        return partial(function, **options)

    def filter_parameters_to_prune(self, parameters_to_prune: Targets = ()) -> Targets:
        """Override to narrow the ``(module, name)`` pairs found in ``setup``; returns them unchanged by default."""
        return parameters_to_prune

    @staticmethod
    def sanitize_parameters_to_prune(
        pl_module: "LightningModule", parameters_to_prune: Targets = (), parameter_names: Sequence[str] = ()
    ) -> Targets:
        """Check user-given ``(module, name)`` pairs against the model, or list every prunable pair when none are given.

        Containers (the LightningModule, ``Sequential``, ``ModuleList``, ``ModuleDict``) are not pruning targets
        themselves; of the other modules, each attribute named in ``parameter_names`` that is an ``nn.Parameter``
        is one.
        """
        from shim.core.module import LightningModule

        names = parameter_names or ModelPruning.PARAMETER_NAMES
        containers = (LightningModule, nn.Sequential, nn.ModuleList, nn.ModuleDict)
        leaves = [m for m in pl_module.modules() if not isinstance(m, containers)]
        if not parameters_to_prune:
            return [(m, name) for name in names for m in leaves if isinstance(getattr(m, name, None), nn.Parameter)]
        well_formed = isinstance(parameters_to_prune, (list, tuple)) and all(
            isinstance(pair, (list, tuple))
            and len(pair) == 2
            and isinstance(pair[0], nn.Module)
            and isinstance(pair[1], str)
            for pair in parameters_to_prune
        )
        if not well_formed:
            raise MisconfigurationException(
                "`parameters_to_prune` is a list of (nn.Module, parameter name) pairs, or empty to prune the whole"
                f" model; got {parameters_to_prune!r}."
            )
        foreign = [m for m, _ in parameters_to_prune if not any(m is leaf for leaf in leaves)]
        absent = [name for m, name in parameters_to_prune if m not in foreign and not hasattr(m, name)]
        if foreign or absent:
            raise MisconfigurationException(
                f"Some `parameters_to_prune` are not in the model: modules {foreign}, parameter names {absent}."
            )
        return parameters_to_prune

    def make_pruning_permanent(self, module: nn.Module) -> None:
        """Fold every mask under ``module`` into its parameter and drop the pruning reparametrization."""
        for sub in module.modules():
            masked = [b[: -len("_mask")] for b, _ in sub.named_buffers(recurse=False) if b.endswith("_mask")]
            for name in masked:
                if hasattr(sub, f"{name}_orig"):
                    torch_prune.remove(sub, name)

    def apply_pruning(self, amount: Amount) -> None:
        """Prune ``amount`` more of the targets, globally or tensor by tensor, and log the sparsity if asked to."""
        before = [_zeros_and_size(m, n) for m, n in self._targets] if self._verbose else []
        if self._global:
            accepted = inspect.signature(self.pruning_fn).parameters
            options = {"amount": amount} if "amount" in accepted else {}
            torch_prune.global_unstructured(self._targets, pruning_method=self.pruning_fn, **options)
        else:
            for module, name in self._targets:
                self.pruning_fn(module, name=name, amount=amount)
        if self._verbose:
            self._log_sparsity(before, [_zeros_and_size(m, n) for m, n in self._targets], amount)

    def _log_sparsity(self, before: list[tuple[int, int]], after: list[tuple[int, int]], amount: Amount) -> None:
        if current_rank() != 0:
            return
        total = sum(size for _, size in after)
        zeros_before = sum(z for z, _ in before)
        zeros_after = sum(z for z, _ in after)
        log.info(
            f"ModelPruning ({self._method_name}): {zeros_before}/{total} entries zero ({_share(zeros_before, total)})"
            f" before, {zeros_after}/{total} ({_share(zeros_after, total)}) after"
        )
        if self._verbose < 2:
            return
        for (module, name), (z0, size0), (z1, size1) in zip(self._targets, before, after, strict=True):
            log.info(
                f"ModelPruning ({self._method_name}, amount={amount}) on {module!r}.{name}: {z0} zero"
                f" ({_share(z0, size0)}) before, {z1} ({_share(z1, size1)}) after"
            )

    def apply_lottery_ticket_hypothesis(self) -> None:
        """Rewind the surviving weights to their values before training (or, with ``resample_parameters``, to a fresh
        initialisation); the masks stay as they are."""
        for snapshot, entries in self._initial.values():
            source = snapshot
            if self._resample and callable(getattr(snapshot, "reset_parameters", None)):
                source = deepcopy(snapshot)
                source.reset_parameters()  # type: ignore[operator]
            for index, name in entries:
                module = self._targets[index][0]
                value = getattr(source, name, None)
                stored = getattr(module, f"{name}_orig", None)
                if stored is None:
                    stored = getattr(module, name, None)
                if isinstance(value, torch.Tensor) and isinstance(stored, torch.Tensor):
                    # a copy, so the snapshot keeps the initial values for the next rewind
                    stored.data = value.detach().to(stored.device, copy=True)

    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        found = self.sanitize_parameters_to_prune(pl_module, self._requested, parameter_names=self._names)
        self._targets = self.filter_parameters_to_prune(found)
        self._initial = {}
        if not self._rewind:
            return
        for index, (module, name) in enumerate(self._targets):
            entry = self._initial.setdefault(id(module), (deepcopy(module), []))
            entry[1].append((index, name))

    def _prune_for_epoch(self, epoch: int) -> None:
        amount = _per_epoch(self.amount, epoch)
        if not _per_epoch(self._when, epoch) or not amount:
            return
        self.apply_pruning(amount)
        if _per_epoch(self._rewind, epoch):
            self.apply_lottery_ticket_hypothesis()

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._on_train_epoch_end:
            rank_zero_debug("ModelPruning: pruning at the end of the training epoch")
            self._prune_for_epoch(pl_module.current_epoch)

    @override
    def on_validation_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not self._on_train_epoch_end and not trainer.sanity_checking:
            rank_zero_debug("ModelPruning: pruning at the end of the validation epoch")
            self._prune_for_epoch(pl_module.current_epoch)

    @override
    def on_train_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._permanent:
            rank_zero_debug("ModelPruning: making the pruning permanent at the end of training")
            self.make_pruning_permanent(pl_module)

    @override
    def on_save_checkpoint(self, trainer: "Trainer", pl_module: "LightningModule", checkpoint: dict[str, Any]) -> None:
        if not self._permanent:
            return
        # fold the masks into a copy of the weights only: training goes on with the model's masks in place
        state = pl_module.state_dict()
        folded: dict[str, Any] = {}
        for key, value in state.items():
            if key.endswith("_mask") and key[: -len("_mask")] + "_orig" in state:
                continue
            if key.endswith("_orig") and key[: -len("_orig")] + "_mask" in state:
                base = key[: -len("_orig")]
                key, value = base, state[f"{base}_mask"].to(dtype=value.dtype) * value
            folded[key] = value.cpu() if isinstance(value, torch.Tensor) else value
        checkpoint["state_dict"] = folded
