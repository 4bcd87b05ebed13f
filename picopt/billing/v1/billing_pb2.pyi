import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetBalanceRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("available", "reserved", "granted", "purchased")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_FIELD_NUMBER: _ClassVar[int]
    available: int
    reserved: int
    granted: int
    purchased: int
    def __init__(self, available: _Optional[int] = ..., reserved: _Optional[int] = ..., granted: _Optional[int] = ..., purchased: _Optional[int] = ...) -> None: ...

class ReserveRequest(_message.Message):
    __slots__ = ("job_id", "user_id", "with_metadata", "outputs")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    WITH_METADATA_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    user_id: str
    with_metadata: bool
    outputs: int
    def __init__(self, job_id: _Optional[str] = ..., user_id: _Optional[str] = ..., with_metadata: _Optional[bool] = ..., outputs: _Optional[int] = ...) -> None: ...

class ReserveResponse(_message.Message):
    __slots__ = ("credits", "available")
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    credits: int
    available: int
    def __init__(self, credits: _Optional[int] = ..., available: _Optional[int] = ...) -> None: ...

class CaptureRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CaptureResponse(_message.Message):
    __slots__ = ("credits",)
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    credits: int
    def __init__(self, credits: _Optional[int] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("job_id", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("credits",)
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    credits: int
    def __init__(self, credits: _Optional[int] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("id", "kind", "credits", "job_id", "reason", "created_at", "bucket", "purchase_id", "expires_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    credits: int
    job_id: str
    reason: str
    created_at: _timestamp_pb2.Timestamp
    bucket: str
    purchase_id: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., credits: _Optional[int] = ..., job_id: _Optional[str] = ..., reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bucket: _Optional[str] = ..., purchase_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListLedgerRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class ListLedgerResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LedgerEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[LedgerEntry, _Mapping]]] = ...) -> None: ...

class Pack(_message.Message):
    __slots__ = ("id", "name", "credits", "amount", "currency")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    credits: int
    amount: int
    currency: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., credits: _Optional[int] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class ListPacksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPacksResponse(_message.Message):
    __slots__ = ("packs", "image_cost", "metadata_cost", "currency")
    PACKS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_COST_FIELD_NUMBER: _ClassVar[int]
    METADATA_COST_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    packs: _containers.RepeatedCompositeFieldContainer[Pack]
    image_cost: int
    metadata_cost: int
    currency: str
    def __init__(self, packs: _Optional[_Iterable[_Union[Pack, _Mapping]]] = ..., image_cost: _Optional[int] = ..., metadata_cost: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class CreateCheckoutRequest(_message.Message):
    __slots__ = ("user_id", "pack_id", "request_key")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_KEY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    pack_id: str
    request_key: str
    def __init__(self, user_id: _Optional[str] = ..., pack_id: _Optional[str] = ..., request_key: _Optional[str] = ...) -> None: ...

class CreateCheckoutResponse(_message.Message):
    __slots__ = ("purchase_id", "mode", "checkout_url", "client_secret", "checkout_session_id", "payment_intent_id")
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_URL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    purchase_id: str
    mode: str
    checkout_url: str
    client_secret: str
    checkout_session_id: str
    payment_intent_id: str
    def __init__(self, purchase_id: _Optional[str] = ..., mode: _Optional[str] = ..., checkout_url: _Optional[str] = ..., client_secret: _Optional[str] = ..., checkout_session_id: _Optional[str] = ..., payment_intent_id: _Optional[str] = ...) -> None: ...

class HandleStripeWebhookRequest(_message.Message):
    __slots__ = ("payload", "signature")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    signature: str
    def __init__(self, payload: _Optional[bytes] = ..., signature: _Optional[str] = ...) -> None: ...

class HandleStripeWebhookResponse(_message.Message):
    __slots__ = ("event_id", "outcome")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    outcome: str
    def __init__(self, event_id: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...

class Purchase(_message.Message):
    __slots__ = ("id", "pack_id", "pack_name", "credits", "amount", "currency", "status", "amount_refunded", "credits_reversed", "created_at", "paid_at", "payment_intent_id", "checkout_session_id", "receipt_sent")
    ID_FIELD_NUMBER: _ClassVar[int]
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    PACK_NAME_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_REFUNDED_FIELD_NUMBER: _ClassVar[int]
    CREDITS_REVERSED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_SENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    pack_id: str
    pack_name: str
    credits: int
    amount: int
    currency: str
    status: str
    amount_refunded: int
    credits_reversed: int
    created_at: _timestamp_pb2.Timestamp
    paid_at: _timestamp_pb2.Timestamp
    payment_intent_id: str
    checkout_session_id: str
    receipt_sent: bool
    def __init__(self, id: _Optional[str] = ..., pack_id: _Optional[str] = ..., pack_name: _Optional[str] = ..., credits: _Optional[int] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., status: _Optional[str] = ..., amount_refunded: _Optional[int] = ..., credits_reversed: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payment_intent_id: _Optional[str] = ..., checkout_session_id: _Optional[str] = ..., receipt_sent: _Optional[bool] = ...) -> None: ...

class ListPurchasesRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "cursor")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    page_size: int
    cursor: str
    def __init__(self, user_id: _Optional[str] = ..., page_size: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListPurchasesResponse(_message.Message):
    __slots__ = ("purchases", "next_cursor")
    PURCHASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    purchases: _containers.RepeatedCompositeFieldContainer[Purchase]
    next_cursor: str
    def __init__(self, purchases: _Optional[_Iterable[_Union[Purchase, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class UsageItem(_message.Message):
    __slots__ = ("job_id", "day", "credits", "jobs", "at")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    day: str
    credits: int
    jobs: int
    at: _timestamp_pb2.Timestamp
    def __init__(self, job_id: _Optional[str] = ..., day: _Optional[str] = ..., credits: _Optional[int] = ..., jobs: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListUsageRequest(_message.Message):
    __slots__ = ("user_id", "group_by", "page_size", "cursor")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    group_by: str
    page_size: int
    cursor: str
    def __init__(self, user_id: _Optional[str] = ..., group_by: _Optional[str] = ..., page_size: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListUsageResponse(_message.Message):
    __slots__ = ("items", "next_cursor")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[UsageItem]
    next_cursor: str
    def __init__(self, items: _Optional[_Iterable[_Union[UsageItem, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class AdjustCreditsRequest(_message.Message):
    __slots__ = ("user_id", "credits", "reason", "idempotency_key")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    credits: int
    reason: str
    idempotency_key: str
    def __init__(self, user_id: _Optional[str] = ..., credits: _Optional[int] = ..., reason: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class AdjustCreditsResponse(_message.Message):
    __slots__ = ("available", "granted", "purchased")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    PURCHASED_FIELD_NUMBER: _ClassVar[int]
    available: int
    granted: int
    purchased: int
    def __init__(self, available: _Optional[int] = ..., granted: _Optional[int] = ..., purchased: _Optional[int] = ...) -> None: ...

class ReconcileRequest(_message.Message):
    __slots__ = ("since",)
    SINCE_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Mismatch(_message.Message):
    __slots__ = ("purchase_id", "payment_intent_id", "kind", "detail")
    PURCHASE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    purchase_id: str
    payment_intent_id: str
    kind: str
    detail: str
    def __init__(self, purchase_id: _Optional[str] = ..., payment_intent_id: _Optional[str] = ..., kind: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class ReconcileResponse(_message.Message):
    __slots__ = ("checked", "mismatches")
    CHECKED_FIELD_NUMBER: _ClassVar[int]
    MISMATCHES_FIELD_NUMBER: _ClassVar[int]
    checked: int
    mismatches: _containers.RepeatedCompositeFieldContainer[Mismatch]
    def __init__(self, checked: _Optional[int] = ..., mismatches: _Optional[_Iterable[_Union[Mismatch, _Mapping]]] = ...) -> None: ...
