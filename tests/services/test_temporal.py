"""The Temporal dev server and the time-skipping test server are real and speak pydantic models."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker


class Greeting(BaseModel):
    name: str
    times: int


class Reply(BaseModel):
    text: str
    attempts: int


@activity.defn
async def compose(greeting: Greeting) -> Reply:
    return Reply(text=" ".join([f"hello {greeting.name}"] * greeting.times), attempts=1)


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, greeting: Greeting) -> Reply:
        return await workflow.execute_activity(
            compose, greeting, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class LongWaitWorkflow:
    @workflow.run
    async def run(self, greeting: Greeting) -> Reply:
        await workflow.sleep(timedelta(hours=1))
        return Reply(text=f"waited for {greeting.name}", attempts=greeting.times)


async def test_workflow_round_trip_on_dev_server(dev_client: Client, task_queue: str) -> None:
    async with Worker(
        dev_client, task_queue=task_queue, workflows=[GreetingWorkflow], activities=[compose]
    ):
        reply = await dev_client.execute_workflow(
            GreetingWorkflow.run,
            Greeting(name="ada", times=2),
            id=f"greet-{task_queue}",
            task_queue=task_queue,
        )
    assert reply == Reply(text="hello ada hello ada", attempts=1)
    handle = dev_client.get_workflow_handle(f"greet-{task_queue}")
    history = await handle.fetch_history()
    assert len(history.events) > 5


async def test_time_skipping_server_skips_an_hour(
    workflow_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with Worker(workflow_env.client, task_queue=task_queue, workflows=[LongWaitWorkflow]):
        started = await workflow_env.get_current_time()
        reply = await workflow_env.client.execute_workflow(
            LongWaitWorkflow.run,
            Greeting(name="bo", times=3),
            id=f"wait-{task_queue}",
            task_queue=task_queue,
        )
        finished = await workflow_env.get_current_time()
    assert reply.text == "waited for bo"
    assert finished - started >= timedelta(hours=1)
