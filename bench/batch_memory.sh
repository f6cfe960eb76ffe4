#!/usr/bin/env bash
# Shows that `hostloc batch` streams: peak memory (max RSS) and rate for CSV inputs of growing
# length. The URLs are IP literals, so no DNS is asked and the numbers measure hostloc alone.
#
# Usage: bench/batch_memory.sh [ROWS ...]        (default: 10000 100000 1000000)
#        HOSTLOC_BIN=target/debug/hostloc bench/batch_memory.sh 2000 200000
# Needs GNU time (/usr/bin/time). Peak memory should be the same for every length.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${HOSTLOC_BIN:-}" ]]; then
    cargo build --release --locked >&2
    HOSTLOC_BIN="${CARGO_TARGET_DIR:-target}/release/hostloc"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for rows in "${@:-10000 100000 1000000}"; do
    for n in $rows; do
        python3 - "$n" >"$work/in.csv" <<'PY'
import sys
rows = int(sys.argv[1])
out = sys.stdout
out.write("id,url,note\n")
for i in range(rows):
    out.write(f'{i},http://95.211.{i % 256}.{i // 256 % 256}/x{i},"note {i}, with ""quotes""\nand a second line"\n')
PY
        /usr/bin/time -f "%M %e" -o "$work/time" \
            "$HOSTLOC_BIN" --dns-server 127.0.0.1:9 batch -q "$work/in.csv" -o "$work/out.csv"
        read -r rss seconds <"$work/time"
        written=$(($(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1]))))' "$work/out.csv") - 1))
        [[ "$written" == "$n" ]] || { echo "expected $n rows, got $written" >&2; exit 1; }
        python3 -c 'import sys; n, rss, s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]); print(f"{n:>9} rows  max RSS {rss / 1024:6.1f} MiB  {s:7.1f} s  {n / max(s, 0.001):9,.0f} rows/s")' "$n" "$rss" "$seconds"
    done
done
