"""``fleetobs alerts``: generate the rules and Alertmanager configuration, and test them.

::

    fleetobs alerts generate --out DIR [--slo FILE] [--layout flat|compose] [--time-scale X]
        flat (default):  DIR/rules/fleetobs-*.yml, DIR/alertmanager.yml, DIR/prometheus-rule.yaml
        compose:         DIR/prometheus/rules/fleetobs-*.yml, DIR/alertmanager/alertmanager.yml
    fleetobs alerts test [--slo FILE] [--rules GLOB ...] [--tests GLOB ...] [--alertmanager FILE] [-q]
        promtool check rules --lint-fatal, promtool test rules, amtool check-config, each a
        progress line on stderr as it finishes (stdout: the tools' output);
        fails when a pattern (or a rule_files entry of a test file) matches nothing.
        Without --rules and --alertmanager it checks a fresh generation (from --slo, or the fleet
        defaults) in a temporary directory, so it works anywhere the package is installed;
        promtool unit tests run when --tests names them.

A bad spec, value or path is one line on stderr and exit 2; a failing check exits 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from alerting import api
from alerting.slo import Spec, load_spec
from alerting.tools import Result, ToolError, check_alertmanager, check_rules, test_rules
from fleetobs_cli import UsageError, example, key_value, number, output_dir, readable_file
from fleetobs_cli.progress import Progress, quiet_argument

#: Sections of an SLO spec that are mappings, and those whose every entry is one too.
_MAPPING_SECTIONS = ("defaults", "links", "notifications", "thresholds")
_MAPPING_OF_MAPPINGS = ("services", "teams")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "alerts",
        help="generate and test Prometheus alert rules and Alertmanager config",
        epilog=example("fleetobs alerts generate --out alerts/ --slo slo.yaml", "fleetobs alerts test"),
    )
    commands = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    gen = commands.add_parser(
        "generate",
        help="write rule files, Alertmanager config and a PrometheusRule",
        epilog=example(
            "fleetobs alerts generate --out alerts/ --slo slo.yaml --rule-label release=kube-prometheus-stack"
        ),
    )
    gen.add_argument("--out", type=output_dir, required=True, help="output directory")
    gen.add_argument(
        "--slo", type=readable_file, default=None, help="SLO spec (YAML); default: fleet defaults"
    )
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
        type=number(minimum=0, maximum=1, exclusive_minimum=True),
        default=1.0,
        help="shrink every window and for: by this factor (e.g. 0.0167 for tests); default 1",
    )
    gen.add_argument(
        "--rule-label",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra label on the PrometheusRule (e.g. release=kube-prometheus-stack)",
    )
    gen.set_defaults(func=_generate)

    test = commands.add_parser(
        "test",
        help="run promtool and amtool on rules, unit tests and Alertmanager config",
        description="promtool check rules --lint-fatal, promtool test rules and amtool check-config. "
        "Without --rules and --alertmanager, a fresh generation (from --slo, or the fleet defaults) "
        "is checked in a temporary directory.",
        epilog=example(
            "fleetobs alerts test --slo slo.yaml",
            "fleetobs alerts test --rules 'rules/*.yml' --tests 'tests/*.yml' --alertmanager am.yml",
        ),
    )
    test.add_argument(
        "--slo", type=readable_file, default=None, help="SLO spec for the generated files (default: defaults)"
    )
    test.add_argument("--rules", nargs="+", help="rule file patterns (default: a fresh generation)")
    test.add_argument("--tests", nargs="+", default=[], help="promtool unit test patterns (default: none)")
    test.add_argument(
        "--alertmanager",
        type=readable_file,
        help="Alertmanager config to check (default: a fresh generation)",
    )
    quiet_argument(test)
    test.set_defaults(func=_test)


def read_spec(path: Path | None) -> Spec:
    """The spec, or a :class:`UsageError` naming the file and what is wrong in it."""
    if path is None:
        return Spec()
    try:
        import yaml

        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--slo {path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--slo {path}: not valid YAML ({exc}); fix the file") from None
    _check_shape(path, raw)
    try:
        return load_spec(path)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--slo {exc}; see the spec format in docs/alerting.md") from None


def _check_shape(path: Path, raw: object) -> None:
    """The sections load_spec expects as mappings are mappings (a list is a common slip)."""
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        raise UsageError(f"--slo {path}: the spec must be a mapping of sections, got {type(raw).__name__}")
    for key in (*_MAPPING_SECTIONS, *_MAPPING_OF_MAPPINGS):
        value = raw.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise UsageError(
                f"--slo {path}: {key} must be a mapping (name: settings), got a {type(value).__name__}; "
                f"write e.g. `{key}: {{shop: {{}}}}`"
                if key in _MAPPING_OF_MAPPINGS
                else f"--slo {path}: {key} must be a mapping (key: value), got a {type(value).__name__}"
            )
        if key in _MAPPING_OF_MAPPINGS and value:
            for name, entry in value.items():
                if entry is not None and not isinstance(entry, Mapping):
                    raise UsageError(
                        f"--slo {path}: {key}.{name} must be a mapping of settings, "
                        f"got {type(entry).__name__} {entry!r}"
                    )


def _generate(args: argparse.Namespace) -> int:
    spec = read_spec(args.slo)
    labels = dict(args.rule_label)
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
    if args.slo is not None and args.rules and args.alertmanager:
        raise UsageError("--slo generates the files to check, --rules and --alertmanager name them: give one")
    spec = read_spec(args.slo)
    with tempfile.TemporaryDirectory(prefix="fleetobs-alerts-") as tmp:
        rules = args.rules
        if not rules:
            rules = [str(path) for path in api.write_rules(Path(tmp) / "rules", args.slo)]
            print(f"checking a fresh generation ({args.slo or 'fleet defaults'}) in {tmp}")
        alertmanager: Path = args.alertmanager or api.write_alertmanager(Path(tmp) / "alertmanager.yml", spec)
        steps: list[tuple[str, Callable[[], Result]]] = [("promtool check rules", lambda: check_rules(rules))]
        if args.tests:
            steps.append(("promtool test rules", lambda: test_rules(args.tests)))
        steps.append(("amtool check-config", lambda: check_alertmanager(alertmanager)))
        progress = Progress(len(steps), quiet=args.quiet)
        try:
            for name, step in steps:
                result = step()
                print(f"$ {' '.join(result.command)}\n{result.output.strip()}\n")
                progress.done(name)
        except ToolError as exc:
            print(f"fleetobs alerts test: {exc}", file=sys.stderr)
            return 1
    if not args.tests:
        print("no promtool unit tests given (--tests PATTERN); the rules and configuration were checked")
    print("fleetobs alerts test: all checks passed")
    return 0
