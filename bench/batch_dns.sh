#!/usr/bin/env bash
# How fast `hostloc batch` resolves unique names against a local DNS server, next to a baseline
# measured in the same invocation: the same number of rows as IP literals, which never reach
# DNS (the pipeline's own ceiling). The ratio says how much DNS costs a batch. The names run
# twice: over the default pooled transport and over hickory-resolver (--dns-transport hickory),
# the second baseline.
#
# Usage: bench/batch_dns.sh [ROWS] [CONCURRENCY]     (default: 20000 256)
# Starts dnsmasq on 127.0.0.1:5399 answering every *.bench.test name (installs dnsmasq-base
# with apt-get when missing). Only loopback traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-20000}"
concurrency="${2:-256}"
port=5399
if ! command -v dnsmasq >/dev/null && [[ ! -x /usr/sbin/dnsmasq ]]; then
    apt-get update -qq && apt-get install -y -qq dnsmasq-base >/dev/null
fi
dnsmasq_bin="$(command -v dnsmasq || echo /usr/sbin/dnsmasq)"
cargo build --release --locked >&2
hostloc="${CARGO_TARGET_DIR:-target}/release/hostloc"
work="$(mktemp -d)"
"$dnsmasq_bin" --keep-in-foreground --no-resolv --no-hosts --no-daemon --port="$port" \
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
run() {
    local input="$1"
    local transport="${2:-pooled}"
    local start end
    start=$(date +%s.%N)
    "$hostloc" --dns-server "127.0.0.1:$port" --dns-timeout 2s --cache-capacity 0 \
        --dns-transport "$transport" \
        batch -q --format lines --concurrency "$concurrency" "$input" -o "$work/out.ndjson"
    end=$(date +%s.%N)
    local written
    written=$(wc -l <"$work/out.ndjson")
    [[ "$written" == "$rows" ]] || { echo "expected $rows rows, got $written" >&2; exit 1; }
    python3 -c "print(f'{$rows / ($end - $start):.0f}')"
}
baseline=$(run "$work/ips.txt")
measured=$(run "$work/names.txt" pooled)
failures=$(grep -c '"verdict":"unresolved"' "$work/out.ndjson" || true)
hickory=$(run "$work/names.txt" hickory)
hickory_failures=$(grep -c '"verdict":"unresolved"' "$work/out.ndjson" || true)
echo "rows=$rows concurrency=$concurrency"
echo "baseline (IP literals, no DNS):   $baseline rows/s"
echo "unique names via dnsmasq, pooled:  $measured rows/s ($failures unresolved)"
echo "unique names via dnsmasq, hickory: $hickory rows/s ($hickory_failures unresolved)"
python3 -c "print(f'ratio: pooled DNS rows run at {$measured / $baseline:.2f}x the no-DNS rate, {$measured / $hickory:.1f}x hickory')"
