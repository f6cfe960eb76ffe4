#!/usr/bin/env bash
# Target row "serve, cached domain names" of issue 14: requests per second and p99 latency of
# `GET /v1/lookup?url=NAME` on `hostloc serve` once its DNS cache holds every name, next to the
# bare hyper + maxminddb server of bench/baseline/server.rs, which finds a name's addresses in a
# hash table (a cache that already holds every name) and locates each, in alternating rounds.
# The 10,000 names have one IPv4 and one IPv6 address each and are served by NSD on loopback;
# hostloc asks it once per name while the cache is filled (POST /v1/lookup), before measuring.
# Target: ≥ 0.8× the baseline's req/s.
#
# Usage: bench/serve_names.sh          (BENCH_ROUNDS, BENCH_SECONDS, BENCH_PROFILE: bench/lib.sh)
# wrk: 2 threads, 64 connections, on the same 2 cores. Installs wrk and nsd when missing.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
need wrk wrk
build_rust
connections=64
names=10000
start_nsd "$names"
prefix="$(bench_names "$names")"
paths="$(query_paths "$prefix.txt" "/v1/lookup?url=")"
start_baseline_server "$prefix.tsv"
start_hostloc_serve "127.0.0.1:$nsd_port"
fill_cache "$hostloc_port" "$prefix.txt"
for round in $(seq "$BENCH_ROUNDS"); do
    record baseline "$(wrk_run "http://127.0.0.1:$baseline_port" "$paths" "$baseline_pid")"
    record hostloc "$(wrk_run "http://127.0.0.1:$hostloc_port" "$paths" "$hostloc_pid")"
    say "round $round: baseline $(tail -1 "$work/baseline") hostloc $(tail -1 "$work/hostloc") (req/s p99-ms cpu-µs/req)"
done
# The figures are of cache hits only if every name missed once, while filling.
curl -sf "http://127.0.0.1:$hostloc_port/metrics" >"$work/metrics"
misses=$(awk '/^hostloc_dns_cache_total\{.*result="miss"/ {print $2}' "$work/metrics")
hits=$(awk '/^hostloc_dns_cache_total\{.*result="hit"/ {print $2}' "$work/metrics")
say "hostloc's DNS cache: ${misses:-0} misses, ${hits:-0} hits"
[[ "${misses:-0}" == "$names" ]] || say "warning: expected $names misses (one per name)"
profile_serving serve_names "http://127.0.0.1:$hostloc_port" "$paths" "$hostloc_pid"
summarise "serve: GET /v1/lookup, cached name (req/s, p99)" baseline hostloc '
baseline = f"{b[0]:,.0f} req/s, p99 {b[1]:.2f} ms, {b[2]:.1f} µs CPU/req"
measured = f"{h[0]:,.0f} req/s, p99 {h[1]:.2f} ms, {h[2]:.1f} µs CPU/req"
ratio = f"{h[0] / b[0]:.2f}× req/s, p99 {h[1] / b[1]:.1f}× (CPU/req {h[2] / b[2]:.1f}×)"
target = "≥ 0.8× req/s"
met = h[0] >= 0.8 * b[0]'
