"""Local stand-ins for Confluence, Zendesk Help Center and a plain web site: real HTTP servers
on 127.0.0.1 speaking each service's protocol, with per-path fault injection and a request log
(see ``server.py``)."""

from tests.support.standins.confluence import ConfluencePage, ConfluenceStandin
from tests.support.standins.server import (
    MALFORMED_HTML,
    MALFORMED_JSON,
    Fault,
    Request,
    Response,
    StandinServer,
    fast_settings,
)
from tests.support.standins.site import SiteStandin, SyntheticArticle, synthetic_articles
from tests.support.standins.zendesk import ZendeskArticle, ZendeskStandin

__all__ = [
    "MALFORMED_HTML",
    "MALFORMED_JSON",
    "ConfluencePage",
    "ConfluenceStandin",
    "Fault",
    "Request",
    "Response",
    "SiteStandin",
    "StandinServer",
    "SyntheticArticle",
    "ZendeskArticle",
    "ZendeskStandin",
    "fast_settings",
    "synthetic_articles",
]
