"""The one root exception type and its families."""

from __future__ import annotations


class AllhandsError(Exception):
    """Root of every error allhands raises on purpose; its message is meant for people."""


class ConfigError(AllhandsError):
    """A setting or playbook is wrong; carries every problem found, each with file and line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Problem:
    """One problem in a configuration file: `file:line: key: what is wrong (hint)`."""

    def __init__(
        self,
        message: str,
        *,
        file: str = "",
        line: int | None = None,
        key: str = "",
        hint: str = "",
    ):
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.hint = hint

    def __str__(self) -> str:
        where = self.file or "<settings>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def __repr__(self) -> str:
        return f"Problem({self!s})"


class CommandError(AllhandsError):
    """A chat command cannot be done; the message is the one-line answer to the person."""


class TransitionError(CommandError):
    """A mention is not in a state that allows the requested action."""


class SourceError(AllhandsError):
    """A source could not be read: unreachable, refused, or answered something unusable.

    `retry_after` is how many seconds the platform asked us to wait (a rate limit).
    """

    def __init__(self, source: str, message: str, *, retry_after: float | None = None):
        self.source = source
        self.retry_after = retry_after
        super().__init__(f"{source}: {message}")


class FeedError(SourceError):
    """An RSS/Atom feed could not be fetched or parsed."""


class DeliveryError(AllhandsError):
    """An effect on the outside world failed; `retry_after` says when it may be tried again.

    `transient` means the platform is busy or down (rate limited, 5xx, timed out): the
    effect is retried for as long as that lasts, without using up its attempts.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        transient: bool = False,
    ):
        self.retry_after = retry_after
        self.permanent = permanent
        self.transient = transient
        super().__init__(message)


class ModelError(AllhandsError):
    """The complaint model file is missing or not a model; the message says which file."""
