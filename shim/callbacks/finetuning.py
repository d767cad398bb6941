"""``BaseFinetuning`` and ``BackboneFinetuning``: freeze parts of a model before training and thaw them later.

A finetuning callback freezes modules in ``setup`` (before ``configure_optimizers`` runs, so the optimizer can leave
frozen parameters out) and, at the start of every training epoch, may unfreeze some and give them to an optimizer
as a new parameter group. The groups it added are saved in checkpoints by parameter name, so a resumed run rebuilds
them before the optimizer states are loaded.
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

import torch
from torch.nn import Module, ModuleDict
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer
from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import get_logger, rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["BackboneFinetuning", "BaseFinetuning", "multiplicative"]

log: logging.Logger = get_logger(__name__)

# a module, or an arbitrarily nested iterable of modules
Modules: TypeAlias = Module | Iterable[Any]


def multiplicative(epoch: int) -> float:
    """``BackboneFinetuning``'s default schedule: the backbone's learning rate doubles every epoch."""
    return 2.0


class BaseFinetuning(Callback):
    """The base of callbacks that freeze modules before training and unfreeze them during it.

    Subclasses implement ``freeze_before_training(pl_module)``, called in ``setup``, and
    ``finetune_function(pl_module, epoch, optimizer)``, called for each optimizer at the start of every training
    epoch. Unfrozen parameters reach an optimizer through ``unfreeze_and_add_param_group``; build the optimizer in
    ``configure_optimizers`` from the parameters that still require gradients, e.g.
    ``SGD(filter(lambda p: p.requires_grad, self.parameters()), lr=0.1)``.

    The static helpers (``freeze``, ``make_trainable``, ``filter_params``, ...) accept a module or a nested
    iterable of modules and act on its leaf modules and on the modules that hold parameters themselves.
    """

    def __init__(self) -> None:
        # optimizer index -> its parameter groups, with parameter names in place of the tensors
        self._internal_optimizer_metadata: dict[int, list[dict[str, Any]]] = {}
        # set by `load_state_dict`: `on_fit_start` then rebuilds the saved groups
        self._restarting = False

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"internal_optimizer_metadata": self._internal_optimizer_metadata}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restarting = True
        # checkpoints of early Lightning versions saved the groups as the whole state
        self._internal_optimizer_metadata = state_dict.get("internal_optimizer_metadata", state_dict)

    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        self.freeze_before_training(pl_module)

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        # on resume, give each optimizer the groups it had, so its saved state (loaded after this hook) fits
        if self._restarting and self._internal_optimizer_metadata:
            by_name = dict(pl_module.named_parameters())
            for index, optimizer in enumerate(trainer.optimizers):
                groups = self._internal_optimizer_metadata.get(index)
                if groups is not None:
                    optimizer.param_groups = self._map_params(groups, by_name)
        self._restarting = False

    @override
    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        for index, optimizer in enumerate(trainer.optimizers):
            groups_before = len(optimizer.param_groups)
            self.finetune_function(pl_module, trainer.current_epoch, optimizer)
            self._remember_groups(pl_module, index, groups_before, optimizer.param_groups)

    def finetune_function(self, pl_module: "LightningModule", epoch: int, optimizer: Optimizer) -> None:
        """Unfreeze what should train from ``epoch`` on; called for each optimizer when an epoch starts."""
        raise NotImplementedError

    def freeze_before_training(self, pl_module: "LightningModule") -> None:
        """Freeze the modules that should not train at first; called in ``setup``."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------------
    # helpers on modules and parameters
    # ------------------------------------------------------------------------------------------------------
    @staticmethod
    def flatten_modules(modules: Modules) -> list[Module]:
        """The leaf modules of ``modules``, plus every module that holds parameters of its own.

        Args:
            modules: A module, a ``ModuleDict``, or a (nested) iterable of modules.

        Returns:
            The modules, in the order ``Module.modules()`` visits them.
        """
        if isinstance(modules, ModuleDict):
            modules = modules.values()
        if isinstance(modules, Iterable):
            candidates: list[Module] = []
            for item in modules:
                candidates.extend(BaseFinetuning.flatten_modules(item))
        else:
            candidates = list(modules.modules())
        return [m for m in candidates if not list(m.children()) or m._parameters]

    @staticmethod
    def filter_params(modules: Modules, train_bn: bool = True, requires_grad: bool = True) -> Iterator[Any]:
        """Yield the parameters of ``modules`` whose ``requires_grad`` equals ``requires_grad``.

        Args:
            modules: A module or a (nested) iterable of modules.
            train_bn: When False, batch-norm layers are skipped.
            requires_grad: Yield the trainable (True) or the frozen (False) parameters.
        """
        for module in BaseFinetuning.flatten_modules(modules):
            if isinstance(module, _BatchNorm) and not train_bn:
                continue
            # only the module's own parameters: a parent's recursion would yield its children's again
            for param in module.parameters(recurse=False):
                if param.requires_grad == requires_grad:
                    yield param

    @staticmethod
    def make_trainable(modules: Modules) -> None:
        """Unfreeze every parameter of ``modules``; batch-norm layers track running statistics again."""
        for module in BaseFinetuning.flatten_modules(modules):
            if isinstance(module, _BatchNorm):
                module.track_running_stats = True
            for param in module.parameters(recurse=False):
                param.requires_grad = True

    @staticmethod
    def freeze_module(module: Module) -> None:
        """Freeze the parameters ``module`` holds itself; a batch-norm layer stops tracking running statistics."""
        if isinstance(module, _BatchNorm):
            module.track_running_stats = False
        for param in module.parameters(recurse=False):
            param.requires_grad = False

    @staticmethod
    def freeze(modules: Modules, train_bn: bool = True) -> None:
        """Freeze ``modules``.

        Args:
            modules: A module or a (nested) iterable of modules.
            train_bn: Keep batch-norm layers trainable (they are made trainable if they were frozen).
        """
        for module in BaseFinetuning.flatten_modules(modules):
            if isinstance(module, _BatchNorm) and train_bn:
                BaseFinetuning.make_trainable(module)
            else:
                BaseFinetuning.freeze_module(module)

    @staticmethod
    def filter_on_optimizer(optimizer: Optimizer, params: Iterable[Any]) -> list[Any]:
        """The parameters of ``params`` that none of ``optimizer``'s groups holds yet; warns if some were held.

        As in Lightning, a parameter counts as held when a held tensor has the same shape and values.
        """
        held = [p for group in optimizer.param_groups for p in group["params"]]
        new: list[Any] = []
        skipped: list[Any] = []
        for param in params:
            (skipped if any(torch.equal(p, param) for p in held) else new).append(param)
        if skipped:
            rank_zero_warn(
                f"{len(skipped)} of the parameters to unfreeze are already in a parameter group of the"
                f" {type(optimizer).__name__} optimizer and were not added again. To leave frozen parameters out of"
                " the optimizer, build it in `configure_optimizers` from"
                " `filter(lambda p: p.requires_grad, self.parameters())`."
            )
        return new

    @staticmethod
    def unfreeze_and_add_param_group(
        modules: Modules,
        optimizer: Optimizer,
        lr: float | None = None,
        initial_denom_lr: float = 10.0,
        train_bn: bool = True,
    ) -> None:
        """Unfreeze ``modules`` and add their parameters to ``optimizer`` as a new parameter group.

        Args:
            modules: A module or a (nested) iterable of modules.
            optimizer: The optimizer that receives the group.
            lr: The group's learning rate; when None, the first group's learning rate divided by
                ``initial_denom_lr``.
            initial_denom_lr: See ``lr``.
            train_bn: Whether batch-norm parameters join the group.
        """
        BaseFinetuning.make_trainable(modules)
        group_lr = optimizer.param_groups[0]["lr"] / initial_denom_lr if lr is None else float(lr)
        params = BaseFinetuning.filter_params(modules, train_bn=train_bn, requires_grad=True)
        new = BaseFinetuning.filter_on_optimizer(optimizer, params)
        if new:
            optimizer.add_param_group({"params": new, "lr": group_lr})

    # ------------------------------------------------------------------------------------------------------
    # saving the groups by parameter name
    # ------------------------------------------------------------------------------------------------------
    @staticmethod
    def _map_params(groups: list[dict[str, Any]], mapping: dict[Any, Any]) -> list[dict[str, Any]]:
        """Copies of ``groups`` whose ``params`` went through ``mapping`` (tensor -> name, or name -> tensor)."""
        return [
            {**{k: v for k, v in group.items() if k != "params"}, "params": [mapping[p] for p in group["params"]]}
            for group in groups
        ]

    def _remember_groups(
        self, pl_module: "LightningModule", index: int, groups_before: int, groups: list[dict[str, Any]]
    ) -> None:
        """Record optimizer ``index``'s groups: all of them the first time, later the ones added since."""
        names = {param: name for name, param in pl_module.named_parameters()}
        saved = self._internal_optimizer_metadata.get(index)
        if saved is None:
            self._internal_optimizer_metadata[index] = self._map_params(groups, names)
        elif len(groups) != groups_before:
            saved.extend(self._map_params(groups[groups_before:], names))


