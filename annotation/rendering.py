"""HTML for the checklist panel, built in Python: 64 questions x 2 videos x 3 answers is the
bulk of the workbench page, and Django's template engine spends most of a request on it."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

ANSWER_LABELS = (("yes", "Yes"), ("no", "No"), ("na", "N/A"))


def _choices_html(name: str, value: str, read_only: bool) -> SafeString:
    disabled = " disabled" if read_only else ""
    return format_html_join(
        "",
        '<label><input type="radio" form="judgment-form" name="{}" value="{}"{}{}><span>{}</span></label>',
        (
            (name, answer, mark_safe(" checked") if value == answer else "", mark_safe(disabled), label)
            for answer, label in ANSWER_LABELS
        ),
    )


def checklist_side_html(*, groups: list[dict], side: str, values: dict, prompt: str, read_only: bool) -> SafeString:
    parts = []
    for group in groups:
        rows = []
        for question in group["questions"]:
            name = f"checklist-{side}-{question.id}"
            gated = (
                format_html(' data-gated-by="{}"', question.not_applicable_when_id)
                if question.not_applicable_when_id
                else ""
            )
            rows.append(
                format_html(
                    '<div class="cl-row" tabindex="0" data-row="checklist" data-question="{}" data-group="{}|{}" '
                    'data-level="{}"{}><span class="cl-text">{}</span><span class="wb-choices">{}</span></div>',
                    question.id,
                    side,
                    group["sub_dimension"],
                    question.level,
                    gated,
                    question.text_for(prompt),
                    _choices_html(name, values.get(name, ""), read_only),
                )
            )
        parts.append(
            format_html(
                '<div class="cl-group"><div class="cl-group-title"><span class="muted">{}</span> {}</div>{}</div>',
                group["dimension"],
                group["sub_dimension"],
                mark_safe("".join(rows)),
            )
        )
    return format_html(
        '<div class="wb-checklist-side" data-checklist-side="{}"{}>{}</div>',
        side,
        mark_safe(" hidden") if side == "right" else "",
        mark_safe("".join(parts)),
    )
