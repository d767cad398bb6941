"""``Tqdm``: the tqdm bar class TQDMProgressBar draws, and ``convert_inf`` for totals tqdm cannot show."""

import math

from tqdm import tqdm as _tqdm

__all__ = ["Tqdm", "convert_inf"]

_WIDTH = 5  # metric values are padded to this many characters, so the postfix does not jitter as they change


class Tqdm(_tqdm):
    """A tqdm bar whose shown numbers keep their width: ``1.0`` is ``1.000`` and ``0.1`` is ``0.100``."""

    @staticmethod
    def format_num(n: int | float | str) -> str:
        """tqdm's compact number, with floats and numeric strings padded with zeros to five characters."""
        text = n if isinstance(n, str) else _tqdm.format_num(n)
        if isinstance(n, int) or "e" in text:
            return text
        if "." not in text:
            try:
                float(text)
            except ValueError:
                return text
            if len(text) < _WIDTH:
                text += "."
        return text.ljust(_WIDTH, "0")


def convert_inf(x: int | float | None) -> int | float | None:
    """``None`` for an unknown, infinite or NaN total (tqdm then shows no total); else ``x``."""
    if x is None or math.isinf(x) or math.isnan(x):
        return None
    return x
