//! `hostloc serve` under abuse: raw TCP clients that misbehave on purpose against a real server
//! on loopback. Each test checks the server's answer (or its closing of the connection) and
//! that well-formed requests around the abuse are still answered. The heavy versions (5,000
//! idle connections, floods with memory and latency printed) are `bench/abuse.sh`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hostloc::http::HttpSettings;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::serve::{Reply, Server, lookup_path, metric};
use crate::support::{self, Answer, TestDns, TestWorld};

/// Longest wait for something the server must do by itself (close, answer).
const PATIENCE: Duration = Duration::from_secs(10);

/// A server over the test world, with `settings`.
async fn server_with(settings: HttpSettings) -> (Server, TestDns, TestWorld) {
    let world = TestWorld::new();
    let dns = TestDns::start();
    let server = Server::start(support::pipeline(&world, dns.addr()), settings).await;
    (server, dns, world)
}

/// Reads until the server closes the connection (cleanly or by a reset); fails when it is
/// still open after [`PATIENCE`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0_u8; 4096];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received.extend_from_slice(&chunk[..read]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server did not close the connection");
    received
}

/// The answers in `raw`, in order: status and body of each (bodies have content-length).
fn answers(raw: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut rest = raw;
    let mut found = Vec::new();
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("an incomplete head: {:?}", String::from_utf8_lossy(rest)));
        let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        let status: u16 = head[9..12].parse().expect("a status code");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .map_or(0, |value| value.trim().parse().expect("a length"));
        let body = rest[end + 4..end + 4 + length].to_vec();
        found.push((status, body));
        rest = &rest[end + 4 + length..];
    }
    found
}

/// Sends `request` on a new connection while reading, and returns everything the server sent
/// before it closed the connection.
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> Vec<u8> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reading, mut writing) = stream.into_split();
    // The server may answer before the request is sent whole; keep writing regardless.
    let writer = tokio::spawn(async move {
        let _ = writing.write_all(&request).await;
        writing
    });
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, reading.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    drop(writer.await);
    received
}

fn error_message(body: &[u8]) -> String {
    let json: Value = serde_json::from_slice(body)
        .unwrap_or_else(|error| panic!("{error}: {:?}", String::from_utf8_lossy(body)));
    json["error"].as_str().expect("an error message").to_owned()
}

/// A connection that never sends a byte is closed after the header timeout; so is a kept-alive
/// HTTP/1.1 connection after its request, and an HTTP/2 connection that only says hello.
#[tokio::test]
async fn connections_that_send_nothing_are_closed() {
    let settings = HttpSettings {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        ..HttpSettings::default()
    };
    let (server, _dns, _world) = server_with(settings).await;

    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(read_until_closed(&mut silent).await.is_empty());

    let mut kept_alive = TcpStream::connect(server.addr).await.unwrap();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: hostloc\r\n\r\n")
        .await
        .unwrap();
    let received = read_until_closed(&mut kept_alive).await;
    assert_eq!(answers(&received)[0].0, 200);

    // The HTTP/2 connection preface and an empty SETTINGS frame, then nothing.
    let mut http2 = TcpStream::connect(server.addr).await.unwrap();
    http2
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let received = read_until_closed(&mut http2).await;
    // The server's frames end with GOAWAY (type 7) before it closes.
    assert!(
        received.windows(2).any(|w| w == [0x07, 0x00]),
        "{received:?}"
    );

    let metrics = server.metrics().await;
    assert!(metric(&metrics, "hostloc_http_idle_connections_closed_total", &[]) >= 3.0);
    assert_eq!(server.get("/healthz").await.status, 200);
}

/// Headers sent one byte at a time never make a request: the connection is cut after the
/// header timeout, while other clients are served.
#[tokio::test]
async fn headers_trickled_a_byte_at_a_time_are_cut_off() {
    let settings = HttpSettings {
        header_timeout: Duration::from_millis(500),
        ..HttpSettings::default()
    };
    let (server, _dns, _world) = server_with(settings).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: hostloc\r\nX-Trickle: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut = false;
    for byte in request {
        if stream.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        let mut probe = [0_u8; 64];
        // Waiting for an answer byte by byte is the trickle's pace (50 ms a byte).
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(50), stream.read(&mut probe)).await
        {
            assert!(!matches!(read, Ok(n) if n > 0 && probe.starts_with(b"HTTP/1.1 200")));
            cut = true;
            break;
        }
        assert_eq!(server.get("/healthz").await.status, 200);
    }
    assert!(cut, "the whole trickled request was accepted");
}

