//! Who holds which subscription prefix: the per-host limit and the
//! reference counts behind a publishing socket's table.
//!
//! libzmq 4.3.4's XPUB keeps each subscriber's prefixes as a set per
//! connection and, with `ZMQ_XPUB_VERBOSER`, reports every subscribe and
//! unsubscribe with the connection's metadata (`Peer-Address`: the peer's
//! IP for TCP), but not which connection it came from; the cancels it makes
//! when a connection closes carry no metadata at all. The socket monitor
//! reports each connection opening and closing by file descriptor.
//!
//! [`PeerBook`] keeps, per host, how many of its connections hold each
//! prefix (at most one count per open connection), and per prefix how many
//! holds there are over all hosts: a prefix is in the socket's table while
//! that total is above zero. A host's table is cleared exactly when its last
//! connection closes. Cancels without metadata are matched to the
//! connections that just closed ([`Departure`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long after a connection closed the cancels libzmq makes for it are
/// still matched to it. libzmq queues them as soon as the socket's owner
/// next reads (milliseconds later); a generous window only makes a rare
/// mismatch keep a prefix longer, never drop one early.
const DEPARTURE_WINDOW: Duration = Duration::from_secs(10);

/// The most departures remembered at once.
const MAX_DEPARTURES: usize = 1024;

/// Where subscriptions come from: the unit the per-peer limit applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Host {
    /// A TCP peer, by IP address (every connection from that address).
    Ip(IpAddr),
    /// Unix-domain (`ipc://`) peers: every process of this machine.
    Local,
    /// In-process (`inproc://`) peers: their messages carry no metadata and
    /// libzmq reports no connection events for them.
    InProc,
}

impl Host {
    /// The host of a message with metadata, from libzmq's `Peer-Address`
    /// property (an IP address for TCP; `localhost`, or nothing, for ipc).
    pub(crate) fn from_peer_address(address: Option<&str>) -> Host {
        address
            .and_then(|a| a.split('%').next())
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map_or(Host::Local, |ip| Host::Ip(ip.to_canonical()))
    }

    /// The host of a connection, from its remote address (`None`: not an IP
    /// socket).
    pub(crate) fn from_ip(ip: Option<IpAddr>) -> Host {
        ip.map_or(Host::Local, |ip| Host::Ip(ip.to_canonical()))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Ip(ip) => ip.fmt(f),
            Host::Local => f.write_str("local (ipc)"),
            Host::InProc => f.write_str("in-process (inproc)"),
        }
    }
}

/// What [`PeerBook::subscribe`] did with a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subscribed {
    /// Counted; the socket's table did not have the prefix before.
    New,
    /// Counted (or a repeat from a connection that already held it); the
    /// socket's table had it.
    Known,
    /// Refused: the host holds `max_per_host` prefixes. `first` for the
    /// first refusal since the host connected.
    RefusedHost { first: bool },
    /// Refused: the socket's table holds `max_prefixes` prefixes.
    RefusedSocket,
    /// From a connection that has closed since: libzmq cancels it with the
    /// connection, so it is not counted.
    Stale,
}

/// One host's subscriptions.
#[derive(Debug, Default)]
struct HostTable {
    /// Open connections, from the monitor's events.
    live: usize,
    /// Departures of this host still within the window (its closed
    /// connections whose cancels may still come).
    departing: usize,
    /// Tells this table from an earlier one of the same host.
    generation: u64,
    /// Prefix → how many of the host's connections hold it.
    prefixes: HashMap<Arc<[u8]>, usize>,
    /// Some connection of the host holds, in libzmq, a prefix that is not
    /// in `prefixes` (refused, or stale).
    unrecorded: bool,
    /// A refusal was logged since the host connected.
    warned: bool,
}

/// A connection that closed, whose cancels (without metadata) may still come.
#[derive(Debug)]
struct Departure {
    host: Host,
    generation: u64,
    at: Instant,
    kind: DepartureKind,
}

