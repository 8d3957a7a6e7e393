"""/api/messages refuses every request without a valid Bot Framework token, before acting.

Tokens are checked by botframework-connector against an OpenID configuration and key set
served by the fake on 127.0.0.1, signed with a locally made RSA key.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.store import teams as store
from tests.fakes.teams_connector import signing_key
from tests.teams_harness import SUPPORT, TENANT, TeamsHarness, teams_app


async def nothing_happened(h: TeamsHarness) -> None:
    """The refused request changed nothing: no conversation stored, nothing sent."""
    assert await h.app.database.read(store.conversation, id=SUPPORT) is None
    assert h.fake.connector_calls() == []


def unsigned(claims: dict[str, object]) -> str:
    """A token with `alg: none`: the right claims, no signature."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("wrong audience", {"aud": "some-other-bot"}),
        ("wrong service url", {"serviceurl": "https://attacker.example/amer/"}),
        ("missing service url", {"serviceurl": None}),
        ("expired", {"exp": int(time.time()) - 3600, "nbf": int(time.time()) - 7200}),
        ("not yet valid", {"nbf": int(time.time()) + 3600}),
        ("wrong issuer", {"iss": "https://evil.example"}),
        ("no issuer", {"iss": None}),
    ],
)
async def test_tokens_with_wrong_claims_get_401(
    tmp_path: Path, clock: FakeClock, case: str, claims: dict[str, object]
) -> None:
    async with teams_app(tmp_path, clock) as h:
        token = h.fake.sign(**claims)
        assert await h.post(h.command("claim 1"), token=token) == 401, case
        await nothing_happened(h)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOi.broken",
        "Basic dXNlcjpwYXNz",
        "Bearer one two",
        "bearer " + "x" * 5000,
    ],
)
async def test_malformed_tokens_get_401_not_500(
    tmp_path: Path, clock: FakeClock, header: str
) -> None:
    async with teams_app(tmp_path, clock) as h:
        assert (
            await h.post(h.command("claim 1"), token=None, headers={"Authorization": header}) == 401
        )
        await nothing_happened(h)


async def test_missing_forged_and_unknown_key_tokens_get_401(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock) as h:
        activity = h.command("claim 1")
        assert await h.post(activity, token=None) == 401
        forged = h.fake.sign(key=signing_key("attacker"))  # same kid, another key
        assert await h.post(activity, token=forged) == 401
        assert await h.post(activity, token=h.fake.sign(kid="unknown-key")) == 401
        claims = {
            "iss": "https://api.botframework.com",
            "aud": h.fake.app_id,
            "serviceurl": h.fake.service_url,
            "exp": int(time.time()) + 600,
        }
        assert await h.post(activity, token=unsigned(claims)) == 401
        # A token endorsed for another channel does not authenticate a Teams activity.
        assert await h.post({**activity, "channelId": "webchat"}) == 401
        await nothing_happened(h)
        # ... and the same activity with a good token is accepted.
        assert await h.post(activity) == 200
        assert await h.app.database.read(store.conversation, id=SUPPORT) is not None


async def test_keys_are_fetched_from_the_configured_openid_url(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock) as h:
        assert await h.post(h.installed()) == 200
        assert h.fake.key_requests == 1  # the SDK caches the key set after the first request
        assert await h.post(h.command("help")) == 200
        assert h.fake.key_requests == 1


async def test_unreachable_key_service_is_503_not_401(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock, teams_openid_url="http://127.0.0.1:9/openid") as h:
        assert await h.post(h.command("claim 1")) == 503
        await nothing_happened(h)


async def test_bodies_that_are_not_activities_get_400(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock) as h:
        token = f"Bearer {h.fake.sign()}"
        for body in (
            b"not json",
            b"[1, 2]",
            b'"text"',
            b"{}",
            b'{"type": "message"}',
            json.dumps({**h.command("x"), "conversation": "not an object"}).encode(),
            json.dumps({**h.command("x"), "text": "y" * 50_000}).encode(),
        ):
            async with h.http.post(
                h.url,
                data=body,
                headers={"Authorization": token, "Content-Type": "application/json"},
            ) as response:
                assert response.status in (400, 401), body[:40]
        async with h.http.post(
            h.url, data=b"x" * (2 * 1024 * 1024), headers={"Authorization": token}
        ) as r:
            assert r.status == 413
        await nothing_happened(h)


async def test_single_tenant_bot_refuses_other_tenants(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock, microsoft_app_tenant_id=TENANT) as h:
        other = h.command("claim 1")
        other["conversation"]["tenantId"] = "00000000-0000-0000-0000-00000000bad0"
        assert await h.post(other) == 403
        await nothing_happened(h)
        assert await h.post(h.command("help")) == 200


async def test_emulator_mode_runs_without_authentication(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with teams_app(tmp_path, clock, microsoft_app_id="", microsoft_app_password="") as h:
        assert "NOT authenticated" in caplog.text
        activity = h.activity(
            conversation="8f3c2b1a-emulator|livechat",
            conversation_type="personal",
            text="list",
            channelId="emulator",
        )
        del activity["channelData"]["tenant"]
        assert await h.post(activity, token=None) == 200
        assert (
            await h.app.database.read(store.conversation, id="8f3c2b1a-emulator|livechat")
            is not None
        )


def test_app_id_without_password_is_a_config_error() -> None:
    from bot.chat.teams.adapter import TeamsAdapter
    from bot.errors import ConfigError
    from bot.settings import Settings
    from bot.store.db import Database

    with pytest.raises(ConfigError, match="MICROSOFT_APP_PASSWORD"):
        TeamsAdapter.from_settings(
            Settings(microsoft_app_id="abc"), database=Database(":memory:"), clock=FakeClock()
        )


async def test_redelivered_activity_runs_once(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock) as h:
        await h.app.poll_all()
        command = h.command("reply 2 Thanks, we are on it")
        assert await h.post(command) == 200
        assert await h.post(command) == 200  # Bot Framework retried: no second reply
        await h.deliver()
        assert h.app.connectors["social"].sent == [("a2", "Thanks, we are on it")]  # type: ignore[attr-defined]
