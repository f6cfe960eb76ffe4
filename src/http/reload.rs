//! Hot reload of the data set: on `POST /admin/reload`, on SIGHUP, and (optionally) when the
//! files change.
//!
//! Owns when and how often [`Pipeline::reload`] runs: one reload at a time, off the async
//! threads, each one logged and counted in `hostloc_reloads_total{result, trigger}`, and the
//! failure of the latest one kept until a reload succeeds (for `/readyz` and the gauge
//! `hostloc_data_reload_failing`), so that a bad file is visible for as long as it is. Swapping
//! the data atomically, and keeping the old set when the new one cannot be read, is the
//! pipeline's job, not this module's: requests in flight finish on the set they started with.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::Signal;

use crate::pipeline::{DataError, DataPaths, DataSet, Pipeline};
use crate::report::rfc3339;

/// What asked for a reload (a label of `hostloc_reloads_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReloadTrigger {
    /// `POST /admin/reload`.
    Http,
    /// SIGHUP.
    Signal,
    /// `--watch-interval` saw a file change.
    Watch,
}

impl ReloadTrigger {
    /// Every trigger, for registering the metric's series up front.
    pub(crate) const ALL: [ReloadTrigger; 3] = [
        ReloadTrigger::Http,
        ReloadTrigger::Signal,
        ReloadTrigger::Watch,
    ];

    /// The metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReloadTrigger::Http => "http",
            ReloadTrigger::Signal => "signal",
            ReloadTrigger::Watch => "watch",
        }
    }
}

/// Why a reload did not happen. The data served before is still served.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// A file could not be used; the message names it.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The server is shutting down and the reload was cancelled.
    #[error("the reload was cancelled because the server is shutting down")]
    Cancelled,
}

impl ReloadError {
    /// A stable short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ReloadError::Data(error) => error.kind(),
            ReloadError::Cancelled => "cancelled",
        }
    }
}

/// The latest reload's failure, while no reload has succeeded since.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ReloadFailure {
    /// Why the data could not be reloaded; names the file.
    pub(crate) error: String,
    /// A stable short name of the cause (`read`, `invalid`, `wrong_role`, `networks`, …).
    pub(crate) kind: &'static str,
    /// When it failed, RFC 3339 UTC.
    pub(crate) failed_at: String,
    /// What asked for the reload: `http`, `signal` or `watch`.
    pub(crate) trigger: &'static str,
}

/// Runs reloads of one pipeline, one at a time. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Reloader {
    pipeline: Pipeline,
    one_at_a_time: Arc<tokio::sync::Mutex<()>>,
    failure: Arc<std::sync::Mutex<Option<ReloadFailure>>>,
}

impl Reloader {
    /// A reloader for `pipeline`.
    pub(crate) fn new(pipeline: Pipeline) -> Reloader {
        Reloader {
            pipeline,
            one_at_a_time: Arc::new(tokio::sync::Mutex::new(())),
            failure: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// Why the latest reload failed, unless one has succeeded since.
    pub(crate) fn failure(&self) -> Option<ReloadFailure> {
        self.failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the data files and swaps them in; logs and counts the outcome.
    ///
    /// # Errors
    ///
    /// [`ReloadError`] naming the file that could not be used; the old data stays.
    pub(crate) async fn reload(&self, trigger: ReloadTrigger) -> Result<Arc<DataSet>, ReloadError> {
        let _turn = self.one_at_a_time.lock().await;
        let serving_since = self.pipeline.data().loaded_at;
        let pipeline = self.pipeline.clone();
        // Reading and checking the databases is blocking file I/O plus hashing.
        let outcome = match tokio::task::spawn_blocking(move || pipeline.reload()).await {
            Ok(result) => result.map_err(ReloadError::from),
            Err(join_error) if join_error.is_panic() => {
                std::panic::resume_unwind(join_error.into_panic())
            }
            Err(_) => Err(ReloadError::Cancelled),
        };
        let result = if outcome.is_ok() { "ok" } else { "error" };
        metrics::counter!("hostloc_reloads_total", "result" => result, "trigger" => trigger.as_str())
            .increment(1);
        *self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            outcome.as_ref().err().map(|error| ReloadFailure {
                error: error.to_string(),
                kind: error.kind(),
                failed_at: rfc3339(SystemTime::now()),
                trigger: trigger.as_str(),
            });
        match &outcome {
            Ok(data) => {
                let databases: Vec<String> = data
                    .geo
                    .infos()
                    .iter()
                    .map(|info| {
                        format!(
                            "{} {} built {}",
                            info.role,
                            info.file,
                            info.built.as_deref().unwrap_or("unknown")
                        )
                    })
                    .collect();
                tracing::info!(
                    trigger = trigger.as_str(),
                    databases = %databases.join(", "),
                    networks = data.networks.len(),
                    hotlines = data.hotlines.len(),
                    hotline_countries = data.hotlines.country_count(),
                    anycast_networks = data.anycast.len(),
                    "reloaded the data"
                );
                self.pipeline.log_stale_data();
            }
            Err(error) => tracing::error!(
                trigger = trigger.as_str(),
                kind = error.kind(),
                error = %crate::error::chain(error),
                serving_since = %rfc3339(serving_since),
                "reload failed; still serving the data loaded before"
            ),
        }
        outcome
    }
}

/// Reloads on every SIGHUP until the signal stream ends.
pub(crate) async fn reload_on_hangup(reloader: Reloader, mut hangup: Signal) {
    while hangup.recv().await.is_some() {
        // The outcome is logged and counted by `reload`.
        let _ = reloader.reload(ReloadTrigger::Signal).await;
    }
}

/// Looks at the data files every `interval` and reloads when any changed (size, modification
/// time, or presence) since `seen`. A file replaced while it was being read fails that reload
/// and is picked up at the next look, when it has changed again; a file that stays broken is not
/// retried.
pub(crate) async fn watch_files(
    reloader: Reloader,
    paths: DataPaths,
    interval: Duration,
    mut seen: Fingerprint,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let paths = paths.clone();
        // A few `stat` calls, but on a network file system even those may block.
        let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&paths)).await else {
            return;
        };
        if now != seen {
            seen = now;
            tracing::info!("a data file changed; reloading");
            let _ = reloader.reload(ReloadTrigger::Watch).await;
        }
    }
}

/// What the watcher compares: per file, its size and modification time, or that it is missing.
pub(crate) type Fingerprint = Vec<Option<(u64, Option<SystemTime>)>>;

/// The fingerprint of the data files now.
pub(crate) fn fingerprint(paths: &DataPaths) -> Fingerprint {
    paths
        .files()
        .map(|path| {
            let metadata = std::fs::metadata(path).ok()?;
            Some((metadata.len(), metadata.modified().ok()))
        })
        .collect()
}
