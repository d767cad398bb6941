"""String enums that compare equal to their value in any letter case, and the gradient clipping algorithms."""

import warnings
from enum import Enum
from typing import Literal

__all__ = ["GradClipAlgorithmType", "LightningEnum"]

_Source = Literal["key", "value", "any"]


class LightningEnum(str, Enum):
    """A ``str`` enum: ``GradClipAlgorithmType.NORM == "NORM" == "norm"``, and it hashes as its lower-cased value."""

    @classmethod
    def from_str(cls, value: str, source: _Source = "key") -> "LightningEnum":
        """The member named (``source="key"``), valued (``"value"``) or either (``"any"``, names first) ``value``.

        Names match in any letter case, values exactly.

        Raises:
            ValueError: If nothing matches; the message lists what would.
        """
        if source in ("key", "any"):
            for name in cls.__members__:
                if name.lower() == value.lower():
                    return cls[name]
        if source in ("value", "any"):
            for name, member in cls.__members__.items():
                if member == value:
                    return cls[name]
        raise ValueError(f"{value!r} is not a {cls.__name__}; expected one of {cls._allowed_matches(source)}.")

    @classmethod
    def try_from_str(cls, value: str, source: _Source = "key") -> "LightningEnum | None":
        """``from_str``, or ``None`` with a warning when nothing matches."""
        try:
            return cls.from_str(value, source)
        except ValueError:
            warnings.warn(
                UserWarning(f"{value!r} is not a {cls.__name__}; expected one of {cls._allowed_matches(source)}."),
                stacklevel=2,
            )
        return None

    @classmethod
    def _allowed_matches(cls, source: str) -> list[str]:
        names = list(cls.__members__)
        values = [member.value for member in cls.__members__.values()]
        return names if source == "key" else values if source == "value" else names + values

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Enum):
            other = other.value
        return bool(self.value.lower() == str(other).lower())

    def __hash__(self) -> int:
        return hash(self.value.lower())


class GradClipAlgorithmType(LightningEnum):
    """How gradients are clipped: ``NORM`` scales them so their global norm is at most the limit, ``VALUE`` clamps each
    element into ``[-limit, limit]``."""

    VALUE = "value"
    NORM = "norm"

    @staticmethod
    def supported_type(val: str) -> bool:
        """Whether ``val`` is exactly one of the values, ``"value"`` or ``"norm"``."""
        return any(member.value == val for member in GradClipAlgorithmType)

    @staticmethod
    def supported_types() -> list[str]:
        """The values: ``["value", "norm"]``."""
        return [member.value for member in GradClipAlgorithmType]
