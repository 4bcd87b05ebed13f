"""Submitting jobs, reading their status and downloading results.

Submission order keeps every failure lossless: reserve credits, store the
upload, create the job. If a later step fails, the earlier ones are undone
(credits released, upload deleted) before the error is answered; if the
gateway itself dies in between, billing's reservation timeout and
retention's orphan sweep clean up.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import FileStorage

from picopt import formats
from picopt.auth.v1 import auth_pb2
from picopt.billing.v1 import billing_pb2
from picopt.kernel.blobstore import BlobNotFound
from picopt.kernel.logs import bound_context, get_logger
from picopt.kernel.protos import to_timestamp
from picopt.processor.v1 import processor_pb2
from services.gateway.backends import calling
from services.gateway.identity import current_user_id
from services.gateway.job_json import job_json
from services.gateway.job_options import parse_options, with_account_preferences
from services.gateway.openapi import operation
from services.gateway.problems import Problem
from services.gateway.routes_sessions import join_session
from services.gateway.schemas import (
    FormatsReply,
    Job,
    JobBatch,
    JobList,
    ListJobsQuery,
    ResultQuery,
)

bp = Blueprint("jobs", __name__)
log = get_logger(__name__)

_TEXT = {"type": "string"}
OPTION_FIELDS: dict[str, Any] = {
    "format": {"type": "string", "description": "auto (default) or an output format"},
    "accept": {"type": "string", "description": "comma list of formats the client accepts"},
    "quality": {"type": "string", "description": "auto, high, balanced, small, lossless, 1-100"},
    "effort": {
        "type": "string",
        "enum": list(formats.EFFORTS),
        "description": "CPU spent reaching the quality: fast, balanced (default) or max",
    },
    "width": _TEXT,
    "height": _TEXT,
    "fit": _TEXT,
    "keep_metadata": _TEXT,
    "metadata": {"type": "string", "description": "true (default) for AI metadata"},
    "widths": {"type": "string", "description": "comma list of responsive widths"},
    "placeholder": _TEXT,
    "enlarge": {"type": "string", "description": "true to let width/height/widths upscale"},
    "vision_provider": {"type": "string", "description": "AI provider, if the service allows"},
    "language": {"type": "string", "description": "BCP 47 language of the AI metadata"},
    "session_id": {"type": "string", "description": "processing session (POST /v1/sessions)"},
}
BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}
JOB_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": BINARY, **OPTION_FIELDS},
}
BATCH_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "array", "items": BINARY}, **OPTION_FIELDS},
}
JOB_PROBLEMS = [402, 404, 409, 413, 415]
MAX_BATCH = 20


def _backends() -> Any:
    return current_app.extensions["backends"]


def _get_job(job_id: str, user_id: str) -> processor_pb2.Job:
    with calling("processor"):
        return (
            _backends()
            .processor.GetJob(processor_pb2.GetJobRequest(job_id=job_id, owner_id=user_id))
            .job
        )


@bp.get("/v1/formats")
@operation(
    "Image formats (names, MIME types, what each holds, size limits) and job option values",
    tags=["jobs"],
    responses={200: FormatsReply},
    auth=False,
)
def list_formats() -> Response:
    response = jsonify(FormatsReply.model_validate(formats.describe()).model_dump(mode="json"))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.post("/v1/jobs")
@operation(
    "Submit an image (multipart field `file`)",
    tags=["jobs"],
    form=JOB_FORM,
    responses={202: Job},
    problems=JOB_PROBLEMS,
)
def submit() -> tuple[Response, int, dict[str, str]]:
    user_id = current_user_id()
    upload = request.files.get("file")
    if upload is None:
        raise Problem(400, "missing-file", "send the image as multipart/form-data field 'file'")
    options = parse_options(request.form, request.headers.get("Accept", ""), _vision_settings())
    options = _account_defaults(user_id, options)
    job = _submit_one(user_id, upload, options)
    return jsonify(job_json(job)), 202, {"Location": f"/v1/jobs/{job.id}"}


@bp.post("/v1/jobs/batch")
@operation(
    f"Submit up to {MAX_BATCH} images at once (repeat the multipart field `file`)",
    tags=["jobs"],
    form=BATCH_FORM,
    responses={202: JobBatch},
    problems=JOB_PROBLEMS,
)
def submit_batch() -> tuple[Response, int]:
    """All files are checked before any job is created, so a bad file creates nothing."""
    user_id = current_user_id()
    uploads = request.files.getlist("file")
    if not uploads:
        raise Problem(400, "missing-file", "send the images as repeated multipart field 'file'")
    if len(uploads) > MAX_BATCH:
        raise Problem(400, "too-many-files", f"at most {MAX_BATCH} files per batch")
    options = parse_options(request.form, request.headers.get("Accept", ""), _vision_settings())
    options = _account_defaults(user_id, options)
    checked = [(upload, *_read_image(upload, index)) for index, upload in enumerate(uploads)]
    jobs = [_create(user_id, upload, size, fmt, options) for upload, size, fmt in checked]
    return jsonify({"jobs": [job_json(j) for j in jobs]}), 202


def _account_defaults(user_id: str, options: processor_pb2.JobOptions) -> processor_pb2.JobOptions:
    """The account's provider and language for a job that names none (asked only then)."""
    if not options.metadata or (options.vision_provider and options.language):
        return options
    with calling("auth"):
        user = _backends().auth.GetUser(auth_pb2.GetUserRequest(user_id=user_id)).user
    return with_account_preferences(
        options, user.vision_provider, user.language, _vision_settings()
    )


