"""SLO rule groups: latency SLI, objectives, error budgets and the burn-rate alerts.

One group per service listed in the spec (selector ``job="<service>"``) and one default group for
every other service (selector ``job!~"<listed services>"``), so the default SLO applies to any
scraped service out of the box while an override replaces it for exactly one job. All groups
record the same names; their label sets are disjoint by ``job``::

    job:http_server_request_latency_sli:ratio_rate{5m,...,3d}   share of requests under the threshold
    job:http_server_request_latency_sli_good:rate5m             those requests per second
    job:slo_objective:ratio{slo="availability"|"latency"}       the objective, for dashboards
    job:slo_error_budget_remaining:ratio{slo=...}               budget left over the SLO window
    job:slo_burn_rate:ratio_rate1h{slo=...}                     how fast the budget burns right now

Every rule carries ``spec="<service>"`` or ``spec="default"``: the spec entry it comes from (the
label also keeps the rules distinct for ``promtool check rules --lint-fatal``).

Burn-rate alerts (:data:`alerting.slo.BURN_RATE_WINDOWS`): ``FleetobsAvailabilityBudgetBurn`` and
``FleetobsLatencyBudgetBurn``, one rule per window pair, labelled ``long_window``/``short_window``.
Each is guarded by the service's ``min_request_rate`` over the long window, so a single failed
request on a quiet night cannot page anyone. Thresholds are literal numbers computed here (e.g.
``0.0144`` for 14.4 x a 0.1% budget), so the rule reads the same as the page it sends.
"""

from __future__ import annotations

from alerting.context import Context
from alerting.model import Alert, Record, RuleGroup
from alerting.promql import le_matcher, regex_alternatives, series
from alerting.recording import BUCKET, COUNT, error_ratio, requests_rate
from alerting.slo import BURN_RATE_WINDOWS, RATE_WINDOWS, ServiceSLO, error_ratio_threshold

LATENCY_SLI = "job:http_server_request_latency_sli:ratio_rate{}"
LATENCY_GOOD = "job:http_server_request_latency_sli_good:rate5m"


def _selector(slo: ServiceSLO, listed: tuple[str, ...]) -> str:
    if slo.name != "*":
        return f'job="{slo.name}"'
    return f'job!~"{regex_alternatives(listed)}"' if listed else ""


def _entry(slo: ServiceSLO) -> str:
    """Value of the ``spec`` label: which spec entry produced a rule (keeps rules unique per name)."""
    return "default" if slo.name == "*" else slo.name


def _records(slo: ServiceSLO, sel: str, ctx: Context) -> list[Record]:
    d = ctx.durations
    spec = {"spec": _entry(slo)}
    rec = f"{{{sel}}}" if sel else ""
    le = le_matcher(slo.latency_threshold)
    rules = [
        Record(
            LATENCY_SLI.format(w),
            f"sum by (job, environment) (rate({series(BUCKET, le, sel)}[{d(w)}]))\n/\n"
            f"sum by (job, environment) (rate({series(COUNT, sel)}[{d(w)}]))",
            spec,
        )
        for w in RATE_WINDOWS
    ]
    rules.append(
        Record(LATENCY_GOOD, f"sum by (job, environment) (rate({series(BUCKET, le, sel)}[{d('5m')}]))", spec)
    )
    period = d(slo.window)
    requests = f"sum_over_time({requests_rate('job', '5m')}{rec}[{period}])"
    budgets = {
        # No 5xx yet means no error series at all: the budget is then whole, not missing.
        "availability": (
            f"(sum_over_time(job:http_server_request_errors:rate5m{rec}[{period}])\n"
            f"or {requests} * 0)\n/\n{requests}"
        ),
        # The good-request rate carries its spec label, the request rate does not.
        "latency": f"1 - sum_over_time({LATENCY_GOOD}{rec}[{period}])\n/ ignoring (spec)\n{requests}",
    }
    current = {
        "availability": f"{error_ratio('job', '1h')}{rec}",
        "latency": f"(1 - {LATENCY_SLI.format('1h')}{rec})",
    }
    for sli in ("availability", "latency"):
        objective = slo.objective(sli)
        budget = round(1 - objective, 10)
        labels = {"slo": sli, **spec}
        rules.append(
            Record(
                "job:slo_objective:ratio",
                f"group by (job, environment) ({series(COUNT, sel)}) * {objective}",
                labels,
            )
        )
        rules.append(
            Record("job:slo_error_budget_remaining:ratio", f"1 - (\n{budgets[sli]}\n) / {budget}", labels)
        )
        rules.append(Record("job:slo_burn_rate:ratio_rate1h", f"{current[sli]} / {budget}", labels))
    return rules


