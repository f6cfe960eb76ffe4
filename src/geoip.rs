//! GeoIP: the country and ASN databases, and what they say about one address.
//!
//! Owns loading `.mmdb` files **into memory** (`Reader::from_source`; the crate's mmap reader is
//! unsound when a file is rewritten under it, which is exactly what `geoipupdate` does), telling
//! which roles a file can serve from its metadata and records, and decoding a record of any
//! supported layout into [`IpFacts`]:
//!
//! | layout | country fields | ASN fields |
//! |---|---|---|
//! | MaxMind GeoIP2/GeoLite2 Country, City, Enterprise; DB-IP (GeoIP2 layout) | `country.iso_code`, `registered_country.iso_code`, `traits.is_anycast` | Enterprise: `traits.autonomous_system_number`, `traits.autonomous_system_organization` |
//! | GeoLite2-ASN, GeoIP2-ISP | — | `autonomous_system_number`, `autonomous_system_organization` (ISP: also `isp`, `organization`) |
//! | IPinfo Lite | `country_code` (`country` is a name) | `asn` as `"AS123"`, `as_name` |
//! | ip-location-db (the bundled country file) | `country_code` | — |
//!
//! A missing record or field is `None` ("unknown"), never an error and never a default.
//! This module does no network I/O and knows nothing about verdicts.
//!
//! # Several country sources
//!
//! [`GeoDb`] holds one or more country databases, each under a source name derived from its
//! file name ([`source_name`]). Every source is asked about every address and its answer kept
//! in [`IpFacts::country_sources`]; the first source is the *primary*: its record fills
//! `country`, `registered_country` and `network`, unless it has no country for the address,
//! in which case the first other source that has one does. What a disagreement means for the
//! verdict is decided in `verdict.rs`, not here.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use maxminddb::{Reader, WithinOptions};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// What one database file is used for in a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseRole {
    /// Geolocation: `country` and `registered_country`.
    Country,
    /// Routing: `asn` and `as_org`.
    Asn,
}

impl fmt::Display for DatabaseRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatabaseRole::Country => "country",
            DatabaseRole::Asn => "asn",
        })
    }
}

/// Evidence about one database: which file, what it is, when it was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DatabaseInfo {
    /// `country` or `asn`.
    pub role: DatabaseRole,
    /// The `database_type` from the file's metadata, e.g. `GeoLite2-Country`.
    #[serde(rename = "type")]
    pub database_type: String,
    /// Build time from the metadata, RFC 3339 UTC.
    pub built: Option<String>,
    /// The file name (not the directory: operators' paths stay private).
    pub file: String,
    /// The name the database goes by: the key of its answers in an address's
    /// `country_sources` (see [`source_name`]).
    pub source: String,
    /// Whether this is the primary country source, the one that fills an address's `country`.
    pub primary: bool,
    /// SHA-256 of the file as loaded, so a result can be tied to the exact data.
    pub sha256: String,
}

/// The evidence of every database of one set, in the order results name them (country sources,
/// the primary first, then the ASN database), together with its JSON, written once when the set
/// is made: every result of the set carries the same `databases` array, so it is shared (one
/// `Arc`) and its bytes are spliced into each result's JSON rather than serialised again
/// (about 0.5 kB of escaped strings per result).
///
/// Reads as the slice of [`DatabaseInfo`] (`Deref`); serialises as exactly the bytes
/// `serde_json` writes for that slice (the golden test holds every front end to them).
#[derive(Clone)]
pub struct DatabaseInfos(Arc<SerialisedInfos>);

struct SerialisedInfos {
    infos: Box<[DatabaseInfo]>,
    /// `infos` as compact JSON; `None` only should serialising fail (it does not), in which
    /// case `infos` is serialised per result as before.
    json: Option<Box<serde_json::value::RawValue>>,
}

impl DatabaseInfos {
    /// The evidence of `infos`, serialised once.
    pub fn new(infos: Vec<DatabaseInfo>) -> DatabaseInfos {
        let json = serde_json::value::to_raw_value(&infos).ok();
        DatabaseInfos(Arc::new(SerialisedInfos {
            infos: infos.into(),
            json,
        }))
    }
}

impl std::ops::Deref for DatabaseInfos {
    type Target = [DatabaseInfo];

    fn deref(&self) -> &[DatabaseInfo] {
        &self.0.infos
    }
}

