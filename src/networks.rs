//! Networks: the operator-editable list of CDN and reverse-proxy providers.
//!
//! Owns parsing `data/networks.csv` (format in `data/NETWORKS.md`) and answering "does this
//! address, AS number or CNAME belong to a provider that hides the real hosting location?".
//! Matching is by AS number, by longest prefix, and by DNS suffix on a label boundary.
//! No I/O beyond reading the file once; no opinion on verdicts.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use serde::Deserialize;

use crate::data_csv::{self, DataFileError};

/// How an address was tied to a CDN / reverse-proxy provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CdnMatch {
    /// The address's AS number is listed.
    Asn,
    /// The address falls in a listed prefix.
    Prefix,
    /// A name in the host's CNAME chain ends in a listed suffix.
    Cname,
    /// The country database marks the address as anycast.
    Anycast,
}

/// The provider list, indexed for matching.
#[derive(Debug, Default, Clone)]
pub struct CdnNetworks {
    by_asn: HashMap<u32, Arc<str>>,
    /// Prefix length → (network address → provider). Longest match wins.
    by_prefix_v4: Vec<(u8, HashMap<u32, Arc<str>>)>,
    by_prefix_v6: Vec<(u8, HashMap<u128, Arc<str>>)>,
    by_cname_suffix: HashMap<String, Arc<str>>,
    providers: BTreeSet<Arc<str>>,
    rows: usize,
}

#[derive(Debug, Deserialize)]
struct Row {
    provider: String,
    #[serde(rename = "match")]
    kind: String,
    value: String,
}

impl CdnNetworks {
    /// Reads a networks file.
    ///
    /// # Errors
    ///
    /// [`DataFileError`] naming the file and, for a bad row, the line.
    pub fn load(path: &Path) -> Result<CdnNetworks, DataFileError> {
        data_csv::load("networks", path, CdnNetworks::parse)
    }

    /// Parses the text of a networks file; an error is the line and what is wrong.
    fn parse(text: &str) -> Result<CdnNetworks, (u64, String)> {
        let mut networks = CdnNetworks::default();
        let mut v4: HashMap<u8, HashMap<u32, Arc<str>>> = HashMap::new();
        let mut v6: HashMap<u8, HashMap<u128, Arc<str>>> = HashMap::new();
        let mut interned: HashSet<Arc<str>> = HashSet::new();
        for (line, row) in data_csv::rows::<Row>(text)? {
            if row.provider.is_empty() {
                return Err((line, "the provider is empty".to_owned()));
            }
            let provider = match interned.get(row.provider.as_str()) {
                Some(existing) => Arc::clone(existing),
                None => {
                    let name: Arc<str> = Arc::from(row.provider.as_str());
                    interned.insert(Arc::clone(&name));
                    name
                }
            };
            match row.kind.as_str() {
                "asn" => {
                    let digits = row.value.trim_start_matches("AS").trim_start_matches("as");
                    let asn: u32 = digits
                        .parse()
                        .map_err(|_| (line, format!("{:?} is not an AS number", row.value)))?;
                    networks.by_asn.insert(asn, Arc::clone(&provider));
                }
                "prefix" => {
                    let net: IpNet = row
                        .value
                        .parse()
                        .map_err(|_| (line, format!("{:?} is not a CIDR prefix", row.value)))?;
                    let net = net.trunc();
                    match net {
                        IpNet::V4(net) => {
                            v4.entry(net.prefix_len())
                                .or_default()
                                .insert(u32::from(net.network()), Arc::clone(&provider));
                        }
                        IpNet::V6(net) => {
                            v6.entry(net.prefix_len())
                                .or_default()
                                .insert(u128::from(net.network()), Arc::clone(&provider));
                        }
                    }
                }
                "cname" => {
                    let suffix = row
                        .value
                        .trim_start_matches("*.")
                        .trim_matches('.')
                        .to_ascii_lowercase();
                    if suffix.is_empty() || !suffix.contains('.') {
                        return Err((line, format!("{:?} is too broad a suffix", row.value)));
                    }
                    networks
                        .by_cname_suffix
                        .insert(suffix, Arc::clone(&provider));
                }
                other => {
                    return Err((
                        line,
                        format!("match must be asn, prefix or cname, not {other:?}"),
                    ));
                }
            }
            networks.providers.insert(provider);
            networks.rows += 1;
        }
        networks.by_prefix_v4 = v4.into_iter().collect();
        networks
            .by_prefix_v4
            .sort_by_key(|table| std::cmp::Reverse(table.0));
        networks.by_prefix_v6 = v6.into_iter().collect();
        networks
            .by_prefix_v6
            .sort_by_key(|table| std::cmp::Reverse(table.0));
        Ok(networks)
    }

