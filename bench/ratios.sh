#!/usr/bin/env bash
# Target row "pipeline, one IP literal to JSON" of issue 14, and the other criterion benchmarks
# of benches/pipeline.rs, each next to its baseline measured in the same run:
# - pipeline: `Pipeline::lookup` of one (defanged) IP literal plus `serde_json::to_vec` of its
#   Result (two country sources and the ASN database, the default), vs the two raw maxminddb
#   lookups (country + ASN) of the same address. Target: ≤ 5×. Also printed: the cost of the
#   second country source, against `--single-source` measured before and after it.
# - geoip: hostloc's locate step for six addresses vs the same raw lookups.
# - intake: hostloc's parse of six messy reports vs `url::Url::parse` of two clean URLs.
# Each round is one `cargo bench` run (criterion's mean of each benchmark); the medians over
# the rounds are printed.
#
# Usage: bench/ratios.sh [criterion filter]   (BENCH_ROUNDS: bench/lib.sh)
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
criterion="${CARGO_TARGET_DIR:-target}/criterion"
for _ in $(seq "$BENCH_ROUNDS"); do
    touch "$work/round-start"
    cargo bench --locked --bench pipeline -- "${1:-}" >&2
    python3 - "$criterion" "$work" <<'PY'
import json, pathlib, sys
root, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
started = (work / "round-start").stat().st_mtime
pairs = [
    ("pipeline", "baseline_maxminddb_country_and_asn", "hostloc_lookup_ip_literal_to_json"),
    ("geoip", "baseline_maxminddb_country_and_asn", "hostloc_locate_country_and_asn"),
    ("intake", "baseline_url_parse", "hostloc_parse_report_6_messy"),
]
for group, base, ours in pairs:
    paths = [root / group / name / "new" / "estimates.json" for name in (base, ours)]
    # Only this round's estimates: a filter leaves older runs' files in place.
    if all(path.exists() and path.stat().st_mtime >= started for path in paths):
        means = [json.loads(path.read_text())["mean"]["point_estimate"] for path in paths]
        for side, mean in zip(("baseline", "hostloc"), means):
            with open(work / f"{group}-{side}", "a") as out:
                out.write(f"{mean}\n")
PY
done
# The cost of the second country source (issue 11), from the last round: the two-source run
# against the mean of the one-source runs on either side of it, and how far those two differ.
python3 - "$criterion" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
def mean_ns(group, name):
    path = root / group / name / "new" / "estimates.json"
    return json.loads(path.read_text())["mean"]["point_estimate"] if path.exists() else None
def before_after(label, group, before, after, again, unit, per=1):
    """`after` against the mean of `before` and `again` (measured on either side of it)."""
    b, a, b2 = mean_ns(group, before), mean_ns(group, after), mean_ns(group, again)
    if None in (b, a, b2):
        return
    base = (b + b2) / 2
    print(f"{group}: {label}: {a/per/unit:.2f} vs {base/per/unit:.2f} "
          f"(+{(a-base)/per/unit:.2f}, ratio {a/base:.2f}x; the one-source runs before and "
          f"after differ by {abs(b2-b)/base*100:.0f} %)", file=sys.stderr)
before_after("second country source, µs per address", "geoip",
             "hostloc_locate_country_and_asn", "hostloc_locate_two_countries_and_asn",
             "hostloc_locate_country_and_asn_again", 1000, per=6)
before_after("two country sources against --single-source, µs per lookup", "pipeline",
             "hostloc_lookup_ip_literal_to_json_single_source",
             "hostloc_lookup_ip_literal_to_json",
             "hostloc_lookup_ip_literal_to_json_single_source_again", 1000)
PY
# group | row label | baseline | most times the baseline (empty: no target)
rows=(
    "pipeline|pipeline: one IP literal to JSON (criterion, one core)|two raw maxminddb lookups|5"
    "geoip|geoip: locate 6 addresses (criterion, one core)|raw maxminddb|"
    "intake|intake: 6 messy reports (criterion, one core)|Url::parse of 2 clean URLs|"
)
for row in "${rows[@]}"; do
    IFS='|' read -r group what baseline limit <<<"$row"
    [[ -s "$work/$group-hostloc" ]] || continue
    BENCH_BASELINE="$baseline" BENCH_LIMIT="$limit" summarise "$what" "$group-baseline" "$group-hostloc" '
import os
limit = float(os.environ["BENCH_LIMIT"] or "nan")
name = os.environ["BENCH_BASELINE"]
baseline = f"{b[0]:,.0f} ns ({name})"
measured = f"{h[0]:,.0f} ns"
ratio = f"{h[0] / b[0]:.1f}×"
target = "—" if limit != limit else f"≤ {limit:g}×"
met = None if limit != limit else h[0] <= limit * b[0]'
done