impl fmt::Debug for DatabaseInfos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for DatabaseInfos {
    fn eq(&self, other: &DatabaseInfos) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || **self == **other
    }
}

impl Eq for DatabaseInfos {}

impl Serialize for DatabaseInfos {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0.json {
            Some(json) => json.serialize(serializer),
            None => self.0.infos.serialize(serializer),
        }
    }
}

/// Why a database could not be used. Names the file, so the operator knows what to fix.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GeoDbError {
    /// The file could not be read.
    #[error("cannot read the {role} database {path}")]
    Read {
        /// Role it was meant for.
        role: DatabaseRole,
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The file is not a valid MaxMind DB.
    #[error("the {role} database {path} is not a valid MaxMind DB file")]
    Invalid {
        /// Role it was meant for.
        role: DatabaseRole,
        /// The path as given.
        path: PathBuf,
        /// What the reader found wrong.
        #[source]
        source: Arc<maxminddb::MaxMindDbError>,
    },
    /// The file is valid but carries no data for its role (e.g. an ASN file given as the
    /// country database).
    #[error(
        "the {role} database {path} ({database_type}) has no {role} data; \
         is it the right file for --{role}-db?"
    )]
    WrongRole {
        /// Role it was meant for.
        role: DatabaseRole,
        /// The path as given.
        path: PathBuf,
        /// The file's `database_type`.
        database_type: String,
    },
}

impl GeoDbError {
    /// A stable short name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            GeoDbError::Read { .. } => "read",
            GeoDbError::Invalid { .. } => "invalid",
            GeoDbError::WrongRole { .. } => "wrong_role",
        }
    }
}

/// Which kinds of data a database was found to hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Has country codes.
    pub country: bool,
    /// Has AS numbers.
    pub asn: bool,
}

/// One database file held in memory.
pub struct Database {
    reader: Reader<Vec<u8>>,
    info_type: String,
    built: Option<SystemTime>,
    file: String,
    sha256: String,
    capabilities: Capabilities,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("type", &self.info_type)
            .field("file", &self.file)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Reads a whole `.mmdb` file into memory and checks it can serve `role`.
    ///
    /// # Errors
    ///
    /// [`GeoDbError`] when the file cannot be read, is not a MaxMind DB, or has no data for
    /// `role`.
    pub fn open(path: &Path, role: DatabaseRole) -> Result<Database, GeoDbError> {
        let bytes = std::fs::read(path).map_err(|source| GeoDbError::Read {
            role,
            path: path.to_owned(),
            source: Arc::new(source),
        })?;
        let file = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let database = Database::from_bytes(bytes, file).map_err(|source| GeoDbError::Invalid {
            role,
            path: path.to_owned(),
            source: Arc::new(source),
        })?;
        let serves = match role {
            DatabaseRole::Country => database.capabilities.country,
            DatabaseRole::Asn => database.capabilities.asn,
        };
        if !serves {
            return Err(GeoDbError::WrongRole {
                role,
                path: path.to_owned(),
                database_type: database.info_type.clone(),
            });
        }
        Ok(database)
    }

    /// Builds a database from bytes already in memory; `file` names it in the evidence.
    ///
    /// # Errors
    ///
    /// The reader's error when the bytes are not a valid MaxMind DB.
    pub fn from_bytes(bytes: Vec<u8>, file: String) -> Result<Database, maxminddb::MaxMindDbError> {
        let sha256 = sha256_hex(&bytes);
        let reader = Reader::from_source(bytes)?;
        let metadata = reader.metadata();
        let info_type = metadata.database_type.clone();
        let built = metadata.build_time().ok();
        let capabilities = detect_capabilities(&reader);
        Ok(Database {
            reader,
            info_type,
            built,
            file,
            sha256,
            capabilities,
        })
    }

    /// What the database holds.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// The `database_type` from the metadata, e.g. `GeoLite2-Country`.
    pub fn database_type(&self) -> &str {
        &self.info_type
    }

    /// The metadata's build time.
    pub fn built(&self) -> Option<SystemTime> {
        self.built
    }

    /// The file name it was loaded from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Evidence about the database on its own: named after its file, not marked primary.
    /// [`GeoDb::infos`] gives each database its name and place in a set.
    pub fn info(&self, role: DatabaseRole) -> DatabaseInfo {
        self.info_as(role, &source_name(&self.file, &[]), false)
    }

