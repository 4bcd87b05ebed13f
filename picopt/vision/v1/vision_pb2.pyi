from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AiProvider(_message.Message):
    __slots__ = ("name", "sends_images_off_machine")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SENDS_IMAGES_OFF_MACHINE_FIELD_NUMBER: _ClassVar[int]
    name: str
    sends_images_off_machine: bool
    def __init__(self, name: _Optional[str] = ..., sends_images_off_machine: _Optional[bool] = ...) -> None: ...

class GetProvidersResponse(_message.Message):
    __slots__ = ("default_provider", "providers")
    DEFAULT_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    default_provider: str
    providers: _containers.RepeatedCompositeFieldContainer[AiProvider]
    def __init__(self, default_provider: _Optional[str] = ..., providers: _Optional[_Iterable[_Union[AiProvider, _Mapping]]] = ...) -> None: ...

class AnalyzeRequest(_message.Message):
    __slots__ = ("blob_key", "provider", "language")
    BLOB_KEY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    blob_key: str
    provider: str
    language: str
    def __init__(self, blob_key: _Optional[str] = ..., provider: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("metadata",)
    METADATA_FIELD_NUMBER: _ClassVar[int]
    metadata: ImageMetadata
    def __init__(self, metadata: _Optional[_Union[ImageMetadata, _Mapping]] = ...) -> None: ...

class Tag(_message.Message):
    __slots__ = ("label", "confidence")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    label: str
    confidence: float
    def __init__(self, label: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    width: int
    height: int
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class DetectedText(_message.Message):
    __slots__ = ("text", "box", "confidence")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    text: str
    box: Box
    confidence: float
    def __init__(self, text: _Optional[str] = ..., box: _Optional[_Union[Box, _Mapping]] = ..., confidence: _Optional[float] = ...) -> None: ...

class Faces(_message.Message):
    __slots__ = ("count", "boxes")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    count: int
    boxes: _containers.RepeatedCompositeFieldContainer[Box]
    def __init__(self, count: _Optional[int] = ..., boxes: _Optional[_Iterable[_Union[Box, _Mapping]]] = ...) -> None: ...

class Color(_message.Message):
    __slots__ = ("hex", "share")
    HEX_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    hex: str
    share: float
    def __init__(self, hex: _Optional[str] = ..., share: _Optional[float] = ...) -> None: ...

class QualityFlags(_message.Message):
    __slots__ = ("blurry", "underexposed", "overexposed", "noisy", "sharpness", "brightness")
    BLURRY_FIELD_NUMBER: _ClassVar[int]
    UNDEREXPOSED_FIELD_NUMBER: _ClassVar[int]
    OVEREXPOSED_FIELD_NUMBER: _ClassVar[int]
    NOISY_FIELD_NUMBER: _ClassVar[int]
    SHARPNESS_FIELD_NUMBER: _ClassVar[int]
    BRIGHTNESS_FIELD_NUMBER: _ClassVar[int]
    blurry: bool
    underexposed: bool
    overexposed: bool
    noisy: bool
    sharpness: float
    brightness: float
    def __init__(self, blurry: _Optional[bool] = ..., underexposed: _Optional[bool] = ..., overexposed: _Optional[bool] = ..., noisy: _Optional[bool] = ..., sharpness: _Optional[float] = ..., brightness: _Optional[float] = ...) -> None: ...

class Safety(_message.Message):
    __slots__ = ("adult", "racy", "verdict")
    ADULT_FIELD_NUMBER: _ClassVar[int]
    RACY_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    adult: float
    racy: float
    verdict: str
    def __init__(self, adult: _Optional[float] = ..., racy: _Optional[float] = ..., verdict: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "cost_usd")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class ImageMetadata(_message.Message):
    __slots__ = ("alt_text", "caption", "tags", "detected_text", "faces", "colors", "kind", "quality", "safety", "suggested_filename", "language", "provider", "model", "ms", "width", "height", "usage")
    ALT_TEXT_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    DETECTED_TEXT_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    COLORS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    SAFETY_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_FILENAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    alt_text: str
    caption: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    detected_text: _containers.RepeatedCompositeFieldContainer[DetectedText]
    faces: Faces
    colors: _containers.RepeatedCompositeFieldContainer[Color]
    kind: str
    quality: QualityFlags
    safety: Safety
    suggested_filename: str
    language: str
    provider: str
    model: str
    ms: int
    width: int
    height: int
    usage: Usage
    def __init__(self, alt_text: _Optional[str] = ..., caption: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., detected_text: _Optional[_Iterable[_Union[DetectedText, _Mapping]]] = ..., faces: _Optional[_Union[Faces, _Mapping]] = ..., colors: _Optional[_Iterable[_Union[Color, _Mapping]]] = ..., kind: _Optional[str] = ..., quality: _Optional[_Union[QualityFlags, _Mapping]] = ..., safety: _Optional[_Union[Safety, _Mapping]] = ..., suggested_filename: _Optional[str] = ..., language: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., ms: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ...) -> None: ...
