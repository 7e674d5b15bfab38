"""`warmline demo`: the main job on one machine — scripted conversations, simulated specialists.

The demo starts whatever services it was not pointed at, runs the real worker in-process, replays
conversations written for the project through triage, escalation and the warm handoff, and reads
back the domain events to print what happened.
"""
