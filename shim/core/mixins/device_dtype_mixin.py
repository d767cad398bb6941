"""The ``device`` and ``dtype`` of a LightningModule, known also when it has no parameters to ask."""

from typing import Any

import torch
from torch import nn
from typing_extensions import Self, override

__all__: list[str] = []


class _DeviceDtypeMixin(nn.Module):
    """Remembers the device and dtype the module was created on or moved to.

    ``.to()``, ``.cuda()``, ``.cpu()``, ``.type()``, ``.float()``, ``.double()`` and ``.half()`` update every such
    module in the tree without moving anything themselves (the ``nn.Module`` method does that).
    """

    __jit_unused_properties__: list[str] = ["device", "dtype"]

    def __init__(self) -> None:
        super().__init__()
        self._dtype: str | torch.dtype = torch.get_default_dtype()
        # the default device, so a module built under `with torch.device("cuda"):` (Trainer.init_module) knows it
        self._device = torch.get_default_device()

    @property
    def device(self) -> torch.device:
        """Where the module is; a CUDA device always with its index."""
        device = self._device
        if device.type == "cuda" and device.index is None:
            return torch.device("cuda", torch.cuda.current_device())
        return device

    @property
    def dtype(self) -> str | torch.dtype:
        """The dtype the module was last cast to (the default dtype when it was built, until then)."""
        return self._dtype

    @dtype.setter
    def dtype(self, value: str | torch.dtype) -> None:
        raise RuntimeError(f"`dtype` cannot be set to {value!r} directly; cast the module with `.to({value!r})`.")

    @override
    def to(self, *args: Any, **kwargs: Any) -> Self:
        device, dtype = torch._C._nn._parse_to(*args, **kwargs)[:2]
        self._update(device, dtype)
        return super().to(*args, **kwargs)

    @override
    def cuda(self, device: torch.device | int | None = None) -> Self:
        if device is None:
            device = torch.device("cuda", torch.cuda.current_device())
        elif isinstance(device, int):
            device = torch.device("cuda", device)
        self._update(device)
        return super().cuda(device)

    @override
    def cpu(self) -> Self:
        self._update(torch.device("cpu"))
        return super().cpu()

    @override
    def type(self, dst_type: str | torch.dtype) -> Self:
        self._update(dtype=dst_type)
        return super().type(dst_type)

    @override
    def float(self) -> Self:
        self._update(dtype=torch.float)
        return super().float()

    @override
    def double(self) -> Self:
        self._update(dtype=torch.double)
        return super().double()

    @override
    def half(self) -> Self:
        self._update(dtype=torch.half)
        return super().half()

    def _update(self, device: torch.device | None = None, dtype: str | torch.dtype | None = None) -> None:
        for module in self.modules():
            if isinstance(module, _DeviceDtypeMixin):
                if device is not None:
                    module._device = torch.device(device)
                if dtype is not None:
                    module._dtype = dtype
