"""Numbers and words as the pages show them, one format everywhere."""

from __future__ import annotations


def percent(probability: float, decimals: int = 1) -> str:
    """A probability as a percentage that never rounds up to a certain 100% nor down to an impossible 0%."""
    step = 10.0**-decimals
    if probability * 100 >= 100 - step / 2:
        return f">{100 - step:.{decimals}f}%"
    if probability * 100 < step / 2:  # a softmax is never 0: an exact 0 is float rounding
        return f"<{step:.{decimals}f}%"
    return f"{probability:.{decimals}%}"


def share(value: float) -> str:
    """A rate measured on a data set, always with one decimal: "97.2%", "100.0%"."""
    return f"{value:.1%}"


def count(value: int) -> str:
    """A count with thousands separators: "6,114"."""
    return f"{value:,}"


def plural(number: int, word: str) -> str:
    """ "1 drawing", "2 drawings"."""
    return f"{number:,} {word}{'' if number == 1 else 's'}"


def minutes(seconds: float) -> str:
    """A duration for people: seconds under two minutes, minutes above."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
