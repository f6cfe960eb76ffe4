//! Data update: `hostloc data update`, fetching current GeoIP databases from their publishers.
//!
//! Owns downloading the monthly DB-IP Lite files (country and ASN, gzipped `.mmdb` at a URL
//! pattern with the year and month in it), the second country source (`geo-whois-asn-country`)
//! from the URL the operator gives (a plain, gzipped or npm-packed `.mmdb`; there is no default
//! URL), and, when a `GeoIP.conf` is given, MaxMind editions the way `geoipupdate` does (its
//! metadata and download API, HTTP Basic auth with AccountID and LicenseKey, `.tar.gz` archives
//! checked against the published MD5). Each file is written to a
//! temporary file in the target's own folder, verified (it opens as a MaxMind DB of the right
//! kind, and it is not older than the file it replaces), and only then renamed over the target,
//! so that a reader (`serve --watch-interval`, `geoipupdate`-style consumers) sees either the old
//! file or the new one, never a part.
//!
//! **This is the only HTTP client in hostloc, and it never contacts a reported host.** It runs
//! only as this command, never during a lookup, and asks only the configured publishers' URLs
//! (DB-IP, MaxMind, the second source's URL, or the operator's mirror of them).
//!
//! Must not: touch any file other than its targets (and their temporary siblings), replace a
//! file with one that does not open, or log a licence key.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use md5::{Digest, Md5};

use crate::atomic_file;
use crate::geoip::{Database, DatabaseRole, GeoDbError};
use crate::report::rfc3339;

/// DB-IP's free monthly country file; `{YYYY}` and `{MM}` are the year and month (UTC).
pub const DBIP_COUNTRY_URL: &str =
    "https://download.db-ip.com/free/dbip-country-lite-{YYYY}-{MM}.mmdb.gz";
/// DB-IP's free monthly ASN file (GeoLite2-ASN layout).
pub const DBIP_ASN_URL: &str = "https://download.db-ip.com/free/dbip-asn-lite-{YYYY}-{MM}.mmdb.gz";
/// MaxMind's update server, as `geoipupdate` uses it when `GeoIP.conf` names no `Host`.
pub const MAXMIND_URL: &str = "https://updates.maxmind.com";

/// Largest database accepted, uncompressed (GeoIP2-City is about 120 MB; the biggest
/// commercial editions stay well below this).
const MAX_DATABASE_BYTES: u64 = 1 << 30;

/// The User-Agent of every download, so publishers can tell hostloc's traffic apart.
const USER_AGENT: &str = concat!("hostloc/", env!("CARGO_PKG_VERSION"), " (data update)");

/// What to update, decided by the configuration.
#[derive(Debug, Clone)]
pub struct UpdatePlan {
    /// DB-IP Lite files: (URL template, target file, role). Empty with `--no-dbip`.
    pub dbip: Vec<DbIpFile>,
    /// The second country source, when the configuration uses `geo-whois-asn-country.mmdb`.
    pub second_source: Option<SecondSourceFile>,
    /// MaxMind editions, when a `GeoIP.conf` was given.
    pub maxmind: Option<MaxMindPlan>,
    /// Time limit for one download.
    pub timeout: Duration,
}

/// One DB-IP Lite file to keep current.
#[derive(Debug, Clone)]
pub struct DbIpFile {
    /// The URL with `{YYYY}` and `{MM}` in it.
    pub url_template: String,
    /// The file to replace.
    pub target: PathBuf,
    /// What the file must hold.
    pub role: DatabaseRole,
}

/// The second country source to keep current: ip-location-db's `geo-whois-asn-country`.
#[derive(Debug, Clone)]
pub struct SecondSourceFile {
    /// Where its current file is (`--geo-whois-url`); `None` when the operator gave none, which
    /// fails the update of a file in place, since it would only grow older.
    pub url: Option<String>,
    /// The file to replace.
    pub target: PathBuf,
}

/// How [`FileUpdate::source`] names the second country source.
pub const SECOND_SOURCE: &str = "geo-whois-asn-country";

