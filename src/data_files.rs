//! Data files: where the databases and the networks file are looked for, in order.
//!
//! Owns the search that turns "no `--country-db` given" into a file: which directories are
//! looked in, in which order, under which file names, and the bundled copy that a `hostloc`
//! binary carries inside itself, so that an installed binary finds data wherever it runs.
//! The order, for each of the six files (country database, second-opinion country database,
//! ASN database, networks file, hotline table, anycast list) on its own (documented in
//! `docs/data.md`):
//!
//! 1. the file's own flag or variable (`--country-db`, `HOSTLOC_COUNTRY_DB`, …);
//! 2. `--data-dir DIR` / `HOSTLOC_DATA_DIR`: when given, the only directory looked in;
//! 3. geoipupdate's database directories (country and ASN only), so that MaxMind files kept
//!    current by `geoipupdate` are used when they are there;
//! 4. hostloc's own data directories, `$XDG_DATA_HOME/hostloc` then each `$XDG_DATA_DIRS`
//!    entry's `hostloc` (`~/.local/share/hostloc`, `/usr/local/share/hostloc`,
//!    `/usr/share/hostloc` by default);
//! 5. the bundled data: the `data/` directory of the source tree the binary was built from,
//!    while it exists, or else the copy inside the binary, unpacked once into
//!    `$XDG_CACHE_HOME/hostloc/bundled-VERSION` (`~/.cache/hostloc/…`).
//!
//! Must not: read the environment (config.rs gathers the directories), or load a file (that
//! is `DataSet::load`): this module only decides paths, and unpacks the bundled copy.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::pipeline::DataPaths;

/// Names a directory may hold the country database under, preferred first: the bundled
/// file's, then MaxMind's as geoipupdate writes them (paid before free, Country before City).
pub const COUNTRY_DB_NAMES: &[&str] = &[
    "dbip-country.mmdb",
    "GeoIP2-Country.mmdb",
    "GeoIP2-City.mmdb",
    "GeoLite2-Country.mmdb",
    "GeoLite2-City.mmdb",
];

/// The name of the second opinion on the country (ip-location-db's geo-whois-asn-country), asked
/// beside the primary unless `--country-db` or `--single-source` is given.
pub const SECOND_OPINION_DB_NAMES: &[&str] = &["geo-whois-asn-country.mmdb"];

/// Names a directory may hold the ASN database under, preferred first.
pub const ASN_DB_NAMES: &[&str] = &["asn.mmdb", "GeoIP2-ISP.mmdb", "GeoLite2-ASN.mmdb"];

/// The name of the networks file.
pub const NETWORKS_NAMES: &[&str] = &["networks.csv"];

/// The name of the hotline table.
pub const HOTLINES_NAMES: &[&str] = &["hotlines.csv"];

/// The name of the anycast list.
pub const ANYCAST_NAMES: &[&str] = &["anycast.csv"];

/// The six data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFile {
    /// The (primary) country database.
    CountryDb,
    /// The second opinion on the country.
    SecondOpinionDb,
    /// The ASN database.
    AsnDb,
    /// The CDN / reverse-proxy networks file.
    Networks,
    /// The table of INHOPE member hotlines by country.
    Hotlines,
    /// The list of known anycast networks.
    Anycast,
}

impl DataFile {
    /// The names a directory may hold this file under, preferred first.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            DataFile::CountryDb => COUNTRY_DB_NAMES,
            DataFile::SecondOpinionDb => SECOND_OPINION_DB_NAMES,
            DataFile::AsnDb => ASN_DB_NAMES,
            DataFile::Networks => NETWORKS_NAMES,
            DataFile::Hotlines => HOTLINES_NAMES,
            DataFile::Anycast => ANYCAST_NAMES,
        }
    }

    /// The flag that names this file.
    pub fn flag(self) -> &'static str {
        match self {
            DataFile::CountryDb | DataFile::SecondOpinionDb => "--country-db",
            DataFile::AsnDb => "--asn-db",
            DataFile::Networks => "--networks",
            DataFile::Hotlines => "--hotlines",
            DataFile::Anycast => "--anycast",
        }
    }

    /// What this file is, for messages.
    pub fn what(self) -> &'static str {
        match self {
            DataFile::CountryDb => "country database",
            DataFile::SecondOpinionDb => "second-opinion country database",
            DataFile::AsnDb => "ASN database",
            DataFile::Networks => "networks file",
            DataFile::Hotlines => "hotline table",
            DataFile::Anycast => "anycast list",
        }
    }
}

