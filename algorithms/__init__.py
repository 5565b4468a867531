"""svglab's agents. The version is svglab's, read by pyproject.toml and stamped into checkpoints."""

__version__ = "0.3.0"
