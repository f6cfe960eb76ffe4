//! hostloc never fetches the reported content: reported names resolve (through the test DNS
//! server) to loopback addresses where listeners record every connection, on the ports the
//! reports name and on the usual web ports; `lookup`, `batch` and `serve` look all of them up
//! and none of the listeners is ever contacted. Only the configured DNS server hears from
//! hostloc.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hostloc::http::HttpSettings;

use crate::support::serve::{Server, lookup_path};
use crate::support::{self, Answer, TestDns, TestWorld, run_with_stdin};

/// A loopback address no other test listens on, for the well-known ports.
const TRAP_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 53);

/// Listening sockets that count the connections made to them, each on a thread of its own.
struct Traps {
    connections: Arc<AtomicUsize>,
    /// Where the traps listen.
    addresses: Vec<SocketAddr>,
    /// The ephemeral ports, named by the reports.
    ports: Vec<u16>,
}

impl Traps {
    /// Traps on three ephemeral ports of 127.0.0.1 and [::1] (when IPv6 loopback exists), and
    /// on the web, mail and file ports of [`TRAP_V4`] that can be bound here.
    fn set() -> Traps {
        let connections = Arc::new(AtomicUsize::new(0));
        let mut addresses = Vec::new();
        let mut ports = Vec::new();
        let mut listen = |addr: SocketAddr| -> Option<u16> {
            let listener = std::net::TcpListener::bind(addr).ok()?;
            let bound = listener.local_addr().ok()?;
            let connections = Arc::clone(&connections);
            // The thread ends with the test binary.
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stream.is_ok() {
                        connections.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
            addresses.push(bound);
            Some(bound.port())
        };
        for _ in 0..3 {
            let port = listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("a port");
            ports.push(port);
            // The same port on IPv6 loopback, where the machine has it.
            listen(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        }
        // Ports below 1024 need root; the test machines run as root, a laptop may not.
        for port in [80, 443, 8080, 8443, 21, 25] {
            listen(SocketAddr::from((TRAP_V4, port)));
        }
        Traps {
            connections,
            addresses,
            ports,
        }
    }

    fn count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Checks that the traps work: a connection to each is counted.
    fn check_they_count(&self) {
        let before = self.count();
        for addr in &self.addresses {
            drop(std::net::TcpStream::connect(addr).expect("a trap accepts"));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.count() < before + self.addresses.len() {
            assert!(
                std::time::Instant::now() < deadline,
                "the traps do not count"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// Names that resolve to the traps, and reports that name them every way intake reads.
fn reports(dns: &TestDns, traps: &Traps) -> Vec<String> {
    let loopback = Answer::Records {
        a: vec![Ipv4Addr::LOCALHOST, TRAP_V4],
        aaaa: vec![Ipv6Addr::LOCALHOST],
        ttl: 300,
    };
    dns.set("fetch-me.example.nl", loopback.clone());
    dns.set("www.fetch-me.example.nl", loopback);
    dns.set(
        "cdn.fetch-me.example.nl",
        Answer::Cname {
            target: "www.fetch-me.example.nl".to_owned(),
            ttl: 300,
        },
    );
    let mut reports = vec![
        "fetch-me.example.nl".to_owned(),
        "http://fetch-me.example.nl/a.jpg".to_owned(),
        "https://www.fetch-me.example.nl/a/b?c=d".to_owned(),
        "hxxps://cdn.fetch-me.example[.]nl/x".to_owned(),
        "ftp://fetch-me.example.nl/file".to_owned(),
        format!("http://{TRAP_V4}/"),
        "http://[::1]/".to_owned(),
    ];
    for port in &traps.ports {
        reports.push(format!("http://fetch-me.example.nl:{port}/a.jpg"));
        reports.push(format!("https://www.fetch-me.example.nl:{port}/"));
        reports.push(format!("http://127.0.0.1:{port}/"));
        reports.push(format!("http://[::1]:{port}/x"));
        reports.push(format!("fetch-me.example.nl:{port}"));
    }
    reports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_batch_and_serve_never_connect_to_a_reported_host() {
    let traps = Traps::set();
    traps.check_they_count();
    let before = traps.count();
    let world = TestWorld::new();
    let dns = TestDns::start();
    let reports = reports(&dns, &traps);

    // hostloc lookup, arguments and stdin.
    let output = support::hostloc(&world, dns.addr())
        .arg("lookup")
        .arg("--json")
        .args(&reports)
        .output()
        .expect("hostloc lookup runs");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(support::json_lines(&output.stdout).len(), reports.len());

    // hostloc batch, lines.
    let output = run_with_stdin(
        support::hostloc(&world, dns.addr()).args(["batch", "--format", "lines", "--quiet"]),
        reports.join("\n"),
    );
    assert!(output.status.success(), "{output:?}");
    let results = support::json_lines(&output.stdout);
    assert_eq!(results.len(), reports.len());
    assert_eq!(results[1]["verdict"], "not_public", "{}", results[1]);

    // hostloc serve, GET and POST.
    let server = Server::start(
        support::pipeline(&world, dns.addr()),
        HttpSettings::default(),
    )
    .await;
    for report in &reports {
        let reply = server.get(&lookup_path(report)).await;
        assert_eq!(reply.status, 200, "{report}: {reply:?}");
        let host = reply.json["host"].as_str().unwrap_or_default().to_owned();
        if let Ok(ip) = host.parse::<IpAddr>() {
            assert!(ip.is_loopback(), "{report}");
        }
    }
    let reply = server
        .post("/v1/lookup", &serde_json::json!({ "urls": reports }))
        .await;
    assert_eq!(reply.status, 200);

    // The names were asked of the DNS server, and nothing reached the traps.
    for name in [
        "fetch-me.example.nl",
        "www.fetch-me.example.nl",
        "cdn.fetch-me.example.nl",
    ] {
        assert!(dns.queries(name) > 0, "{name} was not looked up");
    }
    assert_eq!(
        traps.count(),
        before,
        "hostloc connected to a reported host"
    );
}
