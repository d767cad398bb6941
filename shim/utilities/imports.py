"""Availability flags for optional packages and version flags, as ``lightning.pytorch.utilities.imports`` has them.

Each package flag is a :class:`RequirementCache`: it looks the package up only when first read as a bool, so
importing this module imports none of the packages it asks about.
"""

import importlib.util
import operator
import re
import sys
from collections.abc import Callable

import torch

__all__ = ["RequirementCache", "compare_version", "package_available"]


def _release(version: str) -> tuple[int, ...]:
    """The numeric release part of a version string: ``"2.13.0+cpu"`` -> ``(2, 13, 0)``."""
    match = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def package_available(name: str) -> bool:
    """Whether the top-level package ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def compare_version(package: str, op: Callable[[tuple[int, ...], tuple[int, ...]], bool], version: str) -> bool:
    """``op(installed version of package, version)`` on the release numbers; False when it is not installed."""
    installed = _installed_version(package)
    return installed is not None and op(_release(installed), _release(version))


def _installed_version(package: str) -> str | None:
    if package == "torch":
        return torch.__version__
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


_OPERATORS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, ">": operator.gt, "<": operator.lt}


class RequirementCache:
    """Truthy when a requirement such as ``"rich>=10.2.2"`` or ``"torch>=2.8.0,<2.9.0"`` is installed.

    The check runs once, on first use; ``str()`` says why it failed.
    """

    def __init__(self, requirement: str) -> None:
        self.requirement = requirement
        self._available: bool | None = None
        self._message = ""

    def _check(self) -> bool:
        name, constraints = re.match(r"([A-Za-z0-9_.\-]+)(.*)", self.requirement.strip()).groups()  # type: ignore[union-attr]
        installed = _installed_version(name)
        if installed is None:
            self._message = f"Requirement {self.requirement!r} not met: {name} is not installed."
            return False
        for constraint in filter(None, (part.strip() for part in constraints.split(","))):
            op, version = re.match(r"(>=|<=|==|>|<)\s*(.+)", constraint).groups()  # type: ignore[union-attr]
            if not _OPERATORS[op](_release(installed), _release(version)):
                self._message = f"Requirement {self.requirement!r} not met: {name} {installed} is installed."
                return False
        self._message = f"Requirement {self.requirement!r} met."
        return True

    def __bool__(self) -> bool:
        if self._available is None:
            self._available = self._check()
        return self._available

    def __str__(self) -> str:
        bool(self)
        return self._message

    def __repr__(self) -> str:
        return f"RequirementCache({self.requirement!r})"


_PYTHON_GREATER_EQUAL_3_11_0 = sys.version_info >= (3, 11)
_TORCH_GREATER_EQUAL_2_6 = compare_version("torch", operator.ge, "2.6.0")
_TORCH_GREATER_EQUAL_2_8 = compare_version("torch", operator.ge, "2.8.0")
_TORCH_EQUAL_2_8 = RequirementCache("torch>=2.8.0,<2.9.0")
_TORCH_EQUAL_2_9 = RequirementCache("torch>=2.9.0,<2.10.0")
_TORCHMETRICS_GREATER_EQUAL_0_8_0 = RequirementCache("torchmetrics>=0.8.0")
_TORCHMETRICS_GREATER_EQUAL_0_9_1 = RequirementCache("torchmetrics>=0.9.1")
_TORCHMETRICS_GREATER_EQUAL_0_11 = RequirementCache("torchmetrics>=0.11.0")
_TORCHMETRICS_GREATER_EQUAL_1_0_0 = RequirementCache("torchmetrics>=1.0.0")
_OMEGACONF_AVAILABLE = package_available("omegaconf")
_TORCHVISION_AVAILABLE = RequirementCache("torchvision")
_RICH_AVAILABLE = RequirementCache("rich>=10.2.2")


def rich_usable() -> bool:
    """Whether shim draws with ``rich``: a recent enough version is installed and ``import rich`` can work."""
    return bool(_RICH_AVAILABLE) and package_available("rich")
