"""CLI command modules, one per area; each is registered with one line in `humannet.cli`."""
