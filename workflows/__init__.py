"""Temporal workflows: thin, deterministic orchestration of warmline's activities."""
