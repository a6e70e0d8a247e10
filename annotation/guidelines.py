"""A campaign's guidelines as HTML: its curators' Markdown, sanitised, with their example pairs shown in place.

An example pair is named in the Markdown by its pair id (the manifest's pair_id), on a line of its own or inline:

    [[pair:dusk-0042]]
    [[pair:dusk-0042 | Judge the water, not the sky.]]

It is shown as the pair's two posters, its prompt and the note after `|`. Experts judge blind, so the pair id
itself never appears on the page, only what the pair shows. Example pairs must belong to the same campaign.

Order matters for safety: the Markdown is rendered and sanitised first (nh3 drops scripts, event handlers and
javascript: links), and only then are the shortcodes, which are plain text by that point, replaced by HTML from
our own template, where every value is escaped again.
"""

from __future__ import annotations

import html
import re

import markdown
import nh3
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from annotation.models import Campaign, VideoPair

# nh3's defaults allow no scripts, styles, forms or event-handler attributes; links may only use these schemes.
LINK_SCHEMES = {"http", "https", "mailto"}
MARKDOWN_EXTENSIONS = ["extra", "sane_lists"]

# After sanitising, `[[pair:ID | note]]` is text, with &, < and > escaped; a shortcode alone on its line is a
# paragraph of its own, which is replaced whole (a <figure> may not sit inside a <p>).
_SHORTCODE = r"\[\[pair:\s*(?P<external_id>[^\]|<>]+?)\s*(?:\|\s*(?P<note>[^\]<>]*?)\s*)?\]\]"
SHORTCODE_PATTERN = re.compile(rf"<p>\s*{_SHORTCODE}\s*</p>|{_SHORTCODE.replace('?P<', '?P<inline_')}")


def markdown_to_safe_html(source: str) -> str:
    """Markdown rendered to HTML that keeps no script, no event handler and no javascript: link."""
    rendered = markdown.markdown(source, extensions=MARKDOWN_EXTENSIONS, output_format="html")
    return nh3.clean(rendered, url_schemes=LINK_SCHEMES, link_rel="noopener noreferrer nofollow")


def example_pair_ids(source_html: str) -> list[str]:
    """The pair ids the shortcodes of sanitised HTML name, in order."""
    ids = []
    for match in SHORTCODE_PATTERN.finditer(source_html):
        ids.append(html.unescape(match.group("external_id") or match.group("inline_external_id")))
    return ids


def guidelines_html(*, campaign: Campaign) -> SafeString:
    """The campaign's guidelines, ready to show to any of its members."""
    body = markdown_to_safe_html(campaign.guidelines)
    wanted = example_pair_ids(body)
    pairs = {
        pair.external_id: pair
        for pair in VideoPair.objects.filter(campaign=campaign, external_id__in=wanted).select_related(
            "video_a", "video_b"
        )
    }

    def example(match: re.Match) -> str:
        external_id = html.unescape(match.group("external_id") or match.group("inline_external_id"))
        note = html.unescape(match.group("note") or match.group("inline_note") or "")
        return render_to_string(
            "annotation/_guidelines_example_pair.html",
            {"pair": pairs.get(external_id), "note": note, "missing_id": external_id},
        )

    return mark_safe(SHORTCODE_PATTERN.sub(example, body))  # noqa: S308 - sanitised above, our template below