#[derive(Debug)]
enum DepartureKind {
    /// The host's last connection: its table was released when it closed;
    /// its cancels are absorbed here.
    Gone {
        held: HashSet<Arc<[u8]>>,
        unrecorded: bool,
    },
    /// One of several connections of the host: each of its cancels is taken
    /// from the host's table, each prefix at most once.
    Partial { taken: HashSet<Arc<[u8]>> },
}

/// The per-host and per-socket reference counts of subscription prefixes.
/// Lives on the socket's thread.
#[derive(Debug)]
pub(crate) struct PeerBook {
    max_per_host: usize,
    max_prefixes: usize,
    /// Prefix → holds summed over every host.
    held: HashMap<Arc<[u8]>, usize>,
    hosts: HashMap<Host, HostTable>,
    /// Open connections by file descriptor (`None`: its address could not
    /// be read, the connection had already closed).
    connections: HashMap<i32, Option<Host>>,
    departures: VecDeque<Departure>,
    /// Prefixes held by the `Gone` departures, all together.
    departed_prefixes: usize,
    next_generation: u64,
}

/// The table of `host`, a new one (with the next generation) if it has none.
fn table<'a>(
    hosts: &'a mut HashMap<Host, HostTable>,
    next_generation: &mut u64,
    host: Host,
) -> &'a mut HostTable {
    hosts.entry(host).or_insert_with(|| {
        *next_generation += 1;
        HostTable {
            generation: *next_generation,
            ..HostTable::default()
        }
    })
}

/// Takes one hold of `prefix` off the socket's totals; true when it was the
/// last.
fn release(held: &mut HashMap<Arc<[u8]>, usize>, prefix: &[u8], holds: usize) -> bool {
    match held.get_mut(prefix) {
        Some(total) if *total > holds => {
            *total -= holds;
            false
        }
        Some(_) => {
            held.remove(prefix);
            true
        }
        None => false,
    }
}

impl PeerBook {
    /// A book that lets each host hold `max_per_host` prefixes and the
    /// socket `max_prefixes`.
    pub(crate) fn new(max_per_host: usize, max_prefixes: usize) -> Self {
        PeerBook {
            max_per_host,
            max_prefixes,
            held: HashMap::new(),
            hosts: HashMap::new(),
            connections: HashMap::new(),
            departures: VecDeque::new(),
            departed_prefixes: 0,
            next_generation: 0,
        }
    }

    /// How many holds of `prefix` there are over all hosts.
    #[cfg(test)]
    pub(crate) fn holds(&self, prefix: &[u8]) -> usize {
        self.held.get(prefix).copied().unwrap_or(0)
    }

    /// How many prefixes `host` holds.
    pub(crate) fn host_len(&self, host: &Host) -> usize {
        self.hosts.get(host).map_or(0, |t| t.prefixes.len())
    }

    /// A subscribe from `host`.
    pub(crate) fn subscribe(&mut self, host: Host, prefix: &[u8]) -> Subscribed {
        self.expire(Instant::now());
        let in_process = host == Host::InProc;
        let live = self.hosts.get(&host).map_or(0, |t| t.live);
        if !in_process && live == 0 {
            // Every open connection was reported before its first message:
            // this one has closed. Its cancels will come without metadata.
            for d in &mut self.departures {
                if let (true, DepartureKind::Gone { unrecorded, .. }) =
                    (d.host == host, &mut d.kind)
                {
                    *unrecorded = true;
                }
            }
            return Subscribed::Stale;
        }
        let (max_per_host, max_prefixes) = (self.max_per_host, self.max_prefixes);
        let existing = self.held.get_key_value(prefix).map(|(k, _)| Arc::clone(k));
        let table = table(&mut self.hosts, &mut self.next_generation, host);
        // A connection holds a prefix once: a host's count is at most its
        // connections, counting those whose cancels may still come.
        let most = if in_process {
            usize::MAX
        } else {
            table.live + table.departing
        };
        if let Some(count) = table.prefixes.get_mut(prefix) {
            if *count < most
                && let Some(total) = self.held.get_mut(prefix)
            {
                *count += 1;
                *total += 1;
            }
            return Subscribed::Known;
        }
        if table.prefixes.len() >= max_per_host {
            table.unrecorded = true;
            let first = !std::mem::replace(&mut table.warned, true);
            return Subscribed::RefusedHost { first };
        }
        let (key, new) = match existing {
            Some(key) => (key, false),
            None if self.held.len() >= max_prefixes => {
                table.unrecorded = true;
                return Subscribed::RefusedSocket;
            }
            None => (Arc::from(prefix), true),
        };
        table.prefixes.insert(Arc::clone(&key), 1);
        *self.held.entry(key).or_insert(0) += 1;
        if new {
            Subscribed::New
        } else {
            Subscribed::Known
        }
    }

