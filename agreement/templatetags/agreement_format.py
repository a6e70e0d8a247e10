import math
from datetime import datetime
from numbers import Real

from django import template
from django.utils import timezone

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


@register.filter
def age(moment: datetime | None) -> str:
    """How long ago, briefly: "just now", "40 s ago", "2 min ago", "3 h ago", "5 days ago"."""
    if moment is None:
        return "never"
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    days = seconds // 86400
    return f"{days} day{'s' if days > 1 else ''} ago"
