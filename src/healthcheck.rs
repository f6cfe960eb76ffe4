//! Healthcheck: `hostloc healthcheck`, asking a `hostloc serve` on this machine whether it is
//! alive, for a container's `HEALTHCHECK` (the runtime image has no curl).
//!
//! Owns turning the listen address into the loopback URL of `/healthz` and judging the answer.
//! Must not: ask anything but that one local URL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why the server is not healthy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// No answer (nothing listening, a timeout, a broken connection).
    #[error("no answer from {url}: {source}")]
    NoAnswer {
        /// The URL asked.
        url: String,
        /// What the client said.
        #[source]
        source: reqwest::Error,
    },
    /// An answer other than 200.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status.
        status: u16,
    },
}

/// The URL of `/healthz` for a server listening on `listen`: an unspecified address (0.0.0.0,
/// ::) is asked on loopback.
pub fn healthz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, listen.port()))
}

/// GETs `/healthz` of the server on `listen`.
///
/// # Errors
///
/// [`HealthError`] saying what went wrong.
pub async fn check(listen: SocketAddr, timeout: Duration) -> Result<(), HealthError> {
    let url = healthz_url(listen);
    let no_answer = |source| HealthError::NoAnswer {
        url: url.clone(),
        source,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(no_answer)?;
    let response = client.get(&url).send().await.map_err(no_answer)?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(HealthError::Status {
            url,
            status: response.status().as_u16(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_asked_on_loopback() {
        for (listen, url) in [
            ("0.0.0.0:8080", "http://127.0.0.1:8080/healthz"),
            ("[::]:9000", "http://[::1]:9000/healthz"),
            ("10.1.2.3:80", "http://10.1.2.3:80/healthz"),
        ] {
            assert_eq!(healthz_url(listen.parse().unwrap()), url);
        }
    }
}
