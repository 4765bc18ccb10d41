"""The commands of `humannet`, one module per verb family; `humannet.cli.COMMANDS` registers them all."""
