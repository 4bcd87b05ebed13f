import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from picopt.processor.v1 import processor_pb2 as _processor_pb2
from picopt.vision.v1 import vision_pb2 as _vision_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("event_id", "type", "occurred_at", "traceparent", "payload", "producer")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    occurred_at: _timestamp_pb2.Timestamp
    traceparent: str
    payload: bytes
    producer: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., traceparent: _Optional[str] = ..., payload: _Optional[bytes] = ..., producer: _Optional[str] = ...) -> None: ...

class JobSubmitted(_message.Message):
    __slots__ = ("job_id", "owner_id", "input_key", "options", "expires_at")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_KEY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    owner_id: str
    input_key: str
    options: _processor_pb2.JobOptions
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, job_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., input_key: _Optional[str] = ..., options: _Optional[_Union[_processor_pb2.JobOptions, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class JobOptimized(_message.Message):
    __slots__ = ("job_id", "owner_id", "result_key", "metadata", "expires_at", "vision_provider", "language")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_KEY_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    VISION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    owner_id: str
    result_key: str
    metadata: bool
    expires_at: _timestamp_pb2.Timestamp
    vision_provider: str
    language: str
    def __init__(self, job_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., result_key: _Optional[str] = ..., metadata: _Optional[bool] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., vision_provider: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class JobAnalyzed(_message.Message):
    __slots__ = ("job_id", "metadata", "safety_action")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SAFETY_ACTION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    metadata: _vision_pb2.ImageMetadata
    safety_action: str
    def __init__(self, job_id: _Optional[str] = ..., metadata: _Optional[_Union[_vision_pb2.ImageMetadata, _Mapping]] = ..., safety_action: _Optional[str] = ...) -> None: ...

class JobCompleted(_message.Message):
    __slots__ = ("job_id", "owner_id", "input_key", "result_key", "expires_at", "output_keys", "widths_made")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_KEY_FIELD_NUMBER: _ClassVar[int]
    RESULT_KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_KEYS_FIELD_NUMBER: _ClassVar[int]
    WIDTHS_MADE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    owner_id: str
    input_key: str
    result_key: str
    expires_at: _timestamp_pb2.Timestamp
    output_keys: _containers.RepeatedScalarFieldContainer[str]
    widths_made: int
    def __init__(self, job_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., input_key: _Optional[str] = ..., result_key: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., output_keys: _Optional[_Iterable[str]] = ..., widths_made: _Optional[int] = ...) -> None: ...

class JobFailed(_message.Message):
    __slots__ = ("job_id", "owner_id", "input_key", "code", "message", "output_keys")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_KEY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_KEYS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    owner_id: str
    input_key: str
    code: str
    message: str
    output_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., input_key: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., output_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class ResultDownloaded(_message.Message):
    __slots__ = ("job_id", "owner_id", "result_key", "downloaded_at", "output_keys")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_KEY_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_KEYS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    owner_id: str
    result_key: str
    downloaded_at: _timestamp_pb2.Timestamp
    output_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., result_key: _Optional[str] = ..., downloaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., output_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class ResultDeleted(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class AccountCreated(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class AccountConfirmed(_message.Message):
    __slots__ = ("user_id", "email_digest", "older_email_digests")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_DIGEST_FIELD_NUMBER: _ClassVar[int]
    OLDER_EMAIL_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email_digest: str
    older_email_digests: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_id: _Optional[str] = ..., email_digest: _Optional[str] = ..., older_email_digests: _Optional[_Iterable[str]] = ...) -> None: ...

class AccountErase(_message.Message):
    __slots__ = ("user_id", "request_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    request_id: str
    def __init__(self, user_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AccountErased(_message.Message):
    __slots__ = ("user_id", "request_id", "service", "counts")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    request_id: str
    service: str
    counts: _containers.ScalarMap[str, int]
    def __init__(self, user_id: _Optional[str] = ..., request_id: _Optional[str] = ..., service: _Optional[str] = ..., counts: _Optional[_Mapping[str, int]] = ...) -> None: ...

class LogsPurge(_message.Message):
    __slots__ = ("request_id", "older_than")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OLDER_THAN_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    older_than: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., older_than: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LogsPurged(_message.Message):
    __slots__ = ("request_id", "service", "counts")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    service: str
    counts: _containers.ScalarMap[str, int]
    def __init__(self, request_id: _Optional[str] = ..., service: _Optional[str] = ..., counts: _Optional[_Mapping[str, int]] = ...) -> None: ...
