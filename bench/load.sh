#!/usr/bin/env bash
# A bounded load test of `hostloc serve` on loopback: wrk with 256 connections for 60 s on a mix
# of endpoints (bench/load.lua: single lookups, POSTs of 100 URLs, /v1/ip, /metrics), a third of
# the names NXDOMAIN from a local dnsmasq; half-way the country database is swapped (a new file
# moved into place, picked up by --watch-interval) and SIGHUP reloads everything. Prints
# requests served, errors, p50/p99 latency, the reloads and the server's peak RSS.
#
# Usage: bench/load.sh [SECONDS] [CONNECTIONS]   (default: 60 256)
# Installs wrk and dnsmasq-base with apt-get when missing. Only loopback traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
connections="${2:-256}"
dns_port=5398
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] || need+=(dnsmasq-base)
if ((${#need[@]})); then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi
dnsmasq_bin="$(command -v dnsmasq || echo /usr/sbin/dnsmasq)"
cargo build --release --locked >&2
hostloc="$PWD/${CARGO_TARGET_DIR:-target}/release/hostloc"
work="$(mktemp -d)"
cp data/dbip-country.mmdb data/asn.mmdb data/networks.csv "$work/"
"$dnsmasq_bin" --keep-in-foreground --no-resolv --no-hosts --no-daemon --port="$dns_port" \
    --listen-address=127.0.0.1 --bind-interfaces --cache-size=0 --dns-forward-max=10000 \
    --address=/nl.load.test/95.211.0.1 --address=/us.load.test/8.8.8.8 \
    --address=/nx.load.test/ --log-facility=/dev/null &
dnsmasq_pid=$!
port=18090
"$hostloc" --data-dir "$work" --dns-server "127.0.0.1:$dns_port" --log-format json \
    serve --listen "127.0.0.1:$port" --watch-interval 1s 2>"$work/serve.log" &
server=$!
trap 'kill $server $dnsmasq_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
half=$((seconds / 2))
(
    sleep "$half"
    cp "$work/dbip-country.mmdb" "$work/country.new" && mv "$work/country.new" "$work/dbip-country.mmdb"
    echo "t=${half}s: swapped the country database"
    sleep 5
    kill -HUP "$server" && echo "t=$((half + 5))s: SIGHUP"
) &
swapper=$!
echo "hostloc serve (release) on 127.0.0.1:$port, wrk -c$connections -d${seconds}s, $(nproc) cores shared by both, $(date -u +%F)"
wrk -t2 -c"$connections" -d"${seconds}s" --timeout 10s -s bench/load.lua "http://127.0.0.1:$port"
wait "$swapper"
metrics=$(curl -s "http://127.0.0.1:$port/metrics")
reloads() { echo "$metrics" | awk -v r="$1" '$1 ~ /^hostloc_reloads_total/ && $1 ~ "result=\""r"\"" {s += $2} END {print s + 0}'; }
echo "reloads: $(reloads ok) ok, $(reloads error) failed"
shed=$(echo "$metrics" | awk '$1 == "hostloc_http_requests_shed_total" {print $2}')
echo "requests shed (503): ${shed:-0}"
echo "server peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' /proc/$server/status)"
