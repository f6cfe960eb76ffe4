#!/usr/bin/env python3
"""Build, check and count hostloc's CDN / reverse-proxy list, data/networks.csv.

Python 3 standard library only. Three sub-commands:

  build   Write networks.csv from the seed lists, applying the inclusion and
          exclusion policy recorded in the tables below (documented in
          data/NETWORKS.md). Prints every exclusion it applies to stderr.

            python3 data/tools/build-networks.py build \\
                --asns cdn-asns.csv --cdncheck cdncheck-ranges.json \\
                [--cloudflare-v4 ips-v4 --cloudflare-v6 ips-v6] \\
                [--aws-ip-ranges ip-ranges.json] [--fastly public-ip-list.json] \\
                [--date YYYY-MM-DD] --out data/networks.csv

          --cdncheck takes the seed file (key "common_fqdn_suffixes") or
          cdncheck's own sources_data.json (key "common"). The optional
          provider-published lists replace the copies inside cdncheck:
          Cloudflare's ips-v4/ips-v6 text files, AWS ip-ranges.json (only
          service CLOUDFRONT is used) and Fastly's public-ip-list JSON.

  check   Validate an (edited) networks.csv: header, match kinds, ASNs,
          prefixes with host bits zero, suffix syntax, sort order, duplicates,
          and the same value listed for two providers. Reports prefixes of one
          provider nested inside another provider's (longest match wins).

            python3 data/tools/build-networks.py check data/networks.csv

  count   Print the rows per provider and match kind as a Markdown table.

            python3 data/tools/build-networks.py count data/networks.csv

An unknown provider key in a refreshed seed stops the build: decide whether it
is a CDN / reverse proxy and add it to DISPLAY or to an exclusion table.
"""

import argparse
import csv
import ipaddress
import json
import re
import sys
from collections import defaultdict

# --------------------------------------------------------------------------
# Policy. Every decision here is explained in data/NETWORKS.md.
# --------------------------------------------------------------------------

# cdncheck keys (cdn, waf and CNAME rules) -> display name an analyst can contact.
DISPLAY = {
    "akamai": "Akamai",
    "amazon": "Amazon CloudFront",
    "arvancloud": "ArvanCloud",
    "cdnetworks": "CDNetworks",
    "cloudflare": "Cloudflare",
    "cloudfront": "Amazon CloudFront",
    "edgecast": "Edgecast",
    "fastly": "Fastly",
    "gcore": "Gcore",
    "gocache": "GoCache",
    "incapsula": "Imperva",
    "qrator": "Qrator",
    "360 云 CDN (由奇安信运营)": "QiAnXin Website Guard",
    "360 云 CDN (由奇虎 360 运营)": "Qihoo 360 CDN",
    "360 云加速 CDN": "Qihoo 360 CDN",
    "云盾": "YUNDUN",
    "云盾 CDN": "YUNDUN",
    "京东云 CDN": "JD Cloud CDN",
    "加速乐": "Jiasule (Knownsec)",
    "加速乐 CDN": "Jiasule (Knownsec)",
    "华为云 CDN": "Huawei Cloud CDN",
    "华为云 WAF": "Huawei Cloud WAF",
    "又拍云 CDN": "Upyun CDN",
    "奇安信网站卫士": "QiAnXin Website Guard",
    "安恒玄武盾": "DBAPPSecurity Xuanwudun",
    "帝联 CDN": "Dnion CDN",
    "广东网堤 CDN": "Guangdong Wangdi CDN",
    "深信服云盾": "Sangfor Cloud WAF",
    "白山云科技 CDN": "Baishan Cloud CDN",
    "百度云加速": "Baidu Yunjiasu",
    "绿盟云 WAF": "NSFOCUS Cloud WAF",
    "网宿 CDN": "Wangsu (ChinaNetCenter)",
    "网神 CDN": "QiAnXin Website Guard",
    "腾正安全加速 (原 15CDN)": "Tengzheng 15CDN",
    "腾讯云": "Tencent Cloud CDN",
    "腾讯云 CDN": "Tencent Cloud CDN",
    "蓝盾云 CDN": "Bluedon Cloud CDN",
    "阿里云 CDN": "Alibaba Cloud CDN",
}

