#!/usr/bin/env bash
# Batch crash safety at scale: `hostloc batch` over a CSV of 200,000 reports is killed with
# SIGKILL at ten random points (random output sizes) and resumed each time; the final file must
# be byte-identical to an uninterrupted run's, apart from the lookup times. The rows are IP
# literals, unusable text and hidden services, which need no DNS, so that two runs give the
# same results. (tests/it/batch_crash.rs is the small version in the test suite.)
#
# Usage: bench/crash_safety.sh [ROWS] [KILLS]   (default: 200000 10)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-200000}"
kills="${2:-10}"
cargo build --release --locked >&2
hostloc="$PWD/${CARGO_TARGET_DIR:-target}/release/hostloc"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
awk -v rows="$rows" 'BEGIN {
    print "id,url,note"
    for (i = 1; i <= rows; i++) {
        k = i % 5
        if (k == 0) url = "95.211." (i % 250) "." (i % 200)
        else if (k == 1) url = "hxxps://46.4." (i % 250) "[.]1/x"
        else if (k == 2) url = "http://[2a00:c98::" i % 9999 "]/a"
        else if (k == 3) url = "mailto:someone" i "@example.nl"
        else url = "http://hidden" i ".onion/"
        printf "%d,%s,\"note %d\nsecond line, with a comma\"\n", i, url, i
    }
}' >"$work/in.csv"
# `exec`, so that the PID of a background run is hostloc's own and SIGKILL reaches hostloc.
run() { exec "$hostloc" --dns-server 127.0.0.1:9 batch --quiet --resume -o "$1" "$work/in.csv"; }
(run "$work/whole.csv")
size=$(stat -c %s "$work/whole.csv")
points=$(python3 -c "import random; print(*sorted(random.randrange(1, $size) for _ in range($kills)))")
landed=0
for point in $points; do
    (run "$work/killed.csv") &
    child=$!
    while kill -0 "$child" 2>/dev/null; do
        if [ "$(stat -c %s "$work/killed.csv" 2>/dev/null || echo 0)" -ge "$point" ]; then
            # A run that has already exited is a zombie until waited for: check it still runs.
            if [ "$(ps -o stat= -p "$child" | cut -c1)" != Z ] && kill -KILL "$child" 2>/dev/null; then
                landed=$((landed + 1))
            fi
            break
        fi
        sleep 0.001
    done
    wait "$child" 2>/dev/null || true
    echo "killed at ~$point of $size bytes: $(stat -c %s "$work/killed.csv") bytes on disk"
done
(run "$work/killed.csv")
normalise() { sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z/TIME/g' "$1"; }
if cmp -s <(normalise "$work/whole.csv") <(normalise "$work/killed.csv"); then
    verdict="IDENTICAL"
else
    verdict="DIFFERENT"
fi
records=$(python3 -c "import csv,sys; print(sum(1 for _ in csv.reader(open('$work/killed.csv', newline=''))) - 1)")
echo "rows=$rows kills=$kills (landed mid-run: $landed); resumed file: $records rows," \
     "$verdict to the uninterrupted run apart from lookup times"
[ "$verdict" = IDENTICAL ]
