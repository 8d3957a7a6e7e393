"""The complaint model: its file (gzipped JSON, no pickle, no network), and the one in use,
which is the newest `allhands triage learn` installed in the store, else the shipped one."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import tempfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.complaint_model import ComplaintModel
from bot.errors import ModelError
from bot.store import complaint_models, sql
from bot.store.complaint_models import Installed
from bot.store.db import Database

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).resolve().parent / "models" / "complaints.json.gz"


def encode(model: ComplaintModel) -> bytes:
    """The model as the bytes of its file (the same bytes for the same model)."""
    return gzip.compress(json.dumps(model.to_dict(), separators=(",", ":")).encode(), mtime=0)


def decode(body: bytes, where: str) -> ComplaintModel:
    """The model in a file's bytes; ModelError (naming `where`) if they are not one."""
    try:
        data = json.loads(gzip.decompress(body).decode("utf-8"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{where} is not a readable complaint model: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{where} is not a complaint model: the top level is not an object")
    try:
        return ComplaintModel.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{where} is not a complaint model: {exc}") from None


def load_model(path: Path | None = None) -> ComplaintModel:
    """The model at `path` (default: the shipped one); ModelError if it is absent or bad."""
    path = path or SHIPPED
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(
            f"no complaint model at {path}; run `allhands triage train` to make one"
        ) from None
    except OSError as exc:
        raise ModelError(f"{path} is not a readable complaint model: {exc}") from None
    return decode(body, str(path))


def learned_path(db_path: str) -> Path:
    """Where versions before the store kept models installed one for a SQLite store (taken
    over into the store at the next start)."""
    return Path(f"{db_path}.complaints.json.gz")


def save_model(model: ComplaintModel, path: Path | None = None) -> Path:
    """Write the model atomically (a reader never sees half a file); returns the path."""
    path = path or SHIPPED
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            raw.write(encode(model))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True, slots=True)
class InUse:
    """The complaint model triage uses, and its row in the store (None: the shipped one)."""

    model: ComplaintModel
    row: Installed | None = None

    def describe(self) -> str:
        """Which model this is, in a few words for a log line or `allhands stats`."""
        return describe(self.row)


def describe(row: Installed | None) -> str:
    """An installed model (None: the shipped one) in a few words."""
    if row is None:
        return "the shipped complaint model"
    f1 = row.figures.get("labelled_after", row.figures.get("f1"))
    scored = f", F1 {f1:.3f} on the labelled data" if f1 is not None else ""
    return (
        f"the learned complaint model #{row.id}"
        f" (installed {row.installed_at.astimezone(UTC):%Y-%m-%d %H:%M}"
        f" UTC, trained on {row.trained_on or 'unknown data'}{scored})"
    )


def newest_installed(target: str) -> tuple[ComplaintModel, str]:
    """The model a bot on the store at `target` triages with, and which it is: the newest
    installed there that reads, else the shipped one (no store there, or none installed)."""
    rows: list[Installed] = []
    unread = ""
    if sql.store_exists(target):
        try:
            with sql.read_only(target) as db:
                rows = complaint_models.newer(db, than=None)
        except sql.MISSING_TABLE:
            pass  # not migrated this far: nothing installed
        except sql.ERRORS as exc:
            unread = f" (the store could not be read: {str(exc).strip().splitlines()[0]})"
    for row in rows:
        assert row.body is not None
        try:
            return decode(row.body, f"complaint model #{row.id}"), describe(row)
        except ModelError:
            continue
    return load_model(), describe(None) + unread


class InstalledModels:
    """The model this process triages with: the newest installed in the store that reads,
    else the shipped one. `refresh()` looks for a newer one (one cheap query)."""

    def __init__(self, database: Database):
        self.database = database
        self.in_use = InUse(ComplaintModel(weights={}, bias=0.0))  # until start()
        self.newest_seen: int | None = None  # the newest id looked at, read or not

    async def start(self) -> InUse:
        """Load the newest installed model, else the shipped one (ModelError if it is bad);
        a SQLite store's model file from before is installed into the store first."""
        old = learned_path(self.database.path)
        if (
            self.database.dialect == sql.SQLITE
            and await asyncio.to_thread(old.is_file)
            and await self.database.read(complaint_models.newest_id) is None
        ):
            await self._take_over(old)
        if not await self.refresh():
            self.in_use = InUse(await asyncio.to_thread(load_model))
        return self.in_use

    async def refresh(self) -> bool:
        """Use a newer installed model if there is one that reads; True if it changed.

        A model that does not read is logged as an error once, and the current one kept."""
        newest = await self.database.read(complaint_models.newest_id)
        if newest is None or (self.newest_seen is not None and newest <= self.newest_seen):
            return False
        found = await self.database.read(complaint_models.newer, than=self.newest_seen)
        self.newest_seen = newest
        for row in found:
            assert row.body is not None
            where = f"complaint model #{row.id} in the store"
            try:
                model = await asyncio.to_thread(decode, row.body, where)
            except ModelError as exc:
                log.error("%s; triage keeps the model it has", exc)
                continue
            self.adopt(row, model)
            log.info("triage uses %s", describe(row))
            return True
        return False

    def adopt(self, row: Installed, model: ComplaintModel) -> None:
        """Use `model`, installed as `row` (by this process: nothing to read again)."""
        self.in_use = InUse(model, row)
        self.newest_seen = max(row.id, self.newest_seen or 0)

    async def _take_over(self, path: Path) -> None:
        try:
            body = await asyncio.to_thread(path.read_bytes)
            model = await asyncio.to_thread(decode, body, str(path))
            written = datetime.fromtimestamp((await asyncio.to_thread(path.stat)).st_mtime, UTC)
        except (OSError, ModelError) as exc:
            log.error("the learned model beside the store is not taken over: %s", exc)
            return
        installed = await self.database.write(
            complaint_models.install,
            body=body,
            trained_on=model.trained_on,
            figures=model.figures,
            now=written,
            over=None,
        )
        if installed is not None:
            log.warning(
                "the learned complaint model %s is now kept in the store (model #%d);"
                " the file is no longer read and may be deleted",
                path,
                installed,
            )
