"""Request and response models of the public API (they generate the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from picopt.formats import ImageFormat

Email = Field(min_length=3, max_length=320)
Password = Field(min_length=1, max_length=1024)
Token = Field(min_length=1, max_length=200)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignupBody(_Body):
    name: str = Field(min_length=1, max_length=200)
    email: str = Email
    password: str = Password


class LoginBody(_Body):
    email: str = Email
    password: str = Password


class TokenBody(_Body):
    token: str = Token


class PasswordResetBody(_Body):
    email: str = Email


class PasswordResetConfirmBody(_Body):
    token: str = Token
    password: str = Password
    # Someone who knew the old password may have made API keys: offer to revoke them all.
    revoke_api_keys: bool = False


class LogoutEverywhereBody(_Body):
    """Optional: also revoke every API key of the account."""

    revoke_api_keys: bool = False


class AccountDeleteBody(_Body):
    """Signed in with a session, nothing is needed; with an API key, the account password."""

    password: str | None = Field(default=None, min_length=1, max_length=1024)


class AccountPatchBody(_Body):
    """Change the name right away; a new email takes effect once confirmed (needs the password)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, min_length=3, max_length=320)
    current_password: str | None = Field(default=None, min_length=1, max_length=1024)
    # AI metadata defaults for jobs that name none; "" or null clears the preference.
    vision_provider: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=35)


class PasswordChangeBody(_Body):
    current_password: str = Password
    new_password: str = Password


class ApiKeyBody(_Body):
    name: str = Field(default="default", min_length=1, max_length=100)


class Accepted(BaseModel):
    """Accepted; what happens next is sent by email."""

    status: str
    detail: str


class User(BaseModel):
    """The signed-in user."""

    id: str
    name: str
    email: str
    email_confirmed: bool
    pending_email: bool = False
    created_at: str | None
    # Used for jobs that name no provider or language; null: the deployment default.
    vision_provider: str | None = None
    language: str | None = None


class UserReply(BaseModel):
    """The signed-in user."""

    user: User


class LoginReply(BaseModel):
    """Signed in: the session cookie and its CSRF cookie are set."""

    user: User
    expires_at: str | None


class ApiKey(BaseModel):
    """An API key (never the key itself)."""

    id: str
    name: str
    prefix: str
    created_at: str | None
    last_used_at: str | None


class ApiKeyList(BaseModel):
    """Your active API keys."""

    api_keys: list[ApiKey]


class ApiKeyCreated(BaseModel):
    """The new key: `key` is shown exactly once."""

    api_key: ApiKey
    key: str


class ApiCall(BaseModel):
    """One authenticated call."""

    method: str
    route: str
    status: int
    duration_ms: int
    at: str


class ApiCallList(BaseModel):
    """Your recent API calls, newest first."""

    calls: list[ApiCall]


class Identity(BaseModel):
    """A provider account linked for sign-in."""

    id: str
    provider: str
    subject_hint: str = Field(description="The provider's account id, masked")
    linked_at: str | None


class IdentityList(BaseModel):
    """The ways this account can sign in."""

    identities: list[Identity]
    has_password: bool


class JobInput(BaseModel):
    name: str
    format: str
    bytes: int
    width: int | None
    height: int | None


class JobOutput(BaseModel):
    format: str
    bytes: int
    width: int
    height: int
    ssimulacra2: float | None
    no_gain: bool
    # Why an output bigger than the input was returned instead of the input itself:
    # format_not_accepted, resized or orientation (README, "Job errors").
    larger_reason: str | None
    saving_percent: float | None


class JobVariant(BaseModel):
    index: int
    format: str
    bytes: int
    width: int
    height: int
    larger_reason: str | None


class JobError(BaseModel):
    code: str
    message: str


class Job(BaseModel):
    """A job and, once done, its result and metadata."""

    id: str
    status: str
    input: JobInput
    output: JobOutput | None
    variants: list[JobVariant]
    placeholder: dict[str, str] | None
    options: dict[str, Any]
    metadata: dict[str, Any] | None
    error: JobError | None
    created_at: str | None
    updated_at: str | None
    expires_at: str | None
    result_gone: bool
    links: dict[str, str | None]


class JobList(BaseModel):
    """A page of jobs, newest first; pass next_cursor to get the next page."""

    jobs: list[Job]
    next_cursor: str | None


class JobBatch(BaseModel):
    """The jobs created by one batch submission, in upload order."""

    jobs: list[Job]


class ListJobsQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str = Field(default="", max_length=200)


class ListCallsQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)


class ResultQuery(BaseModel):
    variant: int = Field(default=0, ge=0, le=16)


# A page of the web app on this origin: no scheme, no host, no "//", no "..".
NEXT_PATH = r"^(/app(/[a-z-]*)?(\?[\w=&%.-]*)?)?$"


class OAuthStartQuery(BaseModel):
    next: str = Field(default="", max_length=500, pattern=NEXT_PATH)


class OAuthCallbackQuery(BaseModel):
    code: str = Field(default="", max_length=2000)
    state: str = Field(default="", max_length=200)
    error: str = Field(default="", max_length=200)


class QualityChoices(BaseModel):
    words: list[str]
    presets: dict[str, float]
    fixed_range: list[int]
    default: str


class Choices(BaseModel):
    values: list[str]
    default: str


class FormatsReply(BaseModel):
    """Formats and job options, so clients (the web app too) never hard-code them."""

    # Each format as `picopt.formats.ImageFormat` states it; `extensions[0]` is what outputs get.
    formats: list[ImageFormat]
    browser_outputs: list[str]
    quality: QualityChoices
    fit: Choices
    keep_metadata: Choices
    effort: Choices
    max_dimension: int
    max_widths: int
