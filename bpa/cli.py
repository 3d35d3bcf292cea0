"""`bpa`: the command-line edge and composition root.

It builds Settings once, wires the packages together and translates domain errors into
pt-BR messages and exit codes. Nothing imports this module. The commands live by job in
``ingesting``, ``asking`` and ``serving``; importing them registers them on ``app``.
"""

from __future__ import annotations

from bpa import asking, ingesting, serving  # noqa: F401  (registers the commands)
from bpa.app import EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, EXIT_NO_INDEX, app

__all__ = ["EXIT_BUSY", "EXIT_CONFIG", "EXIT_FAILED", "EXIT_NO_INDEX", "app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
