"""Run inside a fresh process with ``DJANGO_SETTINGS_MODULE=tests.wagtail.settings``: migrate a
new SQLite database, add pages of two models under the site's root page with Wagtail's API,
request each, and print as JSON what the metrics, spans and access lines say about routes.

``python -m tests.wagtail.scenario <blog pages> <event pages>``
"""

from __future__ import annotations

import io
import json
import sys
from collections import Counter

import django


def main(blog_pages: int, event_pages: int) -> dict[str, object]:
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from wagtail.models import Site

    from instrumentation.logging import pipeline
    from instrumentation.metrics import registry
    from instrumentation.tracing.testing import capture_spans
    from tests.wagtail.cms.models import BlogPage, EventPage

    call_command("migrate", verbosity=0, interactive=False)
    home = Site.objects.get(is_default_site=True).root_page
    for number in range(blog_pages):
        home.add_child(instance=BlogPage(title=f"Post {number}", slug=f"post-{number}"))
    for number in range(event_pages):
        home.add_child(instance=EventPage(title=f"Event {number}", slug=f"event-{number}"))

    stream = io.StringIO()
    pipeline.configure(stream=stream)
    client = Client()
    statuses: Counter[int] = Counter()
    with capture_spans() as spans:
        paths = ["/", "/no-such-page/"]
        paths += [f"/post-{number}/" for number in range(blog_pages)]
        paths += [f"/event-{number}/" for number in range(event_pages)]
        for path in paths:
            statuses[client.get(path).status_code] += 1

    counted: Counter[str] = Counter()
    for family in registry.collector_registry().collect():
        for sample in family.samples:
            if sample.name == "http_server_request_duration_seconds_count":
                counted[sample.labels["http_route"]] += int(sample.value)
    access = Counter(
        line["http"]["route"]
        for line in map(json.loads, stream.getvalue().splitlines())
        if line["log"]["logger"] == "fleetobs.access"
    )
    server_spans = Counter(span.name for span in spans.get_finished_spans() if span.kind.name == "SERVER")
    return {
        "statuses": {str(code): n for code, n in statuses.items()},
        "metrics": dict(counted),
        "access": dict(access),
        "spans": dict(server_spans),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))))
