//! The deployment files run what they say: the Dockerfile's start-up command and HEALTHCHECK,
//! and the Kubernetes ConfigMap's settings, run outside a container against the built binary,
//! with the image's paths mapped onto the source tree (`.ci/container` runs the image itself
//! where podman can).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::hostloc_bare;

const IMAGE_BINARY: &str = "/usr/local/bin/hostloc";
const IMAGE_DATA: &str = "/usr/share/hostloc/data";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What the final stage of the Dockerfile declares.
#[derive(Debug, Default)]
struct Image {
    env: BTreeMap<String, String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
    user: String,
}

/// Reads the Dockerfile's last stage: ENV (the `K=V \` continuation form), USER, ENTRYPOINT,
/// CMD and HEALTHCHECK … CMD in exec (JSON) form.
fn image() -> Image {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let last_stage = joined
        .lines()
        .rev()
        .take_while(|line| !line.starts_with("FROM "))
        .collect::<Vec<_>>();
    let mut image = Image::default();
    for line in last_stage.into_iter().rev() {
        let json = |text: &str| -> Vec<String> { serde_json::from_str(text.trim()).unwrap() };
        if let Some(rest) = line.strip_prefix("ENV ") {
            for pair in rest.split_whitespace() {
                let (key, value) = pair.split_once('=').unwrap();
                image.env.insert(key.to_owned(), value.to_owned());
            }
        } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            image.entrypoint = json(rest);
        } else if let Some(rest) = line.strip_prefix("CMD ") {
            image.cmd = json(rest);
        } else if let Some(rest) = line.strip_prefix("USER ") {
            image.user = rest.trim().to_owned();
        } else if let Some(rest) = line.strip_prefix("HEALTHCHECK ") {
            let (_, command) = rest.split_once("CMD ").unwrap();
            image.healthcheck = json(command);
        }
    }
    image
}