/// MaxMind editions to keep current, from `GeoIP.conf`.
#[derive(Clone)]
pub struct MaxMindPlan {
    /// The update server, without a trailing slash.
    pub base_url: String,
    /// The account.
    pub account_id: String,
    /// The licence key (never shown).
    pub license_key: String,
    /// Edition IDs, e.g. `GeoLite2-Country`.
    pub editions: Vec<String>,
    /// Where `{EditionID}.mmdb` files go.
    pub directory: PathBuf,
}

impl fmt::Debug for MaxMindPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxMindPlan")
            .field("base_url", &self.base_url)
            .field("account_id", &self.account_id)
            .field("license_key", &"<hidden>")
            .field("editions", &self.editions)
            .field("directory", &self.directory)
            .finish()
    }
}

/// What `GeoIP.conf` says, as `geoipupdate` reads it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GeoIpConf {
    /// `AccountID` (or the older `UserId`).
    pub account_id: Option<String>,
    /// `LicenseKey`.
    pub license_key: Option<String>,
    /// `EditionIDs` (or the older `ProductIds`).
    pub editions: Vec<String>,
    /// `Host`, when given.
    pub host: Option<String>,
    /// `DatabaseDirectory`, when given.
    pub database_directory: Option<PathBuf>,
}

impl fmt::Debug for GeoIpConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIpConf")
            .field("account_id", &self.account_id)
            .field(
                "license_key",
                &self.license_key.as_ref().map(|_| "<hidden>"),
            )
            .field("editions", &self.editions)
            .field("host", &self.host)
            .field("database_directory", &self.database_directory)
            .finish()
    }
}

/// Why `GeoIP.conf` cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GeoIpConfError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A setting is missing.
    #[error(
        "{path} has no {setting}; geoipupdate's GeoIP.conf needs AccountID, LicenseKey and EditionIDs"
    )]
    Missing {
        /// The file.
        path: PathBuf,
        /// The setting's name.
        setting: &'static str,
    },
}

impl GeoIpConf {
    /// Parses the text of a `GeoIP.conf`: `Key value…` lines, `#` comments, blank lines.
    /// Settings hostloc does not need (LockFile, Proxy, …) are ignored.
    pub fn parse(text: &str) -> GeoIpConf {
        let mut conf = GeoIpConf::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let mut words = line.split_whitespace();
            let Some(key) = words.next() else { continue };
            let rest: Vec<&str> = words.collect();
            let value = || rest.first().map(|value| (*value).to_owned());
            match key {
                "AccountID" | "UserId" => conf.account_id = value(),
                "LicenseKey" => conf.license_key = value(),
                "EditionIDs" | "ProductIds" => {
                    conf.editions = rest.iter().map(|edition| (*edition).to_owned()).collect();
                }
                "Host" => conf.host = value(),
                "DatabaseDirectory" => conf.database_directory = value().map(PathBuf::from),
                _ => {}
            }
        }
        conf
    }

    /// Reads and parses `path`.
    ///
    /// # Errors
    ///
    /// [`GeoIpConfError::Read`] when the file cannot be read.
    pub fn read(path: &Path) -> Result<GeoIpConf, GeoIpConfError> {
        std::fs::read_to_string(path)
            .map(|text| GeoIpConf::parse(&text))
            .map_err(|source| GeoIpConfError::Read {
                path: path.to_owned(),
                source: Arc::new(source),
            })
    }

    /// The MaxMind part of a plan: editions into `DatabaseDirectory`, or `default_directory`
    /// when the file names none; the server from `base_url`, else `Host`, else MaxMind's.
    ///
    /// # Errors
    ///
    /// [`GeoIpConfError::Missing`] naming the first missing setting.
    pub fn plan(
        self,
        path: &Path,
        base_url: Option<&str>,
        default_directory: &Path,
    ) -> Result<MaxMindPlan, GeoIpConfError> {
        let missing = |setting| GeoIpConfError::Missing {
            path: path.to_owned(),
            setting,
        };
        let account_id = self.account_id.ok_or_else(|| missing("AccountID"))?;
        let license_key = self.license_key.ok_or_else(|| missing("LicenseKey"))?;
        if self.editions.is_empty() {
            return Err(missing("EditionIDs"));
        }
        let base_url = match (base_url, self.host) {
            (Some(url), _) => url.to_owned(),
            // geoipupdate takes a bare host name to mean HTTPS.
            (None, Some(host)) if !host.contains("://") => format!("https://{host}"),
            (None, Some(host)) => host,
            (None, None) => MAXMIND_URL.to_owned(),
        };
        Ok(MaxMindPlan {
            base_url: base_url.trim_end_matches('/').to_owned(),
            account_id,
            license_key,
            editions: self.editions,
            directory: self
                .database_directory
                .unwrap_or_else(|| default_directory.to_owned()),
        })
    }
}

