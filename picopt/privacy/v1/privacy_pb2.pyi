from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportUserDataRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class ExportFile(_message.Message):
    __slots__ = ("name", "content")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    content: bytes
    def __init__(self, name: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class ExportUserDataResponse(_message.Message):
    __slots__ = ("service", "files")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    service: str
    files: _containers.RepeatedCompositeFieldContainer[ExportFile]
    def __init__(self, service: _Optional[str] = ..., files: _Optional[_Iterable[_Union[ExportFile, _Mapping]]] = ...) -> None: ...

class ListRecipientsRequest(_message.Message):
    __slots__ = ("after_user_id", "page_size")
    AFTER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    after_user_id: str
    page_size: int
    def __init__(self, after_user_id: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class Recipient(_message.Message):
    __slots__ = ("user_id", "email", "name")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    name: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListRecipientsResponse(_message.Message):
    __slots__ = ("recipients",)
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    def __init__(self, recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ...) -> None: ...
