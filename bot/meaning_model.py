"""The shipped meaning model (bot/models/meaning/, made by scripts/distill_meaning.py): read
from the package's own files, never the network, once per process and only when asked."""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from bot.domain.meaning import MeaningModel
from bot.errors import ModelError

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).resolve().parent / "models" / "meaning"
TOKENIZER = "tokenizer.json"
VECTORS = "vectors.safetensors"


@functools.cache
def shipped_meaning() -> MeaningModel:
    """The shipped model, loaded on first call (ModelError naming the file if it is bad)."""
    return load_meaning(SHIPPED)


def load_meaning(folder: Path) -> MeaningModel:
    """The meaning model in `folder`; ModelError naming the file that is absent or bad."""
    started = time.perf_counter()
    tokenizer = _tokenizer(folder / TOKENIZER)
    vectors = _vectors(folder / VECTORS, rows=tokenizer.get_vocab_size())
    unknown = tokenizer.token_to_id("[UNK]")

    def split(word: str) -> list[int]:
        try:
            ids = tokenizer.encode(word, add_special_tokens=False).ids
        except TypeError:  # a lone surrogate (JSON allows "\ud800") is no str to tokenizers
            clean = word.encode("utf-8", "replace").decode("utf-8")
            ids = tokenizer.encode(clean, add_special_tokens=False).ids
        return [i for i in ids if i != unknown]

    log.info("meaning model %s loaded in %.0f ms", folder, (time.perf_counter() - started) * 1000)
    return MeaningModel(split, vectors, name=folder.name)


def _tokenizer(path: Path) -> Tokenizer:
    if not path.is_file():
        raise ModelError(f"no meaning model file at {path}; reinstall allhands")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for every kind of bad file
        raise ModelError(f"{path} is not a readable tokenizer: {exc}") from None
    if tokenizer.token_to_id("[UNK]") is None or tokenizer.get_vocab_size() < 2:
        raise ModelError(f"{path} is not the meaning model's tokenizer (no [UNK] piece)")
    return tokenizer


def _vectors(path: Path, *, rows: int) -> np.ndarray:
    if not path.is_file():
        raise ModelError(f"no meaning model file at {path}; reinstall allhands")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable vectors file: {exc}") from None
    values, scales = tensors.get("vectors"), tensors.get("scales")
    if values is None or scales is None:
        raise ModelError(f"{path} is not a meaning model: it needs `vectors` and `scales`")
    if values.ndim != 2 or values.shape[0] != rows or scales.shape != (rows,):
        raise ModelError(
            f"{path} does not fit its tokenizer: {values.shape} vectors and"
            f" {scales.shape} scales for {rows} word pieces"
        )
    vectors = values.astype(np.float32) * scales.astype(np.float32)[:, None]
    if not np.isfinite(vectors).all():
        raise ModelError(f"{path} is not a meaning model: it holds numbers that are not finite")
    return vectors