# cdncheck CIDR lists left out entirely: key -> reason.
EXCLUDED_CIDR_KEYS = {
    "google": "Google's whole address list (goog.json): Google Cloud compute, "
    "Gmail, 8.8.8.8 - not a Cloud CDN list; content there is really hosted at Google",
    "cafe24": "Cafe24 is a Korean web-hosting company; 14.128.128.0/17 is its hosting network",
    "kinx": "KINX is a Korean data centre / IX; its /16-/20 blocks are whole IDC networks",
    "lgtelecom": "LG Uplus is a Korean ISP / data-centre operator, not a reverse proxy",
    "skbroadband": "SK Broadband is a Korean ISP / data-centre operator, not a reverse proxy",
}

# cdncheck CNAME-rule keys left out entirely: key -> reason.
EXCLUDED_CNAME_KEYS = {
    "七牛云": "Qiniu: qbox.me and qiniu.com are its object-storage/company domains (real "
    "hosting); iniudns.com looks like a truncated qiniudns.com and matches nothing",
    "美橙 CDN": "Meicheng (cndns.com) is mainly a shared-hosting/registrar business; its "
    "suffixes (51hostonline.cn, websitecname.cn, cndns5.com) cannot be told apart from hosting",
}

# Single CNAME suffixes left out: suffix -> reason.
EXCLUDED_SUFFIXES = {
    "amazonaws.com": "AWS S3 / EC2 / ELB names: content is really hosted at AWS (only cloudfront.net is CDN)",
    "huaweicloud.com": "Huawei Cloud's general domain, not specific to its CDN/WAF",
    "jcloudlb.com": "JD Cloud load balancer: the servers behind it are JD Cloud hosting",
    "qianxun.com": "company domain of Qianxun SI, not a CDN CNAME target",
}

# A suffix cdncheck files under two providers -> the one that operates it.
SUFFIX_OWNER = {"edgesuite.net": "Akamai"}

# Providers whose single-address (/32) entries are rented VMs in other
# companies' clouds; those entries are dropped, the provider's own blocks kept.
DROP_SINGLE_ADDRESSES = {"gocache", "云盾"}

# Providers whose list comes from whois/ASN expansion rather than a published
# edge list: blocks smaller than BYOIP-routable size (/24, /48) are kept only
# when they share a /16 (IPv6 /32) with one of the provider's routable blocks.
FRAGMENT_FILTER = {"cloudflare"}

# Cloudflare's published edge ranges (cloudflare.com/ips, 2026-11-29).
CLOUDFLARE_PUBLISHED = """
173.245.48.0/20 103.21.244.0/22 103.22.200.0/22 103.31.4.0/22 141.101.64.0/18
108.162.192.0/18 190.93.240.0/20 188.114.96.0/20 197.234.240.0/22 198.41.128.0/17
162.158.0.0/15 104.16.0.0/13 104.24.0.0/14 172.64.0.0/13 131.0.72.0/22
2400:cb00::/32 2606:4700::/32 2803:f800::/32 2405:b500::/32 2405:8100::/32
2a06:98c0::/29 2c0f:f248::/32
""".split()

# Extra CNAME suffixes with their own provenance.
EXTRA_CNAMES = [
    ("Cloudflare", "cdn.cloudflare.net", "developers.cloudflare.com partial (CNAME) setup"),
]

