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
def before_after(label, group, before, after, again, unit, per=1):
    """`after` against the mean of `before` and `again` (measured on either side of it)."""
    b, a, b2 = mean_ns(group, before), mean_ns(group, after), mean_ns(group, again)
    if None in (b, a, b2):
        return
    base = (b + b2) / 2
    print(f"{group}: {label}: {a/per/unit:.2f} vs {base/per/unit:.2f} "
          f"(+{(a-base)/per/unit:.2f}, ratio {a/base:.2f}x; the one-source runs before and "
          f"after differ by {abs(b2-b)/base*100:.0f} %)")
before_after("second country source, µs per address", "geoip",
             "hostloc_locate_country_and_asn", "hostloc_locate_two_countries_and_asn",
             "hostloc_locate_country_and_asn_again", 1000, per=6)
p = mean_ns("pipeline", "hostloc_lookup_ip_literal_to_json")
if p is not None:
    print(f"pipeline: one IP-literal lookup to JSON {p/1000:.2f} µs ({1e9/p:,.0f}/s on one core)")
before_after("two country sources against --single-source, µs per lookup", "pipeline",
             "hostloc_lookup_ip_literal_to_json_single_source",
             "hostloc_lookup_ip_literal_to_json",
             "hostloc_lookup_ip_literal_to_json_single_source_again", 1000)
PY