/// Too large a head is 431, too long a request target 414, a request that is not HTTP 400:
/// each with a JSON error naming the limit, and the next client is served.
#[tokio::test]
async fn oversized_and_broken_requests_get_json_errors() {
    let (server, _dns, _world) = server_with(HttpSettings::default()).await;

    let mut big_header = b"GET /healthz HTTP/1.1\r\nHost: hostloc\r\nX-Big: ".to_vec();
    big_header.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big_header.extend_from_slice(b"\r\n\r\n");
    let received = exchange(server.addr, big_header).await;
    let [(status, body)] = &answers(&received)[..] else {
        panic!("{:?}", String::from_utf8_lossy(&received));
    };
    assert_eq!(*status, 431);
    let message = error_message(body);
    assert!(message.contains("131072 bytes"), "{message}");

    let mut long_query = format!("GET {}", lookup_path("x")).into_bytes();
    long_query.extend(std::iter::repeat_n(b'a', 100 * 1024));
    long_query.extend_from_slice(b" HTTP/1.1\r\nHost: hostloc\r\n\r\n");
    let received = exchange(server.addr, long_query).await;
    let [(status, body)] = &answers(&received)[..] else {
        panic!("{:?}", String::from_utf8_lossy(&received));
    };
    assert_eq!(*status, 414);
    assert!(error_message(body).contains("65534 bytes"));

    for broken in [
        &b"GET /v1/lookup?url=\xff\xfe HTTP/1.1\r\nHost: hostloc\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 a TLS hello\r\n\r\n",
    ] {
        let received = exchange(server.addr, broken.to_vec()).await;
        let [(status, body)] = &answers(&received)[..] else {
            panic!("{:?}", String::from_utf8_lossy(&received));
        };
        assert_eq!(*status, 400, "{broken:?}");
        assert!(error_message(body).contains("not valid HTTP"));
    }
    let metrics = server.metrics().await;
    for status in ["400", "414", "431"] {
        assert!(
            metric(
                &metrics,
                "hostloc_http_refused_unparsed_total",
                &[("status", status)]
            ) >= 1.0,
            "{status}"
        );
    }
    assert_eq!(server.get("/healthz").await.status, 200);
}

/// A `url` that is not UTF-8 once percent-decoded is read as `hostloc lookup` and `hostloc batch`
/// read such bytes: replaced, with a warning saying where, and looked up for what is left;
/// percent signs that encode nothing are part of the text; `url` twice is a 400.
#[tokio::test]
async fn invalid_utf8_and_percent_junk_in_the_query() {
    let (server, _dns, _world) = server_with(HttpSettings::default()).await;
    let replaced_warning = |reply: &Reply| {
        reply.json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|warning| warning.as_str())
            .find(|warning| warning.contains("not valid UTF-8"))
            .map(str::to_owned)
    };
    // In the host: no usable host is left.
    let reply = server.get("/v1/lookup?url=example%FF%FE.nl").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["verdict"], "invalid");
    assert_eq!(reply.json["input"], "example\u{fffd}\u{fffd}.nl");
    let warning = replaced_warning(&reply).expect("a warning names the replaced bytes");
    assert!(warning.contains("byte 8"), "{warning}");
    // In the path: the host is still found, as `hostloc lookup` finds it.
    let reply = server
        .get("/v1/lookup?url=http%3A%2F%2F95.211.0.1%2Fa%FF.jpg")
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["host"], "95.211.0.1");
    assert_ne!(reply.json["verdict"], "invalid");
    let warning = replaced_warning(&reply).expect("a warning names the replaced bytes");
    assert!(warning.contains("byte 20"), "{warning}");

    for junk in [
        "%",
        "%%",
        "%zz",
        "%2",
        "%00",
        "%C0%80",
        "%ED%A0%80",
        "a%+b",
        "%E2%82",
    ] {
        let reply = server.get(&format!("/v1/lookup?url={junk}")).await;
        assert_eq!(reply.status, 200, "{junk}: {reply:?}");
        assert_eq!(reply.json["verdict"], "invalid", "{junk}: {reply:?}");
        assert!(reply.json["reason"].is_string());
    }
    let twice = server.get("/v1/lookup?url=a.nl&url=b.nl").await;
    assert!(twice.error(400).contains("more than once"), "{twice:?}");
}

/// HTTP/1.0 requests are answered and closed; pipelined HTTP/1.1 requests are answered in
/// order on one connection.
#[tokio::test]
async fn http_1_0_and_pipelined_requests_are_answered() {
    let (server, dns, _world) = server_with(HttpSettings::default()).await;
    dns.set(
        "files.example.nl",
        Answer::Records {
            a: vec![std::net::Ipv4Addr::new(95, 211, 0, 1)],
            aaaa: vec![],
            ttl: 300,
        },
    );
    let received = exchange(server.addr, b"GET /healthz HTTP/1.0\r\n\r\n".to_vec()).await;
    assert!(received.starts_with(b"HTTP/1.0 200 OK\r\n"), "{received:?}");
    assert_eq!(answers(&received)[0].1, b"{\"status\":\"ok\"}\n");

    let pipelined = format!(
        "GET {} HTTP/1.1\r\nHost: h\r\n\r\n\
         GET /v1/ip/46.4.0.1 HTTP/1.1\r\nHost: h\r\n\r\n\
         POST /v1/lookup HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\
         Content-Length: 29\r\n\r\n{{\"urls\":[\"95.211.0.1\",\"x y\"]}}\
         GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n\
         GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        lookup_path("hxxps://files.example[.]nl/a.jpg")
    );
    let received = exchange(server.addr, pipelined.into_bytes()).await;
    let answers = answers(&received);
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [200, 200, 200, 404, 200]);
    let json = |index: usize| -> Value { serde_json::from_slice(&answers[index].1).unwrap() };
    assert_eq!(json(0)["verdict"], "domestic");
    assert_eq!(json(1)["country"], "DE");
    assert_eq!(json(2)["results"][1]["verdict"], "invalid");
}