# cdn-asns.csv provider (first name, lower case) -> display name.
ASN_DISPLAY = {
    "akamai": "Akamai", "arvancloud": "ArvanCloud", "bunny": "BunnyCDN",
    "cdnetworks": "CDNetworks", "cloudflare": "Cloudflare", "ddos-guard": "DDoS-Guard",
    "edgecast": "Edgecast", "edgenext": "EdgeNext", "edgio": "Edgio", "fastly": "Fastly",
    "imperva": "Imperva", "leaseweb": "Leaseweb CDN", "limelight": "Limelight",
    "link11": "Link11", "netscout": "Netscout", "neustar": "Neustar",
    "prolexic": "Prolexic", "qrator": "Qrator", "radware": "Radware",
    "stackpath": "StackPath", "stormwall": "StormWall", "sucuri": "Sucuri",
    "voxility": "Voxility", "x4b": "X4B",
}

# Corroboration for rows whose only source is C: the provider's well-known
# primary network, accepted when that provider is present in the CIDR/CNAME
# data. ASN -> (cdncheck key that must be present, source text).
PRIMARY_ASN = {
    13335: ("cloudflare", "cloudflare.com/ips; cdn-asns.csv C"),
    54113: ("fastly", "cdncheck cdn fastly + fastly.net; cdn-asns.csv C"),
    19551: ("incapsula", "cdncheck waf incapsula + impervadns.net; cdn-asns.csv C"),
}

# ASNs never listed, whatever the sources say: ASN -> reason.
EXCLUDED_ASNS = {
    63949: "Linode / Akamai Connected Cloud: VPS and cloud hosting, the real hoster",
    3223: "Voxility sells DDoS-protected hosting: the customer's server is usually in its own network",
    39743: "Voxility sells DDoS-protected hosting: the customer's server is usually in its own network",
    16265: "Leaseweb hosting (global network), a major Dutch hoster",
    60781: "Leaseweb Netherlands hosting",
    28753: "Leaseweb Germany hosting",
    30633: "Leaseweb USA hosting",
    7203: "Leaseweb USA hosting",
    59253: "Leaseweb Asia Pacific hosting",
}

HEADER = ["provider", "match", "value", "source"]
KIND_ORDER = {"asn": 0, "cname": 1, "prefix": 2}
SUFFIX_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def fail(message):
    sys.exit(f"build-networks: {message}")


def net(text):
    return ipaddress.ip_network(text.strip(), strict=True)


def sort_key(row):
    provider, kind, value = row[0], row[1], row[2]
    if kind == "asn":
        v = (int(value),)
    elif kind == "prefix":
        n = net(value)
        v = (n.version, int(n.network_address), n.prefixlen)
    else:
        v = (value,)
    return (provider.casefold(), provider, KIND_ORDER[kind], v)


def nested_pairs(prefixes):
    """Yield (inner, outer) for every prefix nested in another (equal included)."""
    for version in (4, 6):
        items = sorted(
            (p for p in prefixes if p[0].version == version),
            key=lambda p: (int(p[0].network_address), p[0].prefixlen),
        )
        stack = []
        for item in items:
            start = int(item[0].network_address)
            while stack and int(stack[-1][0].broadcast_address) < start:
                stack.pop()
            for outer in stack:
                yield item, outer
            stack.append(item)


# --------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------