/// Why one file was not updated. The file in place is untouched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The request failed (no connection, TLS, timeout, a body cut short).
    #[error("cannot download {url}: {source}")]
    Http {
        /// The URL (never with credentials in it).
        url: String,
        /// What the client said.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}{detail}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the server's message, if it sent one.
        detail: String,
    },
    /// Neither this month's nor last month's file exists.
    #[error("no file at {this_month} nor at {last_month} (HTTP 404)")]
    NotPublished {
        /// This month's URL.
        this_month: String,
        /// Last month's URL.
        last_month: String,
    },
    /// The download is not the gzip (or tar.gz) file it should be, or is larger than allowed.
    #[error("the download from {url} cannot be unpacked: {source}")]
    Unpack {
        /// The URL.
        url: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// MaxMind's metadata answer is not what its API documents.
    #[error("MaxMind's metadata for {edition} cannot be read: {problem}")]
    Metadata {
        /// The edition.
        edition: String,
        /// What is wrong.
        problem: String,
    },
    /// The database does not match the MD5 the server published.
    #[error("the downloaded {edition} has MD5 {found}, but the server published {expected}")]
    Md5Mismatch {
        /// The edition.
        edition: String,
        /// Published.
        expected: String,
        /// Downloaded.
        found: String,
    },
    /// The download is not a usable database for its role.
    #[error("the download is not usable: {0}")]
    Invalid(#[source] GeoDbError),
    /// The download is a database of another kind than asked for.
    #[error("the download is a {found} database, not {expected}")]
    WrongKind {
        /// What was asked for.
        expected: String,
        /// The file's `database_type`.
        found: String,
    },
    /// The download is older than the file in place (a stale mirror, a wrong month).
    #[error(
        "the download (built {downloaded}) is older than {target} (built {current}); kept the \
         current file"
    )]
    Older {
        /// The target.
        target: PathBuf,
        /// Build time of the file in place.
        current: String,
        /// Build time of the download.
        downloaded: String,
    },
    /// The target holds a MaxMind database, which a DB-IP download must not replace.
    #[error(
        "{target} holds a MaxMind {database_type} database; a DB-IP download does not replace \
         it (use --no-dbip, or point --country-db / --asn-db elsewhere)"
    )]
    WouldReplaceMaxMind {
        /// The target.
        target: PathBuf,
        /// Its `database_type`.
        database_type: String,
    },
    /// The second country source is in place, but no URL says where its current file is.
    #[error(
        "no --geo-whois-url (HOSTLOC_GEO_WHOIS_URL) says where its current file is, so it only \
         grows older (built {built}); give the URL of the publisher's current file, or ask DB-IP \
         alone with --single-source (HOSTLOC_SINGLE_SOURCE) (docs/deploy.md, \"The second \
         country source\")"
    )]
    NoSecondSourceUrl {
        /// Build time of the file in place.
        built: String,
    },
    /// The download is an archive without the database it should hold.
    #[error("the archive from {url} holds no {name} ({found})")]
    NotInArchive {
        /// The URL.
        url: String,
        /// The file looked for.
        name: String,
        /// The `.mmdb` files it does hold, or `no .mmdb file`.
        found: String,
    },
    /// A file to copy (`data seed`'s bundled one) cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The temporary file or the rename failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// What happened to one target.
#[derive(Debug)]
pub struct FileUpdate {
    /// What was updated, e.g. `DB-IP country` or `MaxMind GeoLite2-ASN`.
    pub source: String,
    /// The file.
    pub target: PathBuf,
    /// The outcome.
    pub result: Result<Change, UpdateError>,
}

/// A successful outcome for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The target was replaced by a newer file.
    Replaced {
        /// The new file's `database_type`.
        database_type: String,
        /// Its build time, RFC 3339.
        built: Option<String>,
        /// The replaced file's build time, when there was a readable one.
        previous: Option<String>,
    },
    /// The target is already current.
    Current {
        /// Its build time, RFC 3339.
        built: Option<String>,
    },
}

