from django import template

register = template.Library()


@register.filter
def value_of(values: dict, name: str) -> str:
    """The value a judgment-form field shows (a dict of field name -> value)."""
    return values.get(name, "")
