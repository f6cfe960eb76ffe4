//! Criterion benchmarks of the parts of a lookup that do not wait on the network, each next to
//! a baseline measured in the same run: the two raw maxminddb lookups (country + ASN) for GeoIP
//! and for a whole IP-literal lookup, `url::Url::parse` for intake. `bench/ratios.sh` prints
//! hostloc's cost as a multiple of the baseline.
//! The cost of the second country source is measured before, after and before again in the
//! same run: `--single-source` (one country database), the default (two), and one again, so
//! that a machine whose speed drifts during the run shows it (`bench/ratios.sh` compares the
//! two sources with the mean of the one-source runs and prints the drift).
//!
//! Uses the bundled data in `data/`.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

use hostloc::cache::{CacheSettings, DnsCache};
use hostloc::geoip::GeoDb;
use hostloc::pipeline::{DataPaths, DataSet, Pipeline, PipelineSettings};
use hostloc::resolve::{DnsResolver, DnsSettings};

/// The bundled data as `hostloc` uses it by default: two country sources.
fn data_paths() -> DataPaths {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    DataPaths {
        country_db: data.join("dbip-country.mmdb"),
        second_opinion_dbs: vec![data.join("geo-whois-asn-country.mmdb")],
        asn_db: data.join("asn.mmdb"),
        networks: data.join("networks.csv"),
        hotlines: data.join("hotlines.csv"),
        anycast: data.join("anycast.csv"),
    }
}

/// The bundled data with `--single-source`.
fn single_source_paths() -> DataPaths {
    DataPaths {
        second_opinion_dbs: Vec::new(),
        ..data_paths()
    }
}

const ADDRESSES: [&str; 6] = [
    "95.211.0.1",
    "8.8.8.8",
    "104.16.0.1",
    "2a00:1450:4001:80b::200e",
    "81.2.69.142",
    "46.4.0.1",
];

/// The bundled databases opened with maxminddb alone: the baseline's side.
struct RawDatabases {
    country: maxminddb::Reader<Vec<u8>>,
    asn: maxminddb::Reader<Vec<u8>>,
}

/// The bundled country file's layout: the code only.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // Decoded to measure the cost, not read.
struct RawCountry<'a> {
    country_code: Option<&'a str>,
}

impl RawDatabases {
    fn open(paths: &DataPaths) -> RawDatabases {
        RawDatabases {
            country: maxminddb::Reader::open_readfile(&paths.country_db).expect("country db"),
            asn: maxminddb::Reader::open_readfile(&paths.asn_db).expect("asn db"),
        }
    }

    /// The least a lookup of both databases can do: one lookup in each, borrowed strings.
    fn country_and_asn(&self, ip: IpAddr) {
        let found = self.country.lookup(black_box(ip)).unwrap();
        black_box(found.decode::<RawCountry>().unwrap());
        let found = self.asn.lookup(black_box(ip)).unwrap();
        black_box(found.decode::<maxminddb::geoip2::Asn>().unwrap());
    }
}

fn geoip(c: &mut Criterion) {
    let paths = data_paths();
    let addresses: Vec<IpAddr> = ADDRESSES.iter().map(|a| a.parse().unwrap()).collect();
    let raw = RawDatabases::open(&paths);
    let geo = GeoDb::open(&paths.country_db, &paths.asn_db).expect("bundled databases");
    let mut two_sources = geo.clone();
    for path in &paths.second_opinion_dbs {
        two_sources
            .add_country_source(path)
            .expect("bundled second opinion");
    }
    let mut group = c.benchmark_group("geoip");
    group.bench_function("baseline_maxminddb_country_and_asn", |b| {
        b.iter(|| {
            for ip in &addresses {
                raw.country_and_asn(*ip);
            }
        })
    });
    group.bench_function("hostloc_locate_country_and_asn", |b| {
        b.iter(|| {
            for ip in &addresses {
                black_box(geo.locate(black_box(*ip)));
            }
        })
    });
    group.bench_function("hostloc_locate_two_countries_and_asn", |b| {
        b.iter(|| {
            for ip in &addresses {
                black_box(two_sources.locate(black_box(*ip)));
            }
        })
    });
    group.bench_function("hostloc_locate_country_and_asn_again", |b| {
        b.iter(|| {
            for ip in &addresses {
                black_box(geo.locate(black_box(*ip)));
            }
        })
    });
    group.finish();
}

fn intake(c: &mut Criterion) {
    let inputs = [
        "hxxps://files.example[.]nl/a.jpg",
        "  <http://User:pw@Bücher.example./x?y=1>.",
        "http://0x5f.0xd3.0.1/",
        "www.example.co.uk:8080/path/to/file.jpg",
        "mailto:abuse@example.nl",
        "http://[::ffff:95.211.0.1]/",
    ];
    let mut group = c.benchmark_group("intake");
    group.bench_function("baseline_url_parse", |b| {
        b.iter(|| {
            for input in ["https://files.example.nl/a.jpg", "http://example.nl/x"] {
                black_box(url::Url::parse(black_box(input)).ok());
            }
        })
    });
    group.bench_function("hostloc_parse_report_6_messy", |b| {
        b.iter(|| {
            for input in inputs {
                black_box(hostloc::intake::parse_report(black_box(input)).ok());
            }
        })
    });
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pipeline_over = |paths: DataPaths| {
        // IP literals never reach DNS; the server address is never used.
        let resolver = runtime.block_on(async {
            DnsResolver::new(&DnsSettings {
                servers: vec!["127.0.0.1:9".parse().unwrap()],
                ..DnsSettings::default()
            })
            .unwrap()
        });
        Pipeline::new(
            DataSet::load(&paths).unwrap(),
            Some(paths),
            DnsCache::new(resolver, CacheSettings::default()),
            PipelineSettings::default(),
        )
    };
    // Both are loaded before either is measured, so neither measurement follows a load or a
    // drop of the other's data.
    let single_source = pipeline_over(single_source_paths());
    let two_sources = pipeline_over(data_paths());
    let raw = RawDatabases::open(&data_paths());
    let mut group = c.benchmark_group("pipeline");
    // Issue 14's target: the whole lookup of one IP literal, to JSON, within 5× of this.
    let address: IpAddr = "95.211.0.1".parse().unwrap();
    group.bench_function("baseline_maxminddb_country_and_asn", |b| {
        b.iter(|| raw.country_and_asn(address))
    });
    for (name, pipeline) in [
        (
            "hostloc_lookup_ip_literal_to_json_single_source",
            &single_source,
        ),
        ("hostloc_lookup_ip_literal_to_json", &two_sources),
        (
            "hostloc_lookup_ip_literal_to_json_single_source_again",
            &single_source,
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let report =
                    runtime.block_on(pipeline.lookup(black_box("hxxp://95.211.0[.]1/a.jpg")));
                black_box(serde_json::to_vec(&report).unwrap());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, geoip, intake, pipeline);
criterion_main!(benches);