impl fmt::Display for FileUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.target.display();
        let source = &self.source;
        let or_unknown = |built: &Option<String>| built.clone().unwrap_or("unknown".to_owned());
        match &self.result {
            Ok(Change::Replaced {
                database_type,
                built,
                previous,
            }) => write!(
                f,
                "updated  {source}: {target} is now {database_type} built {} (was {})",
                or_unknown(built),
                previous.as_deref().unwrap_or("missing or unreadable")
            ),
            Ok(Change::Current { built }) => write!(
                f,
                "current  {source}: {target} (built {}) is up to date",
                or_unknown(built)
            ),
            Err(error) => write!(f, "failed   {source}: {target} not updated: {error}"),
        }
    }
}

/// Runs `plan`: every DB-IP file, then every MaxMind edition, each independently (one failing
/// does not stop the others).
///
/// # Errors
///
/// Only when the HTTP client cannot be built at all; per-file problems are in the results.
pub async fn run(plan: &UpdatePlan) -> Result<Vec<FileUpdate>, reqwest::Error> {
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(plan.timeout)
        .connect_timeout(Duration::from_secs(30))
        .build()?;
    let mut updates = Vec::new();
    let today = time::OffsetDateTime::now_utc().date();
    for file in &plan.dbip {
        let source = format!("DB-IP {}", file.role);
        let result = update_dbip(&client, file, today).await;
        updates.push(FileUpdate {
            source,
            target: file.target.clone(),
            result,
        });
    }
    if let Some(file) = &plan.second_source {
        let result = match &file.url {
            Some(url) => update_second_source(&client, url, &file.target).await,
            None => Err(UpdateError::NoSecondSourceUrl {
                built: Database::open(&file.target, DatabaseRole::Country)
                    .ok()
                    .and_then(|database| database.built().map(rfc3339))
                    .unwrap_or_else(|| "unknown".to_owned()),
            }),
        };
        updates.push(FileUpdate {
            source: SECOND_SOURCE.to_owned(),
            target: file.target.clone(),
            result,
        });
    }
    if let Some(maxmind) = &plan.maxmind {
        for edition in &maxmind.editions {
            let target = maxmind.directory.join(format!("{edition}.mmdb"));
            let result = update_maxmind(&client, maxmind, edition, &target).await;
            updates.push(FileUpdate {
                source: format!("MaxMind {edition}"),
                target,
                result,
            });
        }
    }
    Ok(updates)
}

/// Copies each `(source, target)` whose target does not exist yet (`hostloc data seed`: the
/// image's bundled files onto a fresh data volume). Returns the targets it wrote. A target that
/// appears meanwhile (another replica seeding the same volume) is left as it is.
///
/// # Errors
///
/// [`UpdateError::Read`] or [`UpdateError::Write`] naming the file that could not be read or
/// written.
pub fn seed(files: &[(PathBuf, PathBuf)]) -> Result<Vec<PathBuf>, UpdateError> {
    let mut written = Vec::new();
    for (source, target) in files {
        if target.exists() {
            continue;
        }
        let write = |path: &Path| {
            let path = path.to_owned();
            move |source| UpdateError::Write { path, source }
        };
        let mut temporary =
            atomic_file::sibling(target, ".hostloc-seed-").map_err(write(target))?;
        let mut from = std::fs::File::open(source).map_err(|error| UpdateError::Read {
            path: source.clone(),
            source: error,
        })?;
        std::io::copy(&mut from, temporary.as_file_mut()).map_err(write(target))?;
        // Another replica seeding the same volume may have been first: its copy stays.
        if atomic_file::publish(temporary, target, false).map_err(write(target))? {
            written.push(target.clone());
        }
    }
    Ok(written)
}

/// The URL of `template` for the month of `date`.
pub fn month_url(template: &str, date: time::Date) -> String {
    template
        .replace("{YYYY}", &format!("{:04}", date.year()))
        .replace("{MM}", &format!("{:02}", u8::from(date.month())))
}

