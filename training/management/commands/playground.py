from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Serve the model playground on its own (Gradio). Without --model it offers every registered model with its "
        "files; it has no sign-in, so it listens on 127.0.0.1 unless told otherwise. Signed-in ML engineers find the "
        "same playground at /playground/ in the web app."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", metavar="RUN_DIR", help="judge with this run folder instead of the registry")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=7860)

    def handle(self, *args, model=None, host="127.0.0.1", port=7860, **options):
        from django.conf import settings

        from training.judging import PlaygroundError
        from training.playground import PLAYGROUND_CSS, ModelCatalog, aeslab_theme, build_playground

        try:
            catalog = ModelCatalog(run_dir=Path(model) if model else None, signed_in_only=False)
        except PlaygroundError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Model playground on http://{host}:{port}/ (Ctrl+C stops it)")
        build_playground(catalog).launch(
            server_name=host,
            server_port=port,
            allowed_paths=catalog.media_folders(),
            max_file_size=settings.VIDEO_MAX_BYTES,
            ssr_mode=False,
            footer_links=["api"],
            quiet=True,
            theme=aeslab_theme(),
            css=PLAYGROUND_CSS,
        )
