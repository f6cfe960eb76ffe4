#!/usr/bin/env bash
# Target row "serve, IP-literal lookups" of issue 14: requests per second and p99 latency of
# `GET /v1/lookup?url=IP` on `hostloc serve` (defaults: access log at info, metrics, limits),
# next to the bare hyper + maxminddb server of bench/baseline/server.rs answering the same
# requests, in alternating rounds. The addresses are 65,536 random public IPv4 literals, so DNS
# is not involved. Also printed, for phase B: hostloc's own GET /healthz rate (its HTTP stack
# without a lookup). Target: ≥ 0.8× the baseline's req/s, p99 ≤ 2× its p99.
#
# Usage: bench/serve_ips.sh            (BENCH_ROUNDS, BENCH_SECONDS, BENCH_PROFILE: bench/lib.sh)
# wrk: 2 threads, 64 connections, on the same 2 cores as the server. Installs wrk when missing.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
need wrk wrk
build_rust
connections=64
paths="$(query_paths "$(public_ipv4s 65536)" "/v1/lookup?url=")"
start_baseline_server
start_hostloc_serve 127.0.0.1:9
echo "/healthz" >"$work/healthz.txt"
for round in $(seq "$BENCH_ROUNDS"); do
    record baseline "$(wrk_run "http://127.0.0.1:$baseline_port" "$paths" "$baseline_pid")"
    record hostloc "$(wrk_run "http://127.0.0.1:$hostloc_port" "$paths" "$hostloc_pid")"
    record healthz "$(wrk_run "http://127.0.0.1:$hostloc_port" "$work/healthz.txt" "$hostloc_pid")"
    say "round $round: baseline $(tail -1 "$work/baseline") hostloc $(tail -1 "$work/hostloc") (req/s p99-ms cpu-µs/req); hostloc /healthz $(tail -1 "$work/healthz")"
done
profile_serving serve_ips "http://127.0.0.1:$hostloc_port" "$paths" "$hostloc_pid"
summarise "serve: GET /v1/lookup, IP literal (req/s, p99)" baseline hostloc '
baseline = f"{b[0]:,.0f} req/s, p99 {b[1]:.2f} ms, {b[2]:.1f} µs CPU/req"
measured = f"{h[0]:,.0f} req/s, p99 {h[1]:.2f} ms, {h[2]:.1f} µs CPU/req"
ratio = f"{h[0] / b[0]:.2f}× req/s, p99 {h[1] / b[1]:.1f}× (CPU/req {h[2] / b[2]:.1f}×)"
target = "≥ 0.8× req/s, p99 ≤ 2×"
met = h[0] >= 0.8 * b[0] and h[1] <= 2 * b[1]'
summarise "serve: GET /healthz, for reference (req/s)" baseline healthz '
baseline = f"{b[0]:,.0f} req/s, {b[2]:.1f} µs CPU/req"
measured = f"{h[0]:,.0f} req/s, {h[2]:.1f} µs CPU/req"
ratio = f"{h[0] / b[0]:.2f}× (CPU/req {h[2] / b[2]:.1f}×)"
target = "—"
met = None'