/// A date in the month before `date`'s.
fn last_month(date: time::Date) -> time::Date {
    date.replace_day(1)
        .ok()
        .and_then(time::Date::previous_day)
        .unwrap_or(date)
}

/// Refuses to go on when `target` holds one of MaxMind's products, which only MaxMind's own
/// editions may replace.
fn refuse_maxmind(target: &Path) -> Result<(), UpdateError> {
    match open_any(target) {
        Ok(current) if is_maxmind(current.database_type()) => {
            Err(UpdateError::WouldReplaceMaxMind {
                target: target.to_owned(),
                database_type: current.database_type().to_owned(),
            })
        }
        _ => Ok(()),
    }
}

async fn update_dbip(
    client: &reqwest::Client,
    file: &DbIpFile,
    today: time::Date,
) -> Result<Change, UpdateError> {
    refuse_maxmind(&file.target)?;
    // DB-IP publishes a month's file in its first days: until then, last month's is current.
    let this_month = month_url(&file.url_template, today);
    let (url, body) = match download(client, &this_month, None).await? {
        Some(body) => (this_month, body),
        None => {
            let last_month = month_url(&file.url_template, last_month(today));
            match download(client, &last_month, None).await? {
                Some(body) => (last_month, body),
                None => {
                    return Err(UpdateError::NotPublished {
                        this_month,
                        last_month,
                    });
                }
            }
        }
    };
    let target = file.target.clone();
    let role = file.role;
    blocking(move || {
        install(&target, Kind::Role(role), |out| {
            let mut gunzip = flate2::read::GzDecoder::new(body.as_slice());
            copy_limited(&mut gunzip, out)
                .map(drop)
                .map_err(|source| UpdateError::Unpack {
                    url: url.clone(),
                    source,
                })
        })
    })
    .await
}

/// The second country source from `url`: the `.mmdb` itself, gzipped, or in a `.tar.gz` (an
/// npm package tarball holds `package/geo-whois-asn-country.mmdb` beside the IPv4-only and
/// IPv6-only files), told apart by content, not by name. Checked like a DB-IP file: a country
/// database, not older than the one in place.
async fn update_second_source(
    client: &reqwest::Client,
    url: &str,
    target: &Path,
) -> Result<Change, UpdateError> {
    refuse_maxmind(target)?;
    let body = download(client, url, None)
        .await?
        .ok_or_else(|| UpdateError::Status {
            url: url.to_owned(),
            status: 404,
            detail: String::new(),
        })?;
    let target = target.to_owned();
    let url = url.to_owned();
    blocking(move || {
        let name = target
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        install(&target, Kind::Role(DatabaseRole::Country), |out| {
            unpack_database(&body, &name, out).map_err(|problem| match problem {
                Unpacked::Io(source) => UpdateError::Unpack {
                    url: url.clone(),
                    source,
                },
                Unpacked::NotInArchive(found) => UpdateError::NotInArchive {
                    url: url.clone(),
                    name: name.clone(),
                    found,
                },
            })
        })
    })
    .await
}

/// Why [`unpack_database`] wrote nothing.
enum Unpacked {
    /// Not gzip / tar as it claims, or too large.
    Io(std::io::Error),
    /// An archive without the file: the `.mmdb` files it does hold.
    NotInArchive(String),
}

