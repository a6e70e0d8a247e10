import math
from numbers import Real

from django import template

register = template.Library()


def _defined(value) -> bool:
    """A statistic that can be printed: a finite number. A pair nobody judged yet has no consensus, and the
    template passes its missing agreement as "" (string_if_invalid), not None."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


@register.filter
def number(value, digits: int = 3) -> str:
    """A statistic to `digits` decimals, or an en dash where it is not defined."""
    return f"{value:.{int(digits)}f}" if _defined(value) else "–"


@register.filter
def percent(value) -> str:
    return f"{100 * value:.0f}%" if _defined(value) else "–"


@register.filter
def verdict(value) -> str:
    return {1: "A", 0: "=", -1: "B"}.get(value, "–")
