"""Which stored conversation a new post continues, and which posts of a batch are stored
already: read for a whole batch at once, before `mentions.ingest` stores it."""

from __future__ import annotations

from bot.domain.mentions import Item, Mention
from bot.store import sql
from bot.store.mention_rows import query_rows, row_to_mention
from bot.store.sql import Conn


def conversation_root(db: Conn, *, source: str, item: Item) -> Mention | None:
    """The mention an item answers or continues, if it is known."""
    keys = [k for k in (item.parent_id, item.conversation_id) if k]
    if not keys:
        return None
    marks = ", ".join("?" * len(keys))
    # Indexed look-ups (with OR, SQLite scans every mention of the source): a post of the
    # conversation, or one of our own replies in it, which the customer answered.
    rows = query_rows(
        db,
        f"SELECT * FROM mentions WHERE source = ? AND external_id IN ({marks})"
        f" UNION SELECT * FROM mentions WHERE source = ? AND conversation_id IN ({marks})"
        " UNION SELECT m.* FROM replies r JOIN mentions m ON m.number = r.mention"
        f" WHERE r.external_id IN ({marks}) AND m.source = ?"
        " ORDER BY number LIMIT 1",
        [source, *keys, source, *keys, *keys, source],
    )
    if not rows:
        return None
    found = row_to_mention(rows[0])
    if found.root_number is not None:
        rows = query_rows(db, "SELECT * FROM mentions WHERE number = ?", [found.root_number])
        return row_to_mention(rows[0]) if rows else None
    return found


def stored_numbers(db: Conn, *, source: str, external_ids: list[str]) -> dict[str, int]:
    """The numbers of the posts among `external_ids` that are stored already."""
    rows = db.execute(
        f"SELECT external_id, number FROM mentions WHERE source = ?"
        f" AND {sql.in_list(db, 'external_id')}",
        [source, sql.list_param(db, external_ids)],
    ).fetchall()
    return {external_id: number for external_id, number in rows}


def known_keys(db: Conn, *, source: str, keys: set[str]) -> set[str]:
    """Which of these parent or conversation ids `conversation_root` would find stored."""
    if not keys:
        return set()
    listed = sql.list_param(db, sorted(keys))
    rows = db.execute(
        f"SELECT external_id FROM mentions WHERE source = ? AND {sql.in_list(db, 'external_id')}"
        " UNION SELECT conversation_id FROM mentions WHERE source = ?"
        f" AND {sql.in_list(db, 'conversation_id')}"
        " UNION SELECT r.external_id FROM replies r JOIN mentions m ON m.number = r.mention"
        # (through replies_external: by m.source SQLite would walk the source's history)
        f" WHERE {sql.in_list(db, 'r.external_id')} AND {sql.unindexed(db, 'm.source')} = ?",
        [source, listed, source, listed, listed, source],
    ).fetchall()
    return {r[0] for r in rows}


def thread_keys(item: Item) -> set[str]:
    """The ids of the posts an item answers or continues (its parent, its conversation)."""
    return {k for k in (item.parent_id, item.conversation_id) if k}
