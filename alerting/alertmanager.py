"""The Alertmanager configuration: routing by severity and team, grouping, inhibition, receivers.

Routing tree (first match wins at each level)::

    route  (group_by alertname+job; default receiver <default team>-ticket)
    ├── alertname="Watchdog"          -> heartbeat          (repeats every minute)
    ├── team="<team>"                 -> per-severity routes of that team
    ├── job=~"<services of team>"     -> per-severity routes of that team (team from the SLO spec)
    └── per-severity routes of the default team
        severity="critical" -> <team>-page     PagerDuty + Slack, repeats hourly
        severity="warning"  -> <team>-ticket   Slack + e-mail
        severity="info"     -> <team>-info     Slack only, repeats daily

Alerts carrying a ``team`` label (added by a scrape config or a rule) go to that team; others go to
the team the spec assigns their ``job`` to, and everything else to the default team.

Inhibition:

* ``FleetobsInstanceDown`` mutes every other alert of the same ``job`` and ``instance``;
* ``FleetobsServiceDown`` mutes the per-instance availability alerts of the same ``job``;
* a ``critical`` alert mutes the ``warning`` alert with the same name, ``job`` and ``instance``
  (file descriptors at 90% mute the 80% ticket, a fast burn mutes the slow burn).

Secrets are never written into the file: Slack's webhook URL, PagerDuty routing keys and the SMTP
password are read by Alertmanager from files under ``notifications.secrets_dir`` (``*_file``
fields). Only the heartbeat URL and the optional extra webhook appear as URLs.
"""

from __future__ import annotations

from typing import Any

from alerting.promql import Durations, regex_alternatives
from alerting.slo import Spec, Team

# Notification texts, inline so the configuration is one self-contained file.
TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }}{{ if .CommonLabels.job }} ({{ .CommonLabels.job }}){{ end }}"
)
TEXT = (
    "{{ range .Alerts }}*{{ .Labels.severity }}* {{ .Annotations.summary }}\n"
    "{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\n"
    "Dashboard: {{ .Annotations.dashboard_url }}\n{{ end }}"
)

SEVERITY_RECEIVERS = (("critical", "page", "1h"), ("warning", "ticket", ""), ("info", "info", "24h"))


def _secret(spec: Spec, name: str) -> str:
    return f"{spec.notifications.secrets_dir.rstrip('/')}/{name}"


def _slack(team: Team) -> dict[str, Any]:
    return {
        "channel": team.channel(),
        "send_resolved": True,
        "title": TITLE,
        "text": TEXT,
    }


def _receivers(spec: Spec, webhook_url: str | None) -> list[dict[str, Any]]:
    extra = webhook_url or spec.notifications.webhook_url
    hook = [{"url": extra, "send_resolved": True}] if extra else []
    receivers: list[dict[str, Any]] = []
    for team in spec.all_teams():
        kinds: dict[str, dict[str, Any]] = {}
        page: dict[str, Any] = {"slack_configs": [_slack(team)]}
        if team.pagerduty:
            page["pagerduty_configs"] = [
                {
                    "routing_key_file": _secret(spec, f"pagerduty_{team.name}_routing_key"),
                    "send_resolved": True,
                    "description": TITLE,
                    "details": {"firing": TEXT},
                }
            ]
        ticket: dict[str, Any] = {"slack_configs": [_slack(team)]}
        if team.email:
            ticket["email_configs"] = [
                {
                    "to": team.email,
                    "send_resolved": True,
                    "headers": {"Subject": TITLE},
                }
            ]
        kinds = {"page": page, "ticket": ticket, "info": {"slack_configs": [_slack(team)]}}
        for kind, configs in kinds.items():
            entry: dict[str, Any] = {"name": f"{team.name}-{kind}"}
            if webhook_url:
                entry["webhook_configs"] = list(hook)
            else:
                entry.update(configs)
                if hook:
                    entry["webhook_configs"] = list(hook)
            receivers.append(entry)
    heartbeat_url = webhook_url or spec.notifications.heartbeat_url
    receivers.append(
        {"name": "heartbeat", "webhook_configs": [{"url": heartbeat_url, "send_resolved": False}]}
    )
    return receivers


def _severity_routes(team: str, d: Durations) -> list[dict[str, Any]]:
    routes = []
    for severity, kind, repeat in SEVERITY_RECEIVERS:
        route: dict[str, Any] = {"receiver": f"{team}-{kind}", "matchers": [f'severity="{severity}"']}
        if repeat:
            route["repeat_interval"] = d(repeat)
        routes.append(route)
    return routes


def _route(spec: Spec, d: Durations) -> dict[str, Any]:
    default = spec.default.team
    routes: list[dict[str, Any]] = [
        {
            "receiver": "heartbeat",
            "matchers": ['alertname="Watchdog"'],
            "group_wait": "0s",
            "group_interval": d("1m"),
            "repeat_interval": d("1m"),
        }
    ]
    routes.extend(
        {
            "receiver": f"{team.name}-ticket",
            "matchers": [f'team="{team.name}"'],
            "routes": _severity_routes(team.name, d),
        }
        for team in spec.all_teams()
    )
    for team in spec.all_teams():
        services = spec.services_of(team.name)
        if services and team.name != default:
            routes.append(
                {
                    "receiver": f"{team.name}-ticket",
                    "matchers": [f'job=~"{regex_alternatives(services)}"'],
                    "routes": _severity_routes(team.name, d),
                }
            )
    routes.extend(_severity_routes(default, d))
    return {
        "receiver": f"{default}-ticket",
        "group_by": ["alertname", "job", "environment"],
        "group_wait": d("30s"),
        "group_interval": d("5m"),
        "repeat_interval": d("4h"),
        "routes": routes,
    }


INHIBIT_RULES: list[dict[str, Any]] = [
    {
        "source_matchers": ['alertname="FleetobsInstanceDown"'],
        "target_matchers": ['alertname!="FleetobsInstanceDown"'],
        "equal": ["job", "environment", "instance"],
    },
    {
        "source_matchers": ['alertname="FleetobsServiceDown"'],
        "target_matchers": [
            'alertname=~"FleetobsInstanceDown|FleetobsTooFewInstances|FleetobsMetricsAbsent"'
        ],
        "equal": ["job", "environment"],
    },
    {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["alertname", "job", "environment", "instance"],
    },
]


def config(spec: Spec, webhook_url: str | None = None, time_scale: float = 1.0) -> dict[str, Any]:
    """The Alertmanager configuration for ``spec``.

    With ``webhook_url``, every receiver (heartbeat included) posts only to that URL, keeping the
    same routing tree and inhibitions: that is what the demo and the end-to-end tests run.
    """
    d = Durations(time_scale, minimum=0.1)
    out: dict[str, Any] = {"global": {"resolve_timeout": d("5m")}}
    if webhook_url is None:
        n = spec.notifications
        out["global"].update(
            {
                "smtp_smarthost": n.smtp_smarthost,
                "smtp_from": n.smtp_from,
                "smtp_auth_username": n.smtp_auth_username,
                "smtp_auth_password_file": _secret(spec, "smtp_password"),
                "smtp_require_tls": True,
                "slack_api_url_file": _secret(spec, "slack_url"),
            }
        )
    out["route"] = _route(spec, d)
    out["inhibit_rules"] = [dict(rule) for rule in INHIBIT_RULES]
    out["receivers"] = _receivers(spec, webhook_url)
    return out
