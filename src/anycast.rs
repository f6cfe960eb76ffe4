//! Anycast: the list of known anycast networks (`data/anycast.csv`), and which one an address
//! is in.
//!
//! An anycast address is announced from many places at once (public DNS resolvers, the DNS
//! root servers), so a GeoIP database's country for it says nothing about where anything is
//! served from: the bundled data puts Google Public DNS's IPv6 address in CA and the K root
//! server in NL, which would make a misleading `foreign`, `partly_domestic` or even
//! `domestic`. The pipeline sets such an address aside like a CDN address, marked
//! `cdn_match: "anycast"`, with the operator and service as its `cdn`.
//!
//! Owns [`AnycastNetworks`] (parsing the list, longest-prefix lookup). Must not: decide
//! verdicts (verdict.rs words the reason), or do I/O at lookup time.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;

use crate::data_csv::{self, DataFileError};

/// One anycast network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnycastNetwork {
    /// The network (a single address is a /32 or /128).
    pub network: IpNet,
    /// Who runs it, to ask where something is served from: "RIPE NCC".
    pub operator: String,
    /// What it is: "K root server", "Google Public DNS".
    pub service: String,
}

impl AnycastNetwork {
    /// How the address is named in a result's `cdn`: "RIPE NCC (K root server)".
    pub fn name(&self) -> String {
        format!("{} ({})", self.operator, self.service)
    }
}

/// The known anycast networks, most specific first.
#[derive(Debug, Clone, Default)]
pub struct AnycastNetworks {
    networks: Vec<AnycastNetwork>,
}

#[derive(Debug, Deserialize)]
struct Row {
    network: String,
    operator: String,
    service: String,
}

impl AnycastNetworks {
    /// Reads an anycast list.
    ///
    /// # Errors
    ///
    /// [`DataFileError`] naming the file and, for a bad row, the line.
    pub fn load(path: &Path) -> Result<AnycastNetworks, DataFileError> {
        data_csv::load("anycast", path, AnycastNetworks::parse)
    }

    /// Parses the text of an anycast list; an error is the line and what is wrong.
    fn parse(text: &str) -> Result<AnycastNetworks, (u64, String)> {
        let mut networks = Vec::new();
        for (line, row) in data_csv::rows::<Row>(text)? {
            let network = match row.network.parse::<IpNet>() {
                Ok(network) => network.trunc(),
                Err(_) => match row.network.parse::<IpAddr>() {
                    Ok(address) => IpNet::from(address),
                    Err(_) => {
                        return Err((
                            line,
                            format!("{:?} is not a network (CIDR) or an address", row.network),
                        ));
                    }
                },
            };
            if row.operator.is_empty() || row.service.is_empty() {
                return Err((
                    line,
                    "the operator and the service must be named".to_owned(),
                ));
            }
            networks.push(AnycastNetwork {
                network,
                operator: row.operator,
                service: row.service,
            });
        }
        // Longest prefix first, so that the first network holding an address is its best.
        networks.sort_by_key(|entry| std::cmp::Reverse(entry.network.prefix_len()));
        Ok(AnycastNetworks { networks })
    }

    /// The most specific anycast network holding `ip`, if any.
    pub fn find(&self, ip: IpAddr) -> Option<&AnycastNetwork> {
        self.networks
            .iter()
            .find(|entry| entry.network.contains(&ip))
    }

    /// Networks in the list.
    pub fn len(&self) -> usize {
        self.networks.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> AnycastNetworks {
        AnycastNetworks::parse(text).unwrap()
    }

    #[test]
    fn addresses_are_found_in_the_most_specific_network() {
        let networks = list(
            "network,operator,service,source\n\
             # a comment\n\
             8.8.0.0/16, Example, Wide, x\n\
             8.8.8.0/24,Google,Google Public DNS,y\n\
             2001:4860:4860::/48,Google,Google Public DNS,y\n\
             193.0.14.129,RIPE NCC,K root server,z\n",
        );
        assert_eq!(networks.len(), 4);
        let find = |ip: &str| networks.find(ip.parse().unwrap()).map(AnycastNetwork::name);
        assert_eq!(
            find("8.8.8.8").as_deref(),
            Some("Google (Google Public DNS)")
        );
        assert_eq!(find("8.8.9.9").as_deref(), Some("Example (Wide)"));
        assert_eq!(
            find("2001:4860:4860::8888").as_deref(),
            Some("Google (Google Public DNS)")
        );
        assert_eq!(
            find("193.0.14.129").as_deref(),
            Some("RIPE NCC (K root server)")
        );
        assert_eq!(find("193.0.14.130"), None);
        assert_eq!(find("95.211.0.1"), None);
    }

    #[test]
    fn bad_rows_name_their_line() {
        for (text, line, fragment) in [
            (
                "network,operator,service\n1.2.3/33,X,Y\n",
                2,
                "not a network",
            ),
            ("network,operator,service\n1.2.3.4,,Y\n", 2, "must be named"),
            ("network,operator\n1.2.3.4,X\n", 2, "service"),
        ] {
            let (got_line, problem) = AnycastNetworks::parse(text).unwrap_err();
            assert_eq!(got_line, line, "{text:?}: {problem}");
            assert!(problem.contains(fragment), "{text:?}: {problem}");
        }
    }
}
