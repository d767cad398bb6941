"""Progress bars. ``RichProgressBar`` loads on first use (PEP 562), so the tqdm bar never imports ``rich``."""

from typing import TYPE_CHECKING, Any

from shim.callbacks.progress.progress_bar import ProgressBar
from shim.callbacks.progress.tqdm_progress import TQDMProgressBar

if TYPE_CHECKING:
    from shim.callbacks.progress.rich_progress import RichProgressBar

__all__ = ["ProgressBar", "RichProgressBar", "TQDMProgressBar"]


def __getattr__(name: str) -> Any:
    if name == "RichProgressBar":
        from shim.callbacks.progress.rich_progress import RichProgressBar

        return RichProgressBar
    raise AttributeError(f"module 'shim.callbacks.progress' has no attribute {name!r}")
