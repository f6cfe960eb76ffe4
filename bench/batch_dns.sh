#!/usr/bin/env bash
# How fast `hostloc batch` resolves unique names against a local DNS server, and how much CPU
# hostloc spends per name, next to a baseline measured in the same invocation: the same number
# of rows as IP literals, which never reach DNS (the pipeline's own ceiling). The names run once
# per DNS transport (default: pooled, hickory, hickory-tcp), so the transports are compared on
# the same machine at the same moment.
#
# Usage: bench/batch_dns.sh [ROWS] [CONCURRENCY] [TRANSPORT ...]   (default: 20000 256)
# Starts dnsmasq on 127.0.0.1:5399 answering every *.bench.test name (installs dnsmasq-base
# with apt-get when missing). Only loopback traffic. CPU is hostloc's user + system time
# (dnsmasq's is not counted), divided by the names resolved (two queries each: A and AAAA).
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-20000}"
concurrency="${2:-256}"
shift $(($# < 2 ? $# : 2))
transports=("$@")
[[ ${#transports[@]} -gt 0 ]] || transports=(pooled hickory hickory-tcp)
port=5399
if ! command -v dnsmasq >/dev/null && [[ ! -x /usr/sbin/dnsmasq ]]; then
    apt-get update -qq && apt-get install -y -qq dnsmasq-base >/dev/null
fi
dnsmasq_bin="$(command -v dnsmasq || echo /usr/sbin/dnsmasq)"
cargo build --release --locked >&2
hostloc="${CARGO_TARGET_DIR:-target}/release/hostloc"
work="$(mktemp -d)"
"$dnsmasq_bin" --keep-in-foreground --no-resolv --no-hosts --port="$port" \
    --listen-address=127.0.0.1 --bind-interfaces --cache-size=0 --dns-forward-max=10000 \
    --address=/bench.test/95.211.0.1 --address=/bench.test/2a00:c98::1 \
    --pid-file="$work/pid" --log-facility=/dev/null 2>"$work/dnsmasq.log" &
dnsmasq_pid=$!
trap 'kill $dnsmasq_pid 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5
python3 - "$rows" "$work" <<'PY'
import sys
rows, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/names.txt", "w") as names, open(f"{work}/ips.txt", "w") as ips:
    for i in range(rows):
        names.write(f"http://h{i}.bench.test/x\n")
        ips.write(f"http://95.211.{i % 256}.{i // 256 % 256}/x\n")
PY
# Prints "ROWS_PER_SECOND CPU_MICROSECONDS_PER_ROW" for one run of batch over $1 by transport $2.
run() {
    local input="$1"
    local transport="${2:-pooled}"
    python3 - "$rows" "$work/out.ndjson" "$hostloc" --dns-server "127.0.0.1:$port" \
        --dns-timeout 2s --cache-capacity 0 --dns-transport "$transport" \
        batch -q --format lines --concurrency "$concurrency" "$input" -o "$work/out.ndjson" <<'PY'
import resource, subprocess, sys, time
rows, out, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
start = time.monotonic()
subprocess.run(command, check=True)
elapsed = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out) as lines:
    written = sum(1 for _ in lines)
if written != rows:
    sys.exit(f"expected {rows} rows, got {written}")
print(f"{rows / elapsed:.0f} {(usage.ru_utime + usage.ru_stime) / rows * 1e6:.1f}")
PY
}
read -r baseline baseline_cpu < <(run "$work/ips.txt")
echo "rows=$rows concurrency=$concurrency"
echo "baseline (IP literals, no DNS): $baseline rows/s, $baseline_cpu µs CPU per row"
first=""
for transport in "${transports[@]}"; do
    read -r rate cpu < <(run "$work/names.txt" "$transport")
    failures=$(grep -c '"verdict":"unresolved"' "$work/out.ndjson" || true)
    dns_cpu=$(python3 -c "print(f'{$cpu - $baseline_cpu:.1f}')")
    line="unique names via dnsmasq, $transport: $rate rows/s ($failures unresolved), $cpu µs CPU per row ($dns_cpu µs for DNS)"
    if [[ -z "$first" ]]; then
        first="$rate"
    else
        line="$line, $(python3 -c "print(f'{$rate / $first:.2f}')")x ${transports[0]}"
    fi
    echo "$line"
done
