"""A small typed client for the public REST API (used by the demo, the CLI and the tests)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests
from urllib3 import encode_multipart_formdata

TERMINAL = ("done", "failed")
MAX_RETRY_AFTER_S = 300.0
Progress = Callable[[int, int], None]


class ApiError(Exception):
    """A problem+json answer (or a transport failure, status 0)."""

    def __init__(
        self, status: int, problem: Mapping[str, Any], retry_after: float | None = None
    ) -> None:
        self.status = status
        self.problem = dict(problem)
        self.code = str(problem.get("code", ""))
        self.detail = str(problem.get("detail", ""))
        self.retry_after = retry_after
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}")


class _ProgressBody(io.BytesIO):
    """A request body that reports how much of it the HTTP library has read (sent)."""

    def __init__(self, data: bytes, progress: Progress) -> None:
        super().__init__(data)
        self.total = len(data)
        self.progress = progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.progress(self.tell(), self.total)
        return chunk


def _retry_after(response: requests.Response) -> float | None:
    try:
        return min(max(float(response.headers.get("Retry-After", "")), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return None


class Client:
    """The public REST API. `rate_limit_retries` > 0 waits out 429 answers (Retry-After)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        rate_limit_retries: int = 0,
        on_rate_limit: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.timeout = timeout
        self.rate_limit_retries = rate_limit_retries
        self.on_rate_limit = on_rate_limit
        if api_key:
            self.http.headers["Authorization"] = f"Bearer {api_key}"

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        attempt = 0
        while True:
            try:
                return self._call_once(method, path, **kwargs)
            except ApiError as err:
                if err.status != 429 or attempt >= self.rate_limit_retries:
                    raise
                # At least a second: "Retry-After: 0" with a 429 means the window is nearly over.
                wait = max(err.retry_after, 1.0) if err.retry_after is not None else 2.0**attempt
                if self.on_rate_limit:
                    self.on_rate_limit(wait)
                time.sleep(wait)
                attempt += 1
                body = kwargs.get("data")
                if isinstance(body, io.BytesIO):
                    body.seek(0)

    def _call_once(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        csrf = self.http.cookies.get("__Host-csrf") or self.http.cookies.get("csrf_token")
        if csrf and method not in {"GET", "HEAD"}:
            headers["X-CSRF-Token"] = csrf
        try:
            response = self.http.request(
                method,
                self.base_url + path,
                headers=headers,
                timeout=self.timeout,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise ApiError(
                0, {"title": "Network error", "detail": str(exc), "code": "network"}
            ) from exc
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason, "detail": response.text[:200]}
            raise ApiError(response.status_code, problem, _retry_after(response))
        return response

    def signup(self, name: str, email: str, password: str) -> dict[str, Any]:
        body = {"name": name, "email": email, "password": password}
        return dict(self._call("POST", "/v1/auth/signup", json=body).json())

    def login(self, email: str, password: str) -> dict[str, Any]:
        body = {"email": email, "password": password}
        return dict(self._call("POST", "/v1/auth/login", json=body).json())

    def confirm(self, token: str) -> dict[str, Any]:
        return dict(self._call("POST", "/v1/auth/confirm", json={"token": token}).json()["user"])

    def logout(self) -> None:
        self._call("POST", "/v1/auth/logout")

    def logout_everywhere(self, revoke_api_keys: bool = False) -> None:
        body = {"revoke_api_keys": True} if revoke_api_keys else None
        self._call("POST", "/v1/auth/logout-everywhere", json=body)

    def request_password_reset(self, email: str) -> None:
        self._call("POST", "/v1/auth/password-reset", json={"email": email})

    def reset_password(self, token: str, password: str, revoke_api_keys: bool = False) -> None:
        body = {"token": token, "password": password, "revoke_api_keys": revoke_api_keys}
        self._call("POST", "/v1/auth/password-reset/confirm", json=body)

    def update_account(self, **fields: str) -> dict[str, Any]:
        return dict(self._call("PATCH", "/v1/account", json=fields).json()["user"])

    def change_password(self, current: str, new: str) -> None:
        body = {"current_password": current, "new_password": new}
        self._call("POST", "/v1/account/password", json=body)

    def api_calls(self, limit: int = 50) -> list[dict[str, Any]]:
        reply = self._call("GET", "/v1/account/api-calls", params={"limit": limit}).json()
        return list(reply["calls"])

    def sign_in_methods(self) -> dict[str, Any]:
        """Linked provider identities (`identities`) and whether a password is set."""
        return dict(self._call("GET", "/v1/account/identities").json())

    def unlink_identity(self, identity_id: str) -> None:
        """Disconnect a provider; refused (409) when it is the last way to sign in."""
        self._call("DELETE", f"/v1/account/identities/{identity_id}")

    def create_api_key(self, name: str = "default") -> str:
        return str(self._call("POST", "/v1/api-keys", json={"name": name}).json()["key"])

    def api_keys(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/api-keys").json()["api_keys"])

    def revoke_api_key(self, key_id: str) -> None:
        self._call("DELETE", f"/v1/api-keys/{key_id}")

    def use_api_key(self, key: str) -> None:
        self.http.headers["Authorization"] = f"Bearer {key}"

    def account(self) -> dict[str, Any]:
        return dict(self._call("GET", "/v1/account").json()["user"])

    def balance(self) -> dict[str, int]:
        return dict(self._call("GET", "/v1/billing/balance").json())

    def packs(self) -> dict[str, Any]:
        return dict(self._call("GET", "/v1/billing/packs").json())

    def checkout(self, pack: str, idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"pack": pack}
        return dict(self._call("POST", "/v1/billing/checkout", json=body, headers=headers).json())

    def purchases(self, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return dict(self._call("GET", "/v1/billing/purchases", params=params).json())

    def usage(
        self, group: str = "job", limit: int = 20, cursor: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"group": group, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        return dict(self._call("GET", "/v1/usage", params=params).json())

    def submit(
        self,
        image: Path | bytes,
        filename: str = "",
        progress: Progress | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Submit one image; `progress(sent, total)` is called as the upload goes out."""
        data = image.read_bytes() if isinstance(image, Path) else image
        name = filename or (image.name if isinstance(image, Path) else "upload")
        form = {k: _form_value(v) for k, v in options.items() if v is not None}
        if progress is None:
            files = {"file": (name, data, "application/octet-stream")}
            return dict(self._call("POST", "/v1/jobs", files=files, data=form).json())
        fields: list[tuple[str, Any]] = list(form.items())
        fields.append(("file", (name, data, "application/octet-stream")))
        body, content_type = encode_multipart_formdata(fields)
        return dict(
            self._call(
                "POST",
                "/v1/jobs",
                data=_ProgressBody(body, progress),
                headers={"Content-Type": content_type},
            ).json()
        )

    def submit_batch(self, images: list[tuple[str, bytes]], **options: Any) -> list[dict[str, Any]]:
        form = {k: _form_value(v) for k, v in options.items() if v is not None}
        files = [("file", (name, data, "application/octet-stream")) for name, data in images]
        return list(self._call("POST", "/v1/jobs/batch", files=files, data=form).json()["jobs"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/jobs/{job_id}").json())

    def jobs(self, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return dict(self._call("GET", "/v1/jobs", params=params).json())

    def wait(self, job_id: str, timeout: float = 120.0, interval: float = 0.25) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:.0f}s")
            time.sleep(interval)

    def download(self, job_id: str, variant: int = 0) -> bytes:
        return self._call("GET", f"/v1/jobs/{job_id}/result", params={"variant": variant}).content

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/v1/jobs/{job_id}").json())

    def request_export(self) -> dict[str, Any]:
        """Ask for a data export; poll `export(id)` until it returns the archive."""
        return dict(self._call("POST", "/v1/account/export").json())

    def export(self, export_id: str) -> bytes | None:
        """The export archive (zip), or None while it is still being gathered."""
        response = self._call("GET", f"/v1/account/export/{export_id}")
        return None if response.status_code == 202 else response.content

    def delete_account(self, password: str | None = None) -> dict[str, Any]:
        """Disable the account now; it is erased everywhere within 30 days. Signed in with an
        API key, the account password is needed too."""
        body = {"password": password} if password else None
        return dict(self._call("DELETE", "/v1/account", json=body).json())

    def privacy_policy(self) -> dict[str, Any]:
        return dict(self._call("GET", "/v1/privacy").json())


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)