def _vision_settings() -> Mapping[str, str]:
    """The gateway's settings, where VISION_PROVIDER and VISION_ALLOWED_PROVIDERS are read."""
    return current_app.extensions["settings"].env.env  # type: ignore[no-any-return]


def _read_image(upload: FileStorage, index: int | None = None) -> tuple[int, str]:
    """The upload's size and the format sniffed from its first bytes (the client's type is
    ignored).

    The multipart parser has spooled the file to disk; only the first few KiB are read to
    learn the format, and the file is later encrypted into the blob store a chunk at a
    time, so an upload is never held in memory whatever its size.
    """
    where = {"index": index} if index is not None else {}
    head = upload.stream.read(formats.SNIFF_BYTES)
    if not head:
        raise Problem(400, "empty-file", "the uploaded file is empty", **where)
    try:
        input_format = formats.sniff(head)
    except formats.FormatError as err:
        raise Problem(415, err.code, err.message, **where) from err
    if not formats.get(input_format).readable:
        label = formats.get(input_format).label
        raise Problem(415, "unsupported_format", f"{label} uploads are not accepted yet", **where)
    size = upload.stream.seek(0, io.SEEK_END)
    upload.stream.seek(0)
    return size, input_format


def _submit_one(
    user_id: str, upload: FileStorage, options: processor_pb2.JobOptions
) -> processor_pb2.Job:
    size, input_format = _read_image(upload)
    return _create(user_id, upload, size, input_format, options)


def _create(
    user_id: str,
    upload: FileStorage,
    size: int,
    input_format: str,
    options: processor_pb2.JobOptions,
) -> processor_pb2.Job:
    job_id = str(uuid.uuid4())
    input_key = f"uploads/{job_id}"
    expires = datetime.now(UTC) + current_app.extensions["privacy_facts"].image_ttl()
    expires = join_session(user_id, request.form.get("session_id", ""), options, expires)
    backends, blobs = _backends(), current_app.extensions["blobs"]
    with bound_context(job_id=job_id):
        with calling("billing"):
            backends.billing.Reserve(
                billing_pb2.ReserveRequest(
                    job_id=job_id,
                    user_id=user_id,
                    with_metadata=options.metadata,
                    outputs=max(len(options.widths), 1),
                )
            )
        try:
            upload.stream.seek(0)
            blobs.put_stream(input_key, upload.stream, size, owner=user_id, deadline=expires)
            with calling("processor"):
                job = backends.processor.CreateJob(
                    processor_pb2.CreateJobRequest(
                        job_id=job_id,
                        owner_id=user_id,
                        input_key=input_key,
                        input_bytes=size,
                        input_format=input_format,
                        options=options,
                        input_name=(upload.filename or "")[:255],
                        expires_at=to_timestamp(expires),
                    )
                ).job
        except BaseException:
            _undo_submission(job_id, input_key)
            raise
    log.info("job_submitted", job_id=job_id, bytes_in=size, format_in=input_format)
    return job