/// Writes the database in `body` to `out`: `body` itself, its gunzipped content, or from a
/// (gzipped) tar archive the entry called `name`, else its only `.mmdb` entry.
fn unpack_database(body: &[u8], name: &str, out: &mut impl Write) -> Result<(), Unpacked> {
    let unpacked;
    let content = if body.starts_with(&[0x1f, 0x8b]) {
        let mut buffer = Vec::new();
        copy_limited(&mut flate2::read::GzDecoder::new(body), &mut buffer).map_err(Unpacked::Io)?;
        unpacked = buffer;
        unpacked.as_slice()
    } else {
        body
    };
    // A POSIX tar header has "ustar" at offset 257.
    if content.get(257..262) != Some(b"ustar".as_slice()) {
        return out.write_all(content).map_err(Unpacked::Io);
    }
    let is_mmdb = |path: &Path| {
        path.extension()
            .is_some_and(|extension| extension == "mmdb")
    };
    let mut found = Vec::new();
    for entry in tar::Archive::new(content).entries().map_err(Unpacked::Io)? {
        let entry = entry.map_err(Unpacked::Io)?;
        let path = entry.path().map_err(Unpacked::Io)?.into_owned();
        if is_mmdb(&path) {
            found.push(path);
        }
    }
    let chosen = match found
        .iter()
        .find(|path| path.file_name().is_some_and(|file| file == name))
    {
        Some(path) => path.clone(),
        None if found.len() == 1 => found[0].clone(),
        None => {
            let names: Vec<String> = found
                .iter()
                .map(|path| path.display().to_string())
                .collect();
            return Err(Unpacked::NotInArchive(if names.is_empty() {
                "no .mmdb file".to_owned()
            } else {
                format!("only {}", names.join(", "))
            }));
        }
    };
    for entry in tar::Archive::new(content).entries().map_err(Unpacked::Io)? {
        let mut entry = entry.map_err(Unpacked::Io)?;
        if entry.path().map_err(Unpacked::Io)?.as_ref() == chosen.as_path() {
            return copy_limited(&mut entry, out)
                .map(drop)
                .map_err(Unpacked::Io);
        }
    }
    Err(Unpacked::NotInArchive("no .mmdb file".to_owned()))
}

/// MaxMind's metadata for one edition.
#[derive(Debug, serde::Deserialize)]
struct Metadata {
    databases: Vec<EditionMetadata>,
}

#[derive(Debug, serde::Deserialize)]
struct EditionMetadata {
    date: String,
    md5: String,
}

async fn update_maxmind(
    client: &reqwest::Client,
    plan: &MaxMindPlan,
    edition: &str,
    target: &Path,
) -> Result<Change, UpdateError> {
    let metadata_url = format!("{}/geoip/updates/metadata", plan.base_url);
    let auth = Some((plan.account_id.as_str(), plan.license_key.as_str()));
    let request = client.get(&metadata_url).query(&[("edition_id", edition)]);
    let body = send(request, &metadata_url, auth)
        .await?
        .ok_or_else(|| UpdateError::Status {
            url: metadata_url.clone(),
            status: 404,
            detail: String::new(),
        })?;
    let metadata: Metadata =
        serde_json::from_slice(&body).map_err(|error| UpdateError::Metadata {
            edition: edition.to_owned(),
            problem: error.to_string(),
        })?;
    let [published] = metadata.databases.as_slice() else {
        return Err(UpdateError::Metadata {
            edition: edition.to_owned(),
            problem: format!("{} entries instead of one", metadata.databases.len()),
        });
    };
    // Like geoipupdate: the same MD5 as the file in place means there is nothing to fetch.
    if let Ok(current) = std::fs::read(target)
        && md5_hex(&current).eq_ignore_ascii_case(&published.md5)
    {
        let built = Database::from_bytes(current, String::new())
            .ok()
            .and_then(|database| database.built().map(rfc3339));
        return Ok(Change::Current { built });
    }
    let download_url = format!("{}/geoip/databases/{edition}/download", plan.base_url);
    let request = client.get(&download_url).query(&[
        ("date", published.date.replace('-', "")),
        ("suffix", "tar.gz".to_owned()),
    ]);
    let body = send(request, &download_url, auth)
        .await?
        .ok_or_else(|| UpdateError::Status {
            url: download_url.clone(),
            status: 404,
            detail: String::new(),
        })?;
    let target = target.to_owned();
    let edition = edition.to_owned();
    let expected_md5 = published.md5.to_ascii_lowercase();
    blocking(move || {
        install(&target, Kind::Edition(&edition), |out| {
            let unpack = |source| UpdateError::Unpack {
                url: download_url.clone(),
                source,
            };
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(body.as_slice()));
            for entry in archive.entries().map_err(unpack)? {
                let mut entry = entry.map_err(unpack)?;
                let is_mmdb = entry
                    .path()
                    .map_err(unpack)?
                    .extension()
                    .is_some_and(|extension| extension == "mmdb");
                if !is_mmdb {
                    continue;
                }
                let mut hasher = HashingWriter {
                    inner: out,
                    md5: Md5::new(),
                };
                copy_limited(&mut entry, &mut hasher).map_err(unpack)?;
                let found = hex(&hasher.md5.finalize());
                if found != expected_md5 {
                    return Err(UpdateError::Md5Mismatch {
                        edition: edition.clone(),
                        expected: expected_md5.clone(),
                        found,
                    });
                }
                return Ok(());
            }
            Err(unpack(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the archive holds no .mmdb file",
            )))
        })
    })
    .await
}

