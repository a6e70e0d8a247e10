from django import template

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """An ETA or a time spent: "45 s", "3 min 5 s", "2 h 10 min"; an en dash when unknown."""
    if seconds is None:
        return "–"
    seconds = int(round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@register.filter
def money(value) -> str:
    return "–" if value is None else f"${value:.4f}"


@register.filter
def tick(value) -> str:
    return {True: "✓", False: "✗"}.get(value, "–")