def _undo_submission(job_id: str, input_key: str) -> None:
    """Release the hold and drop the upload; what cannot be undone now is swept later."""
    current_app.extensions["blobs"].delete(input_key)
    try:
        _backends().billing.Release(
            billing_pb2.ReleaseRequest(job_id=job_id, reason="submission_failed")
        )
    except Exception:
        log.warning("release_after_failed_submission_failed", job_id=job_id)


@bp.get("/v1/jobs")
@operation(
    "List your jobs, newest first", tags=["jobs"], query=ListJobsQuery, responses={200: JobList}
)
def list_jobs(query: ListJobsQuery) -> Response:
    user_id = current_user_id()
    with calling("processor"):
        reply = _backends().processor.ListJobs(
            processor_pb2.ListJobsRequest(
                owner_id=user_id, page_size=query.limit, cursor=query.cursor
            )
        )
    return jsonify(
        {"jobs": [job_json(j) for j in reply.jobs], "next_cursor": reply.next_cursor or None}
    )


@bp.get("/v1/jobs/<job_id>")
@operation("A job's status and result summary", tags=["jobs"], responses={200: Job}, problems=[404])
def get_job(job_id: str) -> Response:
    return jsonify(job_json(_get_job(job_id, current_user_id())))


@bp.delete("/v1/jobs/<job_id>")
@operation("Cancel a job", tags=["jobs"], responses={200: Job}, problems=[404, 409])
def cancel_job(job_id: str) -> Response:
    user_id = current_user_id()
    with calling("processor"):
        job = (
            _backends()
            .processor.CancelJob(processor_pb2.CancelJobRequest(job_id=job_id, owner_id=user_id))
            .job
        )
    return jsonify(job_json(job))


@bp.get("/v1/jobs/<job_id>/result")
@operation(
    "Download the result (once; it is deleted shortly after)",
    tags=["jobs"],
    query=ResultQuery,
    responses={200: "image/*"},
    problems=[404, 409, 410],
)
def download(job_id: str, query: ResultQuery) -> Response:
    user_id = current_user_id()
    job = _get_job(job_id, user_id)
    if job.status != "done":
        raise Problem(
            409, "job-not-done", f"the job is {job_json(job)['status']}; poll it until done"
        )
    if query.variant >= max(len(job.outputs), 1):
        raise Problem(400, "invalid-parameter", "variant is out of range", field="variant")
    output = job.outputs[query.variant] if job.outputs else None
    key = output.blob_key if output else job.result_key
    fmt = output.format if output else job.output_format
    try:
        blob = current_app.extensions["blobs"].open(key, owner=user_id)
    except BlobNotFound as exc:
        raise Problem(
            410, "result-gone", "the result was deleted after download or expiry"
        ) from exc
    try:
        with calling("processor"):
            _backends().processor.MarkResultDownloaded(
                processor_pb2.MarkResultDownloadedRequest(job_id=job_id, owner_id=user_id)
            )
    except BaseException:
        blob.close()
        raise
    stem = (job.input_name.rsplit(".", 1)[0] or job_id)[:100]
    filename = f"{stem}.{formats.extension(fmt)}"
    # Decrypted and sent a chunk at a time: memory stays flat whatever the result's size.
    return Response(
        iter(blob),
        mimetype=formats.mime_type(fmt),
        headers={
            "Content-Disposition": f'attachment; filename="{_ascii(filename)}"',
            "Content-Length": str(blob.info.size),
            "Cache-Control": "no-store",
        },
    )


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