_TEXT = {
    "availability": (
        "FleetobsAvailabilityBudgetBurn",
        "{{ $labels.job }} is failing too many requests and burning its error budget.",
        "{{{{ $value | humanizePercentage }}}} of {{{{ $labels.job }}}} requests answered 5xx over the last "
        "{long} (and over {short}); above {threshold:.4g}% that is {factor:g}x the {budget:.4g}% "
        "budget of its "
        "{objective:.4g}% {window} availability SLO, so {share:.0%} of the whole budget goes in {long}.",
    ),
    "latency": (
        "FleetobsLatencyBudgetBurn",
        "{{ $labels.job }} is too slow for its latency SLO and burning its budget.",
        "{{{{ $value | humanizePercentage }}}} of {{{{ $labels.job }}}} requests took longer than "
        "{seconds:g}s over "
        "the last {long} (and over {short}); above {threshold:.4g}% that is {factor:g}x the "
        "{budget:.4g}% budget "
        "of its {objective:.4g}% {window} latency SLO, so {share:.0%} of the whole budget goes in {long}.",
    ),
}


def _alerts(slo: ServiceSLO, sel: str, ctx: Context) -> list[Alert]:
    rec = f"{{{sel}}}" if sel else ""
    alerts = []
    for sli in ("availability", "latency"):
        name, summary, description = _TEXT[sli]
        objective = slo.objective(sli)
        for window in BURN_RATE_WINDOWS:
            factor = window.factor(slo.window)
            threshold = error_ratio_threshold(factor, objective)

            def bad(w: str, sli: str = sli) -> str:
                if sli == "availability":
                    return f"{error_ratio('job', w)}{rec}"
                return f"(1 - {LATENCY_SLI.format(w)}{rec})"

            expr = (
                f"(\n  {bad(window.long)} > {threshold}\nand\n  {bad(window.short)} > {threshold}\n)\n"
                f"and on (job, environment)\n"
                f"  {requests_rate('job', window.long)}{rec} > {slo.min_request_rate}"
            )
            text = description.format(
                long=window.long,
                short=window.short,
                threshold=threshold * 100,
                factor=factor,
                budget=(1 - objective) * 100,
                objective=objective * 100,
                window=slo.window,
                share=window.budget_share,
                seconds=slo.latency_threshold,
            )
            alerts.append(
                Alert(
                    alert=name,
                    expr=expr,
                    for_=ctx.durations.for_(window.for_),
                    severity=window.severity,
                    labels={
                        "slo": sli,
                        "spec": _entry(slo),
                        "long_window": window.long,
                        "short_window": window.short,
                    },
                    summary=summary,
                    description=text,
                    runbook_url=ctx.runbook(name),
                    dashboard_url=ctx.dashboard("service", "job"),
                )
            )
    return alerts


def groups(ctx: Context) -> tuple[RuleGroup, ...]:
    spec = ctx.spec
    listed = spec.known_services
    out = []
    for slo in (*spec.services, spec.default):
        sel = _selector(slo, listed)
        name = "fleetobs-slo-default" if slo.name == "*" else f"fleetobs-slo-{slo.name}"
        out.append(RuleGroup(name, (*_records(slo, sel, ctx), *_alerts(slo, sel, ctx))))
    return tuple(out)