    /// Evidence for the result's `databases` list, under the source name `source`.
    fn info_as(&self, role: DatabaseRole, source: &str, primary: bool) -> DatabaseInfo {
        DatabaseInfo {
            role,
            database_type: self.info_type.clone(),
            built: self.built.map(crate::report::rfc3339),
            file: self.file.clone(),
            source: source.to_owned(),
            primary,
            sha256: self.sha256.clone(),
        }
    }

    /// What the record for `ip` says and the network it was found in. `Ok(None)` when the
    /// database has no data for the address.
    fn record(&self, ip: IpAddr) -> Result<Option<(Found, Network)>, maxminddb::MaxMindDbError> {
        let found = self.reader.lookup(ip)?;
        if !found.has_data() {
            return Ok(None);
        }
        let network = found.network()?;
        let network = Network {
            ip: network.ip(),
            prefix: network.prefix(),
        };
        Ok(found
            .decode::<RawRecord>()?
            .map(|record| (record.found(), network)))
    }
}

/// Looks at the metadata type and a sample of records to learn whether a file carries country
/// data, ASN data, or both. Records decide; the type name only fills in for an empty file.
fn detect_capabilities(reader: &Reader<Vec<u8>>) -> Capabilities {
    let mut capabilities = Capabilities::default();
    if let Ok(networks) = reader.networks(WithinOptions::default()) {
        for item in networks.take(4096) {
            let Ok(item) = item else { continue };
            if let Ok(Some(record)) = item.decode::<RawRecord>() {
                let facts = record.found();
                capabilities.country |=
                    facts.country.is_some() || facts.registered_country.is_some();
                capabilities.asn |= facts.asn.is_some();
            }
            if capabilities.country && capabilities.asn {
                break;
            }
        }
    }
    if !capabilities.country && !capabilities.asn {
        let kind = reader.metadata().database_type.to_ascii_lowercase();
        capabilities.country = ["country", "city", "enterprise", "location"]
            .iter()
            .any(|word| kind.contains(word));
        capabilities.asn = ["asn", "isp"].iter().any(|word| kind.contains(word));
    }
    capabilities
}

/// What the databases say about one address. Every field is `None` when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpFacts {
    /// ISO 3166-1 alpha-2 of where the address is located: the primary source's answer, or
    /// when it has none, the first other source's that has one.
    pub country: Option<String>,
    /// ISO 3166-1 alpha-2 of where the block is registered (from the same record as `country`).
    pub registered_country: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub as_org: Option<String>,
    /// The network that matched in the record `country` came from, CIDR.
    pub network: Option<String>,
    /// The ASN database's network that matched, CIDR.
    pub as_network: Option<String>,
    /// `traits.is_anycast` (MaxMind) in any source: the address is announced from many places.
    pub is_anycast: bool,
    /// Every country source's answer, in source order (the primary first).
    pub country_sources: CountrySources,
    /// Lookup problems worth telling the analyst (a damaged record, say).
    pub warnings: Vec<String>,
}

/// One country source's answer about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAnswer {
    /// The source's name (see [`source_name`]).
    pub source: Arc<str>,
    /// The country it gives, ISO 3166-1 alpha-2; `None` when it has no data.
    pub country: Option<String>,
}

/// Each country source's answer about one address, in source order (the primary first).
/// Serialised as a JSON object `{"source name": "NL" or null, ...}` in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountrySources(pub Vec<SourceAnswer>);

impl CountrySources {
    /// The answers, in source order.
    pub fn iter(&self) -> impl Iterator<Item = &SourceAnswer> {
        self.0.iter()
    }

    /// Whether no source was asked (a non-public address).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The answers that name a country, in source order.
    pub fn countries(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|answer| answer.country.as_deref())
    }
}

impl Serialize for CountrySources {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for answer in &self.0 {
            map.serialize_entry(&*answer.source, &answer.country)?;
        }
        map.end()
    }
}

/// A country database and the name its answers go by.
#[derive(Debug, Clone)]
struct CountrySource {
    name: Arc<str>,
    database: Arc<Database>,
}

