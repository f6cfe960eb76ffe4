//! A real headless Chromium, driven through WebDriver: Debian's `chromium` and `chromedriver`
//! (installed by `.ci/setup`), spoken to with fantoccini.
//!
//! Each [`Browser`] has a fresh profile and download directory, asks for no name but loopback
//! (every other host is made unresolvable), and keeps the browser's own background traffic
//! off. Its performance log lists every request the page made, and its browser log every
//! console message and Content-Security-Policy violation, so tests can check both. When
//! Chromium or chromedriver is missing the test fails and says how to install them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

/// What to do when the browser is missing.
const INSTALL: &str = "the browser tests need Chromium and its WebDriver: run `.ci/setup` \
                       (as root: apt-get install chromium chromium-driver)";

/// How long a wait for the page may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// One request from the performance log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) url: String,
    /// The document the request was made for (the page, or the browser's own start page).
    pub(crate) document: String,
}

/// A headless Chromium and its chromedriver, both ended when dropped.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium through it.
    pub(crate) async fn start() -> Browser {
        let chromium = program(&["chromium", "chromium-browser"])
            .unwrap_or_else(|| panic!("Chromium is not installed: {INSTALL}"));
        let chromedriver = program(&["chromedriver"])
            .unwrap_or_else(|| panic!("chromedriver is not installed: {INSTALL}"));
        let (driver, port) = start_driver(&chromedriver);
        let profile = tempfile::tempdir().expect("profile directory");
        let downloads = tempfile::tempdir().expect("download directory");
        let arguments = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1400,1000".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            // Nothing but loopback can even be resolved: the page, and the browser, cannot
            // reach the internet whatever they try.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
                .to_owned(),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": arguments,
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                },
            },
            "goog:loggingPrefs": { "performance": "ALL", "browser": "ALL" },
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("an object"),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|error| panic!("Chromium does not start: {error} ({INSTALL})"));
        Browser {
            client,
            driver,
            _profile: profile,
            downloads,
        }
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub(crate) async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("script fails: {error}\n{script}"))
    }

    /// Runs an asynchronous `script` whose last argument is the callback to call with the value.
    pub(crate) async fn run_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("script fails: {error}\n{script}"))
    }

    /// Waits until `expression` is truthy in the page and returns its value; fails after
    /// [`PATIENCE`] saying `what` was awaited and what the page's status line says.
    pub(crate) async fn wait_for(&self, expression: &str, what: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.run(&format!("return ({expression});")).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            if started.elapsed() > PATIENCE {
                let status = self
                    .run("const s = document.getElementById('status'); return s ? s.textContent : null;")
                    .await;
                panic!("waited {PATIENCE:?} for {what}; the status line says {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the element that `css` selects.
    pub(crate) async fn click(&self, css: &str) {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element {css}: {error}"))
            .click()
            .await
            .unwrap_or_else(|error| panic!("clicking {css}: {error}"));
    }

    /// Grants the page `permission` (e.g. `clipboard-read`).
    pub(crate) async fn grant(&self, permission: &str) {
        self.client
            .issue_cmd(Extension {
                method: Method::POST,
                path: "permissions",
                body: json!({ "descriptor": { "name": permission }, "state": "granted" }),
            })
            .await
            .unwrap_or_else(|error| panic!("granting {permission}: {error}"));
    }

    /// Entries of the browser's log of `kind` (`performance` or `browser`) since the last call.
    pub(crate) async fn log(&self, kind: &str) -> Vec<Value> {
        let entries = self
            .client
            .issue_cmd(Extension {
                method: Method::POST,
                path: "se/log",
                body: json!({ "type": kind }),
            })
            .await
            .unwrap_or_else(|error| panic!("reading the {kind} log: {error}"));
        entries.as_array().cloned().unwrap_or_default()
    }

    /// Every request the browser sent since the last call (from the performance log).
    pub(crate) async fn requests(&self) -> Vec<Request> {
        self.log("performance")
            .await
            .iter()
            .filter_map(|entry| {
                let message: Value = serde_json::from_str(entry["message"].as_str()?).ok()?;
                let message = &message["message"];
                (message["method"] == "Network.requestWillBeSent").then(|| {
                    let params = &message["params"];
                    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
                    Request {
                        method: text(&params["request"]["method"]),
                        url: text(&params["request"]["url"]),
                        document: text(&params["documentURL"]),
                    }
                })
            })
            .collect()
    }

    /// Waits for a finished download whose name starts with `prefix` and returns its path.
    pub(crate) async fn downloaded(&self, prefix: &str) -> PathBuf {
        let started = Instant::now();
        loop {
            let done = std::fs::read_dir(self.downloads.path())
                .expect("download directory")
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .find(|path| {
                    let name = path.file_name().unwrap_or_default().to_string_lossy();
                    name.starts_with(prefix) && !name.ends_with(".crdownload")
                });
            if let Some(path) = done {
                return path;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no download named {prefix}… after {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a screenshot of the whole page at `width` CSS pixels as `name`.png among the
    /// test artifacts, and returns its path.
    pub(crate) async fn screenshot(&self, name: &str, width: u32) -> PathBuf {
        self.client
            .set_window_size(width, 800)
            .await
            .expect("resize");
        let height = self
            .run("return document.documentElement.scrollHeight;")
            .await
            .as_u64()
            .unwrap_or(800);
        let height = u32::try_from(height).unwrap_or(4000).clamp(400, 4000);
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize");
        // The whole page from its top, wherever the last action scrolled it.
        self.run("window.scrollTo(0, 0);").await;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = artifacts().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Ends the session and the browser.
    pub(crate) async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    /// Ends the browser even when the test failed before [`Browser::close`]: killing
    /// chromedriver alone would leave Chromium running.
    fn drop(&mut self) {
        end_processes_with(&format!(
            "--user-data-dir={}",
            self._profile.path().display()
        ));
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Sends SIGTERM to every process of this machine that was started with the argument
/// `argument` (this browser's own profile directory: its processes and no others).
fn end_processes_with(argument: &str) {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return;
    };
    for process in processes.flatten() {
        let pid = process.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        let Ok(command_line) = std::fs::read(process.path().join("cmdline")) else {
            continue;
        };
        if command_line
            .split(|byte| *byte == 0)
            .any(|part| part == argument.as_bytes())
        {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
        }
    }
}

/// Where the browser tests leave their screenshots: `target/tmp/page/`.
pub(crate) fn artifacts() -> PathBuf {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page");
    std::fs::create_dir_all(&directory).expect("artifact directory");
    directory
}

/// The first of `names` on the `PATH`.
fn program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|directory| directory.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Starts chromedriver on a port of its choosing and reads that port from its first lines.
fn start_driver(chromedriver: &Path) -> (Child, u16) {
    let mut driver = Command::new(chromedriver)
        .args(["--port=0", "--allowed-ips=127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("chromedriver does not start: {error} ({INSTALL})"));
    let stdout = driver.stdout.take().expect("stdout is piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    // Reads on to the end, so that chromedriver never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(port);
            }
        }
    });
    match receiver.recv_timeout(PATIENCE) {
        Ok(port) => (driver, port),
        Err(_) => {
            let _ = driver.kill();
            panic!("chromedriver did not say its port within {PATIENCE:?} ({INSTALL})");
        }
    }
}

/// A chromedriver command beyond W3C WebDriver: `path` under the session, with a JSON body.
#[derive(Debug)]
struct Extension {
    method: Method,
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Extension {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        (self.method.clone(), Some(self.body.to_string()))
    }
}