    /// An unsubscribe from `host`; true when the socket's table lost the
    /// prefix. One that `host` does not hold changes nothing.
    pub(crate) fn unsubscribe(&mut self, host: &Host, prefix: &[u8]) -> bool {
        let Some(table) = self.hosts.get_mut(host) else {
            return false;
        };
        match table.prefixes.get_mut(prefix) {
            Some(count) if *count > 1 => *count -= 1,
            Some(_) => {
                table.prefixes.remove(prefix);
            }
            None => return false,
        }
        release(&mut self.held, prefix, 1)
    }

    /// A cancel without metadata: libzmq cancelling a prefix of a connection
    /// that closed (or an in-process peer's unsubscribe). True when the
    /// socket's table lost the prefix.
    pub(crate) fn unsubscribe_departed(&mut self, prefix: &[u8]) -> bool {
        self.expire(Instant::now());
        // A host that left: its prefixes were released when it left.
        for d in &mut self.departures {
            if let DepartureKind::Gone { held, .. } = &mut d.kind
                && held.remove(prefix)
            {
                self.departed_prefixes -= 1;
                return false;
            }
        }
        // A host that left holding prefixes it was refused may be cancelling
        // one of those: keeping a prefix too long is safer than dropping one
        // another connection still holds.
        if self.departures.iter().any(|d| {
            matches!(
                d.kind,
                DepartureKind::Gone {
                    unrecorded: true,
                    ..
                }
            )
        }) {
            return false;
        }
        for d in &mut self.departures {
            let DepartureKind::Partial { taken } = &mut d.kind else {
                continue;
            };
            let Some(table) = self.hosts.get_mut(&d.host) else {
                continue;
            };
            if table.generation != d.generation || taken.contains(prefix) {
                continue;
            }
            let Some((key, count)) = table.prefixes.get_key_value(prefix) else {
                continue;
            };
            let (key, count) = (Arc::clone(key), *count);
            if count > 1 {
                table.prefixes.insert(Arc::clone(&key), count - 1);
            } else {
                table.prefixes.remove(prefix);
            }
            taken.insert(key);
            return release(&mut self.held, prefix, 1);
        }
        self.unsubscribe(&Host::InProc, prefix)
    }

    /// A connection opened (`host` `None`: its address could not be read
    /// because it has closed already).
    pub(crate) fn connected(&mut self, fd: i32, host: Option<Host>) -> Vec<Arc<[u8]>> {
        // A descriptor reused without its close seen: close the old one.
        let lost = self.disconnected(fd);
        if let Some(host) = &host {
            table(&mut self.hosts, &mut self.next_generation, host.clone()).live += 1;
        }
        self.connections.insert(fd, host);
        lost
    }

