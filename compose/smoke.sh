#!/usr/bin/env bash
# End-to-end check of the compose stack, for a Docker host.
#
#   compose/smoke.sh            # against a stack that is already up
#   compose/smoke.sh --up       # docker compose up -d --build first, then check
#   compose/smoke.sh --down     # same as --up, and tear the stack down (volumes too) afterwards
#
# It waits until every service answers, sends traffic through nginx, takes the trace id of one
# request from its X-Trace-Id response header, then asserts through each backend's HTTP API:
#   1. Prometheus scraped the app's series from every shop replica (job="shop", environment="demo")
#      and sees Alertmanager;
#   2. Tempo returns that trace by id, with spans from service "shop";
#   3. Elasticsearch has log lines carrying that trace.id in logs-fleetobs-default;
#   4. Grafana lists every dashboard in compose/grafana/dashboards (uids fleetobs-*);
#   5. Kibana has the saved objects `fleetobs kibana import` loaded;
#   6. Alertmanager is reachable and holds the always-firing Watchdog alert, and the webhook sink
#      received a notification.
# Needs curl and python3 on the host. Exits non-zero at the first failed check, saying which.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMPOSE_FILE="${HERE}/docker-compose.yml"

APP_URL="${APP_URL:-http://127.0.0.1:8080}"
PROMETHEUS_URL="${PROMETHEUS_URL:-http://127.0.0.1:9090}"
ALERTMANAGER_URL="${ALERTMANAGER_URL:-http://127.0.0.1:9093}"
WEBHOOK_SINK_URL="${WEBHOOK_SINK_URL:-http://127.0.0.1:9099}"
GRAFANA_URL="${GRAFANA_URL:-http://127.0.0.1:3000}"
TEMPO_URL="${TEMPO_URL:-http://127.0.0.1:3200}"
ELASTICSEARCH_URL="${ELASTICSEARCH_URL:-http://127.0.0.1:9200}"
KIBANA_URL="${KIBANA_URL:-http://127.0.0.1:5601}"
# Paths requested through nginx; the first one's trace is followed through every backend.
SMOKE_PATHS="${SMOKE_PATHS:-/shop/products/ /shop/categories/summary/ /}"
SMOKE_REQUESTS="${SMOKE_REQUESTS:-50}"
# Seconds to wait for the stack to become healthy, and for each asynchronous assertion.
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-600}"
ASSERT_TIMEOUT="${ASSERT_TIMEOUT:-180}"
LOG_INDEX="logs-fleetobs-default"

up=0
down=0
for arg in "$@"; do
    case "${arg}" in
        --up) up=1 ;;
        --down) up=1; down=1 ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "smoke: unknown argument ${arg}" >&2; exit 2 ;;
    esac
done

log() { printf '%s smoke: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { printf '%s smoke: FAIL: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; exit 1; }

for tool in curl python3; do
    command -v "${tool}" >/dev/null 2>&1 || fail "${tool} is required on this host"
done

cleanup() {
    if [[ "${down}" -eq 1 ]]; then
        log "tearing the stack down"
        docker compose -f "${COMPOSE_FILE}" down --volumes --remove-orphans || true
    fi
}
trap cleanup EXIT

# wait_for DESCRIPTION TIMEOUT COMMAND...: retry COMMAND every 3 s until it succeeds.
wait_for() {
    local what="$1" timeout="$2"
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            fail "timed out after ${timeout}s waiting for ${what}"
        fi
        sleep 3
    done
    log "ok: ${what}"
}

http_ok() { curl -fsS --max-time 10 -o /dev/null "$1"; }

# json_check URL PYTHON_EXPRESSION [CURL_ARGS...]: fetch URL, bind the parsed JSON to `doc`, and
# succeed when the expression is true. Extra arguments go to curl (method, body, headers).
json_check() {
    local url="$1" expression="$2"
    shift 2
    curl -fsS --max-time 15 "$@" "${url}" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
sys.exit(0 if eval(sys.argv[1], {"doc": doc}) else 1)
' "${expression}"
}

if [[ "${up}" -eq 1 ]]; then
    command -v docker >/dev/null 2>&1 || fail "docker is required for --up"
    log "starting the stack (this builds the shop image the first time)"
    docker compose -f "${COMPOSE_FILE}" up -d --build
fi

# --- 1. Everything answers ----------------------------------------------------------------------
wait_for "nginx and the shop replicas" "${STARTUP_TIMEOUT}" http_ok "${APP_URL}/nginx-health"
wait_for "Prometheus ready" "${STARTUP_TIMEOUT}" http_ok "${PROMETHEUS_URL}/-/ready"
wait_for "Alertmanager ready" "${STARTUP_TIMEOUT}" http_ok "${ALERTMANAGER_URL}/-/ready"
wait_for "Tempo ready" "${STARTUP_TIMEOUT}" http_ok "${TEMPO_URL}/ready"
wait_for "Elasticsearch healthy" "${STARTUP_TIMEOUT}" \
    http_ok "${ELASTICSEARCH_URL}/_cluster/health?wait_for_status=yellow&timeout=5s"
wait_for "Kibana available" "${STARTUP_TIMEOUT}" \
    json_check "${KIBANA_URL}/api/status" 'doc["status"]["overall"]["level"] == "available"'
wait_for "Grafana healthy" "${STARTUP_TIMEOUT}" http_ok "${GRAFANA_URL}/api/health"
# The setup job installs the index template; a data stream created before it would be mapped wrong.
wait_for "an index template matching ${LOG_INDEX}" "${STARTUP_TIMEOUT}" \
    json_check "${ELASTICSEARCH_URL}/_index_template/_simulate_index/${LOG_INDEX}" \
    '"trace" in doc["template"]["mappings"].get("properties", {})' -X POST

