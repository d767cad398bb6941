"""Lightning's import paths resolve in shim: each public name exists at the same path, or is a listed gap."""

import importlib
import pkgutil
from types import ModuleType

import pytest

import shim
from shim._lightning_names import MODULES, NAMES
from tests.export_gaps import GAPS
from tests.lightning_names import TRACKED_MODULES, build_table, full_name, public_names


def _shim_module(relative: str) -> ModuleType | None:
    try:
        return importlib.import_module("shim" + (f".{relative}" if relative else ""))
    except ModuleNotFoundError:
        return None


def _missing(lightning: ModuleType, relative: str) -> set[str]:
    """The Lightning paths of this module's public names (or of the module itself) that shim lacks."""
    module = _shim_module(relative)
    if module is None:
        return {full_name(relative)}
    names = public_names(importlib.import_module(full_name(relative)))
    if relative == "":
        names.append("__version__")
    return {f"{full_name(relative)}.{name}" for name in names if not hasattr(module, name)}


def _listed(relative: str) -> set[str]:
    prefix = full_name(relative)
    return {
        path
        for path in GAPS
        if path == prefix or (path.startswith(f"{prefix}.") and path[len(prefix) + 1 :] in NAMES.get(relative, ()))
    }


@pytest.mark.parametrize("relative", TRACKED_MODULES, ids=lambda r: r or "pytorch_lightning")
def test_lightning_names_exist_in_shim_or_are_listed_gaps(lightning: ModuleType, relative: str) -> None:
    missing = _missing(lightning, relative)
    listed = _listed(relative)
    assert not missing - listed, "shim lacks these Lightning names; add them or list them in tests/export_gaps.py"
    assert not listed - missing, "shim has these now; remove them from tests/export_gaps.py"


def test_every_gap_names_a_tracked_lightning_path() -> None:
    tracked = {full_name(relative) for relative in TRACKED_MODULES}
    for path in GAPS:
        parent, _, name = path.rpartition(".")
        assert path in tracked or (parent in tracked and name in NAMES[parent.removeprefix("pytorch_lightning.")]), path
    assert all(reason.strip() for reason in GAPS.values())


def test_runtime_table_matches_installed_lightning(lightning: ModuleType) -> None:
    """shim/_lightning_names.py is what `python -m tests.lightning_names` generates from the installed Lightning."""
    modules, names = build_table()
    assert lightning.__version__ == "2.6.6"
    assert set(modules) == set(MODULES)
    assert {relative: frozenset(values) for relative, values in names.items()} == NAMES


def _shim_modules() -> list[str]:
    found = ["shim"]
    for info in pkgutil.walk_packages(shim.__path__, prefix="shim."):
        if info.name != "shim.__main__":
            found.append(info.name)
    return sorted(found)


@pytest.mark.parametrize("name", _shim_modules())
def test_every_shim_all_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    declared = getattr(module, "__all__", [])
    assert len(declared) == len(set(declared)), f"{name}.__all__ repeats a name"
    assert [entry for entry in declared if not hasattr(module, entry)] == []
