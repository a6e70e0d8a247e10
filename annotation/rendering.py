"""The workbench's form markup (rubric rows and checklist panels), built in Python.

Rendering 18 rubric rows and 128 checklist questions with radios through Django templates was most of the
workbench's CPU time. The markup depends only on the rubric or checklist and read-only mode (the
pair's prompt is put in per request), so it is built once per version of the definition and cached in Django's
cache for every process and machine (annotation.selectors.definition_cached). It carries no per-assignment
state: which radios are chosen and which rows lack a verdict travel as a small JSON payload
(views.workbench_state) that the page's script applies (static/js/workbench.js)."""

from __future__ import annotations

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from annotation.selectors import definition_cached

ANSWER_CHOICES = (("yes", "Yes", ""), ("no", "No", ""), ("na", "N/A", ""))
PROMPT = "[[prompt]]"  # where checklist texts name the pair's prompt (ChecklistQuestion.text_for)


def _radio_group(*, field: str, choices: tuple, read_only: bool, form_attribute: str = "") -> str:
    """Radios for one field; `choices` are (value, label, title or "")."""
    disabled = mark_safe(" disabled") if read_only else ""
    radios = []
    for value, label, title in choices:
        radios.append(
            format_html(
                '<label{}><input type="radio"{} name="{}" value="{}"{}><span>{}</span></label>',
                format_html(' title="{}"', title) if title else "",
                format_html(' form="{}"', form_attribute) if form_attribute else "",
                field,
                value,
                disabled,
                label,
            )
        )
    return mark_safe("".join(radios))


def _question_row(question: tuple, side: str, read_only: bool, help_text: str) -> str:
    question_id, _dimension, sub_dimension, _option, level, gated_by, text = question
    choices = _radio_group(
        field=f"checklist-{side}-{question_id}",
        choices=ANSWER_CHOICES,
        read_only=read_only,
        form_attribute="judgment-form",  # the checklist sits outside the form element
    )
    gated = format_html(' data-gated-by="{}"', gated_by) if gated_by else ""
    return format_html(
        '<div class="cl-row" tabindex="0" data-row="checklist" data-question="{}" data-group="{}|{}" '
        'data-level="{}" data-help="{}"{}><span class="cl-text">{}</span><span class="wb-choices">{}</span></div>',
        question_id,
        side,
        sub_dimension,
        level,
        help_text,
        gated,
        text,
        choices,
    )


def checklist_question_help(*, question: tuple, levels: int, gate_text: str | None) -> str:
    """What the definition box says about a checklist question: where it sits in the checklist, which option of
    its sub-dimension it asks about, and the progressive rule that answering it applies."""
    _question_id, dimension, sub_dimension, option, level, _gated_by, _text = question
    place = dimension if sub_dimension == dimension else f"{dimension} › {sub_dimension}"
    parts = [f"{place}: option “{option}”, level {level} of {levels}."]
    if levels > 1:
        parts.append("Yes also answers its weaker options yes; no answers its stronger options no.")
    if gate_text:
        parts.append(f"Not applicable when “{gate_text}” is answered no.")
    return " ".join(parts)


def _dimension_section(dimension: str, groups: list[tuple[str, list[str]]]) -> str:
    """A dimension's heading and its sub-dimensions; a sub-dimension named like its dimension gets no title of its
    own (VisionReward's Alignment, Composition and Safety would read "Alignment Alignment")."""
    body = []
    for sub_dimension, rows in groups:
        title = "" if sub_dimension == dimension else format_html('<div class="cl-group-title">{}</div>', sub_dimension)
        body.append(
            format_html(
                '<div class="cl-group" data-sub-dimension="{}">{}{}</div>',
                sub_dimension,
                title,
                mark_safe("".join(rows)),
            )
        )
    return format_html(
        '<section class="cl-dimension" data-dimension="{}"><h3 class="cl-dimension-title">{}</h3>{}</section>',
        dimension,
        dimension,
        mark_safe("".join(body)),
    )


def _side_markup(questions: tuple, prompt: str, side: str, read_only: bool) -> str:
    levels: dict[str, int] = {}
    texts: dict[int, str] = {}
    for question_id, _dimension, sub_dimension, _option, _level, _gated_by, text in questions:
        levels[sub_dimension] = levels.get(sub_dimension, 0) + 1
        texts[question_id] = text.replace("[[prompt]]", prompt)
    dimensions: dict[str, dict[str, list[str]]] = {}
    for question in questions:
        question_id, dimension, sub_dimension, option, level, gated_by, _text = question
        rendered = (question_id, dimension, sub_dimension, option, level, gated_by, texts[question_id])
        help_text = checklist_question_help(
            question=rendered, levels=levels[sub_dimension], gate_text=texts.get(gated_by) if gated_by else None
        )
        row = _question_row(rendered, side, read_only, help_text)
        dimensions.setdefault(dimension, {}).setdefault(sub_dimension, []).append(row)
    body = "".join(_dimension_section(dimension, list(groups.items())) for dimension, groups in dimensions.items())
    return format_html(
        '<div class="wb-checklist-side" data-checklist-side="{}"{}>{}</div>',
        side,
        mark_safe(" hidden") if side == "right" else "",
        mark_safe(body),
    )


