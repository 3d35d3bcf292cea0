"""Domain exceptions of the index layer. Edges (CLI, HTTP, Slack) translate them."""


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
