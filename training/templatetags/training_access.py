from django import template

from training.selectors import user_can_train

register = template.Library()


@register.filter
def can_train(user) -> bool:
    return user_can_train(user=user)
