"""Temporal activities: every piece of I/O warmline's workflows need."""