/// The bundled data, as a binary carries it (`include_bytes!` in `main.rs`, so that only the
/// `hostloc` binary holds the 18 MB, not every test binary).
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    /// `dbip-country.mmdb`.
    pub country_db: &'static [u8],
    /// `geo-whois-asn-country.mmdb`.
    pub second_opinion_db: &'static [u8],
    /// `asn.mmdb`.
    pub asn_db: &'static [u8],
    /// `networks.csv`.
    pub networks: &'static [u8],
    /// `hotlines.csv`.
    pub hotlines: &'static [u8],
    /// `anycast.csv`.
    pub anycast: &'static [u8],
}

impl Bundled {
    fn bytes(&self, file: DataFile) -> &'static [u8] {
        match file {
            DataFile::CountryDb => self.country_db,
            DataFile::SecondOpinionDb => self.second_opinion_db,
            DataFile::AsnDb => self.asn_db,
            DataFile::Networks => self.networks,
            DataFile::Hotlines => self.hotlines,
            DataFile::Anycast => self.anycast,
        }
    }
}

/// Where files not given by their own flag are looked for (steps 2 to 5 of the module
/// documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPath {
    /// `--data-dir`: when set, the only directory looked in.
    pub data_dir: Option<PathBuf>,
    /// geoipupdate's database directories, looked in for the two databases.
    pub geoipupdate_dirs: Vec<PathBuf>,
    /// hostloc's data directories (`$XDG_DATA_HOME/hostloc`, `$XDG_DATA_DIRS/…/hostloc`).
    pub data_dirs: Vec<PathBuf>,
    /// The source tree's `data/` the binary was built from.
    pub source_dir: Option<PathBuf>,
    /// Where the bundled copy is unpacked (`$XDG_CACHE_HOME/hostloc`); `None` when there is
    /// no home to put it in.
    pub cache_dir: Option<PathBuf>,
}

/// The files given by their own flag or variable (step 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GivenFiles {
    /// `--country-db`: the primary first; empty when not given.
    pub country_db: Vec<PathBuf>,
    /// `--single-source`: no second opinion.
    pub single_source: bool,
    /// `--asn-db`.
    pub asn_db: Option<PathBuf>,
    /// `--networks`.
    pub networks: Option<PathBuf>,
    /// `--hotlines`.
    pub hotlines: Option<PathBuf>,
    /// `--anycast`.
    pub anycast: Option<PathBuf>,
}

/// Why a data file could not be found.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DataFilesError {
    /// `--data-dir` holds none of the names the file may have.
    #[error(
        "no {what} in the data directory {dir} (looked for {names}); give it with {flag} or \
         put it there"
    )]
    NotInDataDir {
        /// The file.
        what: &'static str,
        /// The directory.
        dir: PathBuf,
        /// The names looked for.
        names: String,
        /// The flag that names the file.
        flag: &'static str,
    },
    /// A command that writes data files (`data update`, `data seed`) was not told where.
    #[error(
        "which {what} to write: give {flag}, or the directory with --data-dir (HOSTLOC_DATA_DIR)"
    )]
    NoTarget {
        /// The file.
        what: &'static str,
        /// The flag that names the file.
        flag: &'static str,
    },
    /// Nothing found, and the bundled copy could not be unpacked.
    #[error(
        "no {what} found (looked in {looked}), and the bundled one could not be unpacked into \
         {cache}: {problem}; give the file with {flag}, or a directory with --data-dir"
    )]
    Unpack {
        /// The file.
        what: &'static str,
        /// The directories looked in.
        looked: String,
        /// Where the bundled copy was to go.
        cache: String,
        /// What went wrong.
        problem: String,
        /// The flag that names the file.
        flag: &'static str,
    },
}

/// Finds the data files: each given one as it is, each other one by the search path. Without
/// `--country-db`, the primary country database and the bundled second opinion are both looked
/// for (the second opinion is left out when `--data-dir` lacks it, with a warning, or with
/// `--single-source`); with it, exactly the databases given.
///
/// # Errors
///
/// [`DataFilesError`] when `--data-dir` lacks a file, or when a file is found nowhere and the
/// bundled copy cannot be unpacked.
pub fn find(
    given: &GivenFiles,
    search: &SearchPath,
    bundled: Option<&Bundled>,
) -> Result<DataPaths, DataFilesError> {
    assemble(
        given,
        |file| find_one(file, search, bundled),
        || second_opinion(search, bundled),
    )
}

