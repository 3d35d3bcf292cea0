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


def two_remote_sources(confluence: ConfluenceStandin, zendesk: ZendeskStandin) -> str:
    """A sources file with one Confluence source (tdn, page 100 and below) and one Help Center
    source (kcs) pointing at the stand-ins."""
    return (
        f'[[source]]\nname = "tdn"\ntype = "confluence"\nbase_url = "{confluence.base_url}"\npage_ids = ["100"]\n\n'
        f'[[source]]\nname = "kcs"\ntype = "zendesk"\nbase_url = "{zendesk.base_url}"\n'
    )


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
    "two_remote_sources",
]
