"""The public job JSON: what a done job reports about its outputs."""

from __future__ import annotations

from picopt.processor.v1 import processor_pb2
from services.gateway.job_json import job_json


def test_larger_reason_is_reported_for_the_output_and_each_variant() -> None:
    job = processor_pb2.Job(
        id="job-1",
        status="done",
        input_bytes=25_409,
        output_format="webp",
        output_bytes=51_104,
        larger_reason="format_not_accepted",
        outputs=[
            processor_pb2.JobOutput(
                format="webp", bytes=51_104, larger_reason="format_not_accepted"
            ),
            processor_pb2.JobOutput(format="webp", bytes=900),
        ],
    )
    body = job_json(job)
    assert body["output"]["larger_reason"] == "format_not_accepted"
    assert [v["larger_reason"] for v in body["variants"]] == ["format_not_accepted", None]
