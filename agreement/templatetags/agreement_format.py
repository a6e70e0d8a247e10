from django import template

register = template.Library()


@register.filter
def number(value, digits: int = 3) -> str:
    """A statistic to `digits` decimals, or an en dash where it is not defined."""
    return "–" if value is None else f"{value:.{int(digits)}f}"


@register.filter
def percent(value) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


@register.filter
def verdict(value) -> str:
    return {1: "A", 0: "=", -1: "B"}.get(value, "–")
