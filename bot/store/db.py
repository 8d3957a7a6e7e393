"""The database handle: every write goes through one writer thread; reads use their own.

The store is SQLite (a file path) or PostgreSQL (a `postgresql://` URL). On PostgreSQL
other replicas write at the same time, so each write runs at SERIALIZABLE and is run again
from the start when the server refuses it (a serialization failure, a deadlock, a unique
key another replica took meanwhile) or the connection was lost before it asked to commit.
A function passed to `write` is therefore a transaction body: it may run more than once,
and must change nothing but the database, or say with `sql.on_rollback` how to undo what
else it changed (the incident desk's grouping in memory) when its attempt rolls back.

A replica's heartbeat and its leases do not wait in the writer's queue (`heartbeat_write`):
other replicas take a replica silent for 20 s for dead, and a queue held up by writes run
again, a slow statement or a long ingest batch would silence a live one. On PostgreSQL
they run on a connection and a thread of their own, one short transaction each at the
server's default isolation, giving up after BEAT_TIMEOUT. On SQLite they go to the front
of the writer's queue instead: SQLite writes one transaction at a time whatever the
connection, and a second writing connection, which its lock does not queue fairly, was
starved past BEAT_TIMEOUT by a busy writer (benchmarks/heartbeat.py); the one replica
of a SQLite store has no other to take its leases.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import psycopg
import psycopg.errors

from bot.store import migrate, sql

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_STOP = object()


# A write the server refused because another replica's write got there first: run again.
# A unique key taken meanwhile is one too (the same post ingested by two replicas): run
# again, the write reads the other's row and does what it does for a known key.
RETRIED = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.UniqueViolation,
)
# How long a write keeps being run again while other replicas' writes win (each wait
# drawn at random up to a doubling cap, so replicas that collided spread apart), and how
# many times a lost connection is opened again.
WRITE_PATIENCE = 10.0
WRITE_TRIES = 8
# How long a heartbeat write waits on PostgreSQL (for a row another transaction holds)
# before it gives up until the next beat, five seconds later.
BEAT_TIMEOUT = 3.0


def connect(target: str) -> sql.Conn:
    """Open one connection with the settings every connection here uses."""
    return sql.connect(target)


class Database:
    """Async access to the store: `await db.write(fn, **kw)` runs `fn(conn, **kw)` in one
    transaction on the writer thread; `await db.read(fn, **kw)` runs it on a reader thread."""

    def __init__(self, path: str):
        self.path = path
        self.dialect = sql.POSTGRESQL if sql.is_postgres(path) else sql.SQLITE
        # (0 for the heartbeat, else 1; the order of arrival; the job)
        self._queue: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._arrivals = itertools.count()
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_dbs: list[sql.Conn] = []
        self._lock = threading.Lock()
        self._beats: ThreadPoolExecutor | None = None
        self._beat_db: sql.PgConn | None = None

    async def open(self) -> Database:
        """Start the writer thread and bring the schema up to date."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writer = threading.Thread(
            target=self._write_loop, args=(asyncio.get_running_loop(), ready), daemon=True
        )
        self._writer.name = "allhands-db-writer"
        self._writer.start()
        await ready
        if self.path != ":memory:":
            self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="allhands-db-read")
        if self.dialect == sql.POSTGRESQL:
            self._beats = ThreadPoolExecutor(max_workers=1, thread_name_prefix="allhands-db-beat")
        return self

    def _write_loop(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            db = connect(self.path)
            migrate.apply(db)
            if isinstance(db, sql.PgConn):  # migrating read what the lock's holder committed
                db.make_serializable()
        except BaseException as exc:  # report to the opener, then stop the thread
            loop.call_soon_threadsafe(_settle, ready, None, exc)
            return
        self._writer_db = db
        loop.call_soon_threadsafe(_settle, ready, None, None)
        while True:
            _, _, job = self._queue.get()
            if job is _STOP:
                break
            fn, args, kwargs, fut_loop, fut = job
            try:
                result = _transaction(db, fn, args, kwargs)
            except BaseException as exc:
                fut_loop.call_soon_threadsafe(_settle, fut, None, exc)
            else:
                fut_loop.call_soon_threadsafe(_settle, fut, result, None)
        db.close()

    async def write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `fn(db, *args, **kwargs)` in one transaction on the writer thread."""
        if self._writer is None:
            raise RuntimeError("Database.open() was not awaited")
        return await self._queued(1, fn, args, kwargs)

    async def _queued(self, priority: int, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((priority, next(self._arrivals), (fn, args, kwargs, loop, fut)))
        return await fut

    async def read(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `fn(db, *args, **kwargs)` on a reader connection (WAL lets it see committed data)."""
        if self._readers is None:  # an in-memory database has only the writer's connection
            return await self.write(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: self._read(fn, args, kwargs))

    def _read(self, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        db = self._reader()
        try:
            return fn(db, *args, **kwargs)
        except psycopg.OperationalError:
            if not (isinstance(db, sql.PgConn) and db.conn.broken):
                raise
            log.warning("a store reader's connection was lost; connecting again")
            return fn(self._reader(), *args, **kwargs)  # reading twice changes nothing

    def _reader(self) -> sql.Conn:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
            with self._lock:
                self._reader_dbs.append(db)
        elif isinstance(db, sql.PgConn):
            db.reopen_if_lost()
        return db

    async def heartbeat_write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `fn(db, *args, **kwargs)` in one short transaction without waiting in the
        writer's queue: on PostgreSQL on the heartbeat's own connection and thread, on SQLite
        on the writer's, next.

        `fn` writes a few rows and may be run twice: when the connection was lost, it is
        run again on a new one (its first run may have committed)."""
        if self._beats is None:
            if self._writer is None:
                raise RuntimeError("Database.open() was not awaited")
            return await self._queued(0, fn, args, kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._beats, lambda: self._beat(fn, args, kwargs))

    def _beat(self, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        if self._beat_db is None:  # it gives up after BEAT_TIMEOUT rather than wait longer
            self._beat_db = sql.connect_postgres(self.path, timeout=BEAT_TIMEOUT)
        db = self._beat_db
        db.reopen_if_lost()
        try:
            with db.atomic():
                return fn(db, *args, **kwargs)
        except psycopg.OperationalError as exc:
            if not db.conn.broken:
                raise
            log.warning(
                "the heartbeat's connection to the store was lost (%s); connecting again", exc
            )
            db.reopen_if_lost()
            with db.atomic():
                return fn(db, *args, **kwargs)

    def _close_beat_db(self) -> None:
        if self._beat_db is not None:
            self._beat_db.close()
            self._beat_db = None

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._writer is not None:
            self._queue.put((1, next(self._arrivals), _STOP))
            await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        if self._beats is not None:
            beats, self._beats = self._beats, None
            beats.submit(self._close_beat_db)
            await asyncio.get_running_loop().run_in_executor(None, beats.shutdown)
        with self._lock:
            for db in self._reader_dbs:
                db.close()
            self._reader_dbs.clear()


def _transaction(db: sql.Conn, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
    """Run `fn` in one transaction; on PostgreSQL, again when a concurrent write won or the
    connection was lost before the transaction asked to commit (then nothing was written)."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        if isinstance(db, sql.PgConn):
            db.reopen_if_lost()
        committing = False
        sql.committed(db)  # nothing from an earlier write or attempt is left to undo
        try:
            try:
                with db.atomic():
                    result = fn(db, *args, **kwargs)
                    committing = True
            except BaseException:
                sql.rolled_back(db)  # undo what the body kept in memory, before any re-run
                raise
            sql.committed(db)
            return result
        except RETRIED as exc:
            if time.monotonic() - started > WRITE_PATIENCE:
                raise
            log.info("write %s ran into another: %s; trying again", _name(fn), exc)
            time.sleep(random.uniform(0.0, min(0.25, 0.004 * 2 ** min(attempt, 10))))
        except psycopg.OperationalError as exc:
            lost = isinstance(db, sql.PgConn) and db.conn.broken
            if committing or not lost or attempt >= WRITE_TRIES:
                raise  # a commit cut off may have happened: its caller must know
            log.warning("the store's connection was lost (%s); connecting again", exc)


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


def _name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", fn))
