"""hexlake: a self-hostable, privacy-first, location-aware event data platform."""

__version__ = "0.1.0"

__all__ = ["__version__"]
