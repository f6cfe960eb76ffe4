//! UDP: a few long-lived, connected sockets per name server, each replaced by a fresh one on a
//! fresh random port after a number of queries or an age.
//!
//! Owns the sockets of one server ([`UdpPool`]): opening them (a random port from 1024–65535,
//! `connect()`ed to the server so the kernel drops datagrams from anyone else, a large receive
//! buffer), one receive task per socket handing every datagram to its [`Channel`], rotation
//! (a socket is retired after [`Rotation::max_queries`] queries or [`Rotation::max_age`], and
//! its receive task ends once its last query has ended), replacing a socket that keeps failing,
//! and sending one query with 0x20 and resends ([`UdpPool::ask`]). It must not talk to anything
//! but its server, choose servers, or log queried names.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_resolver::proto::op::{DEFAULT_RETRY_FLOOR, DnsResponse, Query};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use super::channel::{Channel, Registered, Reply};
use super::encode;
use super::server::Counters;

/// UDP sockets per name server. A few spread the receive work over the runtime's threads and
/// the kernel's per-socket buffers; more buy nothing against one server.
const SOCKETS_PER_SERVER: usize = 4;

/// How often a query is sent within one try while no answer comes: a lost datagram then costs
/// [`RESEND_INTERVAL`], not the whole try. hickory-resolver resends the same way.
const SENDS_PER_TRY: usize = 3;

/// The pause before a resend: hickory's floor for its resend interval. A recursive resolver may
/// take this long for a name it must look up itself, so resending sooner would mostly duplicate
/// work.
const RESEND_INTERVAL: Duration = DEFAULT_RETRY_FLOOR;

/// Receive buffer asked of the kernel per socket, so a burst of answers is not dropped while the
/// receive task waits for a thread that is busy with lookups (the kernel caps it at `rmem_max`).
const RECEIVE_BUFFER_BYTES: usize = 1 << 20;

/// Largest DNS message.
const MAX_MESSAGE_BYTES: usize = 65_535;

/// Receive errors in a row (other than a refused port) after which a socket is replaced.
const ERRORS_BEFORE_REPLACING: u32 = 8;

/// When a socket is replaced by a fresh one on a fresh port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Queries a socket carries before it is replaced (at least 1).
    pub max_queries: u32,
    /// Age at which a socket is replaced.
    pub max_age: Duration,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_queries: 1024,
            max_age: Duration::from_secs(10),
        }
    }
}

impl Rotation {
    /// Whether a socket that has carried `uses` queries and is `age` old is due for replacement.
    fn is_due(self, uses: u32, age: Duration) -> bool {
        uses >= self.max_queries.max(1) || age >= self.max_age
    }
}

/// Why a UDP query got no usable answer.
#[derive(Debug)]
pub(super) enum UdpFailure {
    /// The answer echoed the question in another case.
    CaseMismatch,
    /// The server's port is closed (ICMP port unreachable).
    Refused,
    /// The socket could not be opened, or sending failed.
    Io(Arc<io::Error>),
}

/// The rotating sockets aimed at one server.
pub(super) struct UdpPool {
    server: SocketAddr,
    slots: Vec<ArcSwap<PooledSocket>>,
    next: AtomicUsize,
    rotation: Rotation,
    counters: Arc<Counters>,
}

/// One connected UDP socket and the queries waiting for an answer on it.
struct PooledSocket {
    socket: UdpSocket,
    channel: Arc<Channel>,
    uses: AtomicU32,
    opened: Instant,
    /// Set by the one caller that replaces this socket.
    replacing: AtomicBool,
}

impl UdpPool {
    /// Opens the sockets for `server` and starts their receive tasks on the current runtime.
    ///
    /// # Errors
    ///
    /// When a socket cannot be opened or connected, or no tokio runtime runs.
    pub(super) fn open(
        server: SocketAddr,
        rotation: Rotation,
        counters: Arc<Counters>,
    ) -> io::Result<UdpPool> {
        let slots = (0..SOCKETS_PER_SERVER)
            .map(|_| open_socket(server, &counters).map(ArcSwap::new))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(UdpPool {
            server,
            slots,
            next: AtomicUsize::new(0),
            rotation,
            counters,
        })
    }

