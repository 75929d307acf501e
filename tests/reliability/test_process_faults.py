"""Process faults: workers killed and recycled under load, and a graceful shutdown.

* Four gunicorn workers recycled every ~40 requests (``--max-requests``) and SIGKILLed every
  few seconds, under steady load, scraped every second by a real Prometheus: no counter ever
  goes backwards (``resets()`` over the whole run is 0 for every counter), the scrape's request
  total is exactly the number of requests the client completed (plus at most the requests cut
  by a kill, which the client could not see finish), and the multiprocess directory holds files
  of live workers only (plus the merged ones).
* SIGTERM to the master while spans and log lines are still queued (export and shipping
  intervals of a minute): every request's server span reaches the OTLP collector and every
  access line reaches Elasticsearch and stdout before the processes exit.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from tests.logging.es_server import FakeElasticsearch
from tests.reliability.backends import SwitchableCollector
from tests.reliability.harness import (
    STEADY_PATHS,
    Load,
    get_field,
    json_lines,
    request,
    sample_sum,
    scrape,
    shop_env,
    wait_until,
)
from tests.support.procs import Gunicorn, Prometheus, static_scrape_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Paths counted by the request-duration histogram (probes are excluded from metrics).
COUNTED_PATHS = tuple(p for p in STEADY_PATHS if p != "/healthz")
#: Integer-valued counters (fractional ones, such as CPU seconds and histogram sums, are checked
#: by test_merging_a_dead_worker_never_lowers_a_fractional_counter below).
COUNTERS = (
    r'{__name__=~"(http_server_request_duration_seconds|db_client_operation_duration_seconds)_(count|bucket)'
    r'|.+_total",__name__!="fleetobs_process_cpu_seconds_total"}'
)
FILE_PID = re.compile(r"_(\d+)\.db$")


def test_killed_and_recycled_workers_keep_counters_exact_and_monotonic(
    shop_database: Path, tmp_path: Path
) -> None:
    env = shop_env(shop_database, OTEL_SDK_DISABLED="true", FLEETOBS_LOG_LEVEL="WARNING")
    extra = ["--max-requests", "40", "--max-requests-jitter", "10"]
    rng = random.Random(3)
    with Gunicorn("sample_app.wsgi", workers=4, env=env, workdir=tmp_path / "app", extra_args=extra) as app:
        scrape_config = static_scrape_config("shop", [app.address], labels={"environment": "test"})
        with Prometheus([scrape_config], scrape_interval="1s", workdir=tmp_path / "prometheus") as prometheus:
            prometheus.wait_for_targets_up(1)
            started = time.time()
            seen_workers = set(app.worker_pids())
            kills = 0
            with Load(app.url, COUNTED_PATHS, rate=30, threads=4) as load:
                load.phase = "churn"
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    time.sleep(2.5)
                    workers = app.worker_pids()
                    seen_workers.update(workers)
                    if workers:
                        os.kill(rng.choice(workers), signal.SIGKILL)
                        kills += 1
                    time.sleep(0.5)
                    seen_workers.update(app.worker_pids())
                load.phase = "done"
            app.wait_for_workers(4, timeout=30)
            seen_workers.update(app.worker_pids())

            samples = list(load.samples)
            completed = sum(1 for s in samples if s.status is not None)
            cut = sum(1 for s in samples if s.status is None)
            assert all(s.status in {200, None} for s in samples), {s.status for s in samples}
            text = scrape(app.url)
            scraped = sample_sum(text, "http_server_request_duration_seconds_count")
            print(
                f"{completed} completed, {cut} cut by kills, {kills} kills, "
                f"{len(seen_workers)} workers seen, "
                f"scrape total {scraped}"
            )
            # Every request the client saw complete is counted once; a request cut by a kill at
            # most once (it may have been counted just before the worker died).
            assert completed <= scraped <= completed + cut, (completed, cut, scraped)
            assert len(seen_workers) >= 4 + kills + 3, f"workers were not recycled: {len(seen_workers)} seen"

            # Prometheus saw the same total and no counter ever went backwards.
            total = "sum(http_server_request_duration_seconds_count)"
            prometheus.wait_for_query(
                total, lambda r: bool(r) and float(r[0]["value"][1]) >= scraped, timeout=30
            )
            window = f"{int(time.time() - started) + 5}s"
            names = [r["metric"]["__name__"] for r in prometheus.query(f"count by (__name__) ({COUNTERS})")]
            assert "http_server_request_duration_seconds_count" in names
            went_back = {}
            for name in names:
                result = prometheus.query(f"sum(resets({name}[{window}]))")
                if result and float(result[0]["value"][1]) > 0:
                    went_back[name] = _largest_decrease(prometheus, name, started)
            assert not went_back, f"counters went backwards (resets over the run): {went_back}"
            points = prometheus.query_range(total, started, time.time(), 1)
            values = [float(v) for _, v in points[0]["values"]]
            assert values == sorted(values), "the request total decreased between scrapes"

        # Files of dead workers were merged away: only live workers' files remain.
        live = set(app.worker_pids())
        files = [p.name for p in app.multiproc_dir.glob("*.db")]
        pids = {int(m.group(1)) for name in files if (m := FILE_PID.search(name))}
        assert pids <= live, f"files of dead workers remain: {sorted(pids - live)} (live {sorted(live)})"
        per_type = len({name.rsplit("_", 1)[0] for name in files})
        assert len(files) <= per_type * (len(live) + 1), sorted(files)


def test_merging_a_dead_worker_never_lowers_a_fractional_counter(tmp_path: Path) -> None:
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    from instrumentation.metrics import multiprocess

    name = "fleetobs_process_cpu_seconds_total"
    key = mmap_key(name, name, [], [], "")
    rng = random.Random(1)
    decreases = []
    for trial in range(200):
        directory = tmp_path / str(trial)
        directory.mkdir()
        pids = [1000 + n for n in range(4)]
        for pid in pids:
            values = MmapedDict(str(directory / f"counter_{pid}.db"))
            values.write_value(key, rng.uniform(0, 50), 0)
            values.close()

        def total(directory: Path = directory) -> float:
            families = multiprocess.FleetCollector(directory).collect()
            return sum(s.value for f in families for s in f.samples if s.name == name)

        before = total()
        multiprocess.mark_process_dead(rng.choice(pids), directory)
        after = total()
        if after < before:
            decreases.append((before, after))
    assert not decreases, f"{len(decreases)} of 200 merges lowered the total, e.g. {decreases[0]!r}"


def _largest_decrease(prometheus: Prometheus, name: str, started: float) -> str:
    """The biggest drop between two consecutive scrapes of any series of ``name`` (diagnostics)."""
    worst = (0.0, 0.0, 0.0)
    for series in prometheus.query_range(name, started, time.time(), 1):
        values = [float(v) for _, v in series["values"]]
        for before, after in itertools.pairwise(values):
            if after < before and before - after > worst[0]:
                worst = (before - after, before, after)
    return f"drop of {worst[0]!r} ({worst[1]!r} -> {worst[2]!r})"


def test_graceful_shutdown_flushes_pending_spans_and_log_lines(shop_database: Path, tmp_path: Path) -> None:
    with SwitchableCollector() as collector:
        elasticsearch = FakeElasticsearch().start()
        try:
            env = shop_env(
                shop_database,
                fleetobs={
                    "SPAN_SCHEDULE_DELAY": 60.0,
                    "SPAN_BATCH_SIZE": 2048,
                    "ELASTICSEARCH_FLUSH_INTERVAL": 60.0,
                    "ELASTICSEARCH_BATCH_SIZE": 5000,
                },
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector.endpoint,
                FLEETOBS_ELASTICSEARCH_URL=elasticsearch.url,
                FLEETOBS_LOG_LEVEL="INFO",
            )
            app = Gunicorn("sample_app.wsgi", workers=3, env=env, workdir=tmp_path / "app").start()
            try:
                sent: dict[str, str] = {}
                for n in range(60):
                    request_id = f"rel-shutdown-{n}"
                    path = COUNTED_PATHS[n % len(COUNTED_PATHS)]
                    reply = request(app.url, path, headers={"X-Request-ID": request_id})
                    assert reply.status == 200
                    sent[request_id] = reply.headers["x-trace-id"]
                # Nothing was due yet: what arrives next is what the shutdown flushed.
                assert not collector.server_spans()
                assert not elasticsearch.all_docs()
                os.kill(app.pid, signal.SIGTERM)
                assert app.process is not None
                app.process.wait(timeout=30)
            finally:
                app.stop()
            servers = [s for s in collector.server_spans() if s.trace_id in set(sent.values())]
            assert len(servers) == len(sent), f"{len(servers)} server spans for {len(sent)} requests"
            assert {s.trace_id for s in servers} == set(sent.values())
            shipped = {get_field(d, "http.request.id") for d in elasticsearch.all_docs()}
            assert set(sent) <= shipped, f"{len(set(sent) - shipped)} access lines not shipped"
            written = {get_field(e, "http.request.id") for e in json_lines(app.log_path)}
            assert set(sent) <= written
        finally:
            elasticsearch.stop()
    assert wait_until(lambda: not app.running, 1)
