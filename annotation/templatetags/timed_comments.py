"""The time-stamped notes include (annotation/_timed_comments.html) fetches its own rows, so a page shows them
with one include line and no change to its view."""

from django import template

from annotation import selectors

register = template.Library()


@register.simple_tag
def pair_timed_comments(pair) -> list[dict]:
    """Every expert's notes on the pair: see annotation.selectors.timed_comments_by_expert."""
    return selectors.timed_comments_by_expert(pair=pair)