/// GETs `url`: its body, or `None` for a 404.
async fn download(
    client: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> Result<Option<Vec<u8>>, UpdateError> {
    send(client.get(url), url, auth).await
}

/// Sends `request` (for `url`, named in errors): the body of a 200, `None` for a 404, an error
/// for anything else. The body is bounded by [`MAX_DATABASE_BYTES`].
async fn send(
    request: reqwest::RequestBuilder,
    url: &str,
    auth: Option<(&str, &str)>,
) -> Result<Option<Vec<u8>>, UpdateError> {
    let http = |source| UpdateError::Http {
        url: url.to_owned(),
        source,
    };
    let request = match auth {
        Some((user, password)) => request.basic_auth(user, Some(password)),
        None => request,
    };
    let mut response = request.send().await.map_err(http)?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let detail: String = text.trim().chars().take(200).collect();
        return Err(UpdateError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            },
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http)? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_DATABASE_BYTES {
            return Err(UpdateError::Unpack {
                url: url.to_owned(),
                source: too_large(),
            });
        }
    }
    Ok(Some(body))
}

fn too_large() -> std::io::Error {
    std::io::Error::other(format!(
        "larger than {} MiB",
        MAX_DATABASE_BYTES / (1024 * 1024)
    ))
}

/// Copies at most [`MAX_DATABASE_BYTES`] from `from` to `to`.
fn copy_limited(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<u64> {
    let copied = std::io::copy(&mut from.take(MAX_DATABASE_BYTES + 1), to)?;
    if copied > MAX_DATABASE_BYTES {
        return Err(too_large());
    }
    Ok(copied)
}

/// Runs the file work off the async threads.
async fn blocking(
    work: impl FnOnce() -> Result<Change, UpdateError> + Send + 'static,
) -> Result<Change, UpdateError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| {
            Err(UpdateError::Write {
                path: PathBuf::new(),
                source: std::io::Error::other(error.to_string()),
            })
        })
}

/// What a downloaded file must be.
#[derive(Debug, Clone, Copy)]
enum Kind<'a> {
    /// A database holding data for this role (DB-IP files).
    Role(DatabaseRole),
    /// A database whose `database_type` is this MaxMind edition ID.
    Edition(&'a str),
}

/// Writes a new file for `target` with `fill` into a temporary sibling, checks it (a database
/// of the right `kind`, not older than the file in place), and renames it over `target`. On any
/// failure the temporary file is removed and `target` is untouched.
fn install(
    target: &Path,
    kind: Kind<'_>,
    fill: impl FnOnce(&mut std::fs::File) -> Result<(), UpdateError>,
) -> Result<Change, UpdateError> {
    let write = |path: &Path| {
        let path = path.to_owned();
        move |source| UpdateError::Write { path, source }
    };
    let mut temporary = atomic_file::sibling(target, ".hostloc-update-").map_err(write(target))?;
    fill(temporary.as_file_mut())?;

    let downloaded = match kind {
        Kind::Role(role) => Database::open(temporary.path(), role).map_err(UpdateError::Invalid)?,
        Kind::Edition(edition) => {
            let database = open_any(temporary.path()).map_err(UpdateError::Invalid)?;
            if database.database_type() != edition {
                return Err(UpdateError::WrongKind {
                    expected: edition.to_owned(),
                    found: database.database_type().to_owned(),
                });
            }
            database
        }
    };
    let current = match kind {
        Kind::Role(role) => Database::open(target, role).ok(),
        Kind::Edition(_) => open_any(target).ok(),
    };
    let current_built = current.as_ref().and_then(Database::built);
    if let (Some(current), Some(current_built), Some(new)) =
        (&current, current_built, downloaded.built())
    {
        if new < current_built {
            return Err(UpdateError::Older {
                target: target.to_owned(),
                current: rfc3339(current_built),
                downloaded: rfc3339(new),
            });
        }
        if new == current_built && current.database_type() == downloaded.database_type() {
            return Ok(Change::Current {
                built: Some(rfc3339(current_built)),
            });
        }
    }
    atomic_file::publish(temporary, target, true).map_err(write(target))?;
    Ok(Change::Replaced {
        database_type: downloaded.database_type().to_owned(),
        built: downloaded.built().map(rfc3339),
        previous: current_built.map(rfc3339),
    })
}

