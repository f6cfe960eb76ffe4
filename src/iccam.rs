//! ICCAM: a result seen as the hosting fields of an ICCAM report.
//!
//! INHOPE's ICCAM platform takes, for each reported URL, where it is hosted:
//! `hostingCountryCode`, `hostingIpAddress`, `hostingIsp` and `hostingOrganization
//! {autonomousSystemNumber, organizationName, isContentDeliveryNetwork}`. This module owns the
//! mapping from a result to those fields: which of its addresses stands for the hosting
//! ([`hosting_address`]), the `iccam` block made from it ([`hosting`]), and the ICCAM view of a
//! whole result that `hostloc batch --format iccam` (`--output-format iccam`) writes ([`IccamRecord`],
//! [`CSV_HEADERS`]). Everything comes from the result as the pipeline built it; nothing here
//! looks anything up. `docs/iccam.md` documents the mapping field by field.

use serde::Serialize;

use crate::report::{AddressReport, IccamHosting, IccamOrganization, Report};
use crate::verdict::Verdict;

/// The address whose facts fill the `iccam` block: the first, in DNS order, of
///
/// 1. the public, non-CDN addresses located in the jurisdiction (`domestic`,
///    `partly_domestic`: the hosting the referral is about);
/// 2. the public, non-CDN addresses with a country (`foreign`: the first hosting abroad);
/// 3. the public, non-CDN addresses (`unknown`: no country to give);
/// 4. the public addresses (`behind_cdn`: the CDN's edge, marked as a CDN).
///
/// `None` when no address is public (`invalid`, `unresolved`, `not_public`).
pub fn hosting_address<'a>(
    jurisdiction: &str,
    addresses: &'a [AddressReport],
) -> Option<&'a AddressReport> {
    let public = || addresses.iter().filter(|a| a.public);
    let origin = || public().filter(|a| a.cdn.is_none());
    origin()
        .find(|a| a.country.as_deref() == Some(jurisdiction))
        .or_else(|| origin().find(|a| a.country.is_some()))
        .or_else(|| origin().next())
        .or_else(|| public().next())
}

/// The `iccam` block for a result's addresses, from [`hosting_address`]; `None` when no address
/// is public.
pub fn hosting(jurisdiction: &str, addresses: &[AddressReport]) -> Option<IccamHosting> {
    let address = hosting_address(jurisdiction, addresses)?;
    Some(IccamHosting {
        hosting_country_code: address.country.clone(),
        hosting_ip_address: crate::geoip::address_text(address.ip, 0),
        hosting_isp: address.as_org.clone(),
        hosting_organization: IccamOrganization {
            autonomous_system_number: address.asn,
            organization_name: address.as_org.clone(),
            is_content_delivery_network: address.cdn.is_some(),
        },
    })
}

/// A result as `hostloc batch --output-format iccam` writes it in JSON: what was reported, the
/// URL ICCAM should get (`urlString`, the normalised URL), the verdict, and the `iccam` block.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IccamRecord<'a> {
    /// The report text exactly as received (`input` of the result).
    pub input: &'a str,
    /// The normalised URL (`url` of the result); null when invalid.
    pub url_string: Option<&'a str>,
    /// The verdict, so that a record is never read without it.
    pub verdict: Verdict,
    /// The `iccam` block of the result.
    pub iccam: Option<&'a IccamHosting>,
}

