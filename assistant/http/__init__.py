"""HTTP edge of bpa: the /v1 API, the web page, metrics and admin jobs."""

from assistant.http.admin import Reindexer, ReindexResult, SubprocessReindexer
from assistant.http.app import create_app
from assistant.http.security import warn_if_exposed

__all__ = ["ReindexResult", "Reindexer", "SubprocessReindexer", "create_app", "warn_if_exposed"]
