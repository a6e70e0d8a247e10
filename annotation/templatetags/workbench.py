from django import template

register = template.Library()


@register.filter
def form_value(form, name: str) -> str:
    """The value a judgment-form field shows: submitted data when bound, else its initial value."""
    if form.is_bound:
        return form.data.get(name, "")
    return form.initial.get(name, "")


@register.filter
def question_text(question, prompt: str) -> str:
    return question.text_for(prompt)
