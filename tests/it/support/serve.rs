//! `hostloc serve` in tests: as a child process ([`ServeProcess`], its stderr collected line by
//! line and its address read from the `listening on http://ADDRESS` line; [`Child`] adds a
//! client), or in this process on an ephemeral loopback port ([`Server`]); a real HTTP client
//! for both, and helpers to read their answers and metrics.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hostloc::Pipeline;
use hostloc::http::{self, AppState, HttpSettings, ServeError};
use serde_json::Value;
use tokio::sync::oneshot;

/// A running `hostloc serve` (killed when dropped).
pub(crate) struct ServeProcess {
    pub(crate) process: tokio::process::Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its stderr so far.
    pub(crate) log: Arc<Mutex<String>>,
}

impl ServeProcess {
    /// Runs `command` (a `hostloc ... serve` command line) and waits until it listens.
    pub(crate) async fn start(mut command: std::process::Command) -> ServeProcess {
        use tokio::io::AsyncBufReadExt;
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut process = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .expect("hostloc serve starts");
        let stderr = process.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (listening, address) = oneshot::channel::<SocketAddr>();
        tokio::spawn({
            let log = Arc::clone(&log);
            async move {
                let mut listening = Some(listening);
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(rest) = line.split("listening on http://").nth(1)
                        && let Some(sender) = listening.take()
                    {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        let _ = sender.send(addr.parse().expect("a socket address"));
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(10), address)
            .await
            .expect("hostloc serve logs its address")
            .unwrap_or_else(|_| panic!("hostloc serve exited: {process:?}"));
        ServeProcess { process, addr, log }
    }

    /// `http://ADDRESS` followed by `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A server running in this process on an ephemeral loopback port.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) client: reqwest::Client,
    pub(crate) shutdown: Option<oneshot::Sender<()>>,
    pub(crate) task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Server {
    pub(crate) async fn start(pipeline: Pipeline, settings: HttpSettings) -> Server {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let state = AppState::new(pipeline, settings);
        let task = tokio::spawn(http::run(listener, state, async move {
            let _ = stop.await;
        }));
        Server {
            addr,
            client: client(),
            shutdown: Some(shutdown),
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        Reply::read(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Reply {
        let request = self.client.post(self.url(path)).json(body);
        Reply::read(request.send().await.expect("POST")).await
    }

    pub(crate) async fn lookup(&self, url: &str) -> Value {
        let reply = self.get(&lookup_path(url)).await;
        assert_eq!(reply.status, 200, "{url}: {:?}", reply.json);
        reply.json
    }

    pub(crate) async fn metrics(&self) -> String {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200);
        reply.text
    }

    /// Stops accepting, waits for the server to drain and return.
    pub(crate) async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .expect("the server task does not panic")
    }
}

/// A client that never goes through a proxy, whatever the environment says.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
    pub(crate) json: Value,
}

impl Reply {
    pub(crate) async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// Asserts a JSON error answer with `status` and returns its message.
    pub(crate) fn error(&self, status: u16) -> &str {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.headers["content-type"], "application/json", "{self:?}");
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {self:?}"))
    }
}

pub(crate) fn lookup_path(url: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("url", url);
    format!("/v1/lookup?{}", query.finish())
}

/// Polls `condition` every 5 ms for up to 10 s.
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The value of the series `name{labels}` in Prometheus text, whatever the label order; 0 when
/// absent.
pub(crate) fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeMap<&str, &str> = labels.iter().copied().collect();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let found: BTreeMap<&str, &str> = series_labels
            .split(',')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key, value.trim_matches('"')))
            .collect();
        if found == wanted {
            return value.parse().expect("a metric value");
        }
    }
    0.0
}

/// `hostloc serve` as a child process, its stderr collected line by line.
pub(crate) struct Child {
    pub(crate) process: tokio::process::Child,
    pub(crate) addr: SocketAddr,
    pub(crate) log: Arc<Mutex<String>>,
    pub(crate) client: reqwest::Client,
}

impl Child {
    pub(crate) async fn start(command: std::process::Command) -> Child {
        let ServeProcess { process, addr, log } = ServeProcess::start(command).await;
        Child {
            process,
            addr,
            log,
            client: client(),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        let url = format!("http://{}{path}", self.addr);
        Reply::read(self.client.get(url).send().await.expect("GET")).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Reply {
        let url = format!("http://{}{path}", self.addr);
        Reply::read(self.client.post(url).json(body).send().await.expect("POST")).await
    }

    pub(crate) fn signal(&self, name: &str) {
        let pid = self.process.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Sends SIGTERM and returns the whole log once the process has exited successfully.
    pub(crate) async fn terminate(mut self) -> String {
        self.signal("TERM");
        let status = tokio::time::timeout(Duration::from_secs(10), self.process.wait())
            .await
            .expect("hostloc serve exits after SIGTERM")
            .unwrap();
        assert!(status.success(), "{status:?}");
        // The reader task ends at EOF, right after the exit; give it that moment.
        for _ in 0..100 {
            if self.log.lock().unwrap().contains("stopped") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.log.lock().unwrap().clone()
    }
}