/// The name a country source goes by in `country_sources` and `databases`: its file name
/// without the `.mmdb` extension (`dbip-country.mmdb` → `dbip-country`,
/// `/var/lib/GeoIP/GeoLite2-Country.mmdb` → `GeoLite2-Country`). When two sources would get the
/// same name, the later ones get `-2`, `-3`, … in the order they were given.
///
/// ```
/// use hostloc::geoip::source_name;
///
/// assert_eq!(source_name("GeoLite2-Country.mmdb", &[]), "GeoLite2-Country");
/// assert_eq!(source_name("dbip-country.MMDB", &["x"]), "dbip-country");
/// assert_eq!(source_name("country.mmdb", &["country"]), "country-2");
/// assert_eq!(source_name("country.mmdb", &["country", "country-2"]), "country-3");
/// ```
pub fn source_name(file: &str, taken: &[&str]) -> String {
    let stem = match file.len().checked_sub(".mmdb".len()) {
        Some(cut)
            if file.is_char_boundary(cut)
                && file[cut..].eq_ignore_ascii_case(".mmdb")
                && cut > 0 =>
        {
            &file[..cut]
        }
        _ => file,
    };
    let mut name = stem.to_owned();
    let mut number = 1;
    while taken.contains(&name.as_str()) {
        number += 1;
        name = format!("{stem}-{number}");
    }
    name
}

/// The country databases (one or more) and the ASN database used together. One file may serve
/// both roles.
#[derive(Debug, Clone)]
pub struct GeoDb {
    /// Never empty; the first is the primary.
    countries: Vec<CountrySource>,
    asn: Arc<Database>,
    /// The evidence of every database, in the order of [`GeoDb::infos`]: made once, and
    /// shared by every result rather than copied into each.
    infos: DatabaseInfos,
}

impl GeoDb {
    /// Opens one country database and the ASN database; when both paths are the same file it
    /// is read once. More country sources are added with [`GeoDb::add_country_source`].
    ///
    /// ```
    /// # let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
    /// #     .join("tests/fixtures/maxmind/test-data");
    /// # let country_path = fixtures.join("GeoIP2-Country-Test.mmdb");
    /// # let asn_path = fixtures.join("GeoLite2-ASN-Test.mmdb");
    /// use hostloc::geoip::GeoDb;
    ///
    /// // e.g. /var/lib/GeoIP/GeoLite2-Country.mmdb and GeoLite2-ASN.mmdb
    /// let geo = GeoDb::open(&country_path, &asn_path)?;
    /// let facts = geo.locate("81.2.69.142".parse().unwrap());
    /// assert_eq!(facts.country.as_deref(), Some("GB"));
    /// let facts = geo.locate("1.128.0.1".parse().unwrap());
    /// assert_eq!(facts.asn, Some(1221));
    /// assert_eq!(facts.as_org.as_deref(), Some("Telstra Pty Ltd"));
    /// # Ok::<(), hostloc::geoip::GeoDbError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`GeoDbError`] naming the file that could not be used.
    pub fn open(country_path: &Path, asn_path: &Path) -> Result<GeoDb, GeoDbError> {
        let country = Arc::new(Database::open(country_path, DatabaseRole::Country)?);
        let same_file = match (country_path.canonicalize(), asn_path.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => country_path == asn_path,
        };
        let asn = if same_file {
            if !country.capabilities.asn {
                return Err(GeoDbError::WrongRole {
                    role: DatabaseRole::Asn,
                    path: asn_path.to_owned(),
                    database_type: country.info_type.clone(),
                });
            }
            Arc::clone(&country)
        } else {
            Arc::new(Database::open(asn_path, DatabaseRole::Asn)?)
        };
        Ok(GeoDb::from_databases(country, asn))
    }

    /// Builds a set from databases already opened (tests, benchmarks, reloads).
    pub fn from_databases(country: Arc<Database>, asn: Arc<Database>) -> GeoDb {
        let name = source_name(&country.file, &[]);
        let mut geo = GeoDb {
            countries: vec![CountrySource {
                name: name.into(),
                database: country,
            }],
            asn,
            infos: DatabaseInfos::new(Vec::new()),
        };
        geo.infos = DatabaseInfos::new(geo.make_infos());
        geo
    }

    /// Opens another country database and asks it too, after the ones already there.
    ///
    /// # Errors
    ///
    /// [`GeoDbError`] naming the file when it cannot be read or has no country data.
    pub fn add_country_source(&mut self, path: &Path) -> Result<(), GeoDbError> {
        let database = Database::open(path, DatabaseRole::Country)?;
        self.add_country_database(Arc::new(database));
        Ok(())
    }

