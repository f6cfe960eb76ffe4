#!/usr/bin/env bash
# Requests per second of `hostloc serve` for a lookup, next to a baseline measured in the same
# invocation: GET /healthz on the same server (HTTP stack, routing, logging and metrics, no
# lookup). The lookup is of an IP literal, so DNS is not involved: this measures the server.
#
# Usage: bench/http_wrk.sh [SECONDS] [CONNECTIONS]   (default: 5 64)
# Installs wrk with apt-get when missing. Only loopback traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
connections="${2:-64}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked >&2
hostloc="${CARGO_TARGET_DIR:-target}/release/hostloc"
work="$(mktemp -d)"
port=18089
RUST_LOG=warn "$hostloc" --dns-server 127.0.0.1:9 serve --listen "127.0.0.1:$port" \
    --max-concurrent-requests 100000 2>"$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
rate() {
    wrk -t2 -c"$connections" -d"${seconds}s" "$1" | awk '/Requests\/sec/ {print int($2)}'
}
baseline=$(rate "http://127.0.0.1:$port/healthz")
lookup=$(rate "http://127.0.0.1:$port/v1/lookup?url=hxxp%3A%2F%2F95.211.0%5B.%5D1%2Fa.jpg")
echo "connections=$connections seconds=$seconds (wrk and hostloc share the machine's cores)"
echo "baseline GET /healthz:                $baseline req/s"
echo "GET /v1/lookup (IP literal, no DNS):  $lookup req/s"
python3 -c "print(f'ratio: a lookup request runs at {$lookup / $baseline:.2f}x the /healthz rate')"
