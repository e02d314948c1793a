"""The package version, in one place (read by the package and written into checkpoint headers)."""

__version__ = "0.1.0"