/// The files a command that writes data files (`data update`, `data seed`) writes: each given
/// one as it is, each other one under its bundled name in `data_dir` (no search: such a command
/// must be told where).
///
/// # Errors
///
/// [`DataFilesError::NoTarget`] when a file is not given and there is no `data_dir`.
pub fn in_data_dir(
    given: &GivenFiles,
    data_dir: Option<&Path>,
) -> Result<DataPaths, DataFilesError> {
    let target = |file: DataFile| match data_dir {
        Some(dir) => Ok(dir.join(file.names()[0])),
        None => Err(DataFilesError::NoTarget {
            what: file.what(),
            flag: file.flag(),
        }),
    };
    assemble(given, target, || {
        Ok(vec![target(DataFile::SecondOpinionDb)?])
    })
}

/// The data paths of `given`, with `locate` for each file not given, and `second_opinion` for
/// the second country source when no `--country-db` is given (none with `--single-source`;
/// with `--country-db`, exactly the databases given, the first as the primary).
fn assemble(
    given: &GivenFiles,
    locate: impl Fn(DataFile) -> Result<PathBuf, DataFilesError>,
    second_opinion: impl FnOnce() -> Result<Vec<PathBuf>, DataFilesError>,
) -> Result<DataPaths, DataFilesError> {
    let one = |file: DataFile, given: &Option<PathBuf>| match given {
        Some(path) => Ok(path.clone()),
        None => locate(file),
    };
    let (country_db, second_opinion_dbs) =
        match (given.country_db.split_first(), given.single_source) {
            (Some((primary, _)), true) => (primary.clone(), Vec::new()),
            (Some((primary, others)), false) => (primary.clone(), others.to_vec()),
            (None, true) => (locate(DataFile::CountryDb)?, Vec::new()),
            (None, false) => (locate(DataFile::CountryDb)?, second_opinion()?),
        };
    Ok(DataPaths {
        country_db,
        second_opinion_dbs,
        asn_db: one(DataFile::AsnDb, &given.asn_db)?,
        networks: one(DataFile::Networks, &given.networks)?,
        hotlines: one(DataFile::Hotlines, &given.hotlines)?,
        anycast: one(DataFile::Anycast, &given.anycast)?,
    })
}

/// The bundled second opinion, found as any file is, but optional in `--data-dir`: a directory
/// of MaxMind or DB-IP files alone still works, on one source, and the log says so.
fn second_opinion(
    search: &SearchPath,
    bundled: Option<&Bundled>,
) -> Result<Vec<PathBuf>, DataFilesError> {
    match find_one(DataFile::SecondOpinionDb, search, bundled) {
        Ok(path) => Ok(vec![path]),
        Err(DataFilesError::NotInDataDir { dir, names, .. }) => {
            tracing::warn!(
                dir = %dir.display(),
                "no second-opinion country database in the data directory (looked for {names}): \
                 every country rests on one source; --single-source says that is intended"
            );
            Ok(Vec::new())
        }
        Err(error) => Err(error),
    }
}

/// Steps 2 to 5 for one file.
fn find_one(
    file: DataFile,
    search: &SearchPath,
    bundled: Option<&Bundled>,
) -> Result<PathBuf, DataFilesError> {
    if let Some(dir) = &search.data_dir {
        return in_dir(dir, file).ok_or_else(|| DataFilesError::NotInDataDir {
            what: file.what(),
            dir: dir.clone(),
            names: file.names().join(", "),
            flag: file.flag(),
        });
    }
    let geoipupdate: &[PathBuf] = match file {
        DataFile::SecondOpinionDb | DataFile::Networks | DataFile::Hotlines | DataFile::Anycast => {
            &[]
        }
        DataFile::CountryDb | DataFile::AsnDb => &search.geoipupdate_dirs,
    };
    let mut looked = Vec::new();
    for dir in geoipupdate
        .iter()
        .chain(&search.data_dirs)
        .chain(&search.source_dir)
    {
        if let Some(path) = in_dir(dir, file) {
            return Ok(path);
        }
        looked.push(dir.display().to_string());
    }
    let unpack_failed = |cache: String, problem: String| DataFilesError::Unpack {
        what: file.what(),
        looked: looked.join(", "),
        cache,
        problem,
        flag: file.flag(),
    };
    let Some(bundled) = bundled else {
        return Err(unpack_failed(
            "a cache directory".to_owned(),
            "this program carries no bundled data".to_owned(),
        ));
    };
    let Some(cache_dir) = &search.cache_dir else {
        return Err(unpack_failed(
            "a cache directory".to_owned(),
            "neither $XDG_CACHE_HOME nor $HOME is set".to_owned(),
        ));
    };
    let dir = cache_dir.join(concat!("bundled-", env!("CARGO_PKG_VERSION")));
    unpack(&dir, file, bundled.bytes(file))
        .map_err(|error| unpack_failed(dir.display().to_string(), error.to_string()))
}

