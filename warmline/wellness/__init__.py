"""Emotional-labour protection: exposure budgets, breaks, check-ins and rotation."""