def read_lines_file(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def build(args):
    excluded = []  # (what, provider, reason)
    rows = {}  # (provider, kind, value) -> source

    def add(provider, kind, value, source):
        rows.setdefault((provider, kind, value), source)

    with open(args.cdncheck, encoding="utf-8") as f:
        cdncheck = json.load(f)
    suffixes = cdncheck.get("common_fqdn_suffixes") or cdncheck.get("common") or {}

    # ---- prefixes from cdncheck
    replaced = {}
    if bool(args.cloudflare_v4) != bool(args.cloudflare_v6):
        fail("give both --cloudflare-v4 and --cloudflare-v6, or neither")
    if args.cloudflare_v4:
        published = read_lines_file(args.cloudflare_v4) + read_lines_file(args.cloudflare_v6)
    else:
        published = CLOUDFLARE_PUBLISHED
    if args.aws_ip_ranges:
        with open(args.aws_ip_ranges, encoding="utf-8") as f:
            aws = json.load(f)
        replaced["cloudfront"] = (
            [p["ip_prefix"] for p in aws["prefixes"] if p["service"] == "CLOUDFRONT"]
            + [p["ipv6_prefix"] for p in aws.get("ipv6_prefixes", []) if p["service"] == "CLOUDFRONT"],
            "aws ip-ranges.json CLOUDFRONT",
        )
    if args.fastly:
        with open(args.fastly, encoding="utf-8") as f:
            fastly = json.load(f)
        replaced["fastly"] = (
            fastly["addresses"] + fastly.get("ipv6_addresses", []),
            "api.fastly.com/public-ip-list",
        )

    cf_published = [net(p) for p in published]
    candidates = defaultdict(dict)  # key -> {network: source}
    for section in ("cdn", "waf"):
        for key, cidrs in cdncheck.get(section, {}).items():
            if key in EXCLUDED_CIDR_KEYS:
                if section == "cdn" or key not in cdncheck.get("cdn", {}):
                    excluded.append((f"cdncheck {section} list ({len(cidrs)} ranges)",
                                     key, EXCLUDED_CIDR_KEYS[key]))
                continue
            if key not in DISPLAY:
                fail(f"cdncheck {section} key {key!r} is unknown: add it to DISPLAY or EXCLUDED_CIDR_KEYS")
            if key in replaced:
                continue
            for cidr in cidrs:
                try:
                    n = net(cidr)
                except ValueError:
                    n = ipaddress.ip_network(cidr.strip(), strict=False)
                    print(f"normalised {cidr} -> {n} ({key})", file=sys.stderr)
                src = candidates[key].get(n)
                tag = f"cdncheck {section}"
                candidates[key][n] = tag if src is None or src == tag else "cdncheck cdn+waf"
    for key, (cidrs, source) in replaced.items():
        candidates[key] = {net(c): source for c in cidrs}
    for n in cf_published:
        old = candidates["cloudflare"].get(n)
        candidates["cloudflare"][n] = "cloudflare.com/ips" + (f"; {old}" if old else "")

    for key, nets in candidates.items():
        provider = DISPLAY[key]
        if key in DROP_SINGLE_ADDRESSES:
            singles = sorted((n for n in nets if n.num_addresses == 1), key=lambda n: (n.version, n))
            for n in singles:
                del nets[n]
            if singles:
                excluded.append((f"{len(singles)} single addresses ({', '.join(map(str, singles))})",
                                 provider, "rented VMs in other companies' clouds; reassigned when released"))
        if key in FRAGMENT_FILTER:
            routable = [n for n in nets if n.prefixlen <= (24 if n.version == 4 else 48)]
            homes = {n.supernet(new_prefix=16 if n.version == 4 else 32)
                     for n in routable if n.prefixlen >= (16 if n.version == 4 else 32)}
            homes |= {n for n in routable if n.prefixlen < (16 if n.version == 4 else 32)}
            dropped = [n for n in nets
                       if n.prefixlen > (24 if n.version == 4 else 48)
                       and not any(h.version == n.version and h.overlaps(n) for h in homes)]
            for n in dropped:
                del nets[n]
            if dropped:
                dropped.sort(key=lambda n: (n.version, n))
                excluded.append((f"{len(dropped)} blocks longer than /24 (IPv6 /48) outside its own "
                                 f"address space ({', '.join(map(str, dropped))})",
                                 provider, "whois/link sub-assignments in transit providers' networks, not proxy edges"))
        items = [(n, key) for n in nets]
        covered = {inner[0] for inner, outer in nested_pairs(items) if inner[0] != outer[0]}
        for n, source in nets.items():
            if n not in covered:
                add(provider, "prefix", str(n), source)

    # ---- CNAME suffixes from cdncheck
    owner_seen = defaultdict(set)
    for key, names in suffixes.items():
        if key in EXCLUDED_CNAME_KEYS:
            excluded.append((f"CNAME rules {', '.join(names)}", key, EXCLUDED_CNAME_KEYS[key]))
            continue
        if key not in DISPLAY:
            fail(f"cdncheck CNAME key {key!r} is unknown: add it to DISPLAY or EXCLUDED_CNAME_KEYS")
        provider = DISPLAY[key]
        for name in names:
            name = name.strip().lower().lstrip("*").strip(".")
            if name in EXCLUDED_SUFFIXES:
                excluded.append((f"CNAME {name}", provider, EXCLUDED_SUFFIXES[name]))
                continue
            if name in SUFFIX_OWNER and SUFFIX_OWNER[name] != provider:
                excluded.append((f"CNAME {name}", provider, f"operated by {SUFFIX_OWNER[name]}; cdncheck lists it twice"))
                continue
            owner_seen[name].add(provider)
            add(provider, "cname", name, "cdncheck common_fqdn_suffixes")
    for provider, name, source in EXTRA_CNAMES:
        add(provider, "cname", name, source)
    for name, owners in owner_seen.items():
        if len(owners) > 1:
            fail(f"CNAME {name} claimed by {sorted(owners)}: add it to SUFFIX_OWNER")
    # a suffix under another suffix of the same provider adds nothing
    by_provider = defaultdict(set)
    for (provider, kind, value) in rows:
        if kind == "cname":
            by_provider[provider].add(value)
    for provider, names in by_provider.items():
        for name in names:
            if any(name.endswith("." + other) for other in names):
                del rows[(provider, "cname", name)]

    # ---- ASNs from cdn-asns.csv
    present = {k for s in ("cdn", "waf") for k in cdncheck.get(s, {})} | set(suffixes) | {"cloudflare"}
    with open(args.asns, encoding="utf-8", newline="") as f:
        for rec in csv.DictReader(f):
            asn = int(rec["asn"])
            first = rec["providers"].split("|")[0].strip().lower()
            if first not in ASN_DISPLAY:
                fail(f"cdn-asns.csv provider {rec['providers']!r} (AS{asn}) is unknown: add it to ASN_DISPLAY")
            provider = ASN_DISPLAY[first]
            sources = set(rec["sources"].split("|"))
            if asn in EXCLUDED_ASNS:
                excluded.append((f"AS{asn}", provider, EXCLUDED_ASNS[asn]))
                continue
            if sources == {"C"}:
                corroboration = PRIMARY_ASN.get(asn)
                if corroboration and corroboration[0] in present:
                    add(provider, "asn", str(asn), corroboration[1])
                else:
                    why = "only source C (unverified), no second source"
                    if provider in {DISPLAY[k] for k in present if k in DISPLAY}:
                        why += "; provider is in cdncheck but this is not its primary network"
                    excluded.append((f"AS{asn}", provider, why))
                continue
            add(provider, "asn", str(asn), "cdn-asns.csv " + rec["sources"])

    out = sorted(([p, k, v, s] for (p, k, v), s in rows.items()), key=sort_key)
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        f.write(
            "# hostloc networks: CDN / reverse-proxy providers that hide the real hosting location.\n"
            "# An address matches when its ASN is listed or it lies in a listed prefix; a host matches\n"
            "# when a name in its CNAME chain ends in a listed suffix. Verdict: behind_cdn, ask <provider>.\n"
            "# Format, rules and every exclusion: data/NETWORKS.md. Operators may edit this file; run\n"
            "# python3 data/tools/build-networks.py check data/networks.csv afterwards.\n"
            f"# Built {args.date} from: projectdiscovery/cdncheck sources_data.json and provider.yaml\n"
            "# (MIT licence, commit 6fbcc53); mansourjabin/cdn-ip-database sources.json (commit 98328f3);\n"
            "# Cloudflare's published ranges (cloudflare.com/ips); an unverified ASN list, used only\n"
            "# when corroborated. Lines starting with # are comments.\n"
        )
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(out)
    for what, provider, reason in excluded:
        print(f"excluded: {what} | {provider} | {reason}", file=sys.stderr)
    print(f"wrote {len(out)} rows to {args.out}", file=sys.stderr)


# --------------------------------------------------------------------------
# check / count
# --------------------------------------------------------------------------


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        lines = [(i, line) for i, line in enumerate(f, 1) if not line.startswith("#") and line.strip()]
    reader = csv.reader(line for _, line in lines)
    header = next(reader, None)
    if header != HEADER:
        fail(f"{path}: header must be {','.join(HEADER)}, found {header}")
    return [(lines[n + 1][0], rec) for n, rec in enumerate(reader)]


def check(args):
    rows = read_rows(args.file)
    problems, seen, owner, prefixes = [], set(), {}, []
    for line, rec in rows:
        if len(rec) != 4:
            problems.append(f"line {line}: expected 4 fields, found {len(rec)}")
            continue
        provider, kind, value, source = (x.strip() for x in rec)
        if not provider or not source:
            problems.append(f"line {line}: empty provider or source")
        if kind == "asn":
            if not value.isdigit() or not 0 < int(value) < 2**32:
                problems.append(f"line {line}: bad ASN {value!r}")
        elif kind == "prefix":
            try:
                prefixes.append((net(value), provider))
            except ValueError as e:
                problems.append(f"line {line}: bad prefix {value!r}: {e}")
                continue
        elif kind == "cname":
            if not SUFFIX_RE.match(value):
                problems.append(f"line {line}: bad suffix {value!r} (no leading dot or *., lower case)")
        else:
            problems.append(f"line {line}: match must be asn, cname or prefix, not {kind!r}")
            continue
        if (provider, kind, value) in seen:
            problems.append(f"line {line}: duplicate row {provider},{kind},{value}")
        seen.add((provider, kind, value))
        if (kind, value) in owner and owner[(kind, value)] != provider:
            problems.append(f"line {line}: {kind} {value} also listed for {owner[(kind, value)]}")
        owner.setdefault((kind, value), provider)
    if not problems:
        keys = [sort_key([r[0].strip(), r[1].strip(), r[2].strip()]) for _, r in rows]
        for (line, _), a, b in zip(rows[1:], keys, keys[1:]):
            if b < a:
                problems.append(f"line {line}: out of order (provider, match, value)")
                break
    cross = defaultdict(int)
    for (inner, ip), (outer, op) in nested_pairs(prefixes):
        if ip == op:
            problems.append(f"{inner} is inside {outer}, both {ip}: drop the smaller")
        else:
            cross[(ip, op)] += 1
    for (ip, op), n in sorted(cross.items()):
        print(f"note: {n} {ip} prefix(es) inside {op} prefixes (longest match wins: {ip})")
    for p in problems:
        print(p)
    print(f"{args.file}: {len(rows)} rows, {len(problems)} problems")
    sys.exit(1 if problems else 0)


def count(args):
    table = defaultdict(lambda: defaultdict(int))
    for _, rec in read_rows(args.file):
        table[rec[0]][rec[1]] += 1
    print("| provider | asn | cname | prefix | total |")
    print("|---|---:|---:|---:|---:|")
    totals = defaultdict(int)
    for provider in sorted(table, key=str.casefold):
        c = table[provider]
        print(f"| {provider} | {c['asn']} | {c['cname']} | {c['prefix']} | {sum(c.values())} |")
        for k, v in c.items():
            totals[k] += v
    print(f"| **all {len(table)} providers** | {totals['asn']} | {totals['cname']} | "
          f"{totals['prefix']} | {sum(totals.values())} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--asns", required=True)
    b.add_argument("--cdncheck", required=True)
    b.add_argument("--cloudflare-v4")
    b.add_argument("--cloudflare-v6")
    b.add_argument("--aws-ip-ranges")
    b.add_argument("--fastly")
    b.add_argument("--date", default="2026-11-29")
    b.add_argument("--out", required=True)
    for name in ("check", "count"):
        s = sub.add_parser(name)
        s.add_argument("file")
    args = ap.parse_args()
    {"build": build, "check": check, "count": count}[args.command](args)


if __name__ == "__main__":
    main()