# --- 2. Traffic, and one trace id to follow -----------------------------------------------------
read -r -a paths <<<"${SMOKE_PATHS}"
first_path="${paths[0]}"
headers="$(curl -fsS --max-time 15 -D - -o /dev/null "${APP_URL}${first_path}")" ||
    fail "GET ${first_path} through nginx failed"
trace_id="$(printf '%s\n' "${headers}" | tr -d '\r' | awk -F': *' 'tolower($1) == "x-trace-id" {print $2}')"
[[ "${trace_id}" =~ ^[0-9a-f]{32}$ ]] || fail "no valid X-Trace-Id header on GET ${first_path}: '${trace_id}'"
log "following trace ${trace_id} (GET ${first_path})"

for ((i = 0; i < SMOKE_REQUESTS; i++)); do
    for path in "${paths[@]}"; do
        curl -sS --max-time 15 -o /dev/null "${APP_URL}${path}" || true
    done
done
log "sent $((SMOKE_REQUESTS * ${#paths[@]})) more requests"

# --- 3. Prometheus has the app's series, from every replica, and knows Alertmanager ------------
query='count by (instance) (http_server_request_duration_seconds_count{job="shop",environment="demo"})'
wait_for "Prometheus series from both shop replicas" "${ASSERT_TIMEOUT}" \
    json_check "${PROMETHEUS_URL}/api/v1/query" 'len(doc["data"]["result"]) >= 2' \
    --get --data-urlencode "query=${query}"
wait_for "every shop target up" "${ASSERT_TIMEOUT}" \
    json_check "${PROMETHEUS_URL}/api/v1/query" \
    'len(doc["data"]["result"]) >= 2 and all(r["value"][1] == "1" for r in doc["data"]["result"])' \
    --get --data-urlencode 'query=up{job="shop"}'
wait_for "Prometheus rules loaded" "${ASSERT_TIMEOUT}" \
    json_check "${PROMETHEUS_URL}/api/v1/rules" 'len(doc["data"]["groups"]) > 0'
wait_for "Prometheus sending to Alertmanager" "${ASSERT_TIMEOUT}" \
    json_check "${PROMETHEUS_URL}/api/v1/alertmanagers" 'len(doc["data"]["activeAlertmanagers"]) > 0'

# --- 4. Tempo returns the trace by id -----------------------------------------------------------
trace_has_shop_spans='any(
    a.get("key") == "service.name" and a.get("value", {}).get("stringValue") == "shop"
    for batch in doc.get("batches", doc.get("resourceSpans", []))
    for a in batch.get("resource", {}).get("attributes", [])
)'
wait_for "Tempo has trace ${trace_id} with spans from service shop" "${ASSERT_TIMEOUT}" \
    json_check "${TEMPO_URL}/api/traces/${trace_id}" "${trace_has_shop_spans}" -H 'Accept: application/json'

# --- 5. Elasticsearch has log lines with that trace id ------------------------------------------
search_body="{\"query\": {\"term\": {\"trace.id\": \"${trace_id}\"}}}"
wait_for "Elasticsearch log lines with trace.id ${trace_id}" "${ASSERT_TIMEOUT}" \
    json_check "${ELASTICSEARCH_URL}/${LOG_INDEX}/_search" 'doc["hits"]["total"]["value"] >= 1' \
    -X POST -H 'Content-Type: application/json' --data "${search_body}"

# --- 6. Grafana lists our dashboards ------------------------------------------------------------
expected_uids="$(python3 - "${HERE}/grafana/dashboards" <<'PY'
import json, pathlib, sys
uids = sorted(json.loads(p.read_text())["uid"] for p in pathlib.Path(sys.argv[1]).rglob("*.json"))
print(" ".join(uids))
PY
)"
[[ -n "${expected_uids}" ]] || fail "no dashboards found in ${HERE}/grafana/dashboards"
for uid in ${expected_uids}; do
    [[ "${uid}" == fleetobs-* ]] || fail "dashboard uid ${uid} does not start with fleetobs-"
done
wait_for "Grafana lists dashboards ${expected_uids}" "${ASSERT_TIMEOUT}" \
    json_check "${GRAFANA_URL}/api/search?type=dash-db&limit=5000" \
    "set('${expected_uids}'.split()) <= {d['uid'] for d in doc}"

# --- 7. Kibana has our saved objects ------------------------------------------------------------
wait_for "Kibana data view for ${LOG_INDEX%-default}*" "${ASSERT_TIMEOUT}" \
    json_check "${KIBANA_URL}/api/data_views" \
    'any(v.get("title", "").startswith("logs-fleetobs") for v in doc["data_view"])'

# --- 8. Alertmanager is reachable and the alerting pipeline delivers ----------------------------
wait_for "Alertmanager status API" "${ASSERT_TIMEOUT}" \
    json_check "${ALERTMANAGER_URL}/api/v2/status" '"config" in doc'
wait_for "Watchdog alert in Alertmanager" "${ASSERT_TIMEOUT}" \
    json_check "${ALERTMANAGER_URL}/api/v2/alerts" 'any(a["labels"].get("alertname") == "Watchdog" for a in doc)'
wait_for "a notification at the webhook sink" "${ASSERT_TIMEOUT}" \
    json_check "${WEBHOOK_SINK_URL}/" 'len(doc) > 0'

log "PASS: metrics, traces, logs, dashboards and alerting all work end to end"
