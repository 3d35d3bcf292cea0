"""Domain exceptions of the index layer. Edges (CLI, HTTP, Slack) translate them."""

import errno
from enum import IntEnum


class BpaError(Exception):
    """Base class of every error bpa raises on purpose."""


class NoSnapshotError(BpaError):
    """No snapshot has been published yet in the data directory."""


class SnapshotError(BpaError):
    """A snapshot on disk is missing, incomplete or inconsistent."""


class EmbedderError(BpaError):
    """The embedding model could not be loaded or used."""


class MissingPackageError(EmbedderError):
    """A backend's package is not installed; the registry turns it into an install hint."""

    def __init__(self, package: str, cause: ImportError) -> None:
        super().__init__(f"package {package!r} could not be imported ({cause})")
        self.package = package
        self.cause = cause


class StorageError(BpaError):
    """The data directory cannot be written: read-only, full disk, an I/O or FAISS write error.

    The message (pt-BR) names the path. Writes go to a build directory first, so the
    published snapshot is never affected.
    """

    def __init__(self, path: object, cause: BaseException) -> None:
        self.path = str(path)
        super().__init__(f"não foi possível gravar em {self.path}: {_storage_reason(cause)}")


def _storage_reason(cause: BaseException) -> str:
    """A pt-BR reason for a failed write, from an OSError, sqlite3 error or FAISS RuntimeError."""
    if isinstance(cause, OSError) and cause.errno is not None:
        reasons = {
            errno.ENOSPC: "disco cheio (sem espaço livre)",
            errno.EDQUOT: "cota de disco esgotada",
            errno.EROFS: "sistema de arquivos somente leitura",
            errno.EACCES: "sem permissão de escrita",
            errno.EPERM: "sem permissão de escrita",
            errno.ENOTDIR: "parte do caminho não é um diretório",
            errno.EEXIST: "já existe um arquivo com esse nome no caminho",
            errno.EIO: "erro de entrada/saída do disco",
            errno.ENOENT: "o diretório não existe",
            errno.EISDIR: "o caminho é um diretório",
        }
        return reasons.get(cause.errno, cause.strerror or str(cause))
    text = str(cause).lower()
    if "disk is full" in text or "no space left" in text:
        return "disco cheio (sem espaço livre)"
    if "readonly" in text or "read-only" in text:
        return "sistema de arquivos somente leitura"
    if isinstance(cause, RuntimeError):  # FAISS reports its C++ I/O errors so
        return "o FAISS não conseguiu gravar o índice vetorial"
    return f"erro do banco de dados ({cause})"


class ExitCode(IntEnum):
    """The CLI's exit codes, in one place: ``bpa`` exits with them and the admin reindex job
    (which runs ``bpa ingest`` as a child) reads them back."""

    OK = 0
    FAILED = 1  # ran, but something failed (a document, a source; or the gate refused the build)
    CONFIG = 2  # invalid input: sources file, arguments, settings
    NO_INDEX = 3  # nothing published yet
    BUSY = 4  # another ingest holds the lock (another replica is re-indexing: not a failure)