    /// Adds a country database already opened as another source (tests, benchmarks).
    pub fn add_country_database(&mut self, database: Arc<Database>) {
        let taken: Vec<&str> = self.countries.iter().map(|c| &*c.name).collect();
        let name = source_name(&database.file, &taken);
        self.countries.push(CountrySource {
            name: name.into(),
            database,
        });
        self.infos = DatabaseInfos::new(self.make_infos());
    }

    /// The names of the country sources, the primary first.
    pub fn country_source_names(&self) -> Vec<&str> {
        self.countries.iter().map(|c| &*c.name).collect()
    }

    /// Evidence for the result: the country sources in order (the primary first), then the ASN
    /// database. Shared: a result holds the set's evidence, not a copy of it.
    pub fn infos(&self) -> DatabaseInfos {
        self.infos.clone()
    }

    /// The oldest build time of the databases.
    pub fn oldest_build(&self) -> Option<SystemTime> {
        self.files().filter_map(|database| database.built).min()
    }

    /// Every database with its evidence, in the order of [`GeoDb::infos`] (for metrics and
    /// readiness).
    pub fn databases(&self) -> Vec<(DatabaseInfo, &Database)> {
        self.infos.iter().cloned().zip(self.files()).collect()
    }

    /// The databases in the order of [`GeoDb::infos`]: country sources, then ASN.
    fn files(&self) -> impl Iterator<Item = &Database> {
        self.countries
            .iter()
            .map(|source| &*source.database)
            .chain(std::iter::once(&*self.asn))
    }

    fn make_infos(&self) -> Vec<DatabaseInfo> {
        let mut infos: Vec<DatabaseInfo> = self
            .countries
            .iter()
            .enumerate()
            .map(|(index, source)| {
                source
                    .database
                    .info_as(DatabaseRole::Country, &source.name, index == 0)
            })
            .collect();
        let asn_name = source_name(&self.asn.file, &[]);
        infos.push(self.asn.info_as(DatabaseRole::Asn, &asn_name, false));
        infos
    }

    /// What the databases say about `ip`. IPv4-mapped IPv6 is looked up as IPv4 (callers pass
    /// the address through [`located_address`] first).
    pub fn locate(&self, ip: IpAddr) -> IpFacts {
        let mut facts = IpFacts::default();
        let mut answers = Vec::with_capacity(self.countries.len());
        // The primary's record, and the first other source's record that has a country.
        let mut primary = None;
        let mut fallback = None;
        for (index, source) in self.countries.iter().enumerate() {
            let found = match source.database.record(ip) {
                Ok(found) => found,
                Err(error) => {
                    facts.warnings.push(format!(
                        "the country database {} could not decode its record for {ip}: {error}",
                        source.name
                    ));
                    None
                }
            };
            answers.push(SourceAnswer {
                source: Arc::clone(&source.name),
                country: found.as_ref().and_then(|(found, _)| found.country.clone()),
            });
            facts.is_anycast |= found.as_ref().is_some_and(|(found, _)| found.is_anycast);
            if index == 0 {
                primary = found;
            } else if fallback.is_none() && found.as_ref().is_some_and(|(f, _)| f.country.is_some())
            {
                fallback = found;
            }
        }
        facts.country_sources = CountrySources(answers);
        // An Enterprise or IPinfo file given as the primary carries AS data too.
        if let Some((found, network)) = &mut primary
            && found.asn.is_some()
        {
            facts.asn = found.asn;
            facts.as_org = found.as_org.take();
            facts.as_network = Some(network.text());
        }
        // The record whose location is reported: the primary's, unless it has no country and
        // another source has one.
        let primary_has_country = primary.as_ref().is_some_and(|(f, _)| f.country.is_some());
        let chosen = if primary_has_country || fallback.is_none() {
            primary
        } else {
            fallback
        };
        if let Some((found, network)) = chosen {
            facts.country = found.country;
            facts.registered_country = found.registered_country;
            facts.network = Some(network.text());
        }
        if Arc::ptr_eq(&self.countries[0].database, &self.asn) {
            return facts;
        }
        match self.asn.record(ip) {
            Ok(Some((found, network))) => {
                // The ASN database is authoritative for routing; the country file's copy (an
                // Enterprise or IPinfo file) only fills in when the ASN file has nothing.
                if found.asn.is_some() {
                    facts.asn = found.asn;
                    facts.as_org = found.as_org.or(facts.as_org.take());
                    facts.as_network = Some(network.text());
                }
                facts.is_anycast |= found.is_anycast;
            }
            Ok(None) => {}
            Err(error) => facts.warnings.push(format!(
                "the ASN database could not decode its record for {ip}: {error}"
            )),
        }
        facts
    }
}

