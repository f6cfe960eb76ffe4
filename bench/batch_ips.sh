#!/usr/bin/env bash
# Target row "batch of 1,000,000 IP literals" of issue 14: the whole `hostloc batch --format
# lines` process (start, databases loaded, every row's full Result written as NDJSON), next to
# the C program of bench/baseline/mmdb_rows.c (libmaxminddb, country + ASN per row, `ip,cc,asn`
# lines) on the same input and databases, in alternating rounds. The input is 1,000,000
# random public IPv4 addresses, one per line, so DNS is not involved. Reports rows/s and the
# cores each used ((user + system CPU) / wall time; the machine has 2).
# Target: ≥ 0.5× the baseline's rows/s, both cores used.
#
# Usage: bench/batch_ips.sh [ROWS]     (default 1000000; BENCH_ROUNDS, BENCH_PROFILE: bench/lib.sh)
# Installs gcc and libmaxminddb-dev when missing. Both write into a pipe that counts the lines.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
rows="${1:-1000000}"
need gcc gcc
dpkg-query -W -f='${Status}' libmaxminddb-dev 2>/dev/null | grep -q 'install ok installed' ||
    apt_install libmaxminddb-dev
build_rust
gcc -O2 -Wall -Wextra -o "$work/mmdb_rows" bench/baseline/mmdb_rows.c -lmaxminddb
input="$(public_ipv4s "$rows")"

for round in $(seq "$BENCH_ROUNDS"); do
    timed "$work/c.time" "$work/mmdb_rows" "$country_db" "$asn_db" <"$input" |
        check_lines "$rows"
    record baseline "$(process_rate "$rows" "$work/c.time")"
    timed "$work/h.time" "$hostloc" --dns-server 127.0.0.1:9 batch -q --format lines "$input" |
        check_lines "$rows"
    record hostloc "$(process_rate "$rows" "$work/h.time")"
    say "round $round: C $(tail -1 "$work/baseline") hostloc $(tail -1 "$work/hostloc") (rows/s cores wall-s cpu-µs/row)"
done
if [[ "$BENCH_PROFILE" == 1 ]]; then
    # A tenth of the rows: call graphs take much space per second of profile.
    profile_cmd batch_ips "$hostloc" --dns-server 127.0.0.1:9 batch -q --format lines \
        "$(public_ipv4s $((rows / 10)))" >/dev/null
    profile_report batch_ips
fi
summarise "batch: $(thousands "$rows") IP literals, whole process (rows/s, cores, CPU per row)" baseline hostloc '
baseline = f"{b[0]:,.0f} rows/s, {b[1]:.2f} cores, {b[3]:.2f} µs CPU/row"
measured = f"{h[0]:,.0f} rows/s, {h[1]:.2f} cores, {h[3]:.2f} µs CPU/row"
ratio = f"{h[0] / b[0]:.2f}× rows/s (CPU/row {h[3] / b[3]:.1f}×)"
target = "≥ 0.5×, both cores used"
met = h[0] >= 0.5 * b[0] and h[1] >= 1.8'
