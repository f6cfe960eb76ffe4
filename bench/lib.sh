# shellcheck shell=bash
# Shared by the bench/ scripts (sourced, not run): building, generated inputs, the NSD server,
# wrk and timing helpers, rounds and medians, and the optional perf profile. Everything listens
# on 127.0.0.1 only; every wait is bounded.
#
# Settings (environment):
#   BENCH_ROUNDS   rounds per script, each measuring the baseline then hostloc (default 3)
#   BENCH_SECONDS  length of one wrk run (default 5)
#   BENCH_PROFILE  1: after the rounds, one more hostloc run under `perf record` (cpu-clock
#                  samples with call graphs), its top costs printed; not counted in the figures
#   HOSTLOC_BIN    a hostloc binary to measure instead of building target/release/hostloc
# Generated inputs are kept in target/bench/ (same seed, same files); each run's scratch files
# go to a temporary directory there and are removed on exit.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BENCH_ROUNDS="${BENCH_ROUNDS:-3}"
BENCH_SECONDS="${BENCH_SECONDS:-5}"
BENCH_PROFILE="${BENCH_PROFILE:-0}"
bench_dir="${CARGO_TARGET_DIR:-target}/bench"
mkdir -p "$bench_dir"
bench_dir="$(cd "$bench_dir" && pwd)"
work="$(mktemp -d "$bench_dir/run.XXXXXX")"
country_db="$PWD/data/dbip-country.mmdb"
asn_db="$PWD/data/asn.mmdb"
bench_pids=()

