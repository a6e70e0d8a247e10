from django import template

from distillation.selectors import user_can_audit, user_can_distill

register = template.Library()


@register.filter
def can_distill(user) -> bool:
    return user_can_distill(user=user)


@register.filter
def can_audit(user) -> bool:
    return user_can_audit(user=user)
