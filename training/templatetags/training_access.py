from django import template

from training.selectors import user_can_train

register = template.Library()


@register.filter
def can_train(user) -> bool:
    return user_can_train(user=user)


@register.simple_tag
def playground_url(model_id: int | None = None) -> str:
    """The playground's address (settings.PLAYGROUND_URL), with a model picked when given."""
    from django.conf import settings

    return settings.PLAYGROUND_URL + (f"?model={model_id}" if model_id else "")