bench_cleanup() {
    local pid
    for pid in "${bench_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap bench_cleanup EXIT

say() { echo "$*" >&2; }

# need COMMAND PACKAGE: installs the Debian package when the command is missing.
need() {
    command -v "$1" >/dev/null || [[ -x "/usr/sbin/$1" ]] || apt_install "$2"
}

apt_install() {
    local sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    say "installing $* with apt-get"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Builds hostloc (unless HOSTLOC_BIN is set) and the baseline HTTP server; sets $hostloc and
# $baseline_server.
build_rust() {
    cargo build --release --locked --bin hostloc --example baseline_server >&2
    hostloc="${HOSTLOC_BIN:-${CARGO_TARGET_DIR:-target}/release/hostloc}"
    baseline_server="${CARGO_TARGET_DIR:-target}/release/examples/baseline_server"
}

# A TCP/UDP port on 127.0.0.1 that was free a moment ago.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# public_ipv4s N: prints the path of a file of N distinct random public (IANA "global") IPv4
# addresses, one per line, the same every time.
public_ipv4s() {
    local file="$bench_dir/ipv4-$1.txt"
    [[ -s "$file" ]] || python3 - "$1" "$file" <<'PY'
import ipaddress, random, sys
count, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(14)
seen = set()
with open(path + ".part", "w") as out:
    while len(seen) < count:
        value = rng.getrandbits(32)
        if value in seen or not ipaddress.IPv4Address(value).is_global:
            continue
        seen.add(value)
        out.write(f"{ipaddress.IPv4Address(value)}\n")
import os
os.replace(path + ".part", path)
PY
    echo "$file"
}

# bench_names N: writes, once, N names h0.bench.test … with one random public IPv4 and one
# IPv6 address each: $bench_dir/names-N.zone (for NSD), names-N.tsv (name, addresses; for the
# baseline server) and names-N.txt (the names). Prints the path prefix.
bench_names() {
    local prefix="$bench_dir/names-$1"
    [[ -s "$prefix.zone" ]] || python3 - "$1" "$prefix" <<'PY'
import ipaddress, os, random, sys
count, prefix = int(sys.argv[1]), sys.argv[2]
rng = random.Random(15)
with open(prefix + ".tsv", "w") as tsv, open(prefix + ".txt", "w") as names, \
        open(prefix + ".zone.part", "w") as zone:
    zone.write("$ORIGIN bench.test.\n$TTL 3600\n")
    zone.write("@ IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 3600\n")
    zone.write("@ IN NS ns\nns IN A 127.0.0.1\n")
    for i in range(count):
        while True:
            v4 = ipaddress.IPv4Address(rng.getrandbits(32))
            if v4.is_global:
                break
        v6 = ipaddress.IPv6Address((0x2A0 << 116) | rng.getrandbits(116))  # RIPE NCC's 2a00::/12
        zone.write(f"h{i} IN A {v4}\nh{i} IN AAAA {v6}\n")
        tsv.write(f"h{i}.bench.test\t{v4}\t{v6}\n")
        names.write(f"h{i}.bench.test\n")
os.replace(prefix + ".zone.part", prefix + ".zone")
PY
    echo "$prefix"
}

# start_nsd N: NSD (authoritative, one server process) on 127.0.0.1:$nsd_port serving the
# zone bench.test with N names; returns once it answers.
start_nsd() {
    need nsd nsd
    local prefix
    prefix="$(bench_names "$1")"
    nsd_port="$(free_port)"
    mkdir -p "$work/nsd"
    cat >"$work/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$nsd_port
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$work/nsd"
    database: ""
    zonelistfile: "$work/nsd/zone.list"
    xfrdfile: "$work/nsd/xfrd.state"
    xfrdir: "$work/nsd"
    pidfile: "$work/nsd/nsd.pid"
    logfile: "$work/nsd/nsd.log"
    hide-version: yes
    verbosity: 0
remote-control:
    control-enable: no
zone:
    name: bench.test
    zonefile: "$prefix.zone"
EOF
    local nsd_bin
    nsd_bin="$(command -v nsd || echo /usr/sbin/nsd)"
    "$nsd_bin" -d -c "$work/nsd/nsd.conf" 2>>"$work/nsd/nsd.log" &
    bench_pids+=($!)
    python3 - "$nsd_port" <<'PY' || { cat "$work/nsd/nsd.log" >&2; exit 1; }
import socket, struct, sys, time
port = int(sys.argv[1])
name = b"".join(bytes([len(label)]) + label for label in b"h0.bench.test".split(b".")) + b"\0"
query = struct.pack(">6H", 0x1414, 0x0100, 1, 0, 0, 0) + name + struct.pack(">2H", 1, 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(0.2)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    sock.sendto(query, ("127.0.0.1", port))
    try:
        answer = sock.recv(512)
        if answer[:2] == query[:2] and answer[3] & 0x0F == 0:
            sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("NSD did not answer within 60 s")
PY
}

# wait_http URL: waits (at most 30 s) until URL answers.
wait_http() {
    local _
    for _ in $(seq 300); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    say "no answer from $1"
    return 1
}

# start_hostloc_serve DNS_SERVER: `hostloc serve` with its defaults (access log at info level
# to a file), on 127.0.0.1:$hostloc_port; sets $hostloc_pid.
start_hostloc_serve() {
    hostloc_port="$(free_port)"
    "$hostloc" serve --dns-server "$1" --listen "127.0.0.1:$hostloc_port" \
        2>"$work/serve.log" &
    hostloc_pid=$!
    bench_pids+=("$hostloc_pid")
    wait_http "http://127.0.0.1:$hostloc_port/healthz"
}

# shellcheck disable=SC2120 # NAMES_TSV is optional.
# start_baseline_server [NAMES_TSV]: the bare hyper + maxminddb server on
# 127.0.0.1:$baseline_port; sets $baseline_pid.
start_baseline_server() {
    baseline_port="$(free_port)"
    "$baseline_server" "127.0.0.1:$baseline_port" "$country_db" "$asn_db" "$@" \
        2>"$work/baseline.log" &
    baseline_pid=$!
    bench_pids+=("$baseline_pid")
    wait_http "http://127.0.0.1:$baseline_port/?url=1.1.1.1"
}

# fill_cache PORT NAMES_TXT: looks every name up once through POST /v1/lookup (1,000 a
# request), so that later lookups of these names are cache hits. Fails on any unresolved name.
fill_cache() {
    python3 - "$1" "$2" <<'PY'
import json, sys, urllib.request
port, path = sys.argv[1], sys.argv[2]
names = open(path).read().split()
unresolved = 0
for start in range(0, len(names), 1000):
    body = json.dumps({"urls": names[start:start + 1000]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/lookup", body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        results = json.load(response)["results"]
    unresolved += sum(result["verdict"] == "unresolved" for result in results)
if unresolved:
    sys.exit(f"{unresolved} of {len(names)} names were unresolved while filling the cache")
PY
}

# cpu_ticks PID: user + system CPU time of process PID so far, in clock ticks.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}

# wrk_run BASE_URL PATHS_FILE SERVER_PID: one wrk run (BENCH_SECONDS, 2 threads, $connections
# connections) cycling through the request paths in PATHS_FILE; prints "REQ_PER_S P99_MS
# CPU_US_PER_REQUEST", the last from the server's CPU time during the run (the figure that a
# loaded machine disturbs least). Fails when any answer was not 2xx or a socket error occurred.
wrk_run() {
    cat >"$work/paths.lua" <<'LUA'
local requests = {}
for path in io.lines(os.getenv("BENCH_PATHS")) do
  requests[#requests + 1] = wrk.format("GET", path)
end
local next_request = math.random(#requests)
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
LUA
    local ticks_before
    ticks_before="$(cpu_ticks "$3")"
    BENCH_PATHS="$2" timeout $((BENCH_SECONDS + 60)) wrk -t2 -c"${connections:-64}" \
        -d"${BENCH_SECONDS}s" --latency -s "$work/paths.lua" "$1" >"$work/wrk.out"
    python3 - "$work/wrk.out" "$(($(cpu_ticks "$3") - ticks_before))" "$(getconf CLK_TCK)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
ticks, ticks_per_second = int(sys.argv[2]), int(sys.argv[3])
if "Non-2xx" in text or "Socket errors" in text:
    sys.exit("wrk saw errors:\n" + text)
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
requests = int(re.search(r"(\d+) requests in", text).group(1))
value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
print(f"{rate:.0f} {p99_ms:.3f} {ticks / ticks_per_second / requests * 1e6:.2f}")
PY
}

# query_paths FILE PREFIX: a file of request paths PREFIX<line> for each line of FILE, URL-encoded.
query_paths() {
    python3 - "$1" "$2" >"$work/paths-$(basename "$1")" <<'PY'
import sys, urllib.parse
prefix = sys.argv[2]
for line in open(sys.argv[1]):
    print(prefix + urllib.parse.quote(line.strip(), safe=""))
PY
    echo "$work/paths-$(basename "$1")"
}

# timed TIME_FILE COMMAND…: runs COMMAND (at most 15 minutes) under GNU time; TIME_FILE gets
# "WALL_S USER_S SYS_S MAX_RSS_KIB".
timed() {
    local time_file="$1"
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$time_file" timeout 900 "$@"
}

# process_rate COUNT TIME_FILE: "PER_SECOND CORES_USED WALL_S CPU_US_EACH" of COUNT items done
# by a run timed by `timed`; cores used is (user + system CPU) / wall time. CPU time per item
# is the figure that a loaded machine disturbs least.
process_rate() {
    python3 - "$1" "$2" <<'PY'
import sys
count = int(sys.argv[1])
wall, user, system, _ = map(float, open(sys.argv[2]).read().split())
wall = max(wall, 0.001)
print(f"{count / wall:.0f} {(user + system) / wall:.2f} {wall:.2f} {(user + system) / count * 1e6:.3f}")
PY
}

# thousands N: N with thousands separators.
thousands() {
    python3 -c 'import sys; print(f"{int(sys.argv[1]):,}")' "$1"
}

# check_lines COUNT: reads results from a pipe (so that gigabytes of them need no disk) and
# fails unless there were exactly COUNT lines: one result per input.
check_lines() {
    local written
    written=$(wc -l)
    [[ "$written" == "$1" ]] || { say "expected $1 result lines, got $written"; exit 1; }
}

# record NAME VALUE…: appends one round's figures to $work/NAME.
record() {
    local name="$1"
    shift
    echo "$*" >>"$work/$name"
}

# result_row WHAT BASELINE MEASURED RATIO TARGET MET ROUNDS: one row of bench/all.sh's table.
result_row() {
    local IFS=$'\t'
    echo "RESULT$IFS$*"
}

# summarise WHAT BASELINE_FILE HOSTLOC_FILE PYTHON_EXPRESSIONS: prints the result row. The
# Python code gets b and h, the per-field medians of both files (lists of floats), and must
# set baseline, measured, ratio, target (strings) and met (True, False, or None: no target).
summarise() {
    python3 - "$1" "$work/$2" "$work/$3" "$4" <<'PY'
import statistics, sys
what, base_path, ours_path, code = sys.argv[1:5]
def medians(path):
    rows = [list(map(float, line.split())) for line in open(path) if line.strip()]
    return [statistics.median(column) for column in zip(*rows)], len(rows)
b, rounds = medians(base_path)
h, _ = medians(ours_path)
scope = {"b": b, "h": h}
exec(code, scope)
print(f"RESULT\t{what}\t{scope['baseline']}\t{scope['measured']}\t{scope['ratio']}\t"
      f"{scope['target']}\t{ {True: 'yes', False: 'no', None: '—'}[scope['met']] }\t{rounds}")
PY
}

# profile_pid NAME PID SECONDS: with BENCH_PROFILE=1, samples PID for SECONDS with perf.
profile_pid() {
    [[ "$BENCH_PROFILE" == 1 ]] || return 0
    need perf linux-perf
    perf record -q -e cpu-clock -F 1999 --call-graph dwarf,16384 -p "$2" \
        -o "$bench_dir/perf-$1.data" -- sleep "$3" 2>/dev/null
}

# profile_serving NAME BASE_URL PATHS_FILE SERVER_PID: with BENCH_PROFILE=1, one more wrk run
# (as wrk_run) while perf samples the server, then the profile's report.
profile_serving() {
    [[ "$BENCH_PROFILE" == 1 ]] || return 0
    wrk_run "$2" "$3" "$4" >/dev/null &
    local load=$!
    profile_pid "$1" "$4" "$BENCH_SECONDS"
    wait "$load"
    profile_report "$1"
}

# profile_cmd NAME COMMAND…: with BENCH_PROFILE=1, runs COMMAND under perf record.
profile_cmd() {
    [[ "$BENCH_PROFILE" == 1 ]] || return 0
    need perf linux-perf
    local name="$1"
    shift
    perf record -q -e cpu-clock -F 1999 --call-graph dwarf,16384 \
        -o "$bench_dir/perf-$name.data" -- "$@" 2>/dev/null
}

# profile_report NAME: of the profile NAME, the top functions by their own time (self), then
# chosen frames by time spent in them and their callees: hostloc's own functions, JSON, logging
# (tracing), metrics, the allocator, formatting, socket writes and reads, task switches. The
# data stays in target/bench/ for `perf report -i`.
profile_report() {
    [[ "$BENCH_PROFILE" == 1 ]] || return 0
    local data="$bench_dir/perf-$1.data"
    # perf pads each line to the terminal's width with empty columns.
    local trim=(sed -E 's/[[:space:]]+(-[[:space:]]+)*$//')
    say "== perf: $1 ($data), self time"
    perf report -i "$data" --no-children --sort symbol --percent-limit 0.7 --stdio -g none \
        2>/dev/null | grep -E '^ +[0-9]|^# Samples' | "${trim[@]}" | cut -c1-160 | head -30 >&2
    say "== with callees (children, self), chosen frames"
    perf report -i "$data" --children --sort symbol --percent-limit 0.7 --stdio -g none \
        2>/dev/null | grep -E '^ +[0-9]' | "${trim[@]}" |
        grep -E '\] (hostloc::[a-z_:]+[A-Za-z_]+$|serde_json::ser::to_|tracing_core::event::Event::dispatch|metrics::|<metrics|malloc$|cfree|_int_free$|core::fmt::write$|__GI___writev$|__libc_recv|recv$|epoll_wait|__schedule$|core::ptr::drop_in_place<hostloc|clone_box|moka::|quick_cache::|maxminddb::|Json<T> as|Serialize for hostloc)' |
        cut -c1-160 | head -40 >&2
    say "== self time by kind (first matching kind; symbols as in the self-time list)"
    perf report -i "$data" --no-children --sort symbol --percent-limit 0 --stdio -g none \
        2>/dev/null | grep -E '^ +[0-9]' | python3 -c '
import re, sys
kinds = [
    ("kernel: network, syscalls, scheduling", r"\[k\]"),
    ("allocator (malloc, free, realloc)", r"malloc|free|realloc|unlink_chunk|__rdl_|__rust_alloc|__rust_dealloc"),
    ("memmove / memcpy", r"memmove|memcpy"),
    ("GeoIP (maxminddb, Database::record)", r"maxminddb|geoip"),
    ("JSON (serde_json)", r"serde_json|serde_core::ser"),
    ("formatting (core::fmt, Display)", r"core::fmt|as core::fmt::Display|fmt::Write"),
    ("logging (tracing)", r"tracing"),
    ("metrics", r"metrics"),
    ("DNS cache (moka, quick_cache)", r"moka|quick_cache"),
    ("intake", r"intake|url::|idna"),
    ("async runtime (tokio, futures)", r"tokio|futures_util|futures_core"),
    ("per-request state (AppState clone/drop, boxed services)", r"AppState|clone_box"),
    ("HTTP (hyper, axum, tower)", r"hyper|axum|tower|http::"),
    ("hostloc, other steps (pipeline, verdict, networks, batch)", r"hostloc::"),
]
totals = {name: 0.0 for name, _ in kinds}
other = 0.0
for line in sys.stdin:
    share = float(line.split("%")[0])
    name = next((name for name, pattern in kinds if re.search(pattern, line)), None)
    if name is None:
        other += share
    else:
        totals[name] += share
for name, share in sorted(totals.items(), key=lambda item: -item[1]):
    print(f"{share:6.1f}%  {name}")
print(f"{other:6.1f}%  everything else")
' >&2
}
