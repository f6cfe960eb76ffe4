#!/usr/bin/env bash
# Target row "batch of 100,000 distinct names" of issue 14: the whole `hostloc batch --format
# lines` process on 100,000 distinct names, each with one A and one AAAA record, served by NSD
# (authoritative, one server process) on loopback; next to NSD's own capacity, measured in the
# same script by dnsperf sending the A and AAAA queries of the same names, in alternating rounds.
# A name costs hostloc two queries, so names/s at 0.5× NSD's queries/s would keep NSD as busy
# as dnsperf does. Target: names/s ≥ 0.4× NSD's queries/s.
#
# Usage: bench/batch_names.sh [NAMES]  (default 100000; BENCH_ROUNDS, BENCH_SECONDS for dnsperf,
#                                       BENCH_PROFILE: bench/lib.sh)
# hostloc runs with its defaults (pooled DNS transport, concurrency 256, cache on); to measure
# the hickory transport instead, set HOSTLOC_DNS_TRANSPORT=hickory. Installs nsd and dnsperf
# when missing.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
names="${1:-100000}"
need dnsperf dnsperf
build_rust
start_nsd "$names"
prefix="$(bench_names "$names")"
[[ -s "$prefix.queries" ]] || awk '{print $1, "A"; print $1, "AAAA"}' "$prefix.txt" >"$prefix.queries"

dnsperf_run() {
    timeout $((BENCH_SECONDS + 60)) dnsperf -s 127.0.0.1 -p "$nsd_port" -d "$prefix.queries" \
        -l "$BENCH_SECONDS" -c 4 -T 1 -q 500 >"$work/dnsperf.out" 2>&1
    python3 - "$work/dnsperf.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
completed = re.search(r"Queries completed:\s+(\d+)", text)
rate = re.search(r"Queries per second:\s+([\d.]+)", text)
if not completed or not rate or int(completed.group(1)) == 0:
    sys.exit("dnsperf failed:\n" + text)
print(f"{float(rate.group(1)):.0f}")
PY
}
for round in $(seq "$BENCH_ROUNDS"); do
    record baseline "$(dnsperf_run)"
    timed "$work/h.time" "$hostloc" --dns-server "127.0.0.1:$nsd_port" batch -q --format lines \
        "$prefix.txt" |
        awk '/"verdict":"unresolved"/ {unresolved++} END {print NR, unresolved + 0}' >"$work/counts"
    read -r written unresolved <"$work/counts"
    [[ "$written" == "$names" ]] || { say "expected $names results, got $written"; exit 1; }
    [[ "$unresolved" == 0 ]] || say "warning: $unresolved names unresolved (timeouts under load?)"
    record hostloc "$(process_rate "$names" "$work/h.time")"
    say "round $round: NSD $(tail -1 "$work/baseline") queries/s; hostloc $(tail -1 "$work/hostloc") (names/s cores wall-s cpu-µs/name)"
done
if [[ "$BENCH_PROFILE" == 1 ]]; then
    # A quarter of the names: call graphs take much space per second of profile.
    head -n $((names / 4)) "$prefix.txt" >"$work/profile-names.txt"
    profile_cmd batch_names "$hostloc" --dns-server "127.0.0.1:$nsd_port" batch -q \
        --format lines "$work/profile-names.txt" >/dev/null
    profile_report batch_names
fi
summarise "batch: $(thousands "$names") distinct names via NSD (names/s vs NSD queries/s)" baseline hostloc '
baseline = f"NSD {b[0]:,.0f} queries/s (dnsperf)"
measured = f"{h[0]:,.0f} names/s, {h[1]:.2f} cores, {h[3]:.1f} µs CPU/name"
ratio = f"{h[0] / b[0]:.2f}×"
target = "≥ 0.4×"
met = h[0] >= 0.4 * b[0]'
