//! `hostloc serve` as a child process: started, its stderr collected line by line, and its
//! address read from the `listening on http://ADDRESS` line.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
