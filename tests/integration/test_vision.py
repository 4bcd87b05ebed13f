"""AI metadata through the running services: the local provider, a remote provider, the
per-job and per-account choice of provider and language, and the safety policy (flag, blur,
refuse).

Three stacks: the default one (flag policy; an OpenAI-compatible fake on loopback allowed
next to `local`), and two whose block threshold is so low that every image counts as blocked,
one refusing and one blurring, each running only for its test (at most two stacks at once).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

from picopt.client import ApiError, Client
from picopt.devstack import Stack
from services.vision.tests.fake_api import VALID, FakeAPI, Reply, openai_ok
from tests.integration.conftest import blob_dir, new_user, wait_for
from tests.integration.harness import running_stack

pytestmark = pytest.mark.integration

PHRASE = "HELLO FROM ORBIT"
EVERYTHING_BLOCKED = {"VISION_NSFW_BLOCK_AT": "0.0001"}


def astronaut_with_text() -> bytes:
    """A portrait (one face) with a light banner carrying PHRASE, as a JPEG."""
    img = Image.fromarray(np.asarray(skdata.astronaut())).convert("RGB")
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 430, 492, 492), fill=(245, 243, 235))
    draw.text((36, 440), PHRASE, font=ImageFont.load_default(size=40), fill=(20, 20, 20))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def sharpness(data: bytes) -> float:
    """Variance of the Laplacian of the grey image: high for detail, near zero when blurred."""
    grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def job_files(stack: Stack, job_id: str) -> list[Path]:
    return [p for p in blob_dir(stack).rglob("*") if p.is_file() and job_id in str(p)]


def vision_log(stack: Stack) -> list[dict[str, object]]:
    lines = (Path(stack.env["VAR_DIR"]).parent / "logs" / "vision.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAPI]:
    api = FakeAPI()
    yield api
    api.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fake: FakeAPI) -> Iterator[Stack]:
    env = {
        "VISION_ALLOWED_PROVIDERS": "local,openai",
        "VISION_OPENAI_BASE_URL": f"{fake.url}/v1",
        "VISION_OPENAI_MODEL": "gpt-test",
        "VISION_RETRIES": "2",
        "VISION_RETRY_BASE_S": "0.05",
        "VISION_BREAKER_FAILURES": "1",
        # One machine's layout (`make up`): the processor's API process runs the jobs.
        "PROCESSOR_API_RUNS_JOBS": "true",
    }
    with running_stack(tmp_path_factory.mktemp("vision"), env, workers=0) as running:
        assert not [name for name in running.processes if name.startswith("worker")]
        yield running


@pytest.fixture(scope="module")
def user(stack: Stack) -> Client:
    return new_user(stack)


def test_a_photo_comes_back_with_the_full_local_metadata(user: Client) -> None:
    job = user.submit(astronaut_with_text(), filename="astronaut.jpg", metadata=True)
    done = user.wait(job["id"], timeout=120)
    assert done["status"] == "done", done["error"]
    meta = done["metadata"]
    assert 0 < len(meta["alt_text"]) <= 125
    assert "image of" not in meta["alt_text"].lower()
    assert PHRASE in meta["alt_text"] and meta["caption"].endswith(".")
    assert {t["label"] for t in meta["tags"]} >= {"person", "text"}
    assert all(0 < t["confidence"] <= 1 for t in meta["tags"])
    assert any(t["text"] == PHRASE and t["confidence"] > 0.5 for t in meta["detected_text"])
    assert meta["faces"]["count"] >= 1 and len(meta["faces"]["boxes"]) == meta["faces"]["count"]
    assert meta["colors"] and all(
        c["hex"].startswith("#") and c["share"] > 0 for c in meta["colors"]
    )
    assert 0.9 < sum(c["share"] for c in meta["colors"]) <= 1.01
    assert meta["kind"] == "photo"
    assert 0 < meta["quality"]["sharpness"] <= 1 and 0 < meta["quality"]["brightness"] < 1
    assert meta["safety"]["verdict"] == "ok" and 0 <= meta["safety"]["adult"] < 0.4
    assert meta["suggested_filename"] == "hello-from-orbit-portrait-photo"
    assert (meta["provider"], meta["language"]) == ("local", "en")
    assert "rapidocr" in meta["model"] and "open_nsfw" in meta["model"]
    assert meta["ms"] > 0
    assert (meta["width"], meta["height"]) == (512, 512)


def test_the_job_choice_of_provider_and_language_reaches_the_provider(
    user: Client, fake: FakeAPI
) -> None:
    fake.queue(Reply(body=openai_ok({**VALID, "language": "de"})))
    seen = len(fake.seen)
    job = user.submit(astronaut_with_text(), metadata=True, vision_provider="openai", language="de")
    assert job["options"]["vision_provider"] == "openai" and job["options"]["language"] == "de"
    done = user.wait(job["id"], timeout=120)
    assert done["status"] == "done", done["error"]
    meta = done["metadata"]
    assert (meta["provider"], meta["model"], meta["language"]) == ("openai", "gpt-test", "de")
    assert meta["alt_text"] == VALID["alt_text"]
    assert int(meta["usage"]["input_tokens"]) == 1200
    assert int(meta["usage"]["output_tokens"]) == 300
    # Exactly one request went out for this job, asking for German.
    assert len(fake.seen) == seen + 1
    assert fake.seen[-1].path == "/v1/chat/completions"
    assert "'de'" in json.dumps(fake.seen[-1].body)


def test_a_provider_the_deployment_does_not_allow_is_a_400(user: Client) -> None:
    before = user.balance()["available"]
    for provider in ("anthropic", "skynet"):
        with pytest.raises(ApiError) as refused:
            user.submit(astronaut_with_text(), vision_provider=provider)
        assert refused.value.status == 400
        assert refused.value.problem["type"].endswith("invalid-option")
        assert refused.value.problem["field"] == "vision_provider"
        assert "local, openai" in refused.value.detail
    with pytest.raises(ApiError) as bad_language:
        user.submit(astronaut_with_text(), language="not a language")
    assert bad_language.value.status == 400
    assert bad_language.value.problem["field"] == "language"
    assert user.balance()["available"] == before  # nothing was reserved


def test_the_account_preferences_apply_to_jobs_that_name_none(stack: Stack, fake: FakeAPI) -> None:
    client = new_user(stack)
    assert (client.account()["vision_provider"], client.account()["language"]) == (None, None)
    saved = client.update_account(vision_provider="Azure", language="de")
    assert (saved["vision_provider"], saved["language"]) == ("openai", "de")
    assert client.account()["language"] == "de"
    image = astronaut_with_text()
    fake.queue(*(Reply(body=openai_ok({**VALID, "language": "de"})) for _ in range(3)))
    seen = len(fake.seen)
    single = client.submit(image, metadata=True)
    batch = client.submit_batch([("a.jpg", image), ("b.jpg", image)], metadata=True)
    for job in (single, *batch):
        assert (job["options"]["vision_provider"], job["options"]["language"]) == ("openai", "de")
        done = client.wait(job["id"], timeout=120)
        assert done["status"] == "done", done["error"]
        meta = done["metadata"]
        assert (meta["provider"], meta["model"], meta["language"]) == ("openai", "gpt-test", "de")
    assert len(fake.seen) == seen + 3
    assert all("'de'" in json.dumps(request.body) for request in fake.seen[seen:])


def test_a_job_value_overrides_the_account_preference_field_by_field(
    stack: Stack, fake: FakeAPI
) -> None:
    client = new_user(stack)
    client.update_account(vision_provider="openai", language="de")
    seen = len(fake.seen)
    local = client.submit(astronaut_with_text(), metadata=True, vision_provider="local")
    assert (local["options"]["vision_provider"], local["options"]["language"]) == ("local", "de")
    done = client.wait(local["id"], timeout=120)
    assert done["status"] == "done", done["error"]
    assert done["metadata"]["provider"] == "local" and PHRASE in done["metadata"]["alt_text"]
    assert len(fake.seen) == seen  # the preferred remote provider was not asked
    fake.queue(Reply(body=openai_ok({**VALID, "language": "fr"})))
    french = client.submit(astronaut_with_text(), metadata=True, language="fr")
    assert (french["options"]["vision_provider"], french["options"]["language"]) == ("openai", "fr")
    done = client.wait(french["id"], timeout=120)
    assert (done["metadata"]["provider"], done["metadata"]["language"]) == ("openai", "fr")
    assert "'fr'" in json.dumps(fake.seen[-1].body)
    cleared = client.update_account(vision_provider="", language=None)
    assert (cleared["vision_provider"], cleared["language"]) == (None, None)
    plain = client.submit(astronaut_with_text(), metadata=True)
    assert "vision_provider" not in plain["options"] and "language" not in plain["options"]
    done = client.wait(plain["id"], timeout=120)
    assert (done["metadata"]["provider"], done["metadata"]["language"]) == ("local", "en")


def test_a_preference_the_deployment_does_not_allow_is_a_400_and_changes_nothing(
    stack: Stack,
) -> None:
    client = new_user(stack)
    client.update_account(vision_provider="openai", language="de")
    refusals = (
        ({"vision_provider": "anthropic"}, "vision_provider"),
        ({"vision_provider": "skynet", "name": "Renamed"}, "vision_provider"),
        ({"language": "not a language"}, "language"),
        ({"language": "de", "vision_provider": "gemini"}, "vision_provider"),
    )
    for fields, field in refusals:
        with pytest.raises(ApiError) as refused:
            client.update_account(**fields)
        assert refused.value.status == 400
        assert refused.value.problem["type"].endswith("invalid-option")
        assert refused.value.problem["field"] == field
    with pytest.raises(ApiError) as too_long:
        client.update_account(language="x" * 36)
    assert too_long.value.status == 400
    me = client.account()
    assert (me["name"], me["vision_provider"], me["language"]) == ("Test User", "openai", "de")


def test_a_failing_remote_provider_falls_back_to_local(
    stack: Stack, user: Client, fake: FakeAPI
) -> None:
    """Last in the module: the breaker (threshold 1) opens and stays open."""
    fake.queue(Reply(500, {"error": "down"}), Reply(503, {"error": "down"}))
    seen = len(fake.seen)
    job = user.submit(astronaut_with_text(), metadata=True, vision_provider="openai")
    done = user.wait(job["id"], timeout=120)
    assert done["status"] == "done", done["error"]
    meta = done["metadata"]
    assert meta["provider"] == "local" and PHRASE in meta["alt_text"]
    assert len(fake.seen) == seen + 2  # VISION_RETRIES attempts, then the fallback
    events = [e["event"] for e in vision_log(stack)]
    assert "vision_breaker_open" in events and "vision_fallback" in events


@pytest.fixture  # one test uses it: stopped right after, not kept beside the others
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {**EVERYTHING_BLOCKED, "VISION_SAFETY_POLICY": "refuse"}
    with running_stack(tmp_path_factory.mktemp("refuse"), env, workers=1) as running:
        yield running


def test_refused_images_fail_with_content_policy_release_credits_and_are_deleted(
    refusing: Stack,
) -> None:
    client = new_user(refusing)
    before = client.balance()["available"]
    job = client.submit(astronaut_with_text(), metadata=True)
    done = client.wait(job["id"], timeout=120)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "content_policy"
    assert done["metadata"]["safety"]["verdict"] == "blocked"
    assert done["output"] is None and done["links"]["result"] is None
    wait_for(lambda: client.balance()["available"] == before, what="credits released")
    assert client.balance()["reserved"] == 0
    wait_for(lambda: not job_files(refusing, job["id"]), what="upload and results deleted")
    with pytest.raises(ApiError) as no_result:
        client.download(job["id"])
    assert no_result.value.status in (404, 409, 410)


@pytest.fixture  # one test uses it: stopped right after, not kept beside the others
def blurring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {**EVERYTHING_BLOCKED, "VISION_SAFETY_POLICY": "blur"}
    with running_stack(tmp_path_factory.mktemp("blur"), env, workers=1) as running:
        yield running


def test_blur_policy_serves_a_blurred_download(blurring: Stack) -> None:
    client = new_user(blurring)
    image = astronaut_with_text()
    # Without analysis no policy applies: the same pipeline's unblurred result.
    plain = client.wait(client.submit(image, metadata=False, format="webp")["id"])
    flagged = client.wait(client.submit(image, metadata=True, format="webp")["id"])
    assert plain["status"] == flagged["status"] == "done", (plain["error"], flagged["error"])
    assert flagged["metadata"]["safety"]["verdict"] == "blocked"
    sharp, blurred = client.download(plain["id"]), client.download(flagged["id"])
    assert len(blurred) == flagged["output"]["bytes"]  # the job reports what is served
    with Image.open(io.BytesIO(blurred)) as served:
        assert (served.format, served.size) == ("WEBP", (512, 512))
    assert sharpness(blurred) < sharpness(sharp) / 20


def test_the_privacy_facts_are_what_vision_and_retention_report(stack: Stack) -> None:
    """The gateway asks the services that enforce them (GetProviders, GetRetentionFacts)."""
    body = requests.get(stack.gateway_url() + "/v1/privacy", timeout=10).json()
    assert body["ai_providers"] == [
        {"name": "local", "external": False},
        {"name": "openai", "external": True},
    ]
    assert body["default_ai_provider"] == "local"
    assert body["retention"]["image_ttl_s"] == 86_400
    page = requests.get(stack.gateway_url() + "/app/privacy", timeout=10)
    assert page.status_code == 200
    assert "at most 24 hours" in page.text and "<strong>openai</strong>" in page.text
