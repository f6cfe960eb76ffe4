//! The checks behind hostloc's fuzz targets, shared with their short proptest versions in
//! `tests/it/fuzz_props.rs` (which include this file).
//!
//! Each harness runs the real thing in-process on the bundled data, with DNS answered by a
//! tiny responder on loopback that says NXDOMAIN to every query (so no lookup waits and
//! nothing leaves the machine), and checks what hostloc promises whatever the input:
//!
//! - [`HttpHarness`]: `GET /v1/lookup?<query>` answers 200 with a Result or 400 with a JSON
//!   error; `POST /v1/lookup` with a body answers 200 with one Result per URL, in order, each
//!   echoing its input exactly, when the body is `{"urls": [strings]}`, and a JSON 400
//!   otherwise. Never a panic, a 5xx or a body that is not JSON.
//! - [`BatchHarness`]: `hostloc batch` over a CSV or JSONL input writes every input record
//!   once, in order, with its fields (CSV) or its object (JSONL) unchanged, followed by a
//!   result.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, Uri, header};
use hostloc::http::{AppState, HttpSettings};
use serde_json::{Map, Value};
use settings::{batch_args, pipeline};
use tower::ServiceExt;

/// The most URLs one `POST /v1/lookup` may carry (the server's default).
const MAX_BATCH_URLS: usize = 1000;

/// The router of `hostloc serve`, driven one request at a time.
pub struct HttpHarness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

impl Default for HttpHarness {
    fn default() -> Self {
        HttpHarness::new()
    }
}

impl HttpHarness {
    /// A router over the bundled data, DNS answered by the NXDOMAIN responder.
    pub fn new() -> HttpHarness {
        let runtime = runtime();
        let router = runtime.block_on(async {
            hostloc::http::app(AppState::new(pipeline(), HttpSettings::default()))
        });
        HttpHarness { runtime, router }
    }

    /// First byte even: `data[1..]` is the query string of `GET /v1/lookup`; odd: it is the
    /// body of `POST /v1/lookup`.
    pub fn check(&self, data: &[u8]) {
        let Some((&mode, payload)) = data.split_first() else {
            return;
        };
        if mode % 2 == 0 {
            self.check_get(payload);
        } else {
            self.check_post(payload);
        }
    }

    fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        self.runtime.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {});
            let status = response.status();
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("the body is read");
            assert_eq!(
                content_type.as_ref().map(|value| value.as_bytes()),
                Some(&b"application/json"[..]),
                "status {status}"
            );
            let json: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|error| panic!("{error}: {:?}", String::from_utf8_lossy(&bytes)));
            (status, json)
        })
    }

    fn check_get(&self, query: &[u8]) {
        let mut target = b"/v1/lookup?".to_vec();
        target.extend_from_slice(query);
        // Bytes no URI may hold never reach the router (hyper refuses them with a 400).
        let Ok(uri) = Uri::try_from(target) else {
            return;
        };
        let request = Request::get(uri).body(Body::empty()).expect("a request");
        let (status, json) = self.call(request);
        match status {
            StatusCode::OK => {
                assert!(json["input"].is_string(), "{json}");
                assert!(json["verdict"].is_string(), "{json}");
                assert!(json["reason"].is_string(), "{json}");
            }
            StatusCode::BAD_REQUEST => assert!(json["error"].is_string(), "{json}"),
            other => panic!("GET answered {other}: {json}"),
        }
    }

    fn check_post(&self, body: &[u8]) {
        #[derive(serde::Deserialize)]
        struct LookupRequest {
            urls: Vec<String>,
        }
        let request = Request::post("/v1/lookup")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_vec()))
            .expect("a request");
        let (status, json) = self.call(request);
        match serde_json::from_slice::<LookupRequest>(body) {
            Ok(request) if request.urls.len() <= MAX_BATCH_URLS => {
                assert_eq!(status, StatusCode::OK, "{json}");
                let results = json["results"].as_array().expect("results");
                assert_eq!(results.len(), request.urls.len());
                for (result, url) in results.iter().zip(&request.urls) {
                    assert_eq!(result["input"].as_str(), Some(url.as_str()), "{result}");
                    assert!(result["verdict"].is_string(), "{result}");
                }
            }
            Ok(_) => assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}"),
            Err(_) => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
                assert!(json["error"].is_string(), "{json}");
            }
        }
    }
}

