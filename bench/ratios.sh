#!/usr/bin/env bash
# Runs the criterion benchmarks and prints each hostloc measurement next to the baseline
# measured in the same invocation, as a ratio. Usage: bench/ratios.sh [criterion filter]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked --bench pipeline -- "${1:-}" >&2
TARGET_DIR="${CARGO_TARGET_DIR:-target}" python3 - <<'PY'
import json, os, pathlib
root = pathlib.Path(os.environ["TARGET_DIR"]) / "criterion"
def mean_ns(group, name):
    path = root / group / name / "new" / "estimates.json"
    return json.loads(path.read_text())["mean"]["point_estimate"] if path.exists() else None
pairs = [
    ("geoip", "baseline_maxminddb_country_and_asn", "hostloc_locate_country_and_asn", 6),
    ("intake", "baseline_url_parse", "hostloc_parse_report_6_messy", None),
]
for group, base, ours, per in pairs:
    b, o = mean_ns(group, base), mean_ns(group, ours)
    if b is None or o is None:
        continue
    line = f"{group}: {ours} {o/1000:.2f} µs vs {base} {b/1000:.2f} µs  ratio {o/b:.2f}x"
    if per:
        line += f"  ({o/per:.0f} ns vs {b/per:.0f} ns per address)"
    print(line)
one, two = (mean_ns("geoip", "hostloc_locate_country_and_asn"),
            mean_ns("geoip", "hostloc_locate_two_countries_and_asn"))
if one is not None and two is not None:
    print(f"geoip: second country source: {two/6:.0f} ns vs {one/6:.0f} ns per address "
          f"(+{(two-one)/6:.0f} ns, ratio {two/one:.2f}x)")
single = mean_ns("pipeline", "hostloc_lookup_ip_literal_to_json_single_source")
p = mean_ns("pipeline", "hostloc_lookup_ip_literal_to_json")
if p is not None:
    print(f"pipeline: one IP-literal lookup to JSON {p/1000:.2f} µs ({1e9/p:,.0f}/s on one core)")
if p is not None and single is not None:
    print(f"pipeline: with two country sources {p/1000:.2f} µs vs {single/1000:.2f} µs "
          f"with --single-source (+{(p-single)/1000:.2f} µs, ratio {p/single:.2f}x)")
PY