/// The address to look up in the databases: IPv4-mapped (`::ffff:a.b.c.d`) and NAT64
/// well-known-prefix (`64:ff9b::a.b.c.d`) IPv6 addresses carry an IPv4 address, and that is
/// the one that is routed and located.
pub fn located_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let segments = v6.segments();
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = v6.octets();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        IpAddr::V4(_) => ip,
    }
}

/// A record of any supported layout, decoded leniently: fields of an unexpected type are
/// skipped instead of failing the whole record. Strings borrow from the database's bytes
/// (`Text`); only what goes into the result is copied, by [`RawRecord::found`].
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRecord<'a> {
    #[serde(borrow)]
    country: Lenient<CountryField<'a>>,
    #[serde(borrow)]
    registered_country: Lenient<CountryField<'a>>,
    #[serde(borrow)]
    traits: Lenient<Traits<'a>>,
    #[serde(borrow)]
    country_code: Lenient<Text<'a>>,
    autonomous_system_number: Lenient<AsnField>,
    #[serde(borrow)]
    autonomous_system_organization: Lenient<Text<'a>>,
    asn: Lenient<AsnField>,
    #[serde(borrow)]
    as_name: Lenient<Text<'a>>,
    #[serde(borrow)]
    isp: Lenient<Text<'a>>,
    #[serde(borrow)]
    organization: Lenient<Text<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Traits<'a> {
    is_anycast: Lenient<bool>,
    autonomous_system_number: Lenient<AsnField>,
    #[serde(borrow)]
    autonomous_system_organization: Lenient<Text<'a>>,
    #[serde(borrow)]
    isp: Lenient<Text<'a>>,
    #[serde(borrow)]
    organization: Lenient<Text<'a>>,
}

/// A string field: borrowed from the database's bytes when the decoder allows (maxminddb
/// always does), owned otherwise.
type Text<'a> = Cow<'a, str>;

/// What one record says, owned: the part of [`IpFacts`] a single database fills.
#[derive(Debug)]
struct Found {
    country: Option<String>,
    registered_country: Option<String>,
    asn: Option<u32>,
    as_org: Option<String>,
    is_anycast: bool,
}

impl RawRecord<'_> {
    fn found(self) -> Found {
        let traits = self.traits.0.unwrap_or_default();
        let country = self
            .country
            .0
            .and_then(|c| c.iso_code)
            .or(self.country_code.0)
            .and_then(|code| normalise_country(&code));
        let registered_country = self
            .registered_country
            .0
            .and_then(|c| c.iso_code)
            .and_then(|code| normalise_country(&code));
        let asn = self
            .autonomous_system_number
            .0
            .or(self.asn.0)
            .or(traits.autonomous_system_number.0)
            .and_then(|field| field.0);
        // The organisation is copied only when it goes into the result (with an AS number).
        let as_org = asn.and_then(|_| {
            self.autonomous_system_organization
                .0
                .or(self.as_name.0)
                .or(traits.autonomous_system_organization.0)
                .or(self.organization.0)
                .or(self.isp.0)
                .or(traits.organization.0)
                .or(traits.isp.0)
                .filter(|org| !org.trim().is_empty())
                .map(Cow::into_owned)
        });
        Found {
            country,
            registered_country,
            asn,
            as_org,
            is_anycast: traits.is_anycast.0.unwrap_or(false),
        }
    }
}

/// Upper-case two-letter codes only; anything else (empty, `"--"`, `"ZZ"` for unknown) is
/// unknown rather than a made-up country.
fn normalise_country(code: &str) -> Option<String> {
    let code = code.trim();
    let valid = code.len() == 2
        && code.bytes().all(|b| b.is_ascii_alphabetic())
        && !code.eq_ignore_ascii_case("ZZ");
    valid.then(|| code.to_ascii_uppercase())
}

