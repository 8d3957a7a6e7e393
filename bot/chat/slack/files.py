"""Files in Slack: an image shared in a person's DM through Slack's external upload flow.

files.upload is retired; a file now takes three steps: files.getUploadURLExternal (its
name and length) answers an upload URL and a file id, the bytes are POSTed to that URL,
and files.completeUploadExternal shares the file in a conversation with a comment. The
DM's conversation id comes from conversations.open (scope im:write).

Each step fails as a classified DeliveryError, as every Slack call does, and a retry by
the outbox picks up where the last try stopped: a file uploaded but not shared is shared
on the next try, under the same file id, rather than uploaded again. Slack lets a file id
be completed only once, which makes that safe even when a try ended without knowing
whether Slack shared the file (a timeout): the next try either shares it, or is refused
because it was shared already. Uploads Slack refuses for a reason that will not go away
(a scope the app lacks, a workspace that allows no uploads) raise UploadRefused, for the
caller to send something else instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack.calls import ChannelPacer, delivery_error, retry_after_header, slack_error
from bot.errors import DeliveryError

log = logging.getLogger(__name__)

ALT_TEXT = 1000  # files.getUploadURLExternal's alt_txt limit (alt_txt_too_large)
TITLE = 250
# Answers that no retry changes: the app lacks a scope (files:write for files.*, im:write
# for conversations.open), the token is of the wrong kind, or the workspace (or its plan)
# does not allow this upload.
REFUSALS = frozenset(
    {
        "missing_scope",
        "not_allowed_token_type",
        "no_permission",
        "access_denied",
        "ekm_access_denied",
        "team_access_not_granted",
        "file_uploads_disabled",
        "file_uploads_except_images_disabled",
        "file_type_not_allowed",
        "file_upload_size_restricted",
        "storage_limit_reached",
        "posting_to_channel_denied",
    }
)
# files.completeUploadExternal's answers for a file id it will not complete: unknown, its
# upload expired, or completed already (a file id is completed once).
_GONE = frozenset({"file_not_found", "invalid_file"})

T = TypeVar("T")


class UploadRefused(DeliveryError):
    """Slack will not take this upload, whatever the retries; `reason` is Slack's error."""

    def __init__(self, message: str, *, reason: str):
        self.reason = reason
        super().__init__(message, permanent=True)


class _FileGone(DeliveryError):
    """files.completeUploadExternal does not know the file id (any more)."""


@dataclass
class _Pending:
    """A file uploaded and not known to be shared yet; `unsure` once a try to share it
    ended without Slack's answer (a timeout, a broken connection, a 5xx)."""

    file_id: str
    unsure: bool = False