/// `hostloc batch`, run on files in a directory of its own.
pub struct BatchHarness {
    runtime: tokio::runtime::Runtime,
    pipeline: hostloc::Pipeline,
    directory: tempfile::TempDir,
}

impl Default for BatchHarness {
    fn default() -> Self {
        BatchHarness::new()
    }
}

/// The CSV header `check` puts before the rows in its first mode.
const CSV_HEADER: &[u8] = b"id,url,note\n";

/// How many result columns `batch` appends to a CSV record.
const RESULT_COLUMNS: usize = hostloc::Report::CSV_HEADERS.len();

impl BatchHarness {
    /// A batch runner over the bundled data, DNS answered by the NXDOMAIN responder.
    pub fn new() -> BatchHarness {
        let runtime = runtime();
        let pipeline = runtime.block_on(async { pipeline() });
        BatchHarness {
            runtime,
            pipeline,
            directory: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// First byte mod 3: 0, `data[1..]` are CSV rows under the header `id,url,note`; 1, it is
    /// a whole CSV file (which may lack the `url` column); 2, it is a JSONL file.
    pub fn check(&self, data: &[u8]) {
        let Some((&mode, payload)) = data.split_first() else {
            return;
        };
        match mode % 3 {
            0 => self.check_csv(&[CSV_HEADER, payload].concat(), true),
            1 => self.check_csv(payload, false),
            _ => self.check_jsonl(payload),
        }
    }

    /// Runs `batch` on `input` written to a file with `extension`; the output, or `None` when
    /// the run refused the input (the error is returned for the caller to judge).
    fn run(&self, input: &[u8], extension: &str) -> Result<Vec<u8>, hostloc::batch::BatchError> {
        // Files of their own for each run: the proptests call one harness from several threads.
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let input_path = self.directory.path().join(format!("in-{run}.{extension}"));
        let output_path: PathBuf = self.directory.path().join(format!("out-{run}.{extension}"));
        std::fs::write(&input_path, input).expect("the input is written");
        let _ = std::fs::remove_file(&output_path);
        let args = batch_args(&input_path, &output_path);
        let outcome = self.runtime.block_on(hostloc::batch::run_until(
            &self.pipeline,
            &args,
            std::future::pending(),
        ));
        let output = std::fs::read(&output_path);
        let _ = std::fs::remove_file(&input_path);
        let _ = std::fs::remove_file(&output_path);
        if let Err(error @ hostloc::batch::BatchError::NotText { .. }) = outcome {
            // Refused by its first bytes (a fuzzed file may well start like a JPEG or a PDF):
            // before anything is written.
            assert!(output.is_err(), "an output was written for {error}");
            return Err(error);
        }
        let outcome = outcome?;
        assert!(outcome.complete, "{outcome:?}");
        Ok(output.expect("the output is read"))
    }

    fn check_csv(&self, input: &[u8], has_url_column: bool) {
        let output = match self.run(input, "csv") {
            Ok(output) => output,
            Err(hostloc::batch::BatchError::NoUrlColumn { .. }) if !has_url_column => return,
            Err(hostloc::batch::BatchError::NotText { .. }) => return,
            Err(error) => panic!("batch failed: {error}"),
        };
        let records = |bytes: &[u8]| -> Vec<Vec<Vec<u8>>> {
            csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(bytes)
                .byte_records()
                .map(|record| {
                    record
                        .expect("CSV reads as bytes")
                        .iter()
                        .map(<[u8]>::to_vec)
                        .collect()
                })
                .collect()
        };
        let inputs = records(input);
        let outputs = records(&output);
        assert_eq!(
            inputs.len(),
            outputs.len(),
            "records in and out:\n{:?}\n{:?}",
            String::from_utf8_lossy(input),
            String::from_utf8_lossy(&output)
        );
        let Some(width) = inputs.first().map(Vec::len) else {
            return;
        };
        for (number, (input_record, output_record)) in inputs.iter().zip(&outputs).enumerate() {
            let fields = input_record.len().max(width);
            assert_eq!(
                output_record.len(),
                fields + RESULT_COLUMNS,
                "record {number}: {input_record:?} → {output_record:?}"
            );
            assert_eq!(
                &output_record[..input_record.len()],
                &input_record[..],
                "record {number}"
            );
            assert!(
                output_record[input_record.len()..fields]
                    .iter()
                    .all(Vec::is_empty),
                "record {number}: padding"
            );
        }
    }

    fn check_jsonl(&self, input: &[u8]) {
        let output = match self.run(input, "jsonl") {
            Ok(output) => output,
            Err(hostloc::batch::BatchError::NotText { .. }) => return,
            Err(error) => panic!("batch failed: {error}"),
        };
        let lines = |bytes: &[u8]| -> Vec<Vec<u8>> {
            let mut lines: Vec<Vec<u8>> = bytes
                .split(|byte| *byte == b'\n')
                .map(<[u8]>::to_vec)
                .collect();
            if bytes.is_empty() || bytes.ends_with(b"\n") {
                lines.pop();
            }
            lines
        };
        let inputs = lines(input);
        let outputs = lines(&output);
        assert_eq!(inputs.len(), outputs.len(), "lines in and out");
        for (number, (input_line, output_line)) in inputs.iter().zip(&outputs).enumerate() {
            // A byte order mark stays where it was, as part of the line's text.
            let output_line = output_line
                .strip_prefix("\u{feff}".as_bytes())
                .unwrap_or(output_line);
            let written: Map<String, Value> =
                serde_json::from_slice(output_line).unwrap_or_else(|error| {
                    panic!(
                        "line {number} out is not an object ({error}): {:?}",
                        String::from_utf8_lossy(output_line)
                    )
                });
            let original = std::str::from_utf8(input_line)
                .ok()
                .map(|text| text.strip_prefix('\u{feff}').unwrap_or(text))
                .and_then(|text| serde_json::from_str::<Map<String, Value>>(text).ok());
            match original {
                Some(original) => {
                    for (key, value) in &original {
                        assert_eq!(written.get(key), Some(value), "line {number}, key {key:?}");
                    }
                    let added: Vec<&String> = written
                        .keys()
                        .filter(|key| !original.contains_key(*key))
                        .collect();
                    assert_eq!(added.len(), 1, "line {number}: {added:?}");
                    assert!(added[0].starts_with("hostloc"));
                    assert!(written[added[0]]["verdict"].is_string());
                }
                None => {
                    assert!(written["raw_line"].is_string(), "line {number}");
                    assert_eq!(written["hostloc"]["verdict"], "invalid", "line {number}");
                }
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Settings parsed by hostloc's own command line, so that they follow its defaults.
mod settings {
    use std::path::Path;

    use hostloc::config::{BatchArgs, Cli, Command};

    /// A pipeline over the bundled data asking the NXDOMAIN responder.
    pub(crate) fn pipeline() -> hostloc::Pipeline {
        let server = super::nxdomain_responder().to_string();
        let cli = Cli::try_parse_args([
            "hostloc",
            "lookup",
            "--dns-server",
            &server,
            "--dns-timeout",
            "500ms",
            "--dns-attempts",
            "1",
        ])
        .expect("settings parse");
        match cli.command {
            // The bundled data of the source tree (no copy inside a binary here).
            Command::Lookup(lookup) => lookup
                .pipeline
                .pipeline(None)
                .expect("the bundled data loads"),
            other => unreachable!("parsed {other:?}"),
        }
    }

    /// `batch --quiet -o OUTPUT INPUT`.
    pub(crate) fn batch_args(input: &Path, output: &Path) -> BatchArgs {
        let cli = Cli::try_parse_args([
            "hostloc".as_ref(),
            "batch".as_ref(),
            "--quiet".as_ref(),
            "-o".as_ref(),
            output.as_os_str(),
            input.as_os_str(),
        ])
        .expect("batch arguments parse");
        match cli.command {
            Command::Batch(command) => command.batch,
            other => unreachable!("parsed {other:?}"),
        }
    }
}

/// A UDP DNS responder on loopback that answers every query NXDOMAIN (its own question, no
/// records), on a thread of its own for the life of the process.
fn nxdomain_responder() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let address = socket.local_addr().expect("its address");
    std::thread::spawn(move || {
        let mut packet = [0_u8; 1500];
        loop {
            let Ok((length, peer)) = socket.recv_from(&mut packet) else {
                continue;
            };
            // Header (12 bytes), then the question: labels up to the root, type and class.
            let mut end = 12;
            while end < length && packet[end] != 0 {
                end += 1 + usize::from(packet[end]);
            }
            end += 5;
            if length < 12 || end > length {
                continue;
            }
            packet[2] = (packet[2] | 0x80) & !0x02; // a response, not truncated
            packet[3] = 0x80 | 0x03; // recursion available, NXDOMAIN
            packet[6..12].fill(0); // no answer, authority or additional records
            let _ = socket.send_to(&packet[..end], peer);
        }
    });
    address
}
