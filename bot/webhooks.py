"""`POST /webhooks/{source}`: a signed request from any tool becomes mentions, as if polled.

Checks run cheapest and safest first: the source must be a configured webhook (404), the
body small enough (413), the request signed with the source's secret and fresh (401),
and the body a description of mentions (400). Only then is it stored, through the same
path as polled batches, so the mentions become cards, with its signature in the same
transaction. A refused request stores nothing; the same signed request sent again (a
sender retrying after a lost answer or a crash) gets 200 and stores nothing more.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.store import webhooks as signatures
from connectors.base import Batch
from connectors.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE,
    WebhookConnector,
    WebhookRefused,
    parse_body,
    verify,
)

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# Long enough that a signature is remembered for as long as its timestamp is accepted.
KEEP_SIGNATURES = timedelta(seconds=2 * TOLERANCE + 60)


def _answer(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra} if status >= 400 else extra, status=status)


async def _read_capped(request: web.Request, cap: int) -> bytes | None:
    """The body, or None as soon as it grows past `cap` bytes."""
    if request.content_length is not None and request.content_length > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: web.Request, app: App) -> web.Response:
    """Check and store one webhook request; answer 202 with what was stored, or why not."""
    source = request.match_info.get("source", "")
    connector = app.connectors.get(source)
    if not isinstance(connector, WebhookConnector):
        return _answer(404, f"no webhook source {source[:100]!r} is configured")
    config = connector.settings
    body = await _read_capped(request, config.max_bytes)
    if body is None:
        log.warning("webhook %s: refused a body over %d bytes", source, config.max_bytes)
        return _answer(413, f"body is larger than this source's max_bytes ({config.max_bytes:,})")
    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        verify(
            secret=config.secret,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=signature,
            body=body,
            now=app.clock.now(),
        )
        items = parse_body(body)
    except WebhookRefused as exc:
        log.warning("webhook %s: refused (%d): %s", source, exc.status, exc)
        extra = {"problems": exc.problems} if exc.problems else {}
        return _answer(exc.status, str(exc), **extra)
    assert signature is not None
    # The signature is recorded in the transaction that stores the mentions: a request
    # either left both or neither, so a sender's identical resend after a crash is stored.
    try:
        result = await app.store(
            Batch(items=items, cursor=None),
            source=source,
            signature=signatures.Signature(source, signature.strip().lower(), KEEP_SIGNATURES),
        )
    except Exception:
        log.exception("webhook %s: storing %d mention(s) failed", source, len(items))
        return _answer(503, "the mentions could not be stored just now; send the request again")
    if result is None:
        # Its mentions were stored when it was first received; answering 2xx lets a sender
        # that never saw that answer stop resending. Nothing is stored twice.
        log.info("webhook %s: a request received before was sent again", source)
        return _answer(200, "", accepted=0, new=0, follow_ups=0, duplicates=0, received_before=True)
    if result.new or result.follow_ups:
        app.outbox.wake()
    log.info(
        "webhook %s: %d new, %d follow-ups, %d repeats",
        source,
        result.new,
        result.follow_ups,
        result.duplicates,
    )
    return _answer(
        202,
        "",
        accepted=len(items),
        new=result.new,
        follow_ups=result.follow_ups,
        duplicates=result.duplicates,
    )
