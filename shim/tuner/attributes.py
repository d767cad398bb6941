"""Where a tuned hyper-parameter (``batch_size``, ``lr``) lives: the model, the datamodule, or their hparams."""

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shim.core.module import LightningModule

__all__ = ["lightning_getattr", "lightning_hasattr", "lightning_setattr"]


def _holds(holder: Any, name: str) -> bool:
    return name in holder if isinstance(holder, MutableMapping) else hasattr(holder, name)


def attribute_holders(model: "LightningModule", name: str) -> list[Any]:
    """Every object or dict that holds ``name``, in Lightning's order: model, its hparams, datamodule, its hparams."""
    candidates: list[Any] = [model, getattr(model, "hparams", None)]
    trainer = model._trainer
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    if datamodule is not None:
        candidates += [datamodule, getattr(datamodule, "hparams", None)]
    holders = []
    for index, holder in enumerate(candidates):
        if holder is None:
            continue
        # the model and the datamodule count by attribute, their hparams by key (or attribute of a Namespace)
        if (index % 2 == 0 and hasattr(holder, name)) or (index % 2 == 1 and _holds(holder, name)):
            holders.append(holder)
    return holders


def _missing(name: str) -> AttributeError:
    return AttributeError(
        f"No attribute {name!r} to use: the model, its `hparams`, the datamodule and the datamodule's `hparams` all"
        " lack it."
    )


def lightning_hasattr(model: "LightningModule", name: str) -> bool:
    """Whether the model, its hparams, the datamodule or the datamodule's hparams hold ``name``."""
    return bool(attribute_holders(model, name))


def lightning_getattr(model: "LightningModule", name: str) -> Any:
    """The value of ``name`` from the last place that holds it (the datamodule wins over the model, as in Lightning).

    Raises:
        AttributeError: If no place holds ``name``.
    """
    holders = attribute_holders(model, name)
    if not holders:
        raise _missing(name)
    holder = holders[-1]
    return holder[name] if isinstance(holder, MutableMapping) else getattr(holder, name)


def lightning_setattr(model: "LightningModule", name: str, value: Any) -> None:
    """Set ``name`` to ``value`` in every place that holds it.

    Raises:
        AttributeError: If no place holds ``name``.
    """
    holders = attribute_holders(model, name)
    if not holders:
        raise _missing(name)
    for holder in holders:
        if isinstance(holder, MutableMapping):
            holder[name] = value
        else:
            setattr(holder, name, value)