/// The first of `file`'s names that is a file in `dir`.
fn in_dir(dir: &Path, file: DataFile) -> Option<PathBuf> {
    file.names()
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// Writes `bytes` as `file`'s bundled name in `dir`, unless it is there already with exactly
/// these bytes. A new copy is written beside and renamed into place, so that a reader never
/// sees half a file, and hostloc processes starting together agree.
fn unpack(dir: &Path, file: DataFile, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let path = dir.join(file.names()[0]);
    match fs::read(&path) {
        Ok(existing) if existing == bytes => return Ok(path),
        Ok(_) => {}
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    fs::create_dir_all(dir)?;
    let partial = dir.join(format!(
        ".{}.{}.partial",
        file.names()[0],
        std::process::id()
    ));
    fs::write(&partial, bytes)?;
    fs::rename(&partial, &path).inspect_err(|_| {
        let _ = fs::remove_file(&partial);
    })?;
    tracing::info!(file = %path.display(), "unpacked the bundled {}", file.what());
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLED: Bundled = Bundled {
        country_db: b"bundled country",
        second_opinion_db: b"bundled second opinion",
        asn_db: b"bundled asn",
        networks: b"provider,match,value,source\n",
        hotlines: b"country,name\n",
        anycast: b"network,operator,service\n",
    };

    fn touch(dir: &Path, name: &str) -> PathBuf {
        fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, name).unwrap();
        path
    }

    #[test]
    fn each_file_is_found_at_its_first_place_in_the_order() {
        let root = tempfile::tempdir().unwrap();
        let at = |name: &str| root.path().join(name);
        let search = SearchPath {
            data_dir: None,
            geoipupdate_dirs: vec![at("missing"), at("geoip")],
            data_dirs: vec![at("xdg-data")],
            source_dir: Some(at("source")),
            cache_dir: Some(at("cache")),
        };
        // Only the source tree: every file from there.
        for name in [
            "dbip-country.mmdb",
            "geo-whois-asn-country.mmdb",
            "asn.mmdb",
            "networks.csv",
            "hotlines.csv",
            "anycast.csv",
        ] {
            touch(&at("source"), name);
        }
        let paths = find(&GivenFiles::default(), &search, Some(&BUNDLED)).unwrap();
        assert_eq!(paths.country_db, at("source/dbip-country.mmdb"));
        assert_eq!(
            paths.second_opinion_dbs,
            [at("source/geo-whois-asn-country.mmdb")]
        );
        assert_eq!(paths.networks, at("source/networks.csv"));
        // A data directory comes before it, geoipupdate's before that, for the databases only.
        touch(&at("xdg-data"), "networks.csv");
        touch(&at("xdg-data"), "asn.mmdb");
        touch(&at("geoip"), "GeoLite2-City.mmdb");
        touch(&at("geoip"), "GeoLite2-Country.mmdb");
        touch(&at("geoip"), "networks.csv");
        let paths = find(&GivenFiles::default(), &search, Some(&BUNDLED)).unwrap();
        assert_eq!(paths.country_db, at("geoip/GeoLite2-Country.mmdb"));
        assert_eq!(
            paths.second_opinion_dbs,
            [at("source/geo-whois-asn-country.mmdb")],
            "the second opinion is looked for on its own"
        );
        assert_eq!(paths.asn_db, at("xdg-data/asn.mmdb"));
        assert_eq!(paths.networks, at("xdg-data/networks.csv"));
        // A file given by its flag is taken as it is, even when it does not exist.
        let given = GivenFiles {
            asn_db: Some(at("nowhere/asn.mmdb")),
            ..GivenFiles::default()
        };
        assert_eq!(
            find(&given, &search, Some(&BUNDLED)).unwrap().asn_db,
            at("nowhere/asn.mmdb")
        );
        // Given country databases are all there is; --single-source asks the first only.
        let given = GivenFiles {
            country_db: vec![at("a.mmdb"), at("b.mmdb")],
            ..GivenFiles::default()
        };
        let paths = find(&given, &search, Some(&BUNDLED)).unwrap();
        assert_eq!(
            paths.country_dbs().collect::<Vec<_>>(),
            [&at("a.mmdb"), &at("b.mmdb")]
        );
        let single = GivenFiles {
            single_source: true,
            ..GivenFiles::default()
        };
        let paths = find(&single, &search, Some(&BUNDLED)).unwrap();
        assert_eq!(paths.country_db, at("geoip/GeoLite2-Country.mmdb"));
        assert!(paths.second_opinion_dbs.is_empty());
        assert!(!at("cache").exists(), "nothing was unpacked");
    }

    #[test]
    fn a_data_directory_is_the_only_place_looked_in() {
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join("mine");
        touch(&data_dir, "GeoIP2-Country.mmdb");
        touch(&data_dir, "GeoIP2-ISP.mmdb");
        let search = SearchPath {
            data_dir: Some(data_dir.clone()),
            source_dir: Some(root.path().join("source")),
            ..SearchPath::default()
        };
        touch(&root.path().join("source"), "networks.csv");
        touch(&data_dir, "hotlines.csv");
        touch(&data_dir, "anycast.csv");
        let error = find(&GivenFiles::default(), &search, Some(&BUNDLED)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "no networks file in the data directory {} (looked for networks.csv); give it \
                 with --networks or put it there",
                data_dir.display()
            )
        );
        touch(&data_dir, "networks.csv");
        let paths = find(&GivenFiles::default(), &search, Some(&BUNDLED)).unwrap();
        assert_eq!(paths.country_db, data_dir.join("GeoIP2-Country.mmdb"));
        assert!(
            paths.second_opinion_dbs.is_empty(),
            "a data directory without the second opinion works on one source"
        );
        assert_eq!(paths.asn_db, data_dir.join("GeoIP2-ISP.mmdb"));
        touch(&data_dir, "geo-whois-asn-country.mmdb");
        let paths = find(&GivenFiles::default(), &search, Some(&BUNDLED)).unwrap();
        assert_eq!(
            paths.second_opinion_dbs,
            [data_dir.join("geo-whois-asn-country.mmdb")]
        );
    }

    #[test]
    fn with_nothing_on_disk_the_bundled_copy_is_unpacked_once_and_repaired() {
        let root = tempfile::tempdir().unwrap();
        let search = SearchPath {
            source_dir: Some(root.path().join("deleted-clone")),
            cache_dir: Some(root.path().join("cache")),
            ..SearchPath::default()
        };
        let paths = find(&GivenFiles::default(), &search, Some(&BUNDLED)).unwrap();
        let dir = root
            .path()
            .join(concat!("cache/bundled-", env!("CARGO_PKG_VERSION")));
        assert_eq!(paths.country_db, dir.join("dbip-country.mmdb"));
        assert_eq!(fs::read(&paths.country_db).unwrap(), BUNDLED.country_db);
        assert_eq!(
            fs::read(&paths.second_opinion_dbs[0]).unwrap(),
            BUNDLED.second_opinion_db
        );
        assert_eq!(fs::read(&paths.networks).unwrap(), BUNDLED.networks);
        assert_eq!(fs::read(&paths.hotlines).unwrap(), BUNDLED.hotlines);
        // A damaged copy is written again; nothing else is left in the directory.
        fs::write(&paths.asn_db, b"damaged").unwrap();
        let again = find(&GivenFiles::default(), &search, Some(&BUNDLED)).unwrap();
        assert_eq!(again, paths);
        assert_eq!(fs::read(&paths.asn_db).unwrap(), BUNDLED.asn_db);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 6);
    }

    #[test]
    fn without_a_place_to_unpack_the_error_says_where_it_looked_and_what_to_do() {
        let search = SearchPath {
            geoipupdate_dirs: vec!["/nonexistent/GeoIP".into()],
            ..SearchPath::default()
        };
        let error = find(&GivenFiles::default(), &search, Some(&BUNDLED)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no country database found (looked in /nonexistent/GeoIP), and the bundled one could \
             not be unpacked into a cache directory: neither $XDG_CACHE_HOME nor $HOME is set; \
             give the file with --country-db, or a directory with --data-dir"
        );
    }
}
