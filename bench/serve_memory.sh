#!/usr/bin/env bash
# Memory of `hostloc serve` as the container image runs it (the static release binary, the
# bundled data, HOSTLOC_* as in deploy/kubernetes/base/configmap.yaml): RSS once started and
# idle (the baseline), the peak (VmHWM) under wrk with many connections of lookups, and the peak
# while reloads run under that load (a reload holds the old and the new data set at once).
# The figures size the Deployment's memory request and limit (docs/deploy.md, "Sizing").
#
# Usage: bench/serve_memory.sh [SECONDS] [CONNECTIONS]   (default: 20 256)
# Installs wrk with apt-get when missing. Only loopback traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
connections="${2:-256}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" \
    --bin hostloc >&2
hostloc="${CARGO_TARGET_DIR:-target}/$target/release/hostloc"
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cp data/dbip-country.mmdb data/geo-whois-asn-country.mmdb data/asn.mmdb data/networks.csv data/hotlines.csv \
    data/anycast.csv "$work/"
HOSTLOC_DATA_DIR="$work" HOSTLOC_LISTEN="127.0.0.1:$port" HOSTLOC_LOG_FORMAT=json \
    HOSTLOC_WATCH_INTERVAL=60s HOSTLOC_CACHE_CAPACITY=100000 RUST_LOG=warn \
    "$hostloc" serve --dns-server 127.0.0.1:9 --max-concurrent-requests 100000 \
    2> "$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    HOSTLOC_LISTEN="127.0.0.1:$port" "$hostloc" healthcheck 2> /dev/null && break
    sleep 0.1
done
sleep 1
kib() { awk -v key="$1:" '$1 == key {print $2}' "/proc/$server/status"; }
idle=$(kib VmRSS)
url="http://127.0.0.1:$port/v1/lookup?url=hxxp%3A%2F%2F95.211.0%5B.%5D1%2Fa.jpg"
rate=$(wrk -t2 -c"$connections" -d"${seconds}s" "$url" | awk '/Requests\/sec/ {print int($2)}')
peak=$(kib VmHWM)
wrk -t2 -c"$connections" -d"${seconds}s" "$url" > /dev/null &
load=$!
for _ in 1 2 3 4 5; do
    sleep "$(python3 -c "print($seconds / 6)")"
    curl -sf -X POST "http://127.0.0.1:$port/admin/reload" > /dev/null
done
wait "$load"
reload_peak=$(kib VmHWM)
mib() { python3 -c "print(f'{$1 / 1024:.1f} MiB')"; }
echo "binary: $hostloc (static, release); data: the bundled files"
echo "baseline, started and idle:                       RSS $(mib "$idle")"
echo "$connections connections of GET /v1/lookup, ${seconds}s: peak $(mib "$peak") ($rate req/s)"
echo "the same with 5 reloads (POST /admin/reload):     peak $(mib "$reload_peak")"
python3 -c "print(f'ratio: peak under load {$peak / $idle:.2f}x idle; with reloads {$reload_peak / $idle:.2f}x')"