    /// Sends `question` with the case of its name randomised (0x20) and waits for the answer
    /// echoing it exactly, resending every [`RESEND_INTERVAL`] (at most [`SENDS_PER_TRY`]
    /// times). Without a time limit: the caller bounds the try. With `edns`, EDNS0 is offered.
    pub(super) async fn ask(
        &self,
        question: &Query,
        edns: bool,
    ) -> Result<DnsResponse, UdpFailure> {
        let mut sent = question.clone();
        sent.name.randomize_label_case();
        let (socket, (mut registration, mut reply)) = self.register(&sent)?;
        let datagram = encode(registration.id(), &sent, edns)
            .map_err(|error| UdpFailure::Io(Arc::new(io::Error::other(error))))?;
        self.counters.udp_query();
        socket.send(&datagram).await?;
        for _ in 1..SENDS_PER_TRY {
            tokio::select! {
                // An answer already there wins over a resend that is due.
                biased;
                reply = &mut reply => return received(reply),
                () = tokio::time::sleep(RESEND_INTERVAL) => {
                    registration.resent();
                    socket.send(&datagram).await?;
                }
            }
        }
        received(reply.await)
    }

    /// Queries pending on the current sockets.
    pub(super) fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .map(|slot| slot.load().channel.in_flight())
            .sum()
    }

    /// Stops every socket once its last query ends (the client is going away).
    pub(super) fn retire_all(&self) {
        for slot in &self.slots {
            slot.load().channel.retire();
        }
    }

    /// Registers `sent` on the next socket that takes it. A socket retired meanwhile (another
    /// query replaced it between our look and our registration) takes no new query; the next
    /// look finds its replacement.
    fn register(&self, sent: &Query) -> Result<(Arc<PooledSocket>, Registered), UdpFailure> {
        for _ in 0..=SOCKETS_PER_SERVER {
            let socket = self
                .socket()
                .map_err(|error| UdpFailure::Io(Arc::new(error)))?;
            if let Some(registered) = socket.channel.register(sent.clone()) {
                return Ok((socket, registered));
            }
        }
        Err(UdpFailure::Io(Arc::new(io::Error::other(
            "no DNS socket takes queries: each is being replaced",
        ))))
    }

    /// The next socket, round robin, replacing it first when it is due.
    fn socket(&self) -> io::Result<Arc<PooledSocket>> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let current = slot.load_full();
        let uses = current.uses.fetch_add(1, Ordering::Relaxed) + 1;
        let due =
            current.channel.is_retired() || self.rotation.is_due(uses, current.opened.elapsed());
        if !due || current.replacing.swap(true, Ordering::AcqRel) {
            return Ok(current);
        }
        match open_socket(self.server, &self.counters) {
            Ok(fresh) => {
                slot.store(Arc::clone(&fresh));
                current.channel.retire();
                self.counters.rotation();
                Ok(fresh)
            }
            Err(error) => {
                // Keep the old port rather than fail the query; try again on a later query.
                current.replacing.store(false, Ordering::Release);
                tracing::warn!(server = %self.server, %error, "cannot open a fresh DNS socket");
                if current.channel.is_retired() {
                    Err(error)
                } else {
                    Ok(current)
                }
            }
        }
    }
}

impl PooledSocket {
    async fn send(&self, datagram: &[u8]) -> Result<(), UdpFailure> {
        match self.socket.send(datagram).await {
            Ok(sent) if sent == datagram.len() => Ok(()),
            Ok(_) => Err(UdpFailure::Io(Arc::new(io::Error::other(
                "a DNS query was sent only in part",
            )))),
            // Linux reports the ICMP "port unreachable" an earlier datagram caused on the next
            // send: the server's port is closed.
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                Err(UdpFailure::Refused)
            }
            Err(error) => {
                self.channel.retire();
                Err(UdpFailure::Io(Arc::new(error)))
            }
        }
    }
}

fn received(reply: Result<Reply, oneshot::error::RecvError>) -> Result<DnsResponse, UdpFailure> {
    match reply {
        Ok(Reply::Answer(response)) => Ok(response),
        Ok(Reply::CaseMismatch) => Err(UdpFailure::CaseMismatch),
        Ok(Reply::Refused) => Err(UdpFailure::Refused),
        Ok(Reply::Closed) | Err(_) => Err(UdpFailure::Io(Arc::new(io::Error::other(
            "the DNS receive task ended",
        )))),
    }
}