/// A field that decodes to `None` instead of failing when its value is not of the expected
/// type: a map or list where a string was expected is skipped, not an error for the record.
#[derive(Debug)]
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

/// The scalar value of a field, or `Other` for anything compound (which is skipped, not kept).
#[derive(Debug)]
enum Scalar<'a> {
    Text(Text<'a>),
    Unsigned(u64),
    Signed(i64),
    Bool(bool),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Owned(value.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Unsigned(value))
            }
            fn visit_u128<E: de::Error>(self, value: u128) -> Result<Scalar<'a>, E> {
                Ok(u64::try_from(value).map_or(Scalar::Other, Scalar::Unsigned))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Signed(value))
            }
            fn visit_i128<E: de::Error>(self, _value: i128) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_f64<E: de::Error>(self, _value: f64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Bool(value))
            }
            fn visit_bytes<E: de::Error>(self, _value: &[u8]) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Lenient<Text<'a>> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Lenient(match Scalar::deserialize(deserializer)? {
            Scalar::Text(text) => Some(text),
            _ => None,
        }))
    }
}

impl<'de> Deserialize<'de> for Lenient<bool> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Lenient(match Scalar::deserialize(deserializer)? {
            Scalar::Bool(value) => Some(value),
            _ => None,
        }))
    }
}

/// An AS number written as a number or as `"AS123"` / `"123"`; anything else is unknown.
impl<'de> Deserialize<'de> for Lenient<AsnField> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let asn = match Scalar::deserialize(deserializer)? {
            Scalar::Unsigned(value) => u32::try_from(value).ok(),
            Scalar::Signed(value) => u32::try_from(value).ok(),
            Scalar::Text(text) => {
                let text = text.trim();
                let digits = text
                    .strip_prefix("AS")
                    .or_else(|| text.strip_prefix("as"))
                    .unwrap_or(text);
                digits.parse().ok()
            }
            Scalar::Bool(_) | Scalar::Other => None,
        };
        Ok(Lenient(Some(AsnField(asn.filter(|&n| n != 0)))))
    }
}

/// A nested map (`traits`) that is skipped, not an error, when it is not a map.
impl<'de: 'a, 'a> Deserialize<'de> for Lenient<Traits<'a>> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Lenient(Traits::deserialize(deserializer).ok()))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Lenient<CountryField<'a>> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Lenient(Some(CountryField::deserialize(deserializer)?)))
    }
}

/// `country` is a map with `iso_code` (GeoIP2 layout) or a country name string (IPinfo Lite).
#[derive(Debug, Default)]
struct CountryField<'a> {
    iso_code: Option<Text<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for CountryField<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountryVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for CountryVisitor<'a> {
            type Value = CountryField<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a country map or a country name")
            }
            fn visit_str<E: de::Error>(self, _name: &str) -> Result<CountryField<'a>, E> {
                Ok(CountryField::default())
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<CountryField<'a>, A::Error> {
                let mut field = CountryField::default();
                while let Some(IsoCodeKey(is_iso_code)) = map.next_key()? {
                    if is_iso_code {
                        field.iso_code = map.next_value::<Lenient<Text<'a>>>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(field)
            }
            fn visit_u64<E: de::Error>(self, _value: u64) -> Result<CountryField<'a>, E> {
                Ok(CountryField::default())
            }
            fn visit_i64<E: de::Error>(self, _value: i64) -> Result<CountryField<'a>, E> {
                Ok(CountryField::default())
            }
            fn visit_f64<E: de::Error>(self, _value: f64) -> Result<CountryField<'a>, E> {
                Ok(CountryField::default())
            }
            fn visit_bool<E: de::Error>(self, _value: bool) -> Result<CountryField<'a>, E> {
                Ok(CountryField::default())
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CountryField<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(CountryField::default())
            }
        }
        deserializer.deserialize_any(CountryVisitor(PhantomData))
    }
}

/// A key of a `country` map: whether it is `iso_code`, told without copying it.
struct IsoCodeKey(bool);