class BackboneFinetuning(BaseFinetuning):
    """Train the module's ``backbone`` from ``unfreeze_backbone_at_epoch`` on, with a learning rate of its own.

    The backbone is frozen before training. At ``unfreeze_backbone_at_epoch`` it joins each optimizer as a new group
    with learning rate ``backbone_initial_lr`` (or the first group's rate times ``backbone_initial_ratio_lr``); in
    every later epoch its rate is multiplied by ``lambda_func(epoch + 1)``, and with ``should_align`` it never
    exceeds the first group's rate.

    Args:
        unfreeze_backbone_at_epoch: The epoch at which the backbone starts training.
        lambda_func: ``epoch -> factor`` applied to the backbone's learning rate each epoch after unfreezing.
        backbone_initial_ratio_lr: The backbone's starting rate relative to the first group's, when
            ``backbone_initial_lr`` is None.
        backbone_initial_lr: The backbone's starting learning rate.
        should_align: Cap the backbone's learning rate at the first group's.
        initial_denom_lr: Passed to ``unfreeze_and_add_param_group``.
        train_bn: Whether the backbone's batch-norm layers train.
        verbose: Log both learning rates at each epoch from the unfreezing on.
        rounding: Decimal places of the logged learning rates.

    Raises:
        MisconfigurationException: At the start of fit, if the LightningModule has no ``backbone`` attribute that is
            an ``nn.Module``.
    """

    def __init__(
        self,
        unfreeze_backbone_at_epoch: int = 10,
        lambda_func: Callable[[int], float] = multiplicative,
        backbone_initial_ratio_lr: float = 10e-2,
        backbone_initial_lr: float | None = None,
        should_align: bool = True,
        initial_denom_lr: float = 10.0,
        train_bn: bool = True,
        verbose: bool = False,
        rounding: int = 12,
    ) -> None:
        super().__init__()
        self.unfreeze_backbone_at_epoch = unfreeze_backbone_at_epoch
        self.lambda_func = lambda_func
        self.backbone_initial_ratio_lr = backbone_initial_ratio_lr
        self.backbone_initial_lr = backbone_initial_lr
        self.should_align = should_align
        self.initial_denom_lr = initial_denom_lr
        self.train_bn = train_bn
        self.verbose = verbose
        self.rounding = rounding
        self.previous_backbone_lr: float | None = None

    @override
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "previous_backbone_lr": self.previous_backbone_lr}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.previous_backbone_lr = state_dict["previous_backbone_lr"]
        super().load_state_dict(state_dict)

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        backbone = getattr(pl_module, "backbone", None)
        if not isinstance(backbone, Module):
            raise MisconfigurationException(
                f"BackboneFinetuning needs the LightningModule to have a `backbone` attribute that is an nn.Module;"
                f" {type(pl_module).__name__}.backbone is {type(backbone).__name__}."
            )
        super().on_fit_start(trainer, pl_module)

    @override
    def freeze_before_training(self, pl_module: "LightningModule") -> None:
        self.freeze(pl_module.backbone)

    @override
    def finetune_function(self, pl_module: "LightningModule", epoch: int, optimizer: Optimizer) -> None:
        if epoch < self.unfreeze_backbone_at_epoch:
            return
        current_lr = optimizer.param_groups[0]["lr"]
        if epoch == self.unfreeze_backbone_at_epoch:
            backbone_lr = (
                current_lr * self.backbone_initial_ratio_lr
                if self.backbone_initial_lr is None
                else self.backbone_initial_lr
            )
            self.unfreeze_and_add_param_group(
                pl_module.backbone,
                optimizer,
                backbone_lr,
                train_bn=self.train_bn,
                initial_denom_lr=self.initial_denom_lr,
            )
        else:
            if self.previous_backbone_lr is None:
                raise TypeError(
                    f"BackboneFinetuning reached epoch {epoch}, after unfreeze_backbone_at_epoch="
                    f"{self.unfreeze_backbone_at_epoch}, without knowing the backbone's learning rate: resume from a"
                    " checkpoint that holds this callback's state."
                )
            backbone_lr = self.lambda_func(epoch + 1) * self.previous_backbone_lr
            if self.should_align and backbone_lr > current_lr:
                backbone_lr = current_lr
            optimizer.param_groups[-1]["lr"] = backbone_lr
        self.previous_backbone_lr = backbone_lr
        if self.verbose:
            log.info(
                f"Epoch {epoch}: learning rate {round(current_lr, self.rounding)},"
                f" backbone learning rate {round(backbone_lr, self.rounding)}"
            )
