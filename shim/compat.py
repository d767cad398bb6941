"""The import hook that lets unmodified Lightning scripts run on shim, and the command that re-runs such a script.

``install()`` puts a finder at the front of ``sys.meta_path`` that answers ``import pytorch_lightning``,
``import lightning.pytorch`` and ``import lightning`` (the ``Trainer``/``LightningModule`` part of the umbrella
package) with stand-in modules that forward to shim. Every ``pytorch_lightning.X`` path maps to ``shim.X``, and every
``lightning_fabric.X`` / ``lightning.fabric.X`` path to ``shim.fabric.X`` (the Fabric helpers Trainer scripts
import). A name or module that Lightning 2.6.6 has and shim lacks raises an error saying "shim does not implement
... yet"; so does ``Fabric`` itself.

Under the redirect, ``pytorch_lightning.__version__`` (and ``lightning.pytorch``'s, and ``lightning``'s) is the
Lightning release whose API shim mirrors, so that a script's version checks take their current-Lightning branch;
``shim.__version__`` stays shim's own.

Nothing is redirected until ``install()`` runs: ``shim run`` calls it, and so does ``import shim`` when the
environment variable ``SHIM_COMPAT=1`` is set (``shim run`` sets it, so processes a run starts inherit the redirect).
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["ENV_VAR", "install", "is_installed", "script_command", "uninstall"]

ENV_VAR = "SHIM_COMPAT"

# Lightning's import spellings and the shim package each one stands for.
_ALIASES = {
    "lightning.pytorch": "shim",
    "pytorch_lightning": "shim",
    "lightning.fabric": "shim.fabric",
    "lightning_fabric": "shim.fabric",
}
_FABRIC = "shim.fabric"
_STANDALONE_ROOTS = ("pytorch_lightning", "lightning_fabric")
_UMBRELLA = "lightning"
# What the umbrella ``lightning`` package exports at top level.
_UMBRELLA_NAMES = frozenset(
    {"Callback", "Fabric", "LightningDataModule", "LightningModule", "Trainer", "seed_everything"}
)


def _not_implemented(path: str) -> str:
    return f"shim does not implement {path} yet"


def _public_module(target: str, relative: str, alias: str) -> str:
    """How the user's Lightning path reads in a message: ``pytorch_lightning.X``, or Fabric's as the user spelled it."""
    root = alias if target == _FABRIC else "pytorch_lightning"
    return root + (f".{relative}" if relative else "")


def _is_lightning_module(target: str, relative: str) -> bool:
    if target == _FABRIC:  # only Fabric's helpers are here: any other public Fabric module is one shim lacks
        return not any(part.startswith("_") for part in relative.split("."))
    from shim._lightning_names import MODULES

    return relative in MODULES


def _is_lightning_name(target: str, relative: str, name: str) -> bool:
    if target == _FABRIC:
        return not name.startswith("_")
    from shim._lightning_names import NAMES

    return name in NAMES.get(relative, frozenset())


class _AliasModule(ModuleType):
    """A module registered under a Lightning path that forwards every attribute to its shim counterpart."""

    def __init__(self, name: str, target: ModuleType, relative: str, root: str, alias: str) -> None:
        super().__init__(name, target.__doc__)
        self.__dict__["_shim_target"] = target
        self.__dict__["_shim_relative"] = relative
        self.__dict__["_shim_root"] = root
        self.__dict__["_shim_alias"] = alias

    def __getattr__(self, name: str) -> Any:
        target: ModuleType = self.__dict__["_shim_target"]
        if name == "__version__" and not self.__dict__["_shim_relative"] and self.__dict__["_shim_root"] == "shim":
            # a script's "Lightning >= X" check asks about the API it runs on: the Lightning release shim mirrors
            from shim._lightning_names import LIGHTNING_VERSION

            return LIGHTNING_VERSION
        try:
            value = getattr(target, name)
        except AttributeError:
            relative: str = self.__dict__["_shim_relative"]
            root: str = self.__dict__["_shim_root"]
            if _is_lightning_name(root, relative, name):
                public = _public_module(root, relative, self.__dict__["_shim_alias"])
                raise AttributeError(_not_implemented(f"{public}.{name}")) from None
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None
        if isinstance(value, ModuleType) and value.__name__ == f"{target.__name__}.{name}":
            # A shim subpackage: hand out its stand-in, so the user never sees a mix of the two names.
            return importlib.import_module(f"{self.__name__}.{name}")
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self.__dict__["_shim_target"])) | set(self.__dict__))

    def __repr__(self) -> str:
        return f"<module {self.__name__!r} (shim stand-in for {self.__dict__['_shim_target'].__name__!r})>"


class _UmbrellaModule(ModuleType):
    """The umbrella ``lightning`` package: its top-level Trainer API and its ``pytorch`` subpackage."""

    def __init__(self, name: str) -> None:
        super().__init__(name, "shim standing in for the `lightning` package (its lightning.pytorch part).")
        self.__dict__["__all__"] = sorted(name for name in _UMBRELLA_NAMES if name != "Fabric")

    def __getattr__(self, name: str) -> Any:
        if name in ("pytorch", "fabric"):
            return importlib.import_module(f"{_UMBRELLA}.{name}")
        if name == "__version__":
            from shim._lightning_names import LIGHTNING_VERSION

            return LIGHTNING_VERSION
        if name in _UMBRELLA_NAMES:
            import shim

            if hasattr(shim, name):
                return getattr(shim, name)
            raise AttributeError(_not_implemented(f"{_UMBRELLA}.{name}"))
        raise AttributeError(f"module {_UMBRELLA!r} has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<module {_UMBRELLA!r} (shim stand-in)>"


class _LightningFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds Lightning's module paths and loads them as stand-ins for the matching shim modules."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == _UMBRELLA:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        for alias in _ALIASES:
            if fullname == alias or fullname.startswith(f"{alias}."):
                return self._alias_spec(fullname, alias)
        if fullname.startswith(f"{_UMBRELLA}."):
            child = fullname.split(".")[1]
            if child in _UMBRELLA_NAMES:
                raise ImportError(_not_implemented(f"{_UMBRELLA}.{child}"), name=fullname)
        return None

    def _alias_spec(self, fullname: str, alias: str) -> importlib.machinery.ModuleSpec | None:
        relative = fullname[len(alias) + 1 :]
        shim_name = _ALIASES[alias] + (f".{relative}" if relative else "")
        try:
            found = importlib.util.find_spec(shim_name)
        except ModuleNotFoundError:  # a parent along the way is a name, not a package
            found = None
        if found is not None:
            # Every stand-in gets a __path__ so that `from X import Name` on a missing Name comes back here.
            spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            spec.loader_state = (shim_name, relative, _ALIASES[alias], alias)
            return spec
        root = _ALIASES[alias]
        if _is_lightning_module(root, relative):
            raise ImportError(_not_implemented(_public_module(root, relative, alias)), name=fullname)
        parent, _, name = relative.rpartition(".")
        if _is_lightning_name(root, parent, name):
            raise ImportError(_not_implemented(f"{_public_module(root, parent, alias)}.{name}"), name=fullname)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        if spec.loader_state is None:
            return _UmbrellaModule(spec.name)
        shim_name, relative, root, alias = spec.loader_state
        return _AliasModule(spec.name, importlib.import_module(shim_name), relative, root, alias)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the stand-in forwards to a shim module that is already imported."""


