#!/usr/bin/env bash
# Target row "memory" of issue 14.
# - serve: resident memory of `hostloc serve` after load: its DNS cache filled to its default
#   capacity (100,000 names, one IPv4 and one IPv6 address each, from NSD on loopback), then
#   BENCH_SECONDS of wrk on IP-literal lookups. Target: ≤ 100 MB RSS.
# - batch: peak RSS of `hostloc batch` on CSV inputs of 10,000, 100,000 and 1,000,000 rows of IP
#   literals (with a quoted, multi-line note column), which must stay flat: the largest input
#   may take at most 1.1× the peak of the smallest.
#
# Usage: bench/memory.sh [ROWS ...]    (default 10000 100000 1000000; BENCH_SECONDS: bench/lib.sh)
# Installs wrk and nsd when missing.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
sizes=("${@:-10000}")
[[ $# -gt 0 ]] || sizes=(10000 100000 1000000)
need wrk wrk
build_rust

names=100000
start_nsd "$names"
prefix="$(bench_names "$names")"
start_hostloc_serve "127.0.0.1:$nsd_port"
fill_cache "$hostloc_port" "$prefix.txt"
connections=64
wrk_run "http://127.0.0.1:$hostloc_port" "$(query_paths "$(public_ipv4s 65536)" "/v1/lookup?url=")" \
    "$hostloc_pid" >/dev/null
read -r rss_kib peak_kib < <(awk '/^VmRSS/ {rss = $2} /^VmHWM/ {hwm = $2} END {print rss, hwm}' "/proc/$hostloc_pid/status")
say "serve after load: RSS $((rss_kib / 1024)) MiB (peak $((peak_kib / 1024)) MiB)"
result_row "memory: serve RSS after load (cache full, wrk)" "—" \
    "$(python3 -c "print(f'{$rss_kib / 1024:.1f} MiB (peak {$peak_kib / 1024:.1f} MiB)')")" "—" \
    "≤ 100 MB" "$(python3 -c "print('yes' if $rss_kib * 1024 <= 100e6 else 'no')")" 1

for rows in "${sizes[@]}"; do
    python3 - "$(public_ipv4s "$rows")" >"$work/in.csv" <<'PY'
import sys
out = sys.stdout
out.write("id,url,note\n")
for i, line in enumerate(open(sys.argv[1])):
    out.write(f'{i},http://{line.strip()}/x{i},"note {i}, with ""quotes""\nand a second line"\n')
PY
    # Counted records, not lines: the note column has a line break in every row.
    timed "$work/time" "$hostloc" --dns-server 127.0.0.1:9 batch -q "$work/in.csv" |
        python3 -c 'import csv, sys; print(sum(1 for _ in csv.reader(sys.stdin)) - 1)' >"$work/written"
    rm -f "$work/in.csv"
    [[ "$(cat "$work/written")" == "$rows" ]] || { say "expected $rows rows, got $(cat "$work/written")"; exit 1; }
    read -r _ _ _ peak <"$work/time"
    rate="$(process_rate "$rows" "$work/time")"
    record batch "$rows $peak $rate"
    say "batch $rows rows: peak RSS $((peak / 1024)) MiB, $rate (rows/s cores wall-s cpu-µs/row)"
done
python3 - "$work/batch" <<'PY'
import sys
runs = [list(map(float, line.split())) for line in open(sys.argv[1])]
(first_rows, first_peak, *_), (last_rows, last_peak, *_) = runs[0], runs[-1]
ratio = last_peak / first_peak
print("\t".join(["RESULT", f"memory: batch peak RSS, {int(first_rows):,} → {int(last_rows):,} CSV rows",
                 f"{first_peak / 1024:.1f} MiB at {int(first_rows):,} rows",
                 f"{last_peak / 1024:.1f} MiB at {int(last_rows):,} rows", f"{ratio:.2f}×",
                 "flat (≤ 1.1×)", "yes" if ratio <= 1.1 else "no", "1"]))
PY
