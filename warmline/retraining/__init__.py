"""Retraining: gold labels become a candidate model, promoted only when it is measurably better.

`settings` is the runtime form of `annotation.retraining`; `rounds` trains and judges one
candidate (no Temporal needed); `promotion` moves a registry's `CURRENT` and keeps its history;
`shadow` scores live traffic with a candidate without acting; `client` starts and signals the
`RetrainingWorkflow`.
"""
