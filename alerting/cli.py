"""``fleetobs alerts``: generate the rules and Alertmanager configuration, and test them.

::

    fleetobs alerts generate --out DIR [--slo FILE] [--layout flat|compose] [--time-scale X]
        flat (default):  DIR/rules/fleetobs-*.yml, DIR/alertmanager.yml, DIR/prometheus-rule.yaml
        compose:         DIR/prometheus/rules/fleetobs-*.yml, DIR/alertmanager/alertmanager.yml
    fleetobs alerts test [--rules GLOB ...] [--tests GLOB ...] [--alertmanager FILE]
        promtool check rules --lint-fatal, promtool test rules, amtool check-config;
        fails when a pattern (or a rule_files entry of a test file) matches nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alerting import api
from alerting.slo import load_spec
from alerting.tools import ToolError, check_alertmanager, check_rules, test_rules

DEFAULT_RULES = ("compose/prometheus/rules/*.yml",)
DEFAULT_TESTS = ("tests/alerting/promtool/*.yml",)
DEFAULT_ALERTMANAGER = "compose/alertmanager/alertmanager.yml"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "alerts", help="generate and test Prometheus alert rules and Alertmanager config"
    )
    commands = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    gen = commands.add_parser("generate", help="write rule files, Alertmanager config and a PrometheusRule")
    gen.add_argument("--out", type=Path, required=True, help="output directory")
    gen.add_argument("--slo", type=Path, default=None, help="SLO spec (YAML); default: fleet defaults")
    gen.add_argument(
        "--layout",
        choices=("flat", "compose"),
        default="flat",
        help="flat: DIR/rules + DIR/alertmanager.yml + DIR/prometheus-rule.yaml; "
        "compose: DIR/prometheus/rules + DIR/alertmanager/alertmanager.yml",
    )
    gen.add_argument("--grafana-url", default=None, help="base URL of Grafana for dashboard_url annotations")
    gen.add_argument(
        "--runbook-url", default=None, help="base URL of the runbooks for runbook_url annotations"
    )
    gen.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="shrink every window and for: by this factor (e.g. 0.0167 for tests); default 1",
    )
    gen.add_argument(
        "--rule-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra label on the PrometheusRule (e.g. release=kube-prometheus-stack)",
    )
    gen.set_defaults(func=_generate)

    test = commands.add_parser(
        "test", help="run promtool and amtool on rules, unit tests and Alertmanager config"
    )
    test.add_argument("--rules", nargs="+", default=list(DEFAULT_RULES), help="rule file patterns")
    test.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS), help="promtool unit test patterns")
    test.add_argument("--alertmanager", default=DEFAULT_ALERTMANAGER, help="Alertmanager config to check")
    test.set_defaults(func=_test)


def _generate(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.slo)
        labels = dict(item.split("=", 1) for item in args.rule_label)
    except ValueError as exc:
        print(f"fleetobs alerts generate: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    rules_dir = out / "prometheus" / "rules" if args.layout == "compose" else out / "rules"
    written = api.write_rules(
        rules_dir,
        args.slo,
        time_scale=args.time_scale,
        grafana_url=args.grafana_url,
        runbook_url=args.runbook_url,
    )
    am_path = (
        out / "alertmanager" / "alertmanager.yml" if args.layout == "compose" else out / "alertmanager.yml"
    )
    written.append(api.write_alertmanager(am_path, spec))
    if args.layout == "flat":
        ctx = api.build_context(spec, args.time_scale, args.grafana_url, args.runbook_url)
        rule_path = out / "prometheus-rule.yaml"
        rule_path.write_text(api.prometheus_rule_document(ctx, labels=labels), encoding="utf-8")
        written.append(rule_path)
    for path in written:
        print(path)
    return 0


def _test(args: argparse.Namespace) -> int:
    try:
        for step in (
            check_rules(args.rules),
            test_rules(args.tests),
            check_alertmanager(Path(args.alertmanager)),
        ):
            print(f"$ {' '.join(step.command)}\n{step.output.strip()}\n")
    except ToolError as exc:
        print(f"fleetobs alerts test: {exc}", file=sys.stderr)
        return 1
    print("fleetobs alerts test: all checks passed")
    return 0
