"""The HTML corpus report (`humannet report`)."""
