"""Scrape-configuration snippets a finding tells the user to paste, for the three usual setups.

Each function returns YAML text showing the exact change for a plain ``static_configs`` job, a
``kubernetes_sd_configs`` job and a Prometheus Operator ``ServiceMonitor``.
"""

from __future__ import annotations


def target_label(job: str, label: str, value: str) -> str:
    """Add the constant target label ``label: value`` to every target of ``job``."""
    return f"""# prometheus.yml, static_configs
- job_name: {job}
  static_configs:
    - targets: ["host:port", ...]
      labels:
        {label}: {value}
# prometheus.yml, kubernetes_sd_configs
# (or from the namespace: source_labels: [__meta_kubernetes_namespace])
- job_name: {job}
  kubernetes_sd_configs: [{{role: pod}}]
  relabel_configs:
    - target_label: {label}
      replacement: {value}
# ServiceMonitor (Prometheus Operator)
spec:
  endpoints:
    - port: http
      relabelings:
        - targetLabel: {label}
          replacement: {value}
"""


def job_name(current: str, service: str) -> str:
    """Make ``job`` equal the service name the instances report."""
    return f"""# prometheus.yml, static_configs: name the job after the service
- job_name: {service}              # was: {current}
  static_configs:
    - targets: ["host:port", ...]
# prometheus.yml, kubernetes_sd_configs
- job_name: {current}
  kubernetes_sd_configs: [{{role: pod}}]
  relabel_configs:
    - target_label: job
      replacement: {service}
# ServiceMonitor (Prometheus Operator): the job label comes from a Service label
spec:
  jobLabel: app.kubernetes.io/name     # whose value is {service}
  endpoints:
    - port: http
      relabelings:
        - targetLabel: job
          replacement: {service}
"""


def scrape_job(job: str) -> str:
    """A scrape job for a service Prometheus does not scrape at all."""
    return f"""# prometheus.yml, static_configs
- job_name: {job}
  static_configs:
    - targets: ["host:port", ...]      # every instance of {job}
# prometheus.yml, kubernetes_sd_configs
- job_name: {job}
  kubernetes_sd_configs: [{{role: pod}}]
  relabel_configs:
    - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name]
      regex: {job}
      action: keep
    - target_label: job
      replacement: {job}
# ServiceMonitor (Prometheus Operator)
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {{name: {job}}}
spec:
  selector: {{matchLabels: {{app.kubernetes.io/name: {job}}}}}
  endpoints: [{{port: http, path: /metrics}}]
"""


def keep_label(job: str, label: str) -> str:
    """Stop dropping a catalogue label in ``metric_relabel_configs``."""
    return f"""# prometheus.yml: remove the rule that drops {label} (labeldrop / labelkeep) from
- job_name: {job}
  metric_relabel_configs:
    - action: labeldrop
      regex: {label}          # <- delete this rule
# ServiceMonitor: the same rule under spec.endpoints[].metricRelabelings
"""


def rule_files(path: str = "/etc/prometheus/rules/fleetobs-*.yml") -> str:
    return f"""# fleetobs alerts generate --out DIR   (writes DIR/rules/fleetobs-*.yml)
# then in prometheus.yml:
rule_files:
  - {path}
# and reload: curl -X POST http://prometheus:9090/-/reload  (or send SIGHUP)
# Kubernetes: kubectl apply -f DIR/prometheus-rule.yaml   (a PrometheusRule the Operator loads)
"""


def alerting(target: str = "alertmanager:9093") -> str:
    return f"""# prometheus.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["{target}"]
"""
