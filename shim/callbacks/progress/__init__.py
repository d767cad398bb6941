"""Progress bars."""

from shim.callbacks.progress.progress_bar import ProgressBar
from shim.callbacks.progress.tqdm_progress import TQDMProgressBar

__all__ = ["ProgressBar", "TQDMProgressBar"]
