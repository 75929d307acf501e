"""Background tasks: are tasks running, succeeding and keeping up?

Rows answer: *Are tasks flowing?* (queued and finished per second by task), *Are they
failing?* (failures and retries per second, failure ratio by task), *How long do they take,
and how long do they wait?* (p50/p95 run time and p95 queue wait by task) and a per-task
summary over the dashboard's range.
"""

from __future__ import annotations

from grafanalib import core as gl

from dashboards import queries as q
from dashboards import uids
from dashboards.board import dashboard
from dashboards.panels import (
    ANY,
    ERROR_RATIO,
    OPS_PER_SECOND,
    RATIO,
    SECONDS,
    Column,
    Query,
    Section,
    table,
    timeseries,
)
from instrumentation.catalog import metric

UID = uids.TASKS
TITLE = "Background tasks"

PUBLISHED = metric("fleetobs_task_published")
EXECUTIONS = metric("fleetobs_task_executions")
DURATION = metric("fleetobs_task_duration_seconds")
QUEUE_WAIT = metric("fleetobs_task_queue_wait_seconds")

BY_TASK = ("task_name",)
FAILED = {"task_state": "failure"}
RETRIED = {"task_state": "retry"}


def failure_ratio(over_range: bool = False) -> str:
    count = q.increase if over_range else q.rate
    total = count(EXECUTIONS, "", None, BY_TASK)
    return q.ratio(q.or_zero(count(EXECUTIONS, "", FAILED, BY_TASK), total), total)


def build() -> gl.Dashboard:
    flow = [
        timeseries(
            "Tasks queued",
            "Tasks published to the broker per second, by task name.",
            [Query(q.rate(PUBLISHED, by=BY_TASK), "{{task_name}}")],
            OPS_PER_SECOND,
        ),
        timeseries(
            "Tasks finished by outcome",
            "Task executions finished per second, by task and outcome (success, failure, retry).",
            [Query(q.rate(EXECUTIONS, by=(*BY_TASK, "task_state")), "{{task_name}} {{task_state}}")],
            OPS_PER_SECOND,
            stack=True,
        ),
    ]
    failures = [
        timeseries(
            "Failure ratio by task",
            "Share of finished executions that failed, by task (0 when none failed).",
            [Query(failure_ratio(), "{{task_name}}")],
            RATIO,
            w=8,
            steps=ERROR_RATIO,
        ),
        timeseries(
            "Failures",
            "Failed executions per second, by task.",
            [Query(q.rate(EXECUTIONS, matchers=FAILED, by=BY_TASK), "{{task_name}}")],
            OPS_PER_SECOND,
            w=8,
            steps=ANY,
        ),
        timeseries(
            "Retries",
            "Executions per second that asked to be retried, by task.",
            [Query(q.rate(EXECUTIONS, matchers=RETRIED, by=BY_TASK), "{{task_name}}")],
            OPS_PER_SECOND,
            w=8,
            steps=ANY,
        ),
    ]
    timing = [
        timeseries(
            "Run time p50 / p95",
            "How long tasks ran, median and 95th percentile, by task.",
            [
                Query(q.quantile(0.5, DURATION, by=BY_TASK), "{{task_name}} p50"),
                Query(q.quantile(0.95, DURATION, by=BY_TASK), "{{task_name}} p95"),
            ],
            SECONDS,
        ),
        timeseries(
            "Queue wait p95",
            "How long tasks waited in the queue before a worker started them (95th percentile). Growing "
            "waits mean too few workers.",
            [Query(q.quantile(0.95, QUEUE_WAIT, by=BY_TASK), "{{task_name}}")],
            SECONDS,
        ),
        table(
            "Tasks",
            "Every task over the dashboard's range: executions per second, failure ratio, p95 run time and "
            "p95 queue wait.",
            list(BY_TASK),
            [
                Column("Executions/s", q.range_rate(EXECUTIONS, by=BY_TASK), OPS_PER_SECOND),
                Column("Failures", failure_ratio(over_range=True), RATIO, ERROR_RATIO),
                Column("Run time p95", q.quantile(0.95, DURATION, by=BY_TASK, over_range=True), SECONDS),
                Column("Queue wait p95", q.quantile(0.95, QUEUE_WAIT, by=BY_TASK, over_range=True), SECONDS),
            ],
            h=8,
            sort_by="Executions/s",
        ),
    ]
    return dashboard(
        UID,
        TITLE,
        "Background (Celery) tasks: throughput, failures, retries, run time and queue wait.",
        [
            Section("Are tasks flowing?", flow),
            Section("Are tasks failing?", failures),
            Section("How long do tasks run and wait?", timing),
        ],
    )
