import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunSweepRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunSweepResponse(_message.Message):
    __slots__ = ("deleted", "orphans")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    ORPHANS_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    orphans: int
    def __init__(self, deleted: _Optional[int] = ..., orphans: _Optional[int] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeletionCount(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class GetReportResponse(_message.Message):
    __slots__ = ("tracked_objects", "oldest_object_age_seconds", "deletions", "last_sweep_at")
    TRACKED_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    OLDEST_OBJECT_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DELETIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_SWEEP_AT_FIELD_NUMBER: _ClassVar[int]
    tracked_objects: int
    oldest_object_age_seconds: int
    deletions: _containers.RepeatedCompositeFieldContainer[DeletionCount]
    last_sweep_at: _timestamp_pb2.Timestamp
    def __init__(self, tracked_objects: _Optional[int] = ..., oldest_object_age_seconds: _Optional[int] = ..., deletions: _Optional[_Iterable[_Union[DeletionCount, _Mapping]]] = ..., last_sweep_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
