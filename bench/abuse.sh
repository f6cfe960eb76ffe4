#!/usr/bin/env bash
# `hostloc serve` under abuse, with the memory and the latency of normal requests printed
# during each attack (bench/abuse.py): 5,000 idle connections that never send a byte, 1,000
# connections trickling their headers a byte a second, 1 MB headers and 100 kB query strings,
# and a flood of 2,000 lookups past the concurrency limit. The server runs with its default
# limits, the bundled data and a DNS server that never answers (so each flooded lookup holds
# its slot for the DNS timeout). Every attack is bounded in count and time; only loopback.
#
# Usage: bench/abuse.sh [IDLE_CONNECTIONS]   (default: 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
idle="${1:-5000}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --locked >&2
hostloc="${CARGO_TARGET_DIR:-target}/release/hostloc"
work="$(mktemp -d)"
# A DNS server that takes every query and answers none.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    s.recv(4096)
' >"$work/dns.port" &
dns=$!
trap 'kill $dns ${server:-} 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/dns.port" ] && break; sleep 0.1; done
RUST_LOG=warn "$hostloc" --dns-server "127.0.0.1:$(cat "$work/dns.port")" \
    serve --listen 127.0.0.1:0 2>"$work/serve.log" &
server=$!
port=""
for _ in $(seq 100); do
    port=$(ss -ltnpH 2>/dev/null | awk -v pid="pid=$server," '$0 ~ pid {split($4, a, ":"); print a[length(a)]}' | head -1)
    [ -n "$port" ] && break
    sleep 0.1
done
echo "hostloc serve (release, default limits: --max-connections 10000, --header-timeout 10s," \
     "--idle-timeout 60s, --max-concurrent-requests 512) on 127.0.0.1:$port; $(nproc) cores"
python3 bench/abuse.py 127.0.0.1 "$port" "$server" "$idle"
echo "server log lines at warn and above: $(wc -l <"$work/serve.log")"
grep -v "cannot accept" "$work/serve.log" | head -5 || true
