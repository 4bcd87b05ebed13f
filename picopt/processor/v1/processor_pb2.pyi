import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from picopt.vision.v1 import vision_pb2 as _vision_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobOptions(_message.Message):
    __slots__ = ("format", "accept", "quality", "width", "height", "fit", "keep_metadata", "metadata", "widths", "placeholder", "vision_provider", "language", "session_id", "effort", "enlarge")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FIT_FIELD_NUMBER: _ClassVar[int]
    KEEP_METADATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    WIDTHS_FIELD_NUMBER: _ClassVar[int]
    PLACEHOLDER_FIELD_NUMBER: _ClassVar[int]
    VISION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EFFORT_FIELD_NUMBER: _ClassVar[int]
    ENLARGE_FIELD_NUMBER: _ClassVar[int]
    format: str
    accept: _containers.RepeatedScalarFieldContainer[str]
    quality: str
    width: int
    height: int
    fit: str
    keep_metadata: str
    metadata: bool
    widths: _containers.RepeatedScalarFieldContainer[int]
    placeholder: bool
    vision_provider: str
    language: str
    session_id: str
    effort: str
    enlarge: bool
    def __init__(self, format: _Optional[str] = ..., accept: _Optional[_Iterable[str]] = ..., quality: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fit: _Optional[str] = ..., keep_metadata: _Optional[str] = ..., metadata: _Optional[bool] = ..., widths: _Optional[_Iterable[int]] = ..., placeholder: _Optional[bool] = ..., vision_provider: _Optional[str] = ..., language: _Optional[str] = ..., session_id: _Optional[str] = ..., effort: _Optional[str] = ..., enlarge: _Optional[bool] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class JobOutput(_message.Message):
    __slots__ = ("blob_key", "format", "bytes", "width", "height", "larger_reason")
    BLOB_KEY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LARGER_REASON_FIELD_NUMBER: _ClassVar[int]
    blob_key: str
    format: str
    bytes: int
    width: int
    height: int
    larger_reason: str
    def __init__(self, blob_key: _Optional[str] = ..., format: _Optional[str] = ..., bytes: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., larger_reason: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "owner_id", "status", "options", "input_format", "input_bytes", "input_width", "input_height", "output_format", "output_bytes", "output_width", "output_height", "result_key", "ssimulacra2", "no_gain", "metadata", "error", "created_at", "updated_at", "expires_at", "result_gone", "input_name", "outputs", "blurhash", "lqip", "larger_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    INPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    INPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    INPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RESULT_KEY_FIELD_NUMBER: _ClassVar[int]
    SSIMULACRA2_FIELD_NUMBER: _ClassVar[int]
    NO_GAIN_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_GONE_FIELD_NUMBER: _ClassVar[int]
    INPUT_NAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    BLURHASH_FIELD_NUMBER: _ClassVar[int]
    LQIP_FIELD_NUMBER: _ClassVar[int]
    LARGER_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner_id: str
    status: str
    options: JobOptions
    input_format: str
    input_bytes: int
    input_width: int
    input_height: int
    output_format: str
    output_bytes: int
    output_width: int
    output_height: int
    result_key: str
    ssimulacra2: float
    no_gain: bool
    metadata: _vision_pb2.ImageMetadata
    error: JobError
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    result_gone: bool
    input_name: str
    outputs: _containers.RepeatedCompositeFieldContainer[JobOutput]
    blurhash: str
    lqip: str
    larger_reason: str
    def __init__(self, id: _Optional[str] = ..., owner_id: _Optional[str] = ..., status: _Optional[str] = ..., options: _Optional[_Union[JobOptions, _Mapping]] = ..., input_format: _Optional[str] = ..., input_bytes: _Optional[int] = ..., input_width: _Optional[int] = ..., input_height: _Optional[int] = ..., output_format: _Optional[str] = ..., output_bytes: _Optional[int] = ..., output_width: _Optional[int] = ..., output_height: _Optional[int] = ..., result_key: _Optional[str] = ..., ssimulacra2: _Optional[float] = ..., no_gain: _Optional[bool] = ..., metadata: _Optional[_Union[_vision_pb2.ImageMetadata, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., result_gone: _Optional[bool] = ..., input_name: _Optional[str] = ..., outputs: _Optional[_Iterable[_Union[JobOutput, _Mapping]]] = ..., blurhash: _Optional[str] = ..., lqip: _Optional[str] = ..., larger_reason: _Optional[str] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("job_id", "owner_id", "input_key", "input_bytes", "input_format", "options", "input_name", "expires_at")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_KEY_FIELD_NUMBER: _ClassVar[int]
    INPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    INPUT_NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    owner_id: str
    input_key: str
    input_bytes: int
    input_format: str
    options: JobOptions
    input_name: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, job_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., input_key: _Optional[str] = ..., input_bytes: _Optional[int] = ..., input_format: _Optional[str] = ..., options: _Optional[_Union[JobOptions, _Mapping]] = ..., input_name: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "owner_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    owner_id: str
    def __init__(self, job_id: _Optional[str] = ..., owner_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("owner_id", "page_size", "cursor")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    page_size: int
    cursor: str
    def __init__(self, owner_id: _Optional[str] = ..., page_size: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_cursor")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_cursor: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id", "owner_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    owner_id: str
    def __init__(self, job_id: _Optional[str] = ..., owner_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class MarkResultDownloadedRequest(_message.Message):
    __slots__ = ("job_id", "owner_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    owner_id: str
    def __init__(self, job_id: _Optional[str] = ..., owner_id: _Optional[str] = ...) -> None: ...

class MarkResultDownloadedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