    /// Number of rows loaded.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no provider is listed.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Number of distinct providers.
    pub fn provider_count(&self) -> usize {
        self.providers.len()
    }

    /// The provider whose AS number this is.
    pub fn provider_for_asn(&self, asn: u32) -> Option<&str> {
        self.by_asn.get(&asn).map(|p| &**p)
    }

    /// The provider of the longest listed prefix containing `ip`.
    pub fn provider_for_ip(&self, ip: IpAddr) -> Option<&str> {
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                self.by_prefix_v4.iter().find_map(|(len, table)| {
                    let mask = if *len == 0 { 0 } else { u32::MAX << (32 - len) };
                    table.get(&(bits & mask)).map(|p| &**p)
                })
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                self.by_prefix_v6.iter().find_map(|(len, table)| {
                    let mask = if *len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - len)
                    };
                    table.get(&(bits & mask)).map(|p| &**p)
                })
            }
        }
    }

    /// The provider whose listed suffix `name` ends in, on a label boundary.
    pub fn provider_for_name(&self, name: &str) -> Option<&str> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut rest = name.as_str();
        loop {
            if let Some(provider) = self.by_cname_suffix.get(rest) {
                return Some(provider);
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return None,
            }
        }
    }

    /// Which provider, if any, an address belongs to and how that was established.
    pub fn classify(&self, ip: IpAddr, asn: Option<u32>) -> Option<(String, CdnMatch)> {
        if let Some(provider) = self.provider_for_ip(ip) {
            return Some((provider.to_owned(), CdnMatch::Prefix));
        }
        asn.and_then(|asn| self.provider_for_asn(asn))
            .map(|provider| (provider.to_owned(), CdnMatch::Asn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# comment line
provider,match,value,source
Cloudflare,asn,13335,x
Cloudflare,prefix,104.16.0.0/13,x
Cloudflare,prefix,2606:4700::/32,x
Small,prefix,104.16.1.0/24,x
Akamai,cname,edgekey.net,x
Cloudflare,cname,*.cdn.cloudflare.net,x
";

    #[test]
    fn matching_by_asn_prefix_and_name() {
        let networks = CdnNetworks::parse(SAMPLE).unwrap();
        assert_eq!(networks.len(), 6);
        assert_eq!(networks.provider_count(), 3);
        for (ip, expected) in [
            ("104.16.0.1", Some("Cloudflare")),
            ("104.23.255.255", Some("Cloudflare")),
            ("104.24.0.0", None),
            ("104.16.1.9", Some("Small")),
            ("2606:4700::1111", Some("Cloudflare")),
            ("2606:4701::1", None),
            ("95.211.0.1", None),
        ] {
            assert_eq!(
                networks.provider_for_ip(ip.parse().unwrap()),
                expected,
                "{ip}"
            );
        }
        assert_eq!(networks.provider_for_asn(13335), Some("Cloudflare"));
        assert_eq!(networks.provider_for_asn(60781), None);
        for (name, expected) in [
            ("e123.a.edgekey.net", Some("Akamai")),
            ("edgekey.net.", Some("Akamai")),
            ("EXAMPLE.EDGEKEY.NET", Some("Akamai")),
            ("notedgekey.net", None),
            ("www.example.nl.cdn.cloudflare.net", Some("Cloudflare")),
            ("cloudflare.net", None),
        ] {
            assert_eq!(networks.provider_for_name(name), expected, "{name}");
        }
    }

    #[test]
    fn bad_rows_name_their_line() {
        for (text, line, fragment) in [
            ("provider,match,value\nX,asn,AS-x\n", 2, "not an AS number"),
            ("provider,match,value\nX,prefix,1.2.3/33\n", 2, "not a CIDR"),
            ("provider,match,value\nX,cname,net\n", 2, "too broad"),
            (
                "provider,match,value\nX,port,80\n",
                2,
                "asn, prefix or cname",
            ),
            ("provider,match,value\n,asn,1\n", 2, "provider is empty"),
        ] {
            let (got_line, problem) = CdnNetworks::parse(text).unwrap_err();
            assert_eq!(got_line, line, "{text}");
            assert!(problem.contains(fragment), "{problem}");
        }
    }
}
