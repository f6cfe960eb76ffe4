//! The bare baseline that `hostloc serve` is measured against (issue 14): hyper's HTTP/1 server
//! and maxminddb, nothing else. Not part of the product; built by `bench/lib.sh` as the example
//! `baseline_server`, from the product's own dependencies so that both use the same versions.
//!
//! `GET /<anything>?url=HOST` answers a small JSON with the country and ASN of each address of
//! HOST: an IP literal is looked up as it is; a name is looked up in a table read at start
//! (`name<TAB>address<TAB>address…` per line), which stands in for a DNS cache that already
//! holds every name, so its cost is one hash lookup. Per address it does what hostloc's GeoIP step
//! does at the least: one lookup in the country database, one in the ASN database, decoded into
//! borrowed strings. No intake, verdict, evidence, logging, metrics or limits.
//!
//! Usage: `baseline_server LISTEN COUNTRY_DB ASN_DB [NAMES_TSV]`

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use maxminddb::Reader;
use serde::{Deserialize, Serialize};

/// The bundled country file's layout (ip-location-db): the code only.
#[derive(Deserialize)]
struct CountryRecord<'a> {
    country_code: Option<&'a str>,
}

/// The GeoLite2-ASN layout of the bundled ASN file.
#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Serialize)]
struct Address<'a> {
    ip: IpAddr,
    country: Option<&'a str>,
    asn: Option<u32>,
    as_org: Option<&'a str>,
}

#[derive(Serialize)]
struct Answer<'a> {
    host: &'a str,
    addresses: Vec<Address<'a>>,
}

struct Baseline {
    country: Reader<Vec<u8>>,
    asn: Reader<Vec<u8>>,
    names: HashMap<String, Vec<IpAddr>>,
}

impl Baseline {
    fn locate(&self, ip: IpAddr) -> Address<'_> {
        let country = self
            .country
            .lookup(ip)
            .ok()
            .and_then(|found| found.decode::<CountryRecord>().ok().flatten());
        let asn = self
            .asn
            .lookup(ip)
            .ok()
            .and_then(|found| found.decode::<AsnRecord>().ok().flatten());
        Address {
            ip,
            country: country.and_then(|record| record.country_code),
            asn: asn
                .as_ref()
                .and_then(|record| record.autonomous_system_number),
            as_org: asn.and_then(|record| record.autonomous_system_organization),
        }
    }

    fn answer(&self, query: Option<&str>) -> (StatusCode, String) {
        let host = query.and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "url")
                .map(|(_, value)| value)
        });
        let Some(host) = host else {
            return (StatusCode::BAD_REQUEST, r#"{"error":"no url"}"#.to_owned());
        };
        let literal: [IpAddr; 1];
        let ips: &[IpAddr] = match host.parse::<IpAddr>() {
            Ok(ip) => {
                literal = [ip];
                &literal
            }
            Err(_) => self.names.get(host.as_ref()).map_or(&[], Vec::as_slice),
        };
        let answer = Answer {
            host: &host,
            addresses: ips.iter().map(|ip| self.locate(*ip)).collect(),
        };
        let body = serde_json::to_string(&answer).expect("plain fields serialise");
        (StatusCode::OK, body)
    }
}

fn read_names(path: &str) -> HashMap<String, Vec<IpAddr>> {
    let text = std::fs::read_to_string(path).expect("names file");
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next()?.to_owned();
            let ips = fields.filter_map(|field| field.parse().ok()).collect();
            Some((name, ips))
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: baseline_server LISTEN COUNTRY_DB ASN_DB [NAMES_TSV]");
        std::process::exit(2);
    }
    let listen: SocketAddr = args[1].parse().expect("LISTEN is ADDR:PORT");
    let baseline = Arc::new(Baseline {
        country: Reader::open_readfile(&args[2]).expect("country database"),
        asn: Reader::open_readfile(&args[3]).expect("ASN database"),
        names: args.get(4).map(|path| read_names(path)).unwrap_or_default(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let baseline = baseline.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (status, body) = baseline.answer(request.uri().query());
                    let mut response = Response::new(body);
                    *response.status_mut() = status;
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