/// Past the concurrency limit every request gets 200 or 503 with `Retry-After`, nothing else;
/// requests before and after the flood are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_past_the_concurrency_limit_is_shed_cleanly() {
    let settings = HttpSettings {
        max_concurrent_requests: 8,
        ..HttpSettings::default()
    };
    let (server, dns, _world) = server_with(settings).await;
    dns.set(
        "slow.example.nl",
        Answer::Delay(
            Duration::from_millis(100),
            Box::new(Answer::Records {
                a: vec![std::net::Ipv4Addr::new(95, 211, 0, 9)],
                aaaa: vec![],
                ttl: 300,
            }),
        ),
    );
    assert_eq!(server.get("/v1/ip/95.211.0.1").await.status, 200);
    let server = Arc::new(server);
    let flood: Vec<_> = (0..300)
        .map(|_| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let response = server
                    .client
                    .get(server.url(&lookup_path("slow.example.nl")))
                    .send()
                    .await
                    .expect("every request is answered");
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|value| value.to_str().unwrap().to_owned());
                let body: Value = response.json().await.expect("a JSON body");
                (status, retry_after, body)
            })
        })
        .collect();
    let mut answered = [0_u32; 2];
    for request in flood {
        let (status, retry_after, body) = request.await.unwrap();
        match status {
            200 => {
                // A result, whatever its verdict: on a loaded machine the test DNS may miss
                // the pipeline's short timeout, which is an `unresolved` answer, not an error.
                assert!(body["verdict"].is_string(), "{body}");
                answered[0] += 1;
            }
            503 => {
                assert_eq!(retry_after.as_deref(), Some("1"));
                assert!(body["error"].as_str().unwrap().contains("retry"));
                answered[1] += 1;
            }
            other => panic!("status {other}: {body}"),
        }
    }
    assert!(answered[0] >= 8 && answered[1] > 0, "{answered:?}");
    assert_eq!(server.get("/v1/ip/95.211.0.1").await.status, 200);
    assert_eq!(
        server.lookup("slow.example.nl").await["verdict"],
        "domestic"
    );
}

/// At `--max-connections` a new client waits until a connection closes, and is then served.
#[tokio::test]
async fn at_the_connection_cap_new_clients_wait_for_a_free_slot() {
    let settings = HttpSettings {
        max_connections: 2,
        ..HttpSettings::default()
    };
    let (server, _dns, _world) = server_with(settings).await;
    let first = TcpStream::connect(server.addr).await.unwrap();
    let second = TcpStream::connect(server.addr).await.unwrap();
    // The third is queued by the system (the listen backlog), not accepted.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut probe = [0_u8; 16];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), third.read(&mut probe))
            .await
            .is_err(),
        "answered beyond the connection cap"
    );
    drop(first);
    let received = read_until_closed(&mut third).await;
    assert_eq!(answers(&received)[0].0, 200);
    drop(second);
    let metrics = server.metrics().await;
    assert!(metric(&metrics, "hostloc_http_connection_limit_reached_total", &[]) >= 1.0);
}

/// `--listen-backlog` sets the listen queue of the socket `hostloc serve` binds.
#[test]
fn the_listen_backlog_is_configurable() {
    use std::io::{BufRead, BufReader};
    let world = TestWorld::new();
    let dns = TestDns::start();
    let mut child = support::hostloc(&world, dns.addr())
        .args(["serve", "--listen", "127.0.0.1:0", "--listen-backlog", "77"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hostloc serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let addr = lines
        .find_map(|line| {
            let rest = line.split("listening on http://").nth(1)?;
            rest.split_whitespace().next().map(str::to_owned)
        })
        .expect("the address is logged");
    // Keep reading: the server logs more (the data's age), and must not find its stderr closed.
    std::thread::spawn(move || lines.for_each(drop));
    let port = addr.rsplit(':').next().unwrap();
    let listing = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let _ = child.kill();
    let _ = child.wait();
    let listing = String::from_utf8_lossy(&listing.stdout);
    // For a listening socket, ss shows the backlog as Send-Q (the third column).
    let backlog = listing.split_whitespace().nth(2);
    assert_eq!(backlog, Some("77"), "{listing}");
}
