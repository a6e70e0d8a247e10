from django import template

from agreement.selectors import user_can_view_agreement

register = template.Library()


@register.filter
def can_view_agreement(user) -> bool:
    return user_can_view_agreement(user=user)
