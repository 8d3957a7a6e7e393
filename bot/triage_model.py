"""Reading and writing the complaint model file: gzipped JSON, no pickle, no network."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path

from bot.domain.complaint_model import ComplaintModel
from bot.errors import ModelError

SHIPPED = Path(__file__).resolve().parent / "models" / "complaints.json.gz"


def load_model(path: Path | None = None) -> ComplaintModel:
    """The model at `path` (default: the shipped one); ModelError if it is absent or bad."""
    path = path or SHIPPED
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ModelError(
            f"no complaint model at {path}; run `allhands triage train` to make one"
        ) from None
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not a readable complaint model: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a complaint model: the top level is not an object")
    try:
        return ComplaintModel.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{path} is not a complaint model: {exc}") from None


def learned_path(db_path: str) -> Path:
    """Where `allhands triage learn` installs a model for the store at `db_path`."""
    return Path(f"{db_path}.complaints.json.gz")


def load_installed(db_path: str) -> ComplaintModel:
    """The model `triage learn` installed beside this store, else the shipped one."""
    learned = learned_path(db_path)
    return load_model(learned if learned.is_file() else None)


def save_model(model: ComplaintModel, path: Path | None = None) -> Path:
    """Write the model atomically (a reader never sees half a file); returns the path."""
    path = path or SHIPPED
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(json.dumps(model.to_dict(), separators=(",", ":")).encode())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
