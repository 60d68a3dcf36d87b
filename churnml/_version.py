"""The version of churnml: one home, read by the package, its metadata (pyproject.toml) and every saved model."""

__version__ = "0.1.0"
