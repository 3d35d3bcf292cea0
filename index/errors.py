"""Domain exceptions of the index layer. Edges (CLI, HTTP, Slack) translate them."""


class BpaError(Exception):
    """Base class of every error bpa raises on purpose."""


class NoSnapshotError(BpaError):
    """No snapshot has been published yet in the data directory."""


class SnapshotError(BpaError):
    """A snapshot on disk is missing, incomplete or inconsistent."""


class EmbedderError(BpaError):
    """The embedding model could not be loaded or used."""
