"""Bot Framework signing keys: fetched without blocking anything, following key rotation,
always from the configured address, and reported by /healthz when they cannot be fetched.

The fake Bot Framework on 127.0.0.1 publishes the keys, rotates them, or never answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.clock import FakeClock
from tests.fakes.teams_connector import signing_key
from tests.teams_harness import TeamsHarness, teams_app


async def healthz(h: TeamsHarness) -> dict[str, Any]:
    url = h.url.replace("/api/messages", "/healthz")
    async with h.http.get(url) as response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer


async def test_a_rotated_key_is_fetched_when_a_token_names_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock) as h:
        assert await h.post(h.command("help")) == 200
        assert h.fake.key_requests == 1
        h.fake.rotate("k2", "rotated")
        clock.advance(timedelta(minutes=2))
        signed_k2 = h.fake.sign(key=signing_key("rotated"), kid="k2")
        assert await h.post(h.command("help"), token=signed_k2) == 200
        assert h.fake.key_requests == 2
        # The old key stays good while it is published; the new one is now cached.
        assert await h.post(h.command("help")) == 200
        assert await h.post(h.command("help"), token=signed_k2) == 200
        assert h.fake.key_requests == 2


async def test_unknown_key_ids_cannot_make_us_fetch_over_and_over(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock) as h:
        assert await h.post(h.command("help")) == 200
        for n in range(5):
            forged = h.fake.sign(key=signing_key("attacker"), kid=f"made-up-{n}")
            assert await h.post(h.command("help"), token=forged) == 401
        assert h.fake.key_requests == 1  # the keys were fetched just now
        clock.advance(timedelta(minutes=2))
        for n in range(5):
            forged = h.fake.sign(key=signing_key("attacker"), kid=f"made-up-again-{n}")
            assert await h.post(h.command("help"), token=forged) == 401
        assert h.fake.key_requests == 2  # one refetch for the first unknown id, then none


async def test_a_hanging_key_service_starves_nothing(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock) as h:
        h.teams.authenticator.keys.timeout = 0.5
        h.fake.hanging = True
        started = time.monotonic()
        statuses = await asyncio.gather(*(h.post(h.command("help")) for _ in range(12)))
        assert statuses == [503] * 12
        assert time.monotonic() - started < 5
        assert h.fake.openid_requests == 1  # one fetch at a time; the others waited for it
        health = await healthz(h)
        assert health["status"] == "degraded" and health["teams_keys"]["ok"] is False
        assert "signing keys" in health["teams_keys"]["error"]
        # While it pauses after the failure, requests are answered at once, not fetched.
        assert await h.post(h.command("help")) == 503
        assert h.fake.openid_requests == 1
        # Everything else goes on meanwhile: a poll stores mentions (triage on a thread).
        [polled] = await h.app.poll_all()
        assert polled.new == 3
        h.fake.hanging = False
        clock.advance(timedelta(seconds=10))
        assert await h.post(h.command("help")) == 200
        assert (await healthz(h))["status"] == "ok"


async def test_emulator_shaped_tokens_use_the_configured_keys(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock) as h:
        v1 = {
            "iss": "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/",
            "ver": "1.0",
            "appid": h.fake.app_id,
            "serviceurl": None,
        }
        assert await h.post(h.command("help"), token=h.fake.sign(**v1)) == 200
        assert h.fake.key_requests == 1  # from the configured address, not Microsoft's
        other_app = h.fake.sign(**{**v1, "appid": "another-app"})
        assert await h.post(h.command("help"), token=other_app) == 401
        forged = h.fake.sign(key=signing_key("attacker"), **v1)
        assert await h.post(h.command("help"), token=forged) == 401


async def test_a_body_nested_very_deep_gets_400(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock) as h:
        body = b"[" * 100_000 + b"]" * 100_000
        headers = {"Authorization": "Bearer x.y.z", "Content-Type": "application/json"}
        async with h.http.post(h.url, data=body, headers=headers) as response:
            assert response.status == 400
            assert "JSON" in json.loads(await response.text())["error"]["message"]
