"""Gradient norms per parameter and in total, for logging."""

import torch
from torch import Tensor
from torch.nn import Module

__all__ = ["grad_norm"]


def grad_norm(module: Module, norm_type: float | int | str, group_separator: str = "/") -> dict[str, Tensor]:
    """The ``norm_type``-norm of each parameter's gradient, and of all of them together (``..._norm_total``).

    Raises:
        ValueError: If ``norm_type`` is not a positive number or ``'inf'``.
    """
    order = float(norm_type)
    if not order > 0:
        raise ValueError(f"grad_norm(norm_type={norm_type!r}): use a positive number or 'inf'")
    norms = {
        f"grad_{order}_norm{group_separator}{name}": p.grad.detach().norm(order)
        for name, p in module.named_parameters()
        if p.grad is not None
    }
    if norms:
        norms[f"grad_{order}_norm_total"] = torch.stack(list(norms.values())).norm(order)
    return norms
