"""Domain errors of the assistant. Messages are pt-BR: they reach analysts as they are."""

from __future__ import annotations

from index.errors import BpaError, NoSnapshotError


class InvalidQuestion(BpaError):
    """The question cannot be searched (empty, too long, no letters)."""

    def __init__(self, message: str, field: str = "question") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownAnswer(BpaError):
    """Feedback names an answer id that was never given."""


class UnknownDocument(BpaError):
    """No document with that id in the current snapshot."""


class StateUnavailable(BpaError):
    """The state store (questions, feedback) cannot be opened or written: a read-only or full
    data directory, a broken database. Answers are still given; feedback cannot be recorded."""


class IncompatibleSnapshot(NoSnapshotError):
    """The published snapshot was embedded with another model than the one answering."""


NO_INDEX_MESSAGE = "Nenhum índice publicado ainda. Rode `bpa ingest` para indexar a documentação."
STATE_UNAVAILABLE_MESSAGE = (
    "Não foi possível registrar agora: o armazenamento do bpa está indisponível. "
    "Tente de novo mais tarde; se persistir, avise a equipe do bpa."
)

__all__ = [
    "NO_INDEX_MESSAGE",
    "STATE_UNAVAILABLE_MESSAGE",
    "BpaError",
    "IncompatibleSnapshot",
    "InvalidQuestion",
    "NoSnapshotError",
    "StateUnavailable",
    "UnknownAnswer",
    "UnknownDocument",
]