    /// A connection closed. Returns the prefixes the socket's table lost
    /// (when it was the host's last connection).
    pub(crate) fn disconnected(&mut self, fd: i32) -> Vec<Arc<[u8]>> {
        let now = Instant::now();
        self.expire(now);
        let Some(Some(host)) = self.connections.remove(&fd) else {
            return Vec::new();
        };
        let Some(table) = self.hosts.get_mut(&host) else {
            return Vec::new();
        };
        table.live = table.live.saturating_sub(1);
        if table.live > 0 {
            table.departing += 1;
            let generation = table.generation;
            self.push_departure(Departure {
                host,
                generation,
                at: now,
                kind: DepartureKind::Partial {
                    taken: HashSet::new(),
                },
            });
            return Vec::new();
        }
        let table = self.hosts.remove(&host).unwrap_or_default();
        let mut lost = Vec::new();
        let mut departed = HashSet::with_capacity(table.prefixes.len());
        for (prefix, count) in table.prefixes {
            if release(&mut self.held, &prefix, count) {
                lost.push(Arc::clone(&prefix));
            }
            departed.insert(prefix);
        }
        self.departed_prefixes += departed.len();
        self.push_departure(Departure {
            host,
            generation: table.generation,
            at: now,
            kind: DepartureKind::Gone {
                held: departed,
                unrecorded: table.unrecorded,
            },
        });
        lost
    }

    fn push_departure(&mut self, departure: Departure) {
        self.departures.push_back(departure);
        while self.departures.len() > MAX_DEPARTURES || self.departed_prefixes > self.max_prefixes {
            self.pop_departure();
        }
    }

    fn pop_departure(&mut self) {
        let Some(d) = self.departures.pop_front() else {
            return;
        };
        match d.kind {
            DepartureKind::Gone { held, .. } => self.departed_prefixes -= held.len(),
            DepartureKind::Partial { .. } => {
                if let Some(table) = self.hosts.get_mut(&d.host)
                    && table.generation == d.generation
                {
                    table.departing = table.departing.saturating_sub(1);
                }
            }
        }
    }

