"""Measurements of humannet beside the library, not inside it: `python -m benchmarks NAME ...` from the checkout.

Each benchmark prints its figures as ratios against a reference measured in the same run; docs/benchmarks.md
explains them. The installed `humannet` package never imports this one.
"""
