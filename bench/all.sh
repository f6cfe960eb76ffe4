#!/usr/bin/env bash
# Runs every target row of issue 14 (each script alternates its baseline and hostloc for
# BENCH_ROUNDS rounds, default 3) and prints one Markdown table of medians and same-run ratios,
# with the date, the machine and its load, for BENCHMARKS.md. Each script's own output goes to
# target/bench/all-NAME.log; a script that fails is named in the table and the others still run.
#
# Usage: bench/all.sh [SCRIPT ...]     (default: every script below; settings: bench/lib.sh)
# Takes about 15 minutes on 2 cores with the defaults; every step is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts=("$@")
[[ $# -gt 0 ]] || scripts=(serve_ips serve_names batch_ips batch_names ratios memory)
logs="${CARGO_TARGET_DIR:-target}/bench"
mkdir -p "$logs"
cargo build --release --locked --bin hostloc --example baseline_server >&2
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%MZ)"
rows="$logs/all-rows.tsv"
: >"$rows"
for script in "${scripts[@]}"; do
    echo "== bench/$script.sh" >&2
    if timeout 1800 "bench/$script.sh" >"$logs/all-$script.out" 2>"$logs/all-$script.log"; then
        grep '^RESULT' "$logs/all-$script.out" >>"$rows" || true
    else
        printf 'RESULT\tbench/%s.sh failed (see %s)\t\t\t\t\t\t\n' "$script" "$logs/all-$script.log" >>"$rows"
    fi
    tail -n 3 "$logs/all-$script.log" >&2
done
python3 - "$rows" "$started" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import os, platform, subprocess, sys
rows_path, started, load_before, load_after = sys.argv[1:5]
model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
              if line.startswith("model name")), platform.machine())
memory = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                        text=True).stdout.strip()
print(f"Run {started}, commit {commit}; {os.cpu_count()} × {model}, {memory / 1024**2:.0f} GiB, "
      f"{platform.system()} {platform.release()}; load average before {load_before}, "
      f"after {load_after}.\n")
print("| what | baseline | hostloc | ratio | target | met | rounds |")
print("|---|---|---|---|---|---|---|")
for line in open(rows_path):
    fields = line.rstrip("\n").split("\t")[1:]
    fields += [""] * (7 - len(fields))
    print("| " + " | ".join(fields[:7]) + " |")
PY
