import datetime

from google.protobuf import duration_pb2 as _duration_pb2
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

class LogPurgeCount(_message.Message):
    __slots__ = ("service", "table", "count", "purged_at")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PURGED_AT_FIELD_NUMBER: _ClassVar[int]
    service: str
    table: str
    count: int
    purged_at: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., table: _Optional[str] = ..., count: _Optional[int] = ..., purged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetReportResponse(_message.Message):
    __slots__ = ("tracked_objects", "oldest_object_age_seconds", "deletions", "last_sweep_at", "overdue_requests", "log_purges", "open_requests")
    TRACKED_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    OLDEST_OBJECT_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DELETIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_SWEEP_AT_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LOG_PURGES_FIELD_NUMBER: _ClassVar[int]
    OPEN_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    tracked_objects: int
    oldest_object_age_seconds: int
    deletions: _containers.RepeatedCompositeFieldContainer[DeletionCount]
    last_sweep_at: _timestamp_pb2.Timestamp
    overdue_requests: _containers.RepeatedCompositeFieldContainer[PrivacyRequest]
    log_purges: _containers.RepeatedCompositeFieldContainer[LogPurgeCount]
    open_requests: int
    def __init__(self, tracked_objects: _Optional[int] = ..., oldest_object_age_seconds: _Optional[int] = ..., deletions: _Optional[_Iterable[_Union[DeletionCount, _Mapping]]] = ..., last_sweep_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overdue_requests: _Optional[_Iterable[_Union[PrivacyRequest, _Mapping]]] = ..., log_purges: _Optional[_Iterable[_Union[LogPurgeCount, _Mapping]]] = ..., open_requests: _Optional[int] = ...) -> None: ...

