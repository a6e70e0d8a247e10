"""The shipped rubric and checklist (files in fixtures/), installed by a data migration.

The builders take the model classes as arguments so that the migration can pass its historical
models and services the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"
DEFAULT_RUBRIC_FILE = FIXTURES_DIR / "rubric_aesrm_video_v1.json"
DEFAULT_CHECKLIST_FILE = FIXTURES_DIR / "checklist_visionreward_video_v1.json"
ROLE_GROUPS = ("expert", "curator", "ml_engineer")


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def rubric_build(data: dict, *, rubric_model, dimension_model, criterion_model):
    rubric = rubric_model.objects.create(
        slug=data["slug"], version=data["version"], title=data["title"], description=data.get("description", "")
    )
    default_guidance = data.get("guidance", "")
    for dimension_order, dimension_data in enumerate(data["dimensions"]):
        dimension = dimension_model.objects.create(
            rubric=rubric,
            code=dimension_data["code"],
            name=dimension_data["name"],
            description=dimension_data.get("description", ""),
            order=dimension_order,
        )
        criterion_model.objects.bulk_create(
            criterion_model(
                dimension=dimension,
                code=criterion_data["code"],
                name=criterion_data["name"],
                definition=criterion_data["definition"],
                guidance=criterion_data.get("guidance", default_guidance),
                order=criterion_order,
            )
            for criterion_order, criterion_data in enumerate(dimension_data["criteria"])
        )
    return rubric


def checklist_build(data: dict, *, checklist_model, question_model):
    checklist = checklist_model.objects.create(
        slug=data["slug"], version=data["version"], title=data["title"], description=data.get("description", "")
    )
    order = 0
    for sub in data["sub_dimensions"]:
        created = []
        for option in sub["options"]:
            created.append(
                question_model.objects.create(
                    checklist=checklist,
                    dimension=sub["dimension"],
                    sub_dimension=sub["sub_dimension"],
                    option=option["option"],
                    level=option["level"],
                    text=option["text"],
                    order=order,
                )
            )
            order += 1
        if sub.get("presence_question"):
            presence = min(created, key=lambda question: question.level)
            for question in created:
                if question.pk != presence.pk:
                    question.not_applicable_when = presence
                    question.save(update_fields=["not_applicable_when"])
    return checklist


def install(get_model) -> None:
    """Create the role groups, default rubric and default checklist where missing (idempotent).

    `get_model(app_label, model_name)`: a migration's `apps.get_model`, or `django.apps.apps.get_model`.
    """
    group_model = get_model("auth", "Group")
    for name in ROLE_GROUPS:
        group_model.objects.get_or_create(name=name)

    rubric_model = get_model("annotation", "Rubric")
    rubric_data = load_json(DEFAULT_RUBRIC_FILE)
    if not rubric_model.objects.filter(slug=rubric_data["slug"], version=rubric_data["version"]).exists():
        rubric_build(
            rubric_data,
            rubric_model=rubric_model,
            dimension_model=get_model("annotation", "Dimension"),
            criterion_model=get_model("annotation", "Criterion"),
        )

    checklist_model = get_model("annotation", "Checklist")
    checklist_data = load_json(DEFAULT_CHECKLIST_FILE)
    if not checklist_model.objects.filter(slug=checklist_data["slug"], version=checklist_data["version"]).exists():
        checklist_build(
            checklist_data, checklist_model=checklist_model, question_model=get_model("annotation", "ChecklistQuestion")
        )