/// A database at `path` whatever its role (a MaxMind edition may be either).
fn open_any(path: &Path) -> Result<Database, GeoDbError> {
    Database::open(path, DatabaseRole::Country).or_else(|_| Database::open(path, DatabaseRole::Asn))
}

/// MaxMind's own products, which a DB-IP download must never replace.
fn is_maxmind(database_type: &str) -> bool {
    database_type.starts_with("GeoIP2") || database_type.starts_with("GeoLite2")
}

struct HashingWriter<'a, W> {
    inner: &'a mut W,
    md5: Md5,
}

impl<W: Write> Write for HashingWriter<'_, W> {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buffer)?;
        self.md5.update(&buffer[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_urls_fill_in_the_year_and_month() {
        let date = time::macros::date!(2026 - 01 - 05);
        assert_eq!(
            month_url(DBIP_COUNTRY_URL, date),
            "https://download.db-ip.com/free/dbip-country-lite-2026-01.mmdb.gz"
        );
        assert_eq!(
            month_url(DBIP_ASN_URL, last_month(date)),
            "https://download.db-ip.com/free/dbip-asn-lite-2025-12.mmdb.gz"
        );
        assert_eq!(
            last_month(time::macros::date!(2026 - 03 - 31)),
            time::macros::date!(2026 - 02 - 28)
        );
    }

    #[test]
    fn geoip_conf_reads_like_geoipupdate() {
        // The layout of the GeoIP.conf that geoipupdate ships, with its comments.
        let conf = GeoIpConf::parse(
            "# GeoIP.conf file for `geoipupdate` program, for versions >= 3.1.1.\n\
             # Used to update GeoIP databases from https://www.maxmind.com.\n\
             \n\
             # `AccountID` is from your MaxMind account.\n\
             AccountID 123456\n\
             \n\
             LicenseKey  abcDEF_123   # trailing comment\n\
             \n\
             # `EditionIDs` is from your MaxMind account.\n\
             EditionIDs GeoLite2-ASN GeoLite2-City GeoLite2-Country\n\
             # DatabaseDirectory /usr/local/share/GeoIP\n\
             LockFile /tmp/.geoipupdate.lock\n",
        );
        assert_eq!(conf.account_id.as_deref(), Some("123456"));
        assert_eq!(conf.license_key.as_deref(), Some("abcDEF_123"));
        assert_eq!(
            conf.editions,
            ["GeoLite2-ASN", "GeoLite2-City", "GeoLite2-Country"]
        );
        assert_eq!(conf.database_directory, None);
        assert!(!format!("{conf:?}").contains("abcDEF_123"));

        let plan = conf
            .clone()
            .plan(Path::new("GeoIP.conf"), None, Path::new("/data"))
            .unwrap();
        assert_eq!(plan.base_url, MAXMIND_URL);
        assert_eq!(plan.directory, Path::new("/data"));
        assert!(!format!("{plan:?}").contains("abcDEF_123"));

        let old_names = GeoIpConf::parse(
            "UserId 42\nLicenseKey k\nProductIds GeoIP2-Country\nHost updates.example.com\n",
        );
        let plan = old_names
            .plan(Path::new("GeoIP.conf"), None, Path::new("/data"))
            .unwrap();
        assert_eq!(plan.account_id, "42");
        assert_eq!(plan.base_url, "https://updates.example.com");
        assert_eq!(plan.editions, ["GeoIP2-Country"]);
    }

    #[test]
    fn geoip_conf_without_a_key_names_it() {
        let error = GeoIpConf::parse("AccountID 1\nEditionIDs GeoLite2-ASN\n")
            .plan(Path::new("/etc/GeoIP.conf"), None, Path::new("."))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "/etc/GeoIP.conf has no LicenseKey; geoipupdate's GeoIP.conf needs AccountID, \
             LicenseKey and EditionIDs"
        );
    }
}
