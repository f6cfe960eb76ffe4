//! TCP: one persistent, pipelined connection per name server (RFC 7766), for answers that do
//! not fit a datagram and for questions whose UDP answer came back in the wrong case.
//!
//! Owns the connection to one server ([`TcpLink`]): opening it when first needed, sending
//! length-framed queries on it without waiting for earlier answers, one reader task routing
//! every framed answer through a [`Channel`] (the same screening as UDP, the question compared
//! without regard to case since no 0x20 is used here), and opening a fresh connection when the
//! server has closed the old one. It must not connect to anything but its server or log
//! queried names.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hickory_resolver::proto::op::{DnsResponse, Query};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;

use super::channel::{Channel, Reply};
use super::encode;
use super::server::Counters;

/// Why a TCP query got no answer.
#[derive(Debug)]
pub(super) enum TcpFailure {
    /// Nothing listens on the server's TCP port.
    Refused,
    /// The connection failed or closed before the answer came (twice, if it had been reused).
    Broken(Arc<io::Error>),
}

/// The connection to one server, opened when first needed and again after it closed.
pub(super) struct TcpLink {
    server: SocketAddr,
    connection: Mutex<Option<Arc<TcpConnection>>>,
    counters: Arc<Counters>,
}

struct TcpConnection {
    writer: Mutex<OwnedWriteHalf>,
    channel: Arc<Channel>,
    closed: Arc<AtomicBool>,
    reader: AbortHandle,
}

impl Drop for TcpConnection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl TcpLink {
    pub(super) fn new(server: SocketAddr, counters: Arc<Counters>) -> TcpLink {
        TcpLink {
            server,
            connection: Mutex::new(None),
            counters,
        }
    }

    /// Asks `question` over the server's connection. A connection the server closed meanwhile
    /// is replaced once. Without a time limit: the caller bounds the try.
    pub(super) async fn ask(
        &self,
        question: &Query,
        edns: bool,
    ) -> Result<DnsResponse, TcpFailure> {
        let mut reopened = false;
        loop {
            let (connection, fresh) = self.connection().await?;
            match connection.ask(question, edns, &self.counters).await {
                Err(TcpFailure::Broken(_)) if !fresh && !reopened => reopened = true,
                other => return other,
            }
        }
    }

    /// Queries in flight on the connection now.
    pub(super) fn in_flight(&self) -> usize {
        self.connection
            .try_lock()
            .ok()
            .and_then(|connection| connection.as_ref().map(|c| c.channel.in_flight()))
            .unwrap_or(0)
    }

    /// The open connection, or a new one; `true` when it is new.
    async fn connection(&self) -> Result<(Arc<TcpConnection>, bool), TcpFailure> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref()
            && !connection.closed.load(Ordering::Acquire)
        {
            return Ok((Arc::clone(connection), false));
        }
        let stream = TcpStream::connect(self.server).await.map_err(|error| {
            if error.kind() == io::ErrorKind::ConnectionRefused {
                TcpFailure::Refused
            } else {
                TcpFailure::Broken(Arc::new(error))
            }
        })?;
        let _ = stream.set_nodelay(true);
        self.counters.tcp_connection();
        let (reader, writer) = stream.into_split();
        let channel = Arc::new(Channel::new(Arc::clone(&self.counters), false));
        let closed = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read(reader, Arc::clone(&channel), Arc::clone(&closed)));
        let connection = Arc::new(TcpConnection {
            writer: Mutex::new(writer),
            channel,
            closed,
            reader: reader.abort_handle(),
        });
        *slot = Some(Arc::clone(&connection));
        Ok((connection, true))
    }
}

impl TcpConnection {
    async fn ask(
        &self,
        question: &Query,
        edns: bool,
        counters: &Counters,
    ) -> Result<DnsResponse, TcpFailure> {
        let broken = |message: &str| TcpFailure::Broken(Arc::new(io::Error::other(message)));
        // A connection's channel is never retired; it is dropped with the connection.
        let (registration, reply) = self
            .channel
            .register(question.clone())
            .ok_or_else(|| broken("the TCP connection to the DNS server is closing"))?;
        // The reader marks the connection closed before it fails what waits; a query registered
        // after that would wait in vain.
        if self.closed.load(Ordering::Acquire) {
            return Err(broken("the DNS server closed the TCP connection"));
        }
        let body = encode(registration.id(), question, edns)
            .map_err(|error| TcpFailure::Broken(Arc::new(io::Error::other(error))))?;
        let length = u16::try_from(body.len()).map_err(|_| broken("a DNS query is too long"))?;
        let mut frame = Vec::with_capacity(body.len() + 2);
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(&body);
        counters.tcp_query();
        let written = self.writer.lock().await.write_all(&frame).await;
        if let Err(error) = written {
            self.closed.store(true, Ordering::Release);
            return Err(TcpFailure::Broken(Arc::new(error)));
        }
        match reply.await {
            Ok(Reply::Answer(response)) => Ok(response),
            Ok(Reply::Closed | Reply::Refused | Reply::CaseMismatch) | Err(_) => Err(broken(
                "the DNS server closed the TCP connection before answering",
            )),
        }
    }
}

/// Reads framed answers until the connection ends, then fails whatever still waits.
async fn read(mut reader: OwnedReadHalf, channel: Arc<Channel>, closed: Arc<AtomicBool>) {
    let mut buffer = Vec::new();
    while let Ok(length) = reader.read_u16().await {
        buffer.resize(usize::from(length), 0);
        // A frame shorter than its length prefix ends in EOF here: the connection is unusable.
        if reader.read_exact(&mut buffer).await.is_err() {
            break;
        }
        channel.deliver(&buffer);
    }
    closed.store(true, Ordering::Release);
    channel.fail_all(|| Reply::Closed);
}
