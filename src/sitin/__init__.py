"""sitin: self-hosted meeting bots with deletion that leaves nothing behind."""

__version__ = "0.1.0"
