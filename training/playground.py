"""The model playground: a Gradio app that judges one pair with a trained reward model.

Mounted under the web app at ``/playground/`` for signed-in ML engineers (``playground_asgi``, used by
webapp/asgi.py): the Django session cookie signs the user in, anyone else gets a 401 (a browser is sent to the
login page). ``manage.py playground [--model RUN_DIR]`` serves the same app alone on 127.0.0.1.

The session cookie is the only credential, so ``PlaygroundGuard`` refuses a POST, PUT, PATCH or DELETE under
/playground/ whose Origin (or, without one, Referer) is not this site or one of CSRF_TRUSTED_ORIGINS (403), and
forbids framing every /playground/ response. A script using gradio_client sends the site as its Origin:
``Client(url, headers={"Cookie": ..., "Origin": "https://aeslab.example.com"})``.

The ``judge`` endpoint (``api_name="/judge"``) takes (model key, pair source, pair id, video A, video B, prompt)
and returns the verdict table, the critique per criterion, the raw answers and a JSON summary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import close_old_connections, connections  # noqa: E402
from django.utils.http import is_same_domain  # noqa: E402
from starlette.datastructures import Headers, MutableHeaders  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402

from rm_training.judging import OrderAnswer, PairJudgement  # noqa: E402
from rm_training.rubric import criterion_name  # noqa: E402
from training import judging  # noqa: E402
from training.models import RegisteredModel  # noqa: E402

PLAYGROUND_PATH = "/playground"
# static/css/aeslab.css's palette and font, so the playground looks like the rest of the app
APP_COLOURS = {"background": "#111418", "panel": "#1a1f26", "line": "#2b323c", "text": "#e6e9ee", "muted": "#8b95a3",
               "accent": "#5aa9ff", "on_accent": "#06121f", "bad": "#f85149"}
APP_FONT = ["system-ui", "-apple-system", "Segoe UI", "sans-serif"]
SOURCE_HELD_OUT = "Pair from the test split"
SOURCE_UPLOAD = "Upload two videos"
DIMENSION_NAMES = {"VA": "Visual aesthetics", "VF": "Visual fidelity", "VP": "Visual plausibility"}
VERDICT_WORDS = {1: "A better", -1: "B better", 0: "comparable"}
LABEL_WORDS = {"A": "A better", "B": "B better", "tie": "comparable"}
VERDICT_COLUMNS = ["Dimension", "Model (A shown first)", "Model (B shown first)", "Same both ways", "Experts",
                   "Reward A", "Reward B"]
CRITERIA_COLUMNS = ["Criterion", "Model verdict", "On video A", "On video B", "Experts"]


@contextlib.contextmanager
def _database_use():
    """Gradio runs handlers in its own threads, outside Django's request cycle: each use opens and closes its
    connection, so no idle connection is left in a thread pool."""
    close_old_connections()
    try:
        yield
    finally:
        connections.close_all()


class ModelCatalog:
    """Which models a user may pick: the registry (optionally limited to the signed-in user's) or one run folder."""

    def __init__(self, *, run_dir: Path | None = None, signed_in_only: bool = True):
        self.run_model = judging.run_folder_model(run_dir) if run_dir else None
        self.signed_in_only = signed_in_only

    def models(self, username: str | None) -> list[judging.PlaygroundModel]:
        if self.run_model is not None:
            return [self.run_model]
        from django.contrib.auth import get_user_model

        from training.selectors import models_for

        with _database_use():
            if not self.signed_in_only:
                return judging.registry_models(queryset=RegisteredModel.objects.all())
            user = get_user_model().objects.filter(username=username, is_active=True).first() if username else None
            return judging.registry_models(queryset=models_for(user=user)) if user is not None else []

    def media_folders(self) -> list[str]:
        """Folders whose videos the players may show: exports, media, and a run folder's own export."""
        from exports.services import exports_root

        folders = [str(exports_root()), str(settings.MEDIA_ROOT)]
        if self.run_model is not None and self.run_model.export_root is not None:
            folders.append(str(self.run_model.export_root))
        return folders

    def get(self, key: str | None, username: str | None) -> judging.PlaygroundModel:
        found = next((model for model in self.models(username) if model.key == key), None)
        if found is None:
            raise judging.PlaygroundError("Pick a model first." if not key else f"Model {key} is not available to you.")
        return found


def _dimension_title(dimension: str) -> str:
    """"VA Visual aesthetics" for a rubric dimension; a checklist model's own dimensions as they are named."""
    if dimension in DIMENSION_NAMES:
        return f"{dimension} {DIMENSION_NAMES[dimension]}"
    return "Overall (total reward)" if dimension == "overall" else dimension


def _verdict_rows(judgement: PairJudgement, experts: judging.ExpertLabels | None) -> list[list]:
    """One row per dimension the model gives a verdict in: the rubric's VA / VF / VP, or a checklist model's
    dimensions and its overall reward."""
    rows = []
    consistent = judgement.swap_consistent()
    for dimension in judgement.original.verdicts:
        rows.append([
            _dimension_title(dimension),
            VERDICT_WORDS[judgement.original.verdicts[dimension]],
            VERDICT_WORDS[judgement.swapped.verdicts[dimension]],
            "yes" if consistent[dimension] else "no (position bias)",
            LABEL_WORDS.get((experts.dimensions if experts else {}).get(dimension), "—"),
            round(judgement.rewards_a[dimension], 4) if judgement.rewards_a else None,
            round(judgement.rewards_b[dimension], 4) if judgement.rewards_b else None,
        ])
    return rows


def _criteria_rows(answer: OrderAnswer, experts: judging.ExpertLabels | None) -> list[list]:
    expert_criteria = experts.criteria if experts else {}
    rows = [
        [f"{item.code} {item.name or criterion_name(item.code)}", VERDICT_WORDS[item.verdict], item.text_a, item.text_b,
         VERDICT_WORDS.get(expert_criteria.get(item.code), "—")]
        for item in answer.criteria
    ]
    if not rows and expert_criteria:  # a model without a critique: still show what the experts said
        rows = [[f"{code} {criterion_name(code)}", "—", "", "", VERDICT_WORDS[value]]
                for code, value in expert_criteria.items()]
    return rows


def _answer_text(judgement: PairJudgement) -> str:
    parts = []
    for title, answer in (("A shown first", judgement.original), ("B shown first", judgement.swapped)):
        if answer.text:
            note = f"  [unreadable: {answer.parse_error}; counted as comparable]" if answer.parse_error else ""
            parts.append(f"--- {title}{note}\n{answer.text}")
    if judgement.critique_a or judgement.critique_b:
        parts.append(f"--- DeScore critique of video A\n{judgement.critique_a}")
        parts.append(f"--- DeScore critique of video B\n{judgement.critique_b}")
    return "\n\n".join(parts) or "(this model writes no text: it scores)"


def _summary(model: judging.PlaygroundModel, pair: judging.PlaygroundPair, judgement: PairJudgement) -> dict:
    def order(answer: OrderAnswer) -> dict:
        return {
            "verdicts": answer.verdicts,
            "margins": answer.margins,
            "criteria": {item.code: item.verdict for item in answer.criteria},
            "parse_error": answer.parse_error,
        }

    return {
        "model": model.label,
        "recipe": judgement.recipe,
        "pair": pair.title,
        "verdicts": judgement.original.verdicts,
        "a_shown_first": order(judgement.original),
        "b_shown_first": order(judgement.swapped),
        "swap_consistent": judgement.swap_consistent(),
        "rewards_a": judgement.rewards_a,
        "rewards_b": judgement.rewards_b,
        "expert_labels": dataclasses.asdict(pair.experts) if pair.experts else None,
        "notes": list(judgement.notes),
    }


def aeslab_theme() -> gr.themes.Base:
    """The app's dark look in both of Gradio's modes: a browser set to light mode sees the same colours."""
    colours = APP_COLOURS
    theme = gr.themes.Base(
        primary_hue=gr.themes.colors.blue, neutral_hue=gr.themes.colors.slate, radius_size=gr.themes.sizes.radius_sm,
        font=APP_FONT, font_mono=["ui-monospace", "SFMono-Regular", "Consolas", "monospace"],
    )
    for name in list(vars(theme)):
        if name.endswith("_dark") and getattr(theme, name) is not None:  # None: the same as in light mode
            setattr(theme, name[: -len("_dark")], getattr(theme, name))
    app_values = {
        "body_background_fill": colours["background"], "background_fill_primary": colours["panel"],
        "background_fill_secondary": colours["background"], "block_background_fill": colours["panel"],
        "panel_background_fill": colours["panel"], "block_border_color": colours["line"],
        "border_color_primary": colours["line"], "panel_border_color": colours["line"],
        "body_text_color": colours["text"], "body_text_color_subdued": colours["muted"],
        "block_label_text_color": colours["muted"], "block_title_text_color": colours["text"],
        "block_label_background_fill": colours["panel"], "block_title_background_fill": colours["panel"],
        "input_background_fill": colours["background"], "input_border_color": colours["line"],
        "input_border_color_focus": colours["accent"], "color_accent": colours["accent"],
        "color_accent_soft": colours["line"], "border_color_accent": colours["accent"],
        "link_text_color": colours["accent"], "link_text_color_hover": colours["accent"],
        "link_text_color_visited": colours["accent"], "link_text_color_active": colours["accent"],
        "button_primary_background_fill": colours["accent"], "button_primary_background_fill_hover": "#7dbbff",
        "button_primary_text_color": colours["on_accent"], "button_primary_border_color": colours["accent"],
        "button_secondary_background_fill": colours["panel"], "button_secondary_text_color": colours["text"],
        "button_secondary_border_color": colours["line"], "checkbox_label_background_fill": colours["background"],
        "checkbox_label_background_fill_selected": colours["line"],
        "checkbox_background_color_selected": colours["accent"],
        "checkbox_border_color_selected": colours["accent"], "table_even_background_fill": colours["panel"],
        "table_odd_background_fill": colours["background"], "table_border_color": colours["line"],
        "loader_color": colours["accent"], "slider_color": colours["accent"], "error_text_color": colours["bad"],
    }
    settable = inspect.signature(theme.set).parameters
    dark_values = {f"{name}_dark": value for name, value in app_values.items() if f"{name}_dark" in settable}
    return theme.set(**app_values, **dark_values)


# The app's top bar (templates/base.html), so the way back to the app is where it is on every other page.
PLAYGROUND_CSS = f"""
.aeslab-topbar {{ display: flex; align-items: center; gap: 1.5rem; padding: .5rem 1rem;
  background: {APP_COLOURS["panel"]}; border: 1px solid {APP_COLOURS["line"]}; border-radius: 4px; }}
.aeslab-topbar a {{ color: {APP_COLOURS["accent"]}; text-decoration: none; }}
.aeslab-topbar a:hover {{ text-decoration: underline; }}
.aeslab-topbar a.brand {{ font-weight: 700; color: {APP_COLOURS["text"]}; letter-spacing: .02em; }}
"""


def app_links_html() -> str:
    """Links back to the web app (the playground is mounted in it; ``manage.py playground`` alone has none)."""
    from django.urls import reverse

    return (
        '<nav class="aeslab-topbar" aria-label="AesLab">'
        f'<a class="brand" href="{reverse("home")}">AesLab</a>'
        f'<a href="{reverse("training-index")}" data-back-to-app>← Back to the app: training and the model registry</a>'
        "</nav>"
    )


def models_note(models: list[judging.PlaygroundModel]) -> str:
    """Above the model list: which of the listed models can judge uploaded videos, and which kinds can at all."""
    if not models:
        return "No registered model that judges pairs yet: train one from an export's Train page."
    uploads = [model.label for model in models if model.judges_uploads]
    listed = (f"Of these models, {len(uploads)} can judge uploaded videos." if uploads
              else "None of these models can judge uploaded videos: they judge test-split pairs only.")
    return (
        f"{listed} Uploads need a model that looks at the videos: **descore**, **aesrm-base** / **aesrm-cot**, or a "
        "**checklist-vlm** run trained with checklist-linear weights. A **checklist-linear** model scores the "
        "experts' checklist answers, so it judges test-split pairs only."
    )


def build_playground(catalog: ModelCatalog, *, app_links: bool = False) -> gr.Blocks:
    def username_of(request: gr.Request | None) -> str | None:
        return getattr(request, "username", None) if request is not None else None

    def on_load(request: gr.Request):
        models = catalog.models(username_of(request))
        wanted = f"model:{request.query_params.get('model')}" if request and request.query_params.get("model") else None
        keys = [model.key for model in models]
        value = wanted if wanted in keys else (keys[0] if keys else None)
        choices = [(model.choice_label, model.key) for model in models]
        return gr.update(choices=choices, value=value), models_note(models)

    def on_model(key: str | None, request: gr.Request):
        if not key:
            return gr.update(choices=[], value=None)
        try:
            choices = judging.held_out_pair_choices(catalog.get(key, username_of(request)))
        except judging.PlaygroundError as error:
            raise gr.Error(str(error)) from error
        return gr.update(choices=choices, value=choices[0][1] if choices else None)

    def on_pair(key: str | None, source: str, pair_id: str | None, request: gr.Request):
        """Show the picked test pair in the two players (judging a test pair does not read them)."""
        if source == SOURCE_UPLOAD:
            return gr.update(), gr.update()  # the players hold the user's uploads
        if not key or not pair_id:
            return None, None
        try:
            pair = judging.held_out_pair(catalog.get(key, username_of(request)), pair_id).pair
        except judging.PlaygroundError:
            return None, None
        return str(pair.video_a), str(pair.video_b)

    def on_source(key: str | None, source: str, pair_id: str | None, request: gr.Request):
        """Upload mode starts with empty players (a test pair's videos there would be judged as uploads);
        back to the test split, the picked pair is shown again."""
        if source == SOURCE_UPLOAD:
            return None, None, gr.update(visible=False)
        return *on_pair(key, source, pair_id, request), gr.update(visible=True)

    def judge(key, source, pair_id, video_a, video_b, prompt, request: gr.Request):
        try:
            model = catalog.get(key, username_of(request))
            if source == SOURCE_UPLOAD:
                pair = judging.uploaded_pair(model, video_a=video_a, video_b=video_b, prompt=prompt or "")
            elif not pair_id:
                raise judging.PlaygroundError("Pick a pair from the test split, or upload two videos.")
            else:
                pair = judging.held_out_pair(model, pair_id)
            judgement = judging.pair_judge(model, pair)
        except judging.PlaygroundError as error:
            raise gr.Error(str(error)) from error
        title = f"### {pair.title}\n{model.label} ({judgement.recipe})" + "".join(
            f"\n\n_{note}_" for note in judgement.notes
        )
        return (
            title,
            _verdict_rows(judgement, pair.experts),
            _criteria_rows(judgement.original, pair.experts),
            _answer_text(judgement),
            _summary(model, pair, judgement),
        )

    # uploads and copies of shown videos are removed a day after they were made (checked hourly)
    with gr.Blocks(title="AesLab model playground", delete_cache=(3600, 86400)) as playground:
        if app_links:
            gr.HTML(app_links_html())
        gr.Markdown("## AesLab model playground\nJudge a pair with a trained reward model, in both display orders.")
        status = gr.Markdown()
        model = gr.Dropdown(label="Model", choices=[], interactive=True, allow_custom_value=True)
        source = gr.Radio([SOURCE_HELD_OUT, SOURCE_UPLOAD], value=SOURCE_HELD_OUT, label="Pair")
        pair_id = gr.Dropdown(
            label="Test-split pair (with the experts' labels)", choices=[], interactive=True, allow_custom_value=True
        )
        with gr.Row():
            video_a = gr.Video(label="Video A", sources=["upload"], format=None, elem_id="video-a")
            video_b = gr.Video(label="Video B", sources=["upload"], format=None, elem_id="video-b")
        prompt = gr.Textbox(label="Prompt the videos were generated from (uploads)", lines=1)
        run = gr.Button("Judge", variant="primary")
        heading = gr.Markdown()
        verdicts = gr.Dataframe(headers=VERDICT_COLUMNS, label="Dimension verdicts", interactive=False)
        criteria = gr.Dataframe(headers=CRITERIA_COLUMNS, label="Critique per criterion", interactive=False, wrap=True)
        raw = gr.Textbox(label="What the model wrote", lines=8, interactive=False)
        summary = gr.JSON(label="Summary")

        playground.load(on_load, inputs=None, outputs=[model, status], api_visibility="private")
        model.change(on_model, inputs=model, outputs=pair_id, api_visibility="private")
        pair_id.change(on_pair, inputs=[model, source, pair_id], outputs=[video_a, video_b], api_visibility="private")
        source.change(on_source, inputs=[model, source, pair_id], outputs=[video_a, video_b, pair_id],
                      api_visibility="private")
        run.click(
            judge,
            inputs=[model, source, pair_id, video_a, video_b, prompt],
            outputs=[heading, verdicts, criteria, raw, summary],
            api_name="judge",
        )
    return playground


def _username_for_session(session_key: str) -> str | None:
    """The signed-in ML engineer of a Django session (None for anyone else)."""
    from importlib import import_module

    from django.contrib.auth import get_user

    from training.selectors import user_can_train

    with _database_use():
        session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
        user = get_user(SimpleNamespace(session=session))
        if not user.is_authenticated or not user_can_train(user=user):
            return None
        return user.get_username()


async def signed_in_username(request) -> str | None:
    session_key = request.cookies.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    return await sync_to_async(_username_for_session)(session_key)


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FRAMING_FORBIDDEN = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


def origin_is_this_site(origin: str, *, host: str, trusted_origins: list[str]) -> bool:
    """Whether ``origin`` (scheme://host[:port]) is the site the request was sent to, or one of the trusted origins
    (``https://*.example.com`` covers subdomains), as Django's CSRF check decides. The own site is matched on
    host and port only: TLS may end at a proxy in front of uvicorn."""
    parsed = urlsplit(origin)
    if not parsed.scheme or not parsed.netloc:
        return False  # "null" (sandboxed frames, privacy redirects) or garbage
    if host and parsed.netloc.lower() == host.lower():
        return True
    for trusted in trusted_origins:
        allowed = urlsplit(trusted)
        if allowed.scheme != parsed.scheme:
            continue
        if allowed.netloc.startswith("*."):
            if is_same_domain(parsed.netloc.lower(), allowed.netloc[1:].lower()):
                return True
        elif allowed.netloc.lower() == parsed.netloc.lower():
            return True
    return False


def _under_playground(path: str) -> bool:
    return path == PLAYGROUND_PATH or path.startswith(PLAYGROUND_PATH + "/")


class PlaygroundGuard:
    """ASGI middleware around the app: under /playground/, a state-changing request must come from this site
    (Origin, else Referer), and no response may be framed (clickjacking). Django's pages get the same from
    CsrfViewMiddleware and XFrameOptionsMiddleware; Gradio's routes have neither."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _under_playground(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_unframeable(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in FRAMING_FORBIDDEN.items():
                    headers.append(name, value)
            await send(message)

        if scope["method"] in UNSAFE_METHODS and not self.same_origin(Headers(scope=scope)):
            refusal = PlainTextResponse(
                "Refused: a request that changes something in the playground must come from this site's own pages "
                "(its Origin or Referer is another site).",
                status_code=403,
            )
            await refusal(scope, receive, send_unframeable)
            return
        await self.app(scope, receive, send_unframeable)

    @staticmethod
    def same_origin(headers: Headers) -> bool:
        source = headers.get("origin")
        if source is None:
            referer = urlsplit(headers.get("referer", ""))
            source = f"{referer.scheme}://{referer.netloc}" if referer.scheme and referer.netloc else ""
        return origin_is_this_site(
            source, host=headers.get("host", ""), trusted_origins=list(settings.CSRF_TRUSTED_ORIGINS)
        )


def playground_asgi(django_application):
    """One ASGI app: the playground at /playground/, everything else to Django."""
    from django.shortcuts import resolve_url
    from fastapi import FastAPI, Request
    from fastapi.responses import RedirectResponse
    from starlette.routing import Mount

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def login_first(request: Request, call_next):
        page = request.url.path in (PLAYGROUND_PATH, PLAYGROUND_PATH + "/")
        if page and request.method == "GET" and await signed_in_username(request) is None:
            return RedirectResponse(f"{resolve_url(settings.LOGIN_URL)}?next={PLAYGROUND_PATH}/", status_code=302)
        return await call_next(request)

    catalog = ModelCatalog()
    gr.mount_gradio_app(
        app,
        build_playground(catalog, app_links=True),
        path=PLAYGROUND_PATH,
        theme=aeslab_theme(),
        css=PLAYGROUND_CSS,
        auth_dependency=signed_in_username,
        ssr_mode=False,
        max_file_size=settings.VIDEO_MAX_BYTES,
        allowed_paths=catalog.media_folders(),
        footer_links=["api"],
        run_history=False,
    )
    app.router.routes.append(Mount("/", app=django_application))
    return PlaygroundGuard(app)
