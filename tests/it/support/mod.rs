//! Shared test support: a DNS server on loopback, generated GeoIP databases, and helpers to
//! build a pipeline or run the `hostloc` binary against them. Nothing here touches the
//! internet.

// Each test module uses only part of the support code.
#![allow(dead_code)]

pub(crate) mod browser;
pub(crate) mod dns;
pub(crate) mod mmdb;
pub(crate) mod publisher;
pub(crate) mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hostloc::Pipeline;
use hostloc::cache::{CacheSettings, DnsCache};
use hostloc::pipeline::{DataPaths, DataSet, PipelineSettings};
use hostloc::resolve::{DnsResolver, DnsSettings, DnsTransport};

#[allow(unused_imports)] // Not every test module needs every type.
pub(crate) use dns::{
    Answer, BlackHoleDns, Datagram, Frame, ScriptedDns, TestDns, a_answer, a_record, closed_port,
    cname_record, reply,
};
pub(crate) use mmdb::TestWorld;

/// `tests/fixtures` of this repository: test data from elsewhere, with its sources and
/// licences.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Both DNS transports, for tests that must hold for each.
pub(crate) const TRANSPORTS: [DnsTransport; 2] = [DnsTransport::Pooled, DnsTransport::Hickory];

/// DNS settings aimed at `server`, with short timeouts so failure tests stay quick.
pub(crate) fn dns_settings(server: std::net::SocketAddr) -> DnsSettings {
    DnsSettings {
        servers: vec![server],
        timeout: Duration::from_millis(300),
        attempts: 1,
        ..DnsSettings::default()
    }
}

/// A pipeline over `world`'s databases, asking `server` for DNS, with the given cache.
pub(crate) fn pipeline_with(
    world: &TestWorld,
    server: std::net::SocketAddr,
    cache: CacheSettings,
    settings: PipelineSettings,
) -> Pipeline {
    build_pipeline(world.paths(), &dns_settings(server), cache, settings)
}

/// A pipeline over the data files of `paths`, asking `server`, with the cache off.
pub(crate) fn pipeline_over(paths: DataPaths, server: std::net::SocketAddr) -> Pipeline {
    let cache = CacheSettings {
        capacity: 0,
        ..CacheSettings::default()
    };
    build_pipeline(
        paths,
        &dns_settings(server),
        cache,
        PipelineSettings::default(),
    )
}

/// A pipeline over `world`, asking `server`, with the default cache.
pub(crate) fn cached_pipeline(world: &TestWorld, server: std::net::SocketAddr) -> Pipeline {
    pipeline_with(
        world,
        server,
        CacheSettings::default(),
        PipelineSettings::default(),
    )
}

/// A pipeline over `world`, asking `server`, with the cache off (every lookup asks DNS).
pub(crate) fn pipeline(world: &TestWorld, server: std::net::SocketAddr) -> Pipeline {
    pipeline_with_transport(world, server, DnsTransport::default())
}

/// As [`pipeline`], with queries travelling by `transport`.
pub(crate) fn pipeline_with_transport(
    world: &TestWorld,
    server: std::net::SocketAddr,
    transport: DnsTransport,
) -> Pipeline {
    let dns = DnsSettings {
        transport,
        ..dns_settings(server)
    };
    let cache = CacheSettings {
        capacity: 0,
        ..CacheSettings::default()
    };
    build_pipeline(world.paths(), &dns, cache, PipelineSettings::default())
}

/// A pipeline over the data files of `paths` with these DNS, cache and pipeline settings.
pub(crate) fn build_pipeline(
    paths: DataPaths,
    dns: &DnsSettings,
    cache: CacheSettings,
    settings: PipelineSettings,
) -> Pipeline {
    let data = DataSet::load(&paths).expect("test data loads");
    let resolver = DnsResolver::new(dns).expect("resolver builds");
    Pipeline::new(data, Some(paths), DnsCache::new(resolver, cache), settings)
}

/// The built `hostloc` binary with a clean environment, aimed at `world` and `server`.
pub(crate) fn hostloc(world: &TestWorld, server: std::net::SocketAddr) -> Command {
    hostloc_with(&world.paths(), server)
}

/// The built `hostloc` binary with a clean environment, aimed at the data files of `paths` and
/// at `server`, with short DNS timeouts.
pub(crate) fn hostloc_with(paths: &DataPaths, server: std::net::SocketAddr) -> Command {
    hostloc_with_timeout(paths, server, "300ms")
}

/// [`hostloc_with`] with another DNS timeout, for tests whose names answer slowly on purpose.
pub(crate) fn hostloc_with_timeout(
    paths: &DataPaths,
    server: std::net::SocketAddr,
    dns_timeout: &str,
) -> Command {
    let mut command = hostloc_data(paths);
    command
        .arg("--dns-server")
        .arg(server.to_string())
        .arg("--dns-timeout")
        .arg(dns_timeout)
        .arg("--dns-attempts")
        .arg("1");
    command
}

/// The built `hostloc` binary with a clean environment, aimed at the data files of `paths` only
/// (for `data info`, which takes no DNS options).
pub(crate) fn hostloc_data(paths: &DataPaths) -> Command {
    let mut command = hostloc_bare();
    for country_db in paths.country_dbs() {
        command.arg("--country-db").arg(country_db);
    }
    command
        .arg("--asn-db")
        .arg(&paths.asn_db)
        .arg("--networks")
        .arg(&paths.networks)
        .arg("--hotlines")
        .arg(&paths.hotlines)
        .arg("--anycast")
        .arg(&paths.anycast);
    command
}

/// The built `hostloc` binary with no `HOSTLOC_*` variables and no arguments.
pub(crate) fn hostloc_bare() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hostloc"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HOSTLOC_") {
            command.env_remove(key);
        }
    }
    // Data only from the test's flags or the source tree, never from this machine's
    // geoipupdate or XDG directories; an unpacked bundled copy goes under target/.
    let nowhere = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-dir");
    command
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env("HOSTLOC_GEOIPUPDATE_DIRS", "")
        .env("XDG_DATA_HOME", &nowhere)
        .env("XDG_DATA_DIRS", &nowhere)
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache"),
        );
    command
}

/// Runs `command` with `stdin` and returns its output.
pub(crate) fn run_with_stdin(command: &mut Command, stdin: impl AsRef<[u8]>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hostloc starts");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.as_ref().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("hostloc finishes");
    writer.join().expect("stdin writer finishes");
    output
}

/// Asserts that a run of the binary ended with exit status `code`, showing its stderr if not.
pub(crate) fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Parses NDJSON output into values.
pub(crate) fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Replaces `path` atomically, as an operator's deploy should.
pub(crate) fn replace_file(path: &Path, contents: &[u8]) {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, contents).expect("write the new file");
    std::fs::rename(&temporary, path).expect("rename it into place");
}