impl<'de> Deserialize<'de> for IsoCodeKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = IsoCodeKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<IsoCodeKey, E> {
                Ok(IsoCodeKey(key == "iso_code"))
            }
            fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<IsoCodeKey, E> {
                Ok(IsoCodeKey(key == b"iso_code"))
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// The network a record was found in, formatted (as CIDR) only when it goes into the result.
#[derive(Debug, Clone, Copy)]
struct Network {
    ip: IpAddr,
    prefix: u8,
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

impl Network {
    /// The network in CIDR notation, written into room for the longest (`to_string` grows
    /// its text piece by piece: two or three reallocations).
    fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut text = address_text(self.ip, "/128".len());
        let _ = write!(text, "/{}", self.prefix);
        text
    }
}

/// An address as text (its `Display`), written into a string with room for the longest
/// address and `extra` bytes more, rather than grown piece by piece as `to_string` does.
pub fn address_text(ip: IpAddr, extra: usize) -> String {
    use std::fmt::Write as _;
    const LONGEST: usize = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".len();
    let mut text = String::with_capacity(LONGEST + extra);
    let _ = write!(text, "{ip}");
    text
}

/// An AS number, already validated (never 0).
#[derive(Debug)]
struct AsnField(Option<u32>);

/// Hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Seconds since the epoch, for metrics.
pub fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_and_nat64_addresses_are_located_as_ipv4() {
        for (given, located) in [
            ("::ffff:95.211.0.1", "95.211.0.1"),
            ("64:ff9b::95.211.0.1", "95.211.0.1"),
            ("2001:db8::1", "2001:db8::1"),
            ("95.211.0.1", "95.211.0.1"),
        ] {
            let given: IpAddr = given.parse().unwrap();
            assert_eq!(located_address(given).to_string(), located);
        }
    }

    /// A database whose records have fields of unexpected types, as a foreign or damaged file
    /// might: each odd field is unknown, the rest of the record still counts.
    #[test]
    fn odd_field_types_are_skipped_not_fatal() {
        use mmdb_writer::{Value, Writer};
        let mut writer = Writer::new("Odd-Test");
        let odd = [
            (
                "1.0.0.0/24",
                Value::map([
                    ("country", Value::from(5_u32)),
                    ("country_code", Value::from("nl")),
                    ("traits", Value::from("not a map")),
                    ("autonomous_system_number", Value::from("AS64500")),
                    ("as_name", Value::map([("en", Value::from("nested"))])),
                    ("organization", Value::from("Example Org")),
                ]),
            ),
            (
                "2.0.0.0/24",
                Value::map([
                    (
                        "country",
                        Value::map([("iso_code", Value::from(7_u32)), ("x", Value::from(1_u32))]),
                    ),
                    (
                        "registered_country",
                        Value::map([("iso_code", Value::from("DE"))]),
                    ),
                    ("asn", Value::from(0_u32)),
                    ("traits", Value::map([("is_anycast", Value::from("yes"))])),
                ]),
            ),
        ];
        for (network, value) in odd {
            writer
                .insert_value(network.parse::<ipnet::IpNet>().unwrap(), value)
                .unwrap();
        }
        let database = Database::from_bytes(writer.to_bytes().unwrap(), "odd.mmdb".into()).unwrap();
        let database = Arc::new(database);
        let geo = GeoDb::from_databases(Arc::clone(&database), database);
        let facts = geo.locate("1.0.0.1".parse().unwrap());
        assert_eq!(facts.country.as_deref(), Some("NL"));
        assert_eq!(facts.asn, Some(64500));
        assert_eq!(facts.as_org.as_deref(), Some("Example Org"));
        assert_eq!(facts.network.as_deref(), Some("1.0.0.0/24"));
        assert_eq!(facts.as_network.as_deref(), Some("1.0.0.0/24"));
        assert!(facts.warnings.is_empty(), "{:?}", facts.warnings);
        let facts = geo.locate("2.0.0.1".parse().unwrap());
        assert_eq!(facts.country, None);
        assert_eq!(facts.registered_country.as_deref(), Some("DE"));
        assert_eq!(facts.asn, None, "AS0 means no AS");
        assert!(!facts.is_anycast);
    }

    #[test]
    fn country_codes_are_normalised_or_unknown() {
        for (code, expected) in [
            ("nl", Some("NL")),
            (" NL ", Some("NL")),
            ("ZZ", None),
            ("--", None),
            ("", None),
            ("NLD", None),
        ] {
            assert_eq!(normalise_country(code).as_deref(), expected, "{code:?}");
        }
    }
}
