"""The studio's HTTP interface: routes only (Starlette).

Every error is JSON ``{"error": "one line"}`` with a 4xx status. Images and jobs are named
only by ids the server made; nothing a client sends becomes a path. Long work goes to the
:class:`~painterly.web.jobs.JobManager`; progress comes back as Server-Sent Events.

Routes::

    GET  /                              the page          GET  /static/...   its assets
    GET  /api/config                    defaults, limits, examples, what this build can do
    GET  /api/images/{id}/thumb.jpg     an example or upload, small
    POST /api/uploads                   multipart field "file" -> an image id
    GET  /api/jobs  POST /api/jobs      this run's jobs; start one (JSON) -> 202, 429 if full
    GET  /api/jobs/{id}                 one job       POST /api/jobs/{id}/cancel
    GET  /api/jobs/{id}/events          SSE: status, progress, then done|failed|cancelled
    GET  /api/jobs/{id}/preview.jpg     latest image  GET  /api/jobs/{id}/thumb.jpg
    GET  /api/jobs/{id}/result.png      the result (?download=1 as an attachment)
    GET  /api/explore  POST /api/explore   the Explore tab (see explore_views)
    GET  /api/fast/styles               the fast styles on offer, and the Live limits
    POST /api/fast                      Fast mode: paint a stored image (JSON) -> 201
    GET  /api/fast/results/{id}.png     a Fast mode result (?download=1 as an attachment)
    POST /api/fast/frame?style=NAME     Live: one JPEG/PNG/WebP frame in, JPEG out
                                        (&edge=320, &preserve_color=none)
    POST /api/universal                 the one-pass preview of a photo and a painting
                                        (JSON, see universal_views) -> JPEG
    POST /api/clips?name=NAME           a video clip as the raw body (video/*) -> a clip id
    POST /api/clips/paint               paint a clip with a fast style (JSON) -> 202, a job
    GET  /api/jobs/{id}/result.mp4      a painted clip (?download=1 as an attachment)
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from http import HTTPStatus
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__, image_io
from ..config import StyleConfig
from ..devices import resolve_runtime
from ..errors import one_line
from ..fast.store import FastStyles
from ..models.vgg import FeatureExtractor
from ..multiscale import min_short_side
from . import clip_views, explore_views, fast_views, universal_views
from .clip_views import ClipError, ClipLimits, ClipStudio
from .events import Streams, event_stream, public_job
from .fast_views import FastError, FastLimits, FastStudio
from .guards import (BadBody, Failsafe, SameOrigin, TooLarge, TrustedHosts, declared_length,
                     error, last_event_id, limited, out_of_space, read_body, read_json, shown)
from .jobs import Job, JobManager, QueueFull
from .params import Limits, ParamError, choices, parse_job
from .tasks import stylize_task
from .universal_views import UniversalStudio
from .uploads import (MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, ImageStore, UploadError,
                      too_large_message)

log = logging.getLogger(__name__)

STATIC = Path(str(resources.files("painterly.web") / "static"))
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_JSON_BYTES = 64 * 1024
MULTIPART_OVERHEAD = 64 * 1024


def create_app(*, results_dir: Path, extractor: FeatureExtractor | None = None,
               base_config: StyleConfig | None = None, limits: Limits = Limits(),
               workers: int = 1, max_queued: int = 8, preview_interval: float = 0.4,
               max_upload_bytes: int = MAX_UPLOAD_BYTES,
               max_upload_pixels: int = MAX_UPLOAD_PIXELS,
               allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
               fast_styles: str | os.PathLike | FastStyles | None = None,
               fast_limits: FastLimits = FastLimits(),
               clip_limits: ClipLimits = ClipLimits()) -> Starlette:
    """The studio app. Results and uploads of this run go to a new folder in ``results_dir``.

    extractor: a feature network to use instead of VGG19 (tests), by the optimiser and by
    the one-pass preview (its layers that a decoder inverts). base_config: the defaults a
    request starts from (the studio's, or a tiny network's layers in tests).
    allowed_hosts: Host header values accepted (DNS-rebinding guard); ``("*",)`` for any.
    fast_styles: what Fast mode and the Live tab offer: None for the bundled styles and the
    user's own, or one style folder, or a loaded network (checked now: a folder that cannot
    be read raises ValueError). fast_limits: sizes of Live frames and the like.
    clip_limits: bytes, frames and pixels of an uploaded clip, and the sizes it is painted at.
    """
    run_dir = Path(results_dir) / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    (run_dir / "results").mkdir(parents=True)
    base = base_config or StyleConfig()
    store = ImageStore(run_dir / "uploads", max_bytes=max_upload_bytes,
                       max_pixels=max_upload_pixels, max_edge=limits.max_size,
                       min_side=min_short_side(base.content_layers + base.style_layers))
    manager = JobManager(workers=workers, max_queued=max_queued,
                         preview_interval=preview_interval)
    runtime = resolve_runtime(base.device, base.precision)
    fast = FastStudio(fast_styles, runtime, fast_limits)
    if fast_styles is not None:
        fast.styles()  # a folder that cannot be read fails here, not on the first request
    universal = UniversalStudio(runtime, extractor, busy_timeout=fast_limits.busy_timeout)
    clips = ClipStudio(run_dir / "clips", fast, clip_limits)
    routes = _Routes(store, manager, base, limits, extractor, run_dir, fast, universal, clips)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        log.info("studio results go to %s", run_dir)
        yield
        manager.close()  # (blocks the loop briefly; nothing else runs at shutdown)

    app = Starlette(
        routes=routes.table(),
        middleware=[Middleware(Failsafe), Middleware(TrustedHosts, hosts=tuple(allowed_hosts)),
                    Middleware(SameOrigin)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan)
    app.state.run_dir, app.state.jobs, app.state.images = run_dir, manager, store
    app.state.fast, app.state.streams = fast, routes.streams
    app.state.universal, app.state.clips = universal, clips
    return app


class _Routes:
    """The endpoints, sharing the store, the queue and the settings."""

    def __init__(self, store: ImageStore, manager: JobManager, base: StyleConfig,
                 limits: Limits, extractor: FeatureExtractor | None, run_dir: Path,
                 fast: FastStudio, universal: UniversalStudio, clips: ClipStudio):
        self.store, self.manager, self.base, self.limits = store, manager, base, limits
        self.extractor, self.run_dir, self.fast = extractor, run_dir, fast
        self.universal, self.clips = universal, clips
        self.device = fast.runtime.describe()
        self.streams = Streams()

    def table(self) -> list:
        return [
            Route("/", self.index),
            Route("/api/config", self.config),
            Route("/api/images/{image_id}/thumb.jpg", self.image_thumb),
            Route("/api/uploads", self.upload, methods=["POST"]),
            Route("/api/jobs", self.list_jobs, methods=["GET"]),
            Route("/api/jobs", self.create_job, methods=["POST"]),
            Route("/api/jobs/{job_id}", self.get_job),
            Route("/api/jobs/{job_id}/cancel", self.cancel_job, methods=["POST"]),
            Route("/api/jobs/{job_id}/events", self.events),
            Route("/api/jobs/{job_id}/preview.jpg", self.preview),
            Route("/api/jobs/{job_id}/thumb.jpg", self.job_thumb),
            Route("/api/jobs/{job_id}/result.png", self.result),
            Route("/api/explore", self.explore_status, methods=["GET"]),
            Route("/api/explore", self.explore_run, methods=["POST"]),
            Route("/api/fast/styles", self.fast_styles, methods=["GET"]),
            Route("/api/fast", self.fast_paint, methods=["POST"]),
            Route("/api/fast/results/{result_id}.png", self.fast_result, methods=["GET"]),
            Route("/api/fast/frame", self.fast_frame, methods=["POST"]),
            Route("/api/universal", self.universal_preview, methods=["POST"]),
            Route("/api/clips", self.upload_clip, methods=["POST"]),
            Route("/api/clips/paint", self.paint_clip, methods=["POST"]),
            Route("/api/jobs/{job_id}/result.mp4", self.clip_result, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]

    # ------------------------------------------------------------------ page and images

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def config(self, request: Request) -> Response:
        base = self.base.to_dict()
        return JSONResponse({
            "version": __version__,
            "defaults": {k: base[k] for k in ("size", "iterations", "scales", "style_weight",
                                              "seed", "preserve_color") if k in base},
            "limits": {"max_size": self.limits.max_size,
                       "max_iterations": self.limits.max_iterations,
                       "max_work": self.limits.max_work,
                       "max_upload_bytes": self.store.max_bytes,
                       "max_upload_pixels": self.store.max_pixels},
            "preserve_color": choices("preserve_color"),
            "network": "VGG19" if self.extractor is None else "a small test network",
            "device": self.device,
            "examples": [image.public() for image in self.store.examples()],
            "universal": self.universal.status(),
            "clips": self.clips.status(),
        })

    async def image_thumb(self, request: Request) -> Response:
        image_id = request.path_params["image_id"]
        if self.store.get(image_id) is None:
            return error(404, f"no image with id {shown(image_id)}")
        data = await run_in_threadpool(self.store.thumbnail, image_id)
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})

    async def upload(self, request: Request) -> Response:
        limit = self.store.max_bytes + MULTIPART_OVERHEAD
        if (declared_length(request) or 0) > limit:
            return error(413, too_large_message("the upload", self.store.max_bytes))
        try:
            form = await limited(request, limit).form(max_files=1, max_fields=4)
        except TooLarge:
            return error(413, too_large_message("the upload", self.store.max_bytes))
        except Exception as exc:  # malformed multipart: python-multipart raises many kinds
            if out_of_space(exc):  # (a large file is spooled to a temporary file)
                raise
            log.info("bad upload: %s", exc)
            return error(400, "expected a multipart/form-data upload with a field named 'file'")
        try:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                return error(400, "expected a multipart/form-data upload with a field named 'file'")
            data = await file.read(self.store.max_bytes + 1)
            stored = await run_in_threadpool(self.store.add_upload, data, file.filename)
        except UploadError as exc:
            return error(exc.status, str(exc))
        finally:
            await form.close()
        return JSONResponse(stored.public(), status_code=201)

    # ------------------------------------------------------------------ jobs

    async def create_job(self, request: Request) -> Response:
        body, refused = await _json_body(request)
        if refused is not None:
            return refused
        try:
            content_id, style_id, config = parse_job(body, self.base, self.limits)
        except ParamError as exc:
            return error(400, str(exc))
        content, style = self.store.get(content_id), self.store.get(style_id)
        for key, image, image_id in (("content", content, content_id), ("style", style, style_id)):
            if image is None:
                return error(400, f"{key}: no image with id {shown(image_id)} (upload it first)")
        out = self.run_dir / "results" / f"{secrets.token_hex(8)}.png"
        try:
            task = stylize_task(content, style, config, out=out, extractor=self.extractor)
        except (ValueError, TypeError) as exc:  # too narrow a picture, too large for memory
            return error(400, str(exc))
        return self._submit(task)

    def _submit(self, task) -> Response:
        try:
            job = self.manager.submit(task)
        except QueueFull as exc:
            return error(429, f"the queue is full: {exc}", headers={"Retry-After": "10"})
        return JSONResponse(public_job(job), status_code=202)

    async def list_jobs(self, request: Request) -> Response:
        return JSONResponse({"jobs": [public_job(job) for job in self.manager.jobs()]})

    async def get_job(self, request: Request) -> Response:
        job = self._job(request)
        return JSONResponse(public_job(job))

    async def cancel_job(self, request: Request) -> Response:
        job = self.manager.cancel(request.path_params["job_id"])
        if job is None:
            return error(404, "no such job")
        return JSONResponse(public_job(job))

    async def events(self, request: Request) -> Response:
        job = self._job(request)
        stream = event_stream(job, last_event_id(request), self.streams)
        return StreamingResponse(
            stream, media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def preview(self, request: Request) -> Response:
        job = self._job(request)
        if job.preview is None:
            return error(404, "no preview yet")
        return Response(job.preview, media_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})

    async def job_thumb(self, request: Request) -> Response:
        job = self._job(request)
        data = job.thumb or job.preview
        if data is None:
            return error(404, "no image yet")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    async def result(self, request: Request) -> Response:
        job = self._job(request)
        if job.result is None:
            return error(404, f"job {job.id} has no result (it is {job.state})")
        if _is_clip(job):
            return error(404, f"job {job.id} painted a clip: its result is "
                              f"/api/jobs/{job.id}/result.mp4")
        attachment = request.query_params.get("download") == "1"
        return FileResponse(
            job.result, media_type="image/png",
            filename=job.task.info.get("download_name", f"{job.id}.png"),
            content_disposition_type="attachment" if attachment else "inline")

    def _job(self, request: Request) -> Job:
        job = self.manager.get(request.path_params["job_id"])
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    # ------------------------------------------------------------------ explore

    async def explore_status(self, request: Request) -> Response:
        return JSONResponse(explore_views.status(self.extractor))

    async def explore_run(self, request: Request) -> Response:
        status = explore_views.status(self.extractor)
        if not status["available"]:
            return error(501, status["message"])
        body, refused = await _json_body(request)
        if refused is not None:
            return refused
        out = self.run_dir / "results" / f"{secrets.token_hex(8)}.png"
        try:
            task = explore_views.explore_task(body, self.store, self.base, out=out,
                                              extractor=self.extractor)
        except ParamError as exc:
            return error(400, str(exc))
        return self._submit(task)

    # ------------------------------------------------------------------ fast mode, live

    async def fast_styles(self, request: Request) -> Response:
        try:
            styles = await run_in_threadpool(self.fast.styles, rescan=True)
        except FastError as exc:
            return error(exc.status, str(exc))
        shown = []
        for style in styles:
            painting = self.store.get(f"ex-style-{style.name}")
            shown.append(style.public(painting.public()["thumb"] if painting else None))
        return JSONResponse({
            "available": bool(shown), "message": "" if shown else fast_views.NO_STYLES,
            "styles": shown, "preserve_color": list(fast_views.COLOURS),
            "size": self.base.size, "max_size": self.limits.max_size,
            "limits": self.fast.limits.public()})

    async def fast_paint(self, request: Request) -> Response:
        body, refused = await _json_body(request)
        if refused is not None:
            return refused
        try:
            image_id, style_name, colours, size = fast_views.parse_paint(
                body, self.base.size, self.limits.max_size)
            image = self.store.get(image_id)
            if image is None:
                return error(400, f"image: no image with id {shown(image_id)} (upload it first)")
            style = await run_in_threadpool(self.fast.style, style_name)
            out = fast_views.new_result_path(self.run_dir / "results")
            result = await run_in_threadpool(self.fast.paint_image, image, style, colours,
                                             size, out)
        except ParamError as exc:
            return error(400, str(exc))
        except FastError as exc:
            return _fast_error(exc)
        except image_io.ImageError as exc:  # the stored image or the results folder
            log.warning("fast painting failed: %s", exc)
            return error(507 if out_of_space(exc) else 500, str(exc))
        return JSONResponse(result.public(), status_code=201)

    async def fast_result(self, request: Request) -> Response:
        result = self.fast.result(request.path_params["result_id"])
        if result is None:
            return error(404, "no such result")
        attachment = request.query_params.get("download") == "1"
        return FileResponse(result.path, media_type="image/png",
                            filename=result.info["download_name"],
                            content_disposition_type="attachment" if attachment else "inline")

    async def fast_frame(self, request: Request) -> Response:
        limits, query = self.fast.limits, request.query_params
        try:
            edge = fast_views.parse_edge(query.get("edge", str(limits.frame_edge)),
                                         limits.min_edge, limits.max_frame_edge, "edge", text=True)
            colours = fast_views.parse_colours(query.get("preserve_color", "none"))
        except ParamError as exc:
            return error(400, str(exc))
        too_large = f"the frame is larger than the limit of {limits.max_frame_bytes / 1024:g} KB"
        if (declared_length(request) or 0) > limits.max_frame_bytes:
            return error(413, too_large)
        try:
            fast_views.check_frame_type(request.headers.get("content-type", ""))
            style = await run_in_threadpool(self.fast.style, query.get("style"))
            data = await read_body(request, limits.max_frame_bytes)
            jpeg, seconds = await run_in_threadpool(self.fast.paint_frame, data, style,
                                                    colours, edge)
        except TooLarge:
            return error(413, too_large)
        except FastError as exc:
            return _fast_error(exc)
        return Response(jpeg, media_type="image/jpeg",
                        headers={"Cache-Control": "no-store",
                                 "X-Paint-Seconds": f"{seconds:.4f}"})

    # ------------------------------------------------------------------ one-pass preview

    async def universal_preview(self, request: Request) -> Response:
        body, refused = await _json_body(request)
        if refused is not None:
            return refused
        try:
            wanted = universal_views.parse_preview(body, self.store, self.base.size,
                                                   self.limits.max_size)
            preview = await run_in_threadpool(self.universal.paint, wanted)
        except ParamError as exc:
            return error(400, str(exc))
        except FastError as exc:
            return _fast_error(exc)
        except image_io.ImageError as exc:  # a stored picture that can no longer be read
            log.warning("one-pass preview failed: %s", exc)
            return error(500, str(exc))
        width, height = preview.size
        return Response(preview.jpeg, media_type="image/jpeg",
                        headers={"Cache-Control": "no-store",
                                 "X-Paint-Seconds": f"{preview.seconds:.4f}",
                                 "X-Image-Size": f"{width}x{height}"})

    # ------------------------------------------------------------------ clips

    async def upload_clip(self, request: Request) -> Response:
        limits = self.clips.limits
        try:
            clip_views.video_module()
            clip_views.check_clip_type(request.headers.get("content-type", ""))
            if (declared_length(request) or 0) > limits.max_bytes:
                raise ClipError(clip_views.clip_too_large(limits), status=413)
            received = self.clips.upload_path()
            try:
                await clip_views.receive(request, received, limits.max_bytes)
            except TooLarge:
                raise ClipError(clip_views.clip_too_large(limits), status=413) from None
            stored = await run_in_threadpool(self.clips.add, received,
                                             request.query_params.get("name"))
        except ClipError as exc:
            return error(exc.status, str(exc))
        return JSONResponse(stored.public(), status_code=201)

    async def paint_clip(self, request: Request) -> Response:
        try:
            clip_views.video_module()
        except ClipError as exc:
            return error(exc.status, str(exc))
        body, refused = await _json_body(request)
        if refused is not None:
            return refused
        try:
            task = await run_in_threadpool(self.clips.task, body, self.run_dir / "results")
        except ParamError as exc:
            return error(400, str(exc))
        except FastError as exc:  # ClipError too
            return _fast_error(exc)
        return self._submit(task)

    async def clip_result(self, request: Request) -> Response:
        try:
            clip_views.video_module()
        except ClipError as exc:
            return error(exc.status, str(exc))
        job = self._job(request)
        if not _is_clip(job):
            return error(404, f"job {job.id} did not paint a clip: its result is "
                              f"/api/jobs/{job.id}/result.png")
        if job.result is None:
            return error(404, f"job {job.id} has no result (it is {job.state})")
        attachment = request.query_params.get("download") == "1"
        return FileResponse(
            job.result, media_type="video/mp4",
            filename=job.task.info.get("download_name", f"{job.id}.mp4"),
            content_disposition_type="attachment" if attachment else "inline")


def _is_clip(job: Job) -> bool:
    return job.task.info.get("kind") == "clip"


def _fast_error(exc: FastError) -> Response:
    headers = {"Retry-After": "1"} if exc.status == 503 else None
    return error(exc.status, one_line(exc), headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method) as one-line JSON too."""
    assert isinstance(exc, HTTPException)
    default = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if exc.detail and exc.detail != default else default.lower()
    return error(exc.status_code, detail, headers=exc.headers)


async def _json_body(request: Request) -> tuple[object, Response | None]:
    """(the parsed JSON body, None), or (None, the 413/400 answer; see guards.read_json)."""
    try:
        return await read_json(request, MAX_JSON_BYTES), None
    except BadBody as exc:
        return None, error(exc.status, str(exc))
