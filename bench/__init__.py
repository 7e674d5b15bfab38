"""Benchmarks: scripts that measure warmline against a baseline in the same run (see README.md)."""