    /// Forgets departures older than the window.
    fn expire(&mut self, now: Instant) {
        while self
            .departures
            .front()
            .is_some_and(|d| now.duration_since(d.at) > DEPARTURE_WINDOW)
        {
            self.pop_departure();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Host {
        Host::Ip(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn hosts_are_read_from_the_peer_address() {
        assert_eq!(Host::from_peer_address(Some("127.0.0.2")), ip(2));
        assert_eq!(Host::from_peer_address(Some("::ffff:127.0.0.2")), ip(2));
        assert_eq!(
            Host::from_peer_address(Some("fe80::1%eth0")),
            Host::Ip("fe80::1".parse().expect("ip"))
        );
        assert_eq!(Host::from_peer_address(Some("localhost")), Host::Local);
        assert_eq!(Host::from_peer_address(None), Host::Local);
        assert_eq!(
            Host::from_ip(Some("::ffff:127.0.0.2".parse().expect("ip"))),
            ip(2)
        );
    }

    #[test]
    fn each_host_is_limited_and_the_socket_counts_holders() {
        let mut book = PeerBook::new(2, 10);
        book.connected(5, Some(ip(1)));
        book.connected(6, Some(ip(2)));
        assert_eq!(book.subscribe(ip(1), b"a"), Subscribed::New);
        assert_eq!(book.subscribe(ip(1), b"b"), Subscribed::New);
        assert_eq!(
            book.subscribe(ip(1), b"c"),
            Subscribed::RefusedHost { first: true }
        );
        assert_eq!(
            book.subscribe(ip(1), b"d"),
            Subscribed::RefusedHost { first: false }
        );
        // The other host is not affected, and shares a prefix.
        assert_eq!(book.subscribe(ip(2), b"a"), Subscribed::Known);
        assert_eq!(book.subscribe(ip(2), b"c"), Subscribed::New);
        assert_eq!(book.holds(b"a"), 2);
        // A repeat from a host's only connection is one hold.
        assert_eq!(book.subscribe(ip(2), b"a"), Subscribed::Known);
        assert_eq!(book.holds(b"a"), 2);
        assert!(!book.unsubscribe(&ip(1), b"a"));
        assert!(book.unsubscribe(&ip(2), b"a"));
        // Unsubscribing what the host does not hold changes nothing.
        assert!(!book.unsubscribe(&ip(1), b"c"));
        assert_eq!(book.holds(b"c"), 1);
    }

    #[test]
    fn a_host_leaving_releases_its_prefixes_and_absorbs_its_cancels() {
        let mut book = PeerBook::new(10, 10);
        book.connected(5, Some(ip(1)));
        book.connected(6, Some(ip(2)));
        book.subscribe(ip(1), b"a");
        book.subscribe(ip(1), b"x");
        book.subscribe(ip(2), b"a");
        let mut lost = book.disconnected(5);
        lost.sort();
        assert_eq!(lost, vec![Arc::from(&b"x"[..])]);
        assert_eq!(book.holds(b"a"), 1);
        // libzmq's cancels for the closed connection change nothing more.
        assert!(!book.unsubscribe_departed(b"a"));
        assert!(!book.unsubscribe_departed(b"x"));
        assert_eq!(book.holds(b"a"), 1);
        // A message from the closed connection, read late, is not counted.
        assert_eq!(book.subscribe(ip(1), b"y"), Subscribed::Stale);
        assert_eq!(book.disconnected(6), vec![Arc::from(&b"a"[..])]);
    }

    #[test]
    fn one_of_a_hosts_connections_leaving_takes_only_its_own() {
        let mut book = PeerBook::new(10, 10);
        book.connected(5, Some(ip(1)));
        book.connected(6, Some(ip(1)));
        book.subscribe(ip(1), b"a"); // both connections
        book.subscribe(ip(1), b"a");
        book.subscribe(ip(1), b"b"); // the first only
        book.subscribe(ip(1), b"c"); // the second only
        assert_eq!(book.holds(b"a"), 2);
        assert!(book.disconnected(5).is_empty());
        assert!(!book.unsubscribe_departed(b"a"));
        assert!(book.unsubscribe_departed(b"b"));
        // Each prefix is taken once per closed connection.
        assert!(!book.unsubscribe_departed(b"a"));
        assert_eq!(book.holds(b"a"), 1);
        assert_eq!(book.holds(b"c"), 1);
        assert_eq!(book.host_len(&ip(1)), 2);
    }

    #[test]
    fn a_refused_host_leaving_keeps_the_others_prefixes() {
        let mut book = PeerBook::new(1, 10);
        book.connected(5, Some(ip(1)));
        book.connected(6, Some(ip(2)));
        book.connected(7, Some(ip(2)));
        book.subscribe(ip(2), b"p");
        book.subscribe(ip(1), b"q");
        // Refused for host 1: libzmq still holds it for that connection.
        assert!(matches!(
            book.subscribe(ip(1), b"p"),
            Subscribed::RefusedHost { .. }
        ));
        book.disconnected(7); // one of host 2's connections, not holding p
        book.disconnected(5);
        // libzmq cancels p for host 1's connection: host 2 keeps it.
        assert!(!book.unsubscribe_departed(b"p"));
        assert!(!book.unsubscribe_departed(b"q"));
        assert_eq!(book.holds(b"p"), 1);
    }

    #[test]
    fn in_process_peers_are_one_host_and_cancel_without_metadata() {
        let mut book = PeerBook::new(10, 10);
        assert_eq!(book.subscribe(Host::InProc, b"a"), Subscribed::New);
        assert_eq!(book.subscribe(Host::InProc, b"a"), Subscribed::Known);
        assert!(!book.unsubscribe_departed(b"a"));
        assert!(book.unsubscribe_departed(b"a"));
        assert!(!book.unsubscribe_departed(b"a"));
    }

    #[test]
    fn the_socket_limit_applies_over_all_hosts() {
        let mut book = PeerBook::new(10, 2);
        book.connected(5, Some(ip(1)));
        book.connected(6, Some(ip(2)));
        book.subscribe(ip(1), b"a");
        book.subscribe(ip(1), b"b");
        assert_eq!(book.subscribe(ip(2), b"c"), Subscribed::RefusedSocket);
        assert_eq!(book.subscribe(ip(2), b"a"), Subscribed::Known);
    }
}