impl<'a> IccamRecord<'a> {
    /// The ICCAM view of `report`.
    pub fn of(report: &'a Report) -> IccamRecord<'a> {
        IccamRecord {
            input: &report.input,
            url_string: report.url.as_deref(),
            verdict: report.verdict,
            iccam: report.iccam.as_ref(),
        }
    }
}

/// The CSV result columns of `--output-format iccam`, in order: the verdict, the URL, and the
/// `iccam` block flattened with `.` between an object and its field.
pub const CSV_HEADERS: [&str; 8] = [
    "verdict",
    "urlString",
    "hostingCountryCode",
    "hostingIpAddress",
    "hostingIsp",
    "hostingOrganization.autonomousSystemNumber",
    "hostingOrganization.organizationName",
    "hostingOrganization.isContentDeliveryNetwork",
];

/// The cells of [`CSV_HEADERS`] for `report`; an unknown value (and every field of a null
/// block) is an empty cell.
pub fn csv_columns(report: &Report) -> [String; 8] {
    let hosting = report.iccam.as_ref();
    let organization = hosting.map(|h| &h.hosting_organization);
    [
        report.verdict.as_str().to_owned(),
        report.url.clone().unwrap_or_default(),
        hosting
            .and_then(|h| h.hosting_country_code.clone())
            .unwrap_or_default(),
        hosting
            .map(|h| h.hosting_ip_address.clone())
            .unwrap_or_default(),
        hosting
            .and_then(|h| h.hosting_isp.clone())
            .unwrap_or_default(),
        organization
            .and_then(|o| o.autonomous_system_number)
            .map(|asn| asn.to_string())
            .unwrap_or_default(),
        organization
            .and_then(|o| o.organization_name.clone())
            .unwrap_or_default(),
        organization
            .map(|o| o.is_content_delivery_network.to_string())
            .unwrap_or_default(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(ip: &str, country: Option<&str>, cdn: bool) -> AddressReport {
        let ip_addr: std::net::IpAddr = ip.parse().unwrap();
        let purpose = crate::special_purpose::non_public_purpose(ip_addr);
        AddressReport {
            public: purpose.is_none(),
            special_purpose: purpose.map(str::to_owned),
            country: country.map(str::to_owned),
            asn: Some(64_500),
            as_org: Some(format!("org of {ip}")),
            cdn: cdn.then(|| "Cloudflare".to_owned()),
            ..AddressReport::unknown(ip_addr)
        }
    }

    /// One row: addresses as (ip, country, cdn) and the address that must be chosen.
    fn check(addresses: &[(&str, Option<&str>, bool)], chosen: Option<&str>) {
        let addresses: Vec<AddressReport> = addresses
            .iter()
            .map(|&(ip, country, cdn)| address(ip, country, cdn))
            .collect();
        assert_eq!(
            hosting_address("NL", &addresses).map(|a| a.ip.to_string()),
            chosen.map(str::to_owned),
            "{addresses:?}"
        );
    }

    #[test]
    fn the_chosen_address_follows_the_verdict() {
        let (nl, de, us) = (Some("NL"), Some("DE"), Some("US"));
        // domestic, with a CDN address and a non-public one first in DNS order
        check(
            &[
                ("10.0.0.1", nl, false),
                ("104.16.0.1", nl, true),
                ("95.211.0.1", nl, false),
            ],
            Some("95.211.0.1"),
        );
        // partly domestic: the address in the jurisdiction, even when it comes later
        check(
            &[("8.8.8.8", us, false), ("95.211.0.1", nl, false)],
            Some("95.211.0.1"),
        );
        // foreign: the first address with a country
        check(
            &[
                ("5.5.5.5", None, false),
                ("46.4.0.1", de, false),
                ("8.8.8.8", us, false),
            ],
            Some("46.4.0.1"),
        );
        // unknown: the first public, non-CDN address, without a country
        check(
            &[("104.16.0.1", us, true), ("5.5.5.5", None, false)],
            Some("5.5.5.5"),
        );
        // behind a CDN: the first CDN address
        check(
            &[("104.16.0.1", us, true), ("104.16.0.2", us, true)],
            Some("104.16.0.1"),
        );
        // nothing public
        check(&[("10.0.0.1", nl, false)], None);
        check(&[], None);
    }

    #[test]
    fn the_block_is_made_of_the_chosen_address() {
        let addresses = [address("104.16.0.1", Some("US"), true)];
        let block = hosting("NL", &addresses).unwrap();
        assert_eq!(
            serde_json::to_value(&block).unwrap(),
            serde_json::json!({
                "hostingCountryCode": "US",
                "hostingIpAddress": "104.16.0.1",
                "hostingIsp": "org of 104.16.0.1",
                "hostingOrganization": {
                    "autonomousSystemNumber": 64500,
                    "organizationName": "org of 104.16.0.1",
                    "isContentDeliveryNetwork": true
                }
            })
        );
    }
}