/// The receive loop of one socket: every datagram goes to the channel. The channel stops it
/// once the socket is retired and its last query has ended.
async fn receive(socket: Arc<PooledSocket>) {
    let mut buffer = vec![0_u8; MAX_MESSAGE_BYTES];
    let mut errors_in_a_row = 0;
    loop {
        match socket.socket.recv(&mut buffer).await {
            Ok(length) => {
                errors_in_a_row = 0;
                socket.channel.deliver(&buffer[..length]);
            }
            // An ICMP "port unreachable": nothing listens on the server's port, so no query
            // pending here will be answered.
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                socket.channel.fail_all(|| Reply::Refused);
            }
            Err(error) => {
                tracing::debug!(%error, "DNS receive error");
                errors_in_a_row += 1;
                if errors_in_a_row >= ERRORS_BEFORE_REPLACING {
                    socket.channel.retire();
                }
                // Do not spin on a socket that keeps failing.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A fresh socket for `server` with its receive task running.
fn open_socket(server: SocketAddr, counters: &Arc<Counters>) -> io::Result<Arc<PooledSocket>> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| io::Error::other("the pooled DNS transport needs a running tokio runtime"))?;
    let (std_socket, _port) = connected_socket(server)?;
    let socket = Arc::new(PooledSocket {
        socket: UdpSocket::from_std(std_socket)?,
        channel: Arc::new(Channel::new(Arc::clone(counters), true)),
        uses: AtomicU32::new(0),
        opened: Instant::now(),
        replacing: AtomicBool::new(false),
    });
    let receiver = runtime.spawn(receive(Arc::clone(&socket)));
    socket.channel.set_receiver(receiver.abort_handle());
    Ok(socket)
}

/// A non-blocking UDP socket on a random port (1024–65535) of the wildcard address of
/// `server`'s family, connected to `server` so the kernel accepts datagrams from nowhere else.
fn connected_socket(server: SocketAddr) -> io::Result<(std::net::UdpSocket, u16)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let (domain, wildcard) = match server {
        SocketAddr::V4(_) => (Domain::IPV4, Ipv4Addr::UNSPECIFIED.into()),
        SocketAddr::V6(_) => (Domain::IPV6, Ipv6Addr::UNSPECIFIED.into()),
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer only means drops (and resends) under extreme bursts.
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES);
    bind_random_port(&socket, wildcard)?;
    socket.connect(&server.into())?;
    socket.set_nonblocking(true)?;
    let port = socket
        .local_addr()?
        .as_socket()
        .map_or(0, |local| local.port());
    Ok((socket.into(), port))
}

/// Binds `socket` to a port drawn from 1024–65535 by the CSPRNG, as hickory-resolver does: the
/// whole range, not the kernel's narrower ephemeral one, gives a forger most to guess. Ports in
/// use are drawn again; after a few misses the kernel chooses.
fn bind_random_port(socket: &socket2::Socket, ip: std::net::IpAddr) -> io::Result<()> {
    for _ in 0..10 {
        let port: u16 = rand::random_range(1024..=u16::MAX);
        match socket.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => return Ok(()),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                ) => {}
            Err(error) => return Err(error),
        }
    }
    socket.bind(&SocketAddr::new(ip, 0).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_replaced_after_their_queries_or_their_age() {
        let rotation = Rotation {
            max_queries: 100,
            max_age: Duration::from_secs(10),
        };
        let second = Duration::from_secs(1);
        assert!(!rotation.is_due(99, 9 * second));
        assert!(rotation.is_due(100, Duration::ZERO));
        assert!(rotation.is_due(1, 10 * second));
        let every_query = Rotation {
            max_queries: 0,
            ..rotation
        };
        assert!(every_query.is_due(1, Duration::ZERO));
    }

    #[tokio::test]
    async fn sockets_bind_random_high_ports() {
        let server = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
        let ports: Vec<u16> = (0..20)
            .map(|_| connected_socket(server).unwrap().1)
            .collect();
        assert!(ports.iter().all(|&port| port >= 1024), "{ports:?}");
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() >= 18, "{ports:?}");
    }
}
