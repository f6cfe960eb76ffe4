#!/usr/bin/env bash
# Schemathesis (PyPI) against `hostloc serve`'s own OpenAPI document: every operation of
# /openapi.json called with generated valid and invalid requests, every check on (status codes
# and content types as documented, response bodies matching their schemas, no 5xx, ...).
# Names are answered NXDOMAIN by a local dnsmasq, so nothing leaves the machine.
#
# Usage: bench/schemathesis.sh [MAX_EXAMPLES]   (default: 200)
# Installs schemathesis with pip and dnsmasq-base with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-200}"
dns_port=5397
command -v schemathesis >/dev/null || pip install -q schemathesis
command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] || {
    apt-get update -qq && apt-get install -y -qq dnsmasq-base >/dev/null
}
dnsmasq_bin="$(command -v dnsmasq || echo /usr/sbin/dnsmasq)"
cargo build --locked >&2
hostloc="$PWD/${CARGO_TARGET_DIR:-target}/debug/hostloc"
work="$(mktemp -d)"
"$dnsmasq_bin" --keep-in-foreground --no-resolv --no-hosts --no-daemon --port="$dns_port" \
    --listen-address=127.0.0.1 --bind-interfaces --address=/#/ --log-facility=/dev/null &
dnsmasq_pid=$!
port=18091
"$hostloc" --dns-server "127.0.0.1:$dns_port" serve --listen "127.0.0.1:$port" \
    2>"$work/serve.log" &
server=$!
trap 'kill $server $dnsmasq_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
schemathesis --version
status=0
schemathesis run "http://127.0.0.1:$port/openapi.json" --checks all \
    --max-examples "$examples" --generation-deterministic --no-color || status=$?
echo "server log lines at error level: $(grep -c ' ERROR ' "$work/serve.log" || true)"
exit "$status"