def checklist_side_html(*, checklist, questions: list, side: str, prompt: str, read_only: bool) -> SafeString:
    """The checklist of one video (`side` "left" or "right"), no radio chosen: one column, grouped by dimension,
    then sub-dimension, in checklist order. Built once per checklist version with the prompt left as PROMPT; this
    request's prompt, escaped, goes in its place."""
    if checklist is None:
        return mark_safe("")

    def build() -> str:
        key = tuple(
            (q.id, q.dimension, q.sub_dimension, q.option, q.level, q.not_applicable_when_id, q.text) for q in questions
        )
        return str(_side_markup(key, PROMPT, side, read_only))

    markup = definition_cached(definition=checklist, purpose=f"blank-markup-{side}-{read_only}", build=build)
    return mark_safe(markup.replace(PROMPT, str(conditional_escape(prompt))))


VERDICT_CHOICES = (
    ("left", "◀ Left", "Left better (1 or a)"),
    ("same", "=", "Comparable (2 or s)"),
    ("right", "Right ▶", "Right better (3 or d)"),
)


def _verdict_row(*, field: str, code: str, dimension: str, name_html: str, css: str, read_only: bool) -> str:
    """One row of three radios."""
    choices = _radio_group(field=field, choices=VERDICT_CHOICES, read_only=read_only)
    return format_html(
        '<div class="wb-row{}" tabindex="0" data-row="verdict" data-code="{}" data-dimension="{}">'
        '<span class="wb-code">{}</span>{}<span class="wb-choices">{}</span></div>',
        css,
        code,
        dimension,
        code,
        name_html,
        choices,
    )


def _rubric_markup(rubric: tuple, read_only: bool) -> str:
    fieldsets = []
    for code, name, description, criteria in rubric:
        rows = []
        for criterion_code, criterion_name, definition, guidance in criteria:
            guidance_html = format_html("<br><em>{}</em>", guidance) if guidance else ""
            name_html = format_html(
                '<span class="wb-name" tabindex="-1" aria-describedby="def-{}">{}'
                '<span class="wb-def" role="tooltip" id="def-{}">{}{}</span></span>',
                criterion_code,
                criterion_name,
                criterion_code,
                definition,
                guidance_html,
            )
            rows.append(
                _verdict_row(
                    field=f"criterion-{criterion_code}",
                    code=criterion_code,
                    dimension=code,
                    name_html=name_html,
                    css="",
                    read_only=read_only,
                )
            )
        overall = format_html('<span class="wb-name"><strong>Overall {}</strong></span>', name)
        rows.append(
            _verdict_row(
                field=f"dimension-{code}",
                code=code,
                dimension=code,
                name_html=overall,
                css=" wb-verdict",
                read_only=read_only,
            )
        )
        disabled = mark_safe(" disabled") if read_only else ""
        severe = []
        for side, key in (("left", "q"), ("right", "w")):
            field = f"severe-{side}-{code}"
            severe.append(
                format_html(
                    '<label title="{}"><input type="checkbox" name="{}" data-severe="{}"{}> {} video</label>',
                    key,
                    field,
                    side,
                    disabled,
                    side,
                )
            )
        rows.append(
            format_html(
                '<div class="wb-severe"><span class="muted">Severe violation</span>{}</div>', mark_safe("".join(severe))
            )
        )
        fieldsets.append(
            format_html(
                '<fieldset class="wb-dimension" data-dimension="{}"><legend title="{}">{} · {} '
                '<span class="muted">{}</span></legend>{}</fieldset>',
                code,
                description,
                code,
                name,
                description,
                mark_safe("".join(rows)),
            )
        )
    return "".join(fieldsets)


def rubric_form_html(*, rubric, dimensions: list, read_only: bool) -> SafeString:
    """The rubric's fieldsets, no verdict chosen: one row per criterion and per dimension verdict, and the
    severe-violation boxes. Built once per rubric version (definition_cached)."""

    def build() -> str:
        key = tuple(
            (
                dimension.code,
                dimension.name,
                dimension.description,
                tuple((c.code, c.name, c.definition, c.guidance) for c in dimension.criteria.all()),
            )
            for dimension in dimensions
        )
        return _rubric_markup(key, read_only)

    return mark_safe(definition_cached(definition=rubric, purpose=f"blank-markup-{read_only}", build=build))