/// The image's path for `path` in the source tree and the test build.
fn outside(path: &str) -> String {
    path.replace(IMAGE_BINARY, env!("CARGO_BIN_EXE_hostloc"))
        .replace(IMAGE_DATA, &repo().join("data").display().to_string())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `argv` with the image's paths mapped, the environment of `env` and nothing else of
/// hostloc's.
fn command(argv: &[String], env: &BTreeMap<String, String>) -> Command {
    let mut command = hostloc_bare();
    let program = outside(&argv[0]);
    assert_eq!(program, env!("CARGO_BIN_EXE_hostloc"), "{argv:?}");
    command.args(argv[1..].iter().map(|arg| outside(arg)));
    for (key, value) in env {
        command.env(key, outside(value));
    }
    command
}

fn healthy_within(check: &[String], env: &BTreeMap<String, String>, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        let status = command(check, env).stderr(Stdio::null()).status().unwrap();
        if status.success() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the image's start-up command with its settings, listening on `host` and a free port
/// instead of 8080, until its HEALTHCHECK passes.
fn start(image: &Image, host: &str) -> (Server, BTreeMap<String, String>, u16) {
    let port = free_port();
    let mut env = image.env.clone();
    env.insert("HOSTLOC_LISTEN".to_owned(), format!("{host}:{port}"));
    let argv: Vec<String> = image.entrypoint.iter().chain(&image.cmd).cloned().collect();
    let server = Server(
        command(&argv, &env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        healthy_within(&image.healthcheck, &env, Duration::from_secs(30)),
        "the HEALTHCHECK never passed"
    );
    (server, env, port)
}

#[test]
fn the_image_start_up_command_serves_and_its_healthcheck_follows_the_server() {
    let image = image();
    assert_eq!(image.entrypoint, [IMAGE_BINARY]);
    assert_eq!(image.cmd, ["serve"]);
    assert_eq!(image.healthcheck, [IMAGE_BINARY, "healthcheck"]);
    assert_eq!(image.user, "10001:10001", "not root");
    assert_eq!(image.env["HOSTLOC_DATA_DIR"], IMAGE_DATA);
    assert_eq!(image.env["HOSTLOC_LISTEN"], "0.0.0.0:8080");

    let (server, env, port) = start(&image, "0.0.0.0");
    // The bundled data answers, with the image's data folder.
    let lookup = command(
        &[
            IMAGE_BINARY.to_owned(),
            "lookup".to_owned(),
            "--json".to_owned(),
            "95.211.0.1".to_owned(),
        ],
        &env,
    )
    .output()
    .unwrap();
    let result: serde_json::Value = serde_json::from_slice(&lookup.stdout).unwrap();
    assert_eq!(result["verdict"], "domestic", "{result}");

    drop(server);
    let check = command(&image.healthcheck, &env).output().unwrap();
    assert_eq!(check.status.code(), Some(1), "no server: unhealthy");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}/healthz")),
        "{stderr}"
    );
}

/// The `data:` entries of a ConfigMap manifest (flat `KEY: value` lines).
fn config_map(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let data = text.split("\ndata:\n").nth(1).unwrap();
    data.lines()
        .filter(|line| line.starts_with("  ") && !line.trim_start().starts_with('#'))
        .map(|line| {
            let (key, value) = line.trim().split_once(':').unwrap();
            (key.to_owned(), value.trim().trim_matches('"').to_owned())
        })
        .collect()
}

#[test]
fn the_kubernetes_settings_are_ones_hostloc_serve_accepts() {
    let settings = config_map(&repo().join("deploy/kubernetes/base/configmap.yaml"));
    assert!(
        settings.keys().all(|key| key.starts_with("HOSTLOC_")),
        "{settings:?}"
    );
    // The volume's files are the image's bundled ones here, as `data seed` leaves them.
    let volume = tempfile::tempdir().unwrap();
    for name in [
        "dbip-country.mmdb",
        "geo-whois-asn-country.mmdb",
        "asn.mmdb",
    ] {
        std::fs::copy(repo().join("data").join(name), volume.path().join(name)).unwrap();
    }
    let mut env = settings.clone();
    env.insert(
        "HOSTLOC_DATA_DIR".to_owned(),
        volume.path().display().to_string(),
    );
    env.insert("HOSTLOC_API_TOKEN".to_owned(), "test-token".to_owned());
    drop(serving(&env));
}

/// `hostloc serve` with `env` on a free loopback port, once its healthcheck passes (it is
/// alive; ready or not), and that port.
fn serving(env: &BTreeMap<String, String>) -> (Server, u16) {
    let port = free_port();
    let mut env = env.clone();
    env.insert("HOSTLOC_LISTEN".to_owned(), format!("127.0.0.1:{port}"));
    let server = Server(
        command(&[IMAGE_BINARY.to_owned(), "serve".to_owned()], &env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let check = [IMAGE_BINARY.to_owned(), "healthcheck".to_owned()];
    assert!(
        healthy_within(&check, &env, Duration::from_secs(30)),
        "serve did not start with the settings {env:?}"
    );
    (server, port)
}

/// `GET path` on 127.0.0.1:`port`, the whole answer as text.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_alert_rules_use_metrics_hostloc_exports() {
    let rules =
        std::fs::read_to_string(repo().join("deploy/prometheus/hostloc-rules.yml")).unwrap();
    let mut names: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("hostloc_"))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 3, "{names:?}");

    let image = image();
    let port = free_port();
    let mut env = image.env.clone();
    env.insert("HOSTLOC_LISTEN".to_owned(), format!("127.0.0.1:{port}"));
    let argv: Vec<String> = image.entrypoint.iter().chain(&image.cmd).cloned().collect();
    let _server = Server(
        command(&argv, &env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(healthy_within(
        &image.healthcheck,
        &env,
        Duration::from_secs(30)
    ));
    // A request first, so that the request counters have a series.
    http_get(port, "/v1/lookup?url=95.211.0.1");
    let metrics = http_get(port, "/metrics");
    for name in names {
        assert!(
            metrics
                .lines()
                .any(|line| line.starts_with(name) && !line.starts_with('#')),
            "the rules use {name}, which /metrics does not show:\n{metrics}"
        );
    }
}

/// The refresh job as the CronJob runs it (`data seed`, then `data update`, with the image's
/// and the ConfigMap's settings on an empty volume) against a publisher on loopback, and the
/// servers' readiness after it (`HOSTLOC_REQUIRE_FRESH_DATA` is on there). Without
/// `HOSTLOC_GEO_WHOIS_URL` the job fails naming the second country source, and the servers stay
/// unready because of it, though the DB-IP files are current; with the URL, every file is
/// current and the servers are ready: what docs/deploy.md, "The second country source", says.
#[test]
fn the_refresh_job_keeps_both_country_sources_fresh_or_says_why_not() {
    use crate::data_update::{
        ASN_URL, COUNTRY_URL, SECOND_URL, asn_db, country_db, gzip, month_path, months, second_db,
    };
    let image = image();
    let mut env = image.env.clone();
    env.extend(config_map(
        &repo().join("deploy/kubernetes/base/configmap.yaml"),
    ));
    assert_eq!(env["HOSTLOC_REQUIRE_FRESH_DATA"], "true");
    let volume = tempfile::tempdir().unwrap();
    env.insert(
        "HOSTLOC_DATA_DIR".to_owned(),
        volume.path().display().to_string(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let publisher = crate::support::publisher::Publisher::start();
    for month in months() {
        publisher.put(&month_path(COUNTRY_URL, &month), gzip(&country_db(now)));
        publisher.put(&month_path(ASN_URL, &month), gzip(&asn_db(now)));
    }
    publisher.put(SECOND_URL, gzip(&second_db(now)));
    let hostloc = |args: &[&str], env: &BTreeMap<String, String>| {
        let argv: Vec<String> = std::iter::once(IMAGE_BINARY)
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect();
        command(&argv, env).output().unwrap()
    };
    let update = |env: &BTreeMap<String, String>| {
        let country = publisher.url(COUNTRY_URL);
        let asn = publisher.url(ASN_URL);
        let args = [
            "data",
            "update",
            "--dbip-country-url",
            &country,
            "--dbip-asn-url",
            &asn,
        ];
        hostloc(&args, env)
    };
    // The readiness of a server on the volume, once it is alive.
    let readiness = |env: &BTreeMap<String, String>| {
        let (_server, port) = serving(env);
        http_get(port, "/readyz")
    };

    let seeded = hostloc(&["data", "seed"], &env);
    assert!(seeded.status.success(), "{seeded:?}");
    let without_url = update(&env);
    let stdout = String::from_utf8_lossy(&without_url.stdout);
    assert_eq!(without_url.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("updated  DB-IP country")
            && stdout.contains("updated  DB-IP asn")
            && stdout.contains("failed   geo-whois-asn-country: ")
            && stdout.contains("no --geo-whois-url (HOSTLOC_GEO_WHOIS_URL)"),
        "{stdout}"
    );
    let unready = readiness(&env);
    assert!(
        unready.starts_with("HTTP/1.1 503")
            && unready.contains("geo-whois-asn-country.mmdb was built"),
        "{unready}"
    );

    env.insert(
        "HOSTLOC_GEO_WHOIS_URL".to_owned(),
        publisher.url(SECOND_URL),
    );
    let with_url = update(&env);
    let stdout = String::from_utf8_lossy(&with_url.stdout);
    assert_eq!(with_url.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("updated  geo-whois-asn-country: ")
            && stdout.contains("current  DB-IP country"),
        "{stdout}"
    );
    let ready = readiness(&env);
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
}
