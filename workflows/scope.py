"""The scope of a workflow execution's event ids, for the workflows that publish events."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from warmline.events.envelope import execution_scope as scope_of


def execution_scope() -> str:
    """This execution's event-id scope: its workflow id and first run id (`scope_of`), so an id
    that starts again after its workflow closed never repeats the events of the closed one."""
    info = workflow.info()
    return scope_of(info.workflow_id, info.first_execution_run_id)
