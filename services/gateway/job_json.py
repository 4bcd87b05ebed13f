"""The public JSON shape of a job."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict

from picopt.kernel.protos import from_timestamp
from picopt.processor.v1 import processor_pb2

PUBLIC_STATUS = {"cancelled": "failed"}


def _iso(ts: Any) -> str | None:
    value = from_timestamp(ts)
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_json(job: processor_pb2.Job) -> dict[str, Any]:
    done = job.status == "done"
    output = None
    if done:
        output = {
            "format": job.output_format,
            "bytes": job.output_bytes,
            "width": job.output_width,
            "height": job.output_height,
            "ssimulacra2": round(job.ssimulacra2, 2) if job.ssimulacra2 else None,
            "no_gain": job.no_gain,
            "larger_reason": job.larger_reason or None,
            "saving_percent": (
                round(100.0 * (1 - job.output_bytes / job.input_bytes), 1)
                if job.input_bytes
                else None
            ),
        }
    return {
        "id": job.id,
        "status": PUBLIC_STATUS.get(job.status, job.status),
        "input": {
            "name": job.input_name,
            "format": job.input_format,
            "bytes": job.input_bytes,
            "width": job.input_width or None,
            "height": job.input_height or None,
        },
        "output": output,
        "variants": [
            {
                "index": i,
                "format": o.format,
                "bytes": o.bytes,
                "width": o.width,
                "height": o.height,
                "larger_reason": o.larger_reason or None,
            }
            for i, o in enumerate(job.outputs)
        ]
        if done
        else [],
        "placeholder": {"blurhash": job.blurhash, "lqip": job.lqip}
        if job.blurhash or job.lqip
        else None,
        "options": MessageToDict(job.options, preserving_proto_field_name=True),
        "metadata": (
            MessageToDict(job.metadata, preserving_proto_field_name=True)
            if job.HasField("metadata")
            else None
        ),
        "error": {"code": job.error.code, "message": job.error.message}
        if job.HasField("error")
        else None,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "expires_at": _iso(job.expires_at),
        "result_gone": job.result_gone,
        "links": {
            "self": f"/v1/jobs/{job.id}",
            "result": f"/v1/jobs/{job.id}/result" if done else None,
        },
    }
