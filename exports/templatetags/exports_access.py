from django import template

from exports.selectors import user_can_export

register = template.Library()


@register.filter
def can_export(user) -> bool:
    return user_can_export(user=user)