_FINDER = _LightningFinder()
# Lightning modules that were imported before install(); they come back into sys.modules on uninstall().
_shadowed: dict[str, ModuleType] = {}


def _is_redirected_name(name: str) -> bool:
    return name == _UMBRELLA or name.startswith(f"{_UMBRELLA}.") or name.split(".")[0] in _STANDALONE_ROOTS


def is_installed() -> bool:
    """Whether the Lightning imports currently resolve to shim."""
    return _FINDER in sys.meta_path


def install() -> None:
    """Resolve ``pytorch_lightning``, ``lightning_fabric`` and ``lightning`` imports to shim from now on.

    Calling it again does nothing. Lightning modules imported earlier are set aside (and restored by
    :func:`uninstall`), so the next ``import pytorch_lightning`` gives shim even in a process that loaded Lightning.
    """
    if is_installed():
        return
    for name in [name for name in sys.modules if _is_redirected_name(name)]:
        _shadowed[name] = sys.modules.pop(name)
    sys.meta_path.insert(0, _FINDER)
    importlib.invalidate_caches()


def uninstall() -> None:
    """Undo :func:`install`: drop the stand-in modules and bring back any Lightning modules it set aside."""
    if not is_installed():
        return
    sys.meta_path.remove(_FINDER)
    for name, module in list(sys.modules.items()):
        if isinstance(module, _AliasModule | _UmbrellaModule):
            del sys.modules[name]
    sys.modules.update(_shadowed)
    _shadowed.clear()


def install_from_environment() -> None:
    """Install the hook when ``SHIM_COMPAT=1`` (called by ``import shim``)."""
    if os.environ.get(ENV_VAR) == "1":
        install()


def script_command() -> list[str]:
    """The command that starts the running script again in a new process, e.g. for another DDP rank.

    Under ``shim run`` (``SHIM_COMPAT=1``) the script goes through ``python -m shim run`` again, so the new
    process resolves Lightning imports to shim too. Otherwise it is the plain command Lightning's launcher uses:
    ``python -m package ...`` for a module run with ``-m``, else ``python /abs/script.py ...``.
    """
    script = os.path.abspath(sys.argv[0])
    if os.environ.get(ENV_VAR) == "1":
        return [sys.executable, "-m", "shim", "run", script, *sys.argv[1:]]
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if main_spec is not None and main_spec.name:
        module = main_spec.name.removesuffix(".__main__")
        return [sys.executable, "-m", module, *sys.argv[1:]]
    return [sys.executable, script, *sys.argv[1:]]
