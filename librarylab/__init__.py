"""LibraryLab station manager: composition root (settings, database, app factory, CLI)."""

__version__ = "0.1.0"