class PrivacyRequest(_message.Message):
    __slots__ = ("id", "user_id", "kind", "status", "created_at", "deadline", "completed_at", "overdue", "pending_services")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    PENDING_SERVICES_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    kind: str
    status: str
    created_at: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    overdue: bool
    pending_services: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overdue: _Optional[bool] = ..., pending_services: _Optional[_Iterable[str]] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("at", "action", "service", "detail")
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    action: str
    service: str
    detail: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., action: _Optional[str] = ..., service: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class ListRequestsRequest(_message.Message):
    __slots__ = ("status", "user_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    status: str
    user_id: str
    def __init__(self, status: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class ListRequestsResponse(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[PrivacyRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[PrivacyRequest, _Mapping]]] = ...) -> None: ...

class GetRequestRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetRequestResponse(_message.Message):
    __slots__ = ("request", "audit")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    AUDIT_FIELD_NUMBER: _ClassVar[int]
    request: PrivacyRequest
    audit: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, request: _Optional[_Union[PrivacyRequest, _Mapping]] = ..., audit: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...

class OpenRequestRequest(_message.Message):
    __slots__ = ("user_id", "kind")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    kind: str
    def __init__(self, user_id: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class OpenRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: PrivacyRequest
    def __init__(self, request: _Optional[_Union[PrivacyRequest, _Mapping]] = ...) -> None: ...

class CompleteRequestRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CompleteRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: PrivacyRequest
    def __init__(self, request: _Optional[_Union[PrivacyRequest, _Mapping]] = ...) -> None: ...

class PurgeLogsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PurgeLogsResponse(_message.Message):
    __slots__ = ("request_id", "older_than")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OLDER_THAN_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    older_than: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., older_than: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RotateKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KeyCount(_message.Message):
    __slots__ = ("key_id", "count")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    count: int
    def __init__(self, key_id: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class RotateKeysResponse(_message.Message):
    __slots__ = ("rewrapped", "already_current", "failed", "current_key_id", "keys")
    REWRAPPED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_CURRENT_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CURRENT_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    rewrapped: int
    already_current: int
    failed: int
    current_key_id: str
    keys: _containers.RepeatedCompositeFieldContainer[KeyCount]
    def __init__(self, rewrapped: _Optional[int] = ..., already_current: _Optional[int] = ..., failed: _Optional[int] = ..., current_key_id: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[KeyCount, _Mapping]]] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("version", "effective_date", "text", "material", "published_at", "notified", "notification_done", "in_effect")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    NOTIFIED_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_DONE_FIELD_NUMBER: _ClassVar[int]
    IN_EFFECT_FIELD_NUMBER: _ClassVar[int]
    version: str
    effective_date: str
    text: str
    material: bool
    published_at: _timestamp_pb2.Timestamp
    notified: int
    notification_done: bool
    in_effect: bool
    def __init__(self, version: _Optional[str] = ..., effective_date: _Optional[str] = ..., text: _Optional[str] = ..., material: _Optional[bool] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., notified: _Optional[int] = ..., notification_done: _Optional[bool] = ..., in_effect: _Optional[bool] = ...) -> None: ...

class PublishPolicyRequest(_message.Message):
    __slots__ = ("version", "effective_date", "text", "material")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_FIELD_NUMBER: _ClassVar[int]
    version: str
    effective_date: str
    text: str
    material: bool
    def __init__(self, version: _Optional[str] = ..., effective_date: _Optional[str] = ..., text: _Optional[str] = ..., material: _Optional[bool] = ...) -> None: ...

class PublishPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: Policy
    def __init__(self, policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[Policy]
    def __init__(self, policies: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ...) -> None: ...

class RequestErasureRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class RequestErasureResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: PrivacyRequest
    def __init__(self, request: _Optional[_Union[PrivacyRequest, _Mapping]] = ...) -> None: ...

class RequestExportRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class RequestExportResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: PrivacyRequest
    def __init__(self, request: _Optional[_Union[PrivacyRequest, _Mapping]] = ...) -> None: ...

class GetExportRequest(_message.Message):
    __slots__ = ("user_id", "export_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    export_id: str
    def __init__(self, user_id: _Optional[str] = ..., export_id: _Optional[str] = ...) -> None: ...

class GetExportResponse(_message.Message):
    __slots__ = ("status", "blob_key", "expires_at")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BLOB_KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    status: str
    blob_key: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[str] = ..., blob_key: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class GetPolicyResponse(_message.Message):
    __slots__ = ("policy", "upcoming", "versions")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    UPCOMING_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    policy: Policy
    upcoming: _containers.RepeatedCompositeFieldContainer[Policy]
    versions: _containers.RepeatedCompositeFieldContainer[Policy]
    def __init__(self, policy: _Optional[_Union[Policy, _Mapping]] = ..., upcoming: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ..., versions: _Optional[_Iterable[_Union[Policy, _Mapping]]] = ...) -> None: ...

class GetRetentionFactsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRetentionFactsResponse(_message.Message):
    __slots__ = ("image_ttl", "download_grace", "log_age", "erasure_deadline", "export_ttl", "session_ttl", "policy_notice")
    IMAGE_TTL_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_GRACE_FIELD_NUMBER: _ClassVar[int]
    LOG_AGE_FIELD_NUMBER: _ClassVar[int]
    ERASURE_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    EXPORT_TTL_FIELD_NUMBER: _ClassVar[int]
    SESSION_TTL_FIELD_NUMBER: _ClassVar[int]
    POLICY_NOTICE_FIELD_NUMBER: _ClassVar[int]
    image_ttl: _duration_pb2.Duration
    download_grace: _duration_pb2.Duration
    log_age: _duration_pb2.Duration
    erasure_deadline: _duration_pb2.Duration
    export_ttl: _duration_pb2.Duration
    session_ttl: _duration_pb2.Duration
    policy_notice: _duration_pb2.Duration
    def __init__(self, image_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., download_grace: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., log_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., erasure_deadline: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., export_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., session_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., policy_notice: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ProcessingSession(_message.Message):
    __slots__ = ("id", "status", "created_at", "expires_at", "ended_at", "images_deleted")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    IMAGES_DELETED_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    images_deleted: int
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., images_deleted: _Optional[int] = ...) -> None: ...

class OpenSessionRequest(_message.Message):
    __slots__ = ("user_id", "ttl_seconds")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    ttl_seconds: int
    def __init__(self, user_id: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class OpenSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: ProcessingSession
    def __init__(self, session: _Optional[_Union[ProcessingSession, _Mapping]] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("user_id", "session_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    session_id: str
    def __init__(self, user_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class GetSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: ProcessingSession
    def __init__(self, session: _Optional[_Union[ProcessingSession, _Mapping]] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("user_id", "session_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    session_id: str
    def __init__(self, user_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: ProcessingSession
    def __init__(self, session: _Optional[_Union[ProcessingSession, _Mapping]] = ...) -> None: ...

class ListExportsRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class DataExport(_message.Message):
    __slots__ = ("id", "status", "created_at", "expires_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListExportsResponse(_message.Message):
    __slots__ = ("exports",)
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    exports: _containers.RepeatedCompositeFieldContainer[DataExport]
    def __init__(self, exports: _Optional[_Iterable[_Union[DataExport, _Mapping]]] = ...) -> None: ...

class DeliverExportRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class DeliverExportResponse(_message.Message):
    __slots__ = ("request_id", "attached", "archive_bytes")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_BYTES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    attached: bool
    archive_bytes: int
    def __init__(self, request_id: _Optional[str] = ..., attached: _Optional[bool] = ..., archive_bytes: _Optional[int] = ...) -> None: ...

class FindUserRequest(_message.Message):
    __slots__ = ("email",)
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    email: str
    def __init__(self, email: _Optional[str] = ...) -> None: ...

class FindUserResponse(_message.Message):
    __slots__ = ("user_id", "name", "created_at", "email_confirmed", "disabled", "requests")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    email_confirmed: bool
    disabled: bool
    requests: _containers.RepeatedCompositeFieldContainer[PrivacyRequest]
    def __init__(self, user_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., email_confirmed: _Optional[bool] = ..., disabled: _Optional[bool] = ..., requests: _Optional[_Iterable[_Union[PrivacyRequest, _Mapping]]] = ...) -> None: ...

class GetComplianceEvidenceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeadLetterQueueDepth(_message.Message):
    __slots__ = ("queue", "depth", "oldest_age_seconds")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    OLDEST_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    queue: str
    depth: int
    oldest_age_seconds: float
    def __init__(self, queue: _Optional[str] = ..., depth: _Optional[int] = ..., oldest_age_seconds: _Optional[float] = ...) -> None: ...

class ServiceLogPurge(_message.Message):
    __slots__ = ("service", "confirmed_at", "older_than", "rows_purged")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_AT_FIELD_NUMBER: _ClassVar[int]
    OLDER_THAN_FIELD_NUMBER: _ClassVar[int]
    ROWS_PURGED_FIELD_NUMBER: _ClassVar[int]
    service: str
    confirmed_at: _timestamp_pb2.Timestamp
    older_than: _timestamp_pb2.Timestamp
    rows_purged: int
    def __init__(self, service: _Optional[str] = ..., confirmed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., older_than: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rows_purged: _Optional[int] = ...) -> None: ...

class GetComplianceEvidenceResponse(_message.Message):
    __slots__ = ("generated_at", "settings", "stored_objects", "oldest_object_age_seconds", "last_sweep_at", "open_requests", "overdue_requests", "last_erasure_id", "last_erasure_completed_at", "last_erasure_seconds", "dead_letter_queues", "dead_letters_error", "log_purges", "oldest_log_row_at", "policy_version", "upcoming_policy_versions", "master_key_id")
    class SettingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    STORED_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    OLDEST_OBJECT_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_SWEEP_AT_FIELD_NUMBER: _ClassVar[int]
    OPEN_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERASURE_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_ERASURE_COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERASURE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_QUEUES_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_ERROR_FIELD_NUMBER: _ClassVar[int]
    LOG_PURGES_FIELD_NUMBER: _ClassVar[int]
    OLDEST_LOG_ROW_AT_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPCOMING_POLICY_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    MASTER_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    generated_at: _timestamp_pb2.Timestamp
    settings: _containers.ScalarMap[str, str]
    stored_objects: int
    oldest_object_age_seconds: int
    last_sweep_at: _timestamp_pb2.Timestamp
    open_requests: int
    overdue_requests: int
    last_erasure_id: str
    last_erasure_completed_at: _timestamp_pb2.Timestamp
    last_erasure_seconds: float
    dead_letter_queues: _containers.RepeatedCompositeFieldContainer[DeadLetterQueueDepth]
    dead_letters_error: str
    log_purges: _containers.RepeatedCompositeFieldContainer[ServiceLogPurge]
    oldest_log_row_at: _timestamp_pb2.Timestamp
    policy_version: str
    upcoming_policy_versions: _containers.RepeatedScalarFieldContainer[str]
    master_key_id: str
    def __init__(self, generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., settings: _Optional[_Mapping[str, str]] = ..., stored_objects: _Optional[int] = ..., oldest_object_age_seconds: _Optional[int] = ..., last_sweep_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open_requests: _Optional[int] = ..., overdue_requests: _Optional[int] = ..., last_erasure_id: _Optional[str] = ..., last_erasure_completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_erasure_seconds: _Optional[float] = ..., dead_letter_queues: _Optional[_Iterable[_Union[DeadLetterQueueDepth, _Mapping]]] = ..., dead_letters_error: _Optional[str] = ..., log_purges: _Optional[_Iterable[_Union[ServiceLogPurge, _Mapping]]] = ..., oldest_log_row_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., policy_version: _Optional[str] = ..., upcoming_policy_versions: _Optional[_Iterable[str]] = ..., master_key_id: _Optional[str] = ...) -> None: ...