class SlackFiles:
    """Shares files in DMs: conversations.open, then the three steps of an upload.

    Files uploaded but not yet shared are remembered by the caller's `key` (one per
    delivery), so that the outbox's next try only shares them.
    """

    def __init__(self, *, client: AsyncWebClient, pacer: ChannelPacer):
        self.client = client
        self.pacer = pacer
        self._dms: dict[str, str] = {}
        self._pending: dict[str, _Pending] = {}

    async def _call(
        self, method: str, call: Callable[[], Awaitable[T]], *, pace: str | None = None
    ) -> T:
        """One Web API call, paced like the adapter's; Slack's refusals come out as
        UploadRefused, an unknown file as _FileGone, the rest as classified DeliveryErrors."""
        key = pace or method
        await self.pacer.wait(key, reserve=pace is not None)
        try:
            return await call()
        except SlackApiError as exc:
            error = slack_error(exc)
            if error in REFUSALS:
                needed = exc.response.get("needed") if error == "missing_scope" else None
                why = f"{error} (needs {needed})" if needed else error
                raise UploadRefused(f"Slack {method}: {why}", reason=why) from exc
            if error in _GONE:
                raise _FileGone(f"Slack {method}: {error}") from exc
            raise self._held(key, delivery_error(exc, method)) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._held(key, delivery_error(exc, method)) from exc

    def _held(self, key: str, failure: DeliveryError) -> DeliveryError:
        """`failure`, after holding `key` back for as long as its Retry-After says."""
        if failure.retry_after is not None:
            self.pacer.hold(key, failure.retry_after)
        return failure

    async def dm(self, user: str) -> str:
        """The id of the app's DM with a user (conversations.open, remembered)."""
        known = self._dms.get(user)
        if known is not None:
            return known
        response = await self._call(
            "conversations.open", lambda: self.client.conversations_open(users=user)
        )
        channel = str((response.get("channel") or {}).get("id") or "")
        if not channel:
            raise DeliveryError("Slack conversations.open: no channel in the answer")
        self._dms[user] = channel
        return channel

    async def share_in_dm(
        self,
        user: str,
        *,
        key: str,
        data: bytes,
        filename: str,
        title: str,
        comment: str,
        alt_text: str = "",
        channel: str | None = None,
    ) -> None:
        """Share a file in the app's DM with `user` (or in `channel`, a channel id), with
        `comment` (made safe by the caller) as its message; `key` names this delivery
        across the outbox's tries."""
        channel = channel or await self.dm(user)
        for _ in range(2):  # a second time only when an upload expired unshared
            pending = self._pending.get(key)
            if pending is None:
                file_id = await self._upload(data, filename=filename, alt_text=alt_text)
                pending = self._pending[key] = _Pending(file_id)
            try:
                await self._complete(pending.file_id, channel, title=title, comment=comment)
            except _FileGone:
                del self._pending[key]
                if pending.unsure:
                    # The last try's answer was lost, and Slack completes a file once:
                    # that try shared it. Sending it again would show the lead two.
                    log.warning(
                        "Slack: file %s for %s was shared by a try whose answer was lost;"
                        " not sending it again",
                        pending.file_id,
                        user,
                    )
                    return
                continue  # never shared, and its upload expired: upload it again
            except DeliveryError as exc:
                if exc.permanent:
                    del self._pending[key]
                elif exc.retry_after is None and exc.transient:
                    pending.unsure = True
                if "channel_not_found" in str(exc):
                    self._dms.pop(user, None)
                raise
            del self._pending[key]
            return
        raise DeliveryError("Slack files.completeUploadExternal: the new upload was not found")

    async def _upload(self, data: bytes, *, filename: str, alt_text: str) -> str:
        """Steps one and two: an upload URL and file id, then the bytes; the file id."""
        extra = {"alt_txt": alt_text[:ALT_TEXT]} if alt_text else {}
        response = await self._call(
            "files.getUploadURLExternal",
            lambda: self.client.files_getUploadURLExternal(
                filename=filename, length=len(data), **extra
            ),
        )
        url = str(response.get("upload_url") or "")
        file_id = str(response.get("file_id") or "")
        if not url or not file_id:
            raise DeliveryError("Slack files.getUploadURLExternal: no upload_url or file_id")
        await self._send_bytes(url, data)
        return file_id

    async def _send_bytes(self, url: str, data: bytes) -> None:
        """POST the file's bytes to the upload URL Slack gave (raw bytes, as Slack allows)."""
        what = "Slack's upload URL"
        await self.pacer.wait(what, reserve=False)
        own = self.client.session is None
        session = self.client.session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.client.timeout)
        )
        try:
            async with session.post(
                url, data=data, headers={"Content-Type": "application/octet-stream"}
            ) as response:
                status = response.status
                body = (await response.text(errors="replace"))[:200]
                wait = retry_after_header(response.headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise delivery_error(exc, what) from exc
        finally:
            if own:
                await session.close()
        if status == 200:
            return
        if status == 429:
            self.pacer.hold(what, wait)
            raise DeliveryError(
                f"{what}: rate limited; retry after {wait:g}s", retry_after=wait, transient=True
            )
        if status >= 500:
            raise DeliveryError(f"{what}: HTTP {status}", transient=True)
        raise UploadRefused(f"{what}: HTTP {status} {body.strip()}", reason=f"HTTP {status}")

    async def _complete(self, file_id: str, channel: str, *, title: str, comment: str) -> None:
        """Step three: share the file in `channel` with its comment (paced as a message)."""
        files: list[dict[str, Any]] = [{"id": file_id, "title": title[:TITLE]}]
        await self._call(
            "files.completeUploadExternal",
            lambda: self.client.files_completeUploadExternal(
                files=files, channel_id=channel, initial_comment=comment
            ),
            pace=channel,
        )
