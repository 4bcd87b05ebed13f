"""gRPC entry point of the processor's job API."""

from __future__ import annotations

from typing import Any

from picopt.processor.v1 import processor_pb2, processor_pb2_grpc
from services.processor.jobs import JobService, job_message


class ProcessorServicer(processor_pb2_grpc.ProcessorServiceServicer):
    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def CreateJob(
        self, request: processor_pb2.CreateJobRequest, context: Any
    ) -> processor_pb2.CreateJobResponse:
        return processor_pb2.CreateJobResponse(job=job_message(self.jobs.create(request)))

    def GetJob(
        self, request: processor_pb2.GetJobRequest, context: Any
    ) -> processor_pb2.GetJobResponse:
        return processor_pb2.GetJobResponse(
            job=job_message(self.jobs.get(request.job_id, request.owner_id))
        )

    def ListJobs(
        self, request: processor_pb2.ListJobsRequest, context: Any
    ) -> processor_pb2.ListJobsResponse:
        jobs, cursor = self.jobs.list(request.owner_id, request.page_size, request.cursor)
        return processor_pb2.ListJobsResponse(
            jobs=[job_message(j) for j in jobs], next_cursor=cursor
        )

    def CancelJob(
        self, request: processor_pb2.CancelJobRequest, context: Any
    ) -> processor_pb2.CancelJobResponse:
        return processor_pb2.CancelJobResponse(
            job=job_message(self.jobs.cancel(request.job_id, request.owner_id))
        )

    def MarkResultDownloaded(
        self, request: processor_pb2.MarkResultDownloadedRequest, context: Any
    ) -> processor_pb2.MarkResultDownloadedResponse:
        self.jobs.mark_downloaded(request.job_id, request.owner_id)
        return processor_pb2.MarkResultDownloadedResponse()
