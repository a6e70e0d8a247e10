"""Media for the browser with HTTP Range support, so <video> elements can seek.

Used when media are on local disk (development, single-host deployments). With S3 storage the
bucket serves ranges itself and these URLs are not mounted.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.utils._os import safe_join
from django.views.decorators.http import require_safe

from annotation.selectors import video_file_readable

RANGE_PATTERN = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK_BYTES = 256 * 1024


def _file_chunks(path: Path, start: int, length: int):
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


@require_safe
@login_required
def media_serve(request, path: str):
    """A video's original, proxy or poster, to staff and to members (any role) of a campaign with that video.
    Any other file under the media folder (or a video of other campaigns only) is a 404."""
    try:
        full_path = Path(safe_join(settings.MEDIA_ROOT, path))
    except Exception as error:  # SuspiciousFileOperation for ../ tricks
        raise Http404("No such file.") from error
    if not video_file_readable(user=request.user, name=path) or not full_path.is_file():
        raise Http404("No such file.")
    size = full_path.stat().st_size
    content_type = mimetypes.guess_type(full_path.name)[0] or "application/octet-stream"
    match = RANGE_PATTERN.match(request.headers.get("Range", "").strip())
    if not match or (not match.group(1) and not match.group(2)):
        response = FileResponse(open(full_path, "rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response

    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    else:  # a suffix range: the last N bytes
        start = max(0, size - int(last))
        end = size - 1
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    length = end - start + 1
    response = StreamingHttpResponse(_file_chunks(full_path, start, length), status=206, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
