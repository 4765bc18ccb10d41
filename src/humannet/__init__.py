"""humannet: raw video in, a curated human-centric clip corpus out."""

__version__ = "0.1.0"
