//! What a guest may reach on the network: deny by default, grant by address.
//!
//! A [`Grants`] lists the addresses a guest may bind and listen on, the addresses or
//! networks it may connect (and send datagrams) to, and whether it may use UDP and name
//! lookup. Address sets are held in cap-std's address [`Pool`]s (the representation
//! wasmtime-wasi's own socket layer grew out of) and enforced through
//! `WasiCtxBuilder::socket_addr_check`, which wasmtime-wasi calls before every bind,
//! listen, accept, connect, send and receive. A denied operation reaches the guest as the
//! WASI error `access-denied`, never as a trap, so the guest keeps running.
//!
//! # What each grant allows
//!
//! | grant | TCP | UDP (only with [`Grants::allow_udp`]) |
//! |---|---|---|
//! | listen `ADDR` | bind `ADDR`, listen on it, accept any peer | bind `ADDR`, receive from any peer, reply to peers heard from |
//! | connect `ADDR`/`CIDR` | connect to it | send to it, receive from it |
//!
//! Binding the wildcard address with port 0 (`0.0.0.0:0` or `[::]:0`) is always allowed
//! for TCP, and for UDP once UDP is granted: it is what the OS does implicitly before a
//! connect or a send, wasmtime-wasi checks it first (so without it every connect would be
//! reported as a bind denial), and it opens nothing: the listen, connect or send that
//! follows is checked on its own.
//!
//! A port of `0` or `*` in a grant, or no port at all, means any port: a guest that
//! binds port 0 asks the OS to pick one, and the listen check then sees that port.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use cap_primitives::ambient_authority;
use cap_primitives::net::Pool;
use ipnet::IpNet;
use wasmtime_wasi::sockets::SocketAddrUse;

/// A set of socket addresses: an IP address or CIDR network, and one port or any port.
///
/// Parsed from the forms the `tulip` command accepts:
///
/// | text | meaning |
/// |---|---|
/// | `127.0.0.1:8080`, `[::1]:8080` | that address and port |
/// | `127.0.0.1`, `::1` | that address, any port |
/// | `127.0.0.1:0`, `127.0.0.1:*` | that address, any port |
/// | `10.0.0.0/8`, `fd00::/8` | that network, any port |
/// | `10.0.0.0/8:443`, `[fd00::/8]:443` | that network, port 443 |
///
/// # Examples
///
/// ```
/// use host_wasi::AddrRange;
///
/// let range: AddrRange = "10.0.0.0/8:443".parse()?;
/// assert!(range.contains("10.1.2.3:443".parse()?));
/// assert!(!range.contains("10.1.2.3:80".parse()?));
/// assert_eq!(range.to_string(), "10.0.0.0/8:443");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrRange {
    net: IpNet,
    port: Option<u16>,
}

impl AddrRange {
    /// The range holding exactly `addr` (a port of 0 means any port).
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        Self::new(IpNet::from(addr.ip()), port_or_any(addr.port()))
    }

    /// The range `net` with `port` (`None` for any port).
    pub fn new(net: IpNet, port: Option<u16>) -> Self {
        Self { net, port }
    }

    /// The address or network.
    pub fn net(&self) -> IpNet {
        self.net
    }

    /// The port, or `None` for any port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether `addr` is in this range.
    pub fn contains(&self, addr: SocketAddr) -> bool {
        self.net.contains(&addr.ip()) && self.port.is_none_or(|p| p == addr.port())
    }

    fn insert_into(&self, pool: &mut Pool) {
        match self.port {
            Some(port) => pool.insert_ip_net(self.net, port, ambient_authority()),
            None => pool.insert_ip_net_port_any(self.net, ambient_authority()),
        }
    }
}

impl From<SocketAddr> for AddrRange {
    /// The range holding exactly `addr` (a port of 0 means any port).
    fn from(addr: SocketAddr) -> Self {
        Self::from_socket_addr(addr)
    }
}

impl From<IpAddr> for AddrRange {
    /// `ip`, any port.
    fn from(ip: IpAddr) -> Self {
        Self::new(ip.into(), None)
    }
}

impl From<IpNet> for AddrRange {
    /// `net`, any port.
    fn from(net: IpNet) -> Self {
        Self::new(net, None)
    }
}

fn port_or_any(port: u16) -> Option<u16> {
    (port != 0).then_some(port)
}

/// Why an [`AddrRange`] could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an address or network: expected IP, IP:PORT, [IPv6]:PORT, CIDR or \
     CIDR:PORT (e.g. 127.0.0.1:8080, 10.0.0.0/8, [::1]:443)"
)]
pub struct AddrRangeError(String);

impl FromStr for AddrRange {
    type Err = AddrRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddrRangeError(s.to_owned());
        let text = s.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self::from_socket_addr(addr));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::new(ip.into(), None));
        }
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Self::new(net, None));
        }
        // `[v6 address or network]:port`, `v4 address or network:port`, with `*` for any.
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, port) = rest.split_once("]:").ok_or_else(err)?;
            (host, port)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(err)?;
            if host.contains(':') {
                return Err(err());
            }
            (host, port)
        };
        let port = match port {
            "*" => None,
            p => port_or_any(p.parse().map_err(|_| err())?),
        };
        let net = match host.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => host.parse::<IpNet>().map_err(|_| err())?,
        };
        Ok(Self::new(net, port))
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let single = self.net.prefix_len() == self.net.max_prefix_len();
        let host = if single {
            self.net.addr().to_string()
        } else {
            self.net.to_string()
        };
        match (self.port, self.net) {
            (None, _) => f.write_str(&host),
            (Some(port), IpNet::V4(_)) => write!(f, "{host}:{port}"),
            (Some(port), IpNet::V6(_)) => write!(f, "[{host}]:{port}"),
        }
    }
}

/// The network a guest may use. Everything is denied until granted.
///
/// [`Grants::new`] (also [`Default`]) grants nothing: no bind, no listen, no connect, no
/// UDP, no name lookup. The host never gives a guest filesystem access or the host's
/// environment; those are not grants but [`GuestBuilder`](crate::GuestBuilder) settings.
///
/// # Examples
///
/// ```
/// use host_wasi::Grants;
///
/// // An echo server on port 7000 that may also call one backend.
/// let grants = Grants::new()
///     .allow_listen("127.0.0.1:7000".parse()?)
///     .allow_connect("10.0.0.0/8:5432".parse()?);
/// assert!(grants.check("10.2.3.4:5432".parse()?, host_wasi::Operation::TcpConnect).is_ok());
/// assert!(grants.check("10.2.3.4:22".parse()?, host_wasi::Operation::TcpConnect).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Grants {
    listen: Vec<AddrRange>,
    listen_pool: Pool,
    connect: Vec<AddrRange>,
    connect_pool: Pool,
    udp: bool,
    name_lookup: bool,
}

impl Grants {
    /// Grants nothing: every bind, listen, connect, UDP use and name lookup is denied.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets the guest bind and listen on addresses in `range`, and accept any peer on
    /// them. With UDP granted, also lets it bind UDP sockets there and receive from (and
    /// reply to) any peer.
    pub fn allow_listen(mut self, range: AddrRange) -> Self {
        range.insert_into(&mut self.listen_pool);
        self.listen.push(range);
        self
    }

    /// Lets the guest connect to addresses in `range`. With UDP granted, also lets it
    /// send datagrams there and receive datagrams from there.
    pub fn allow_connect(mut self, range: AddrRange) -> Self {
        range.insert_into(&mut self.connect_pool);
        self.connect.push(range);
        self
    }

    /// Turns UDP on or off. UDP uses the listen and connect grants' addresses.
    pub fn allow_udp(mut self, enable: bool) -> Self {
        self.udp = enable;
        self
    }

    /// Turns name lookup (`wasi:sockets/ip-name-lookup`) on or off. Looked-up addresses
    /// still need a connect grant.
    pub fn allow_name_lookup(mut self, enable: bool) -> Self {
        self.name_lookup = enable;
        self
    }

    /// The listen grants, in the order given.
    pub fn listen(&self) -> &[AddrRange] {
        &self.listen
    }

    /// The connect grants, in the order given.
    pub fn connect(&self) -> &[AddrRange] {
        &self.connect
    }

    /// Whether UDP is granted.
    pub fn udp(&self) -> bool {
        self.udp
    }

    /// Whether name lookup is granted.
    pub fn name_lookup(&self) -> bool {
        self.name_lookup
    }

    /// Checks one use of `addr` against the grants alone. Replies to UDP peers heard
    /// from are tracked per guest, not here, so this denies [`Operation::UdpSend`] to
    /// peers outside the connect grants.
    ///
    /// # Errors
    ///
    /// A [`Denial`] naming the operation, the address and the flag that would grant it.
    pub fn check(&self, addr: SocketAddr, operation: Operation) -> Result<(), Denial> {
        if self.allows(addr, operation) {
            Ok(())
        } else {
            Err(self.denial(addr, operation))
        }
    }

    fn allows(&self, addr: SocketAddr, operation: Operation) -> bool {
        let in_listen = || self.listen_pool.check_addr(&addr).is_ok();
        let in_connect = || self.connect_pool.check_addr(&addr).is_ok();
        let implicit_bind = addr.ip().is_unspecified() && addr.port() == 0;
        match operation {
            Operation::TcpBind => implicit_bind || in_listen(),
            Operation::TcpListen => in_listen(),
            Operation::TcpAccept => !self.listen.is_empty(),
            Operation::TcpConnect => in_connect(),
            Operation::UdpBind => self.udp && (implicit_bind || in_listen()),
            Operation::UdpSend => self.udp && in_connect(),
            Operation::UdpReceive => self.udp && (!self.listen.is_empty() || in_connect()),
            Operation::NameLookup => self.name_lookup,
        }
    }

    fn denial(&self, addr: SocketAddr, operation: Operation) -> Denial {
        let udp = if self.udp { "" } else { "--udp " };
        let implicit_bind = addr.ip().is_unspecified() && addr.port() == 0;
        let flag = match operation {
            Operation::TcpBind | Operation::TcpListen | Operation::TcpAccept => {
                format!("--listen {addr}")
            }
            Operation::TcpConnect => format!("--connect {addr}"),
            Operation::UdpBind if implicit_bind => "--udp".to_owned(),
            Operation::UdpBind => format!("{udp}--listen {addr}"),
            Operation::UdpSend | Operation::UdpReceive => format!("{udp}--connect {addr}"),
            Operation::NameLookup => "--name-lookup".to_owned(),
        };
        Denial {
            operation,
            target: Target::Addr(addr),
            flag,
        }
    }
}

impl fmt::Debug for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grants")
            .field("listen", &self.listen)
            .field("connect", &self.connect)
            .field("udp", &self.udp)
            .field("name_lookup", &self.name_lookup)
            .finish()
    }
}

/// A network operation a guest asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Binding a TCP socket (explicitly, or implicitly before listen).
    TcpBind,
    /// Putting a TCP socket in listening mode.
    TcpListen,
    /// Accepting a client on a listening TCP socket (the address is the client's).
    TcpAccept,
    /// Connecting a TCP socket.
    TcpConnect,
    /// Binding a UDP socket.
    UdpBind,
    /// Sending a datagram.
    UdpSend,
    /// Receiving a datagram (the address is the sender's; denied datagrams are dropped).
    UdpReceive,
    /// Looking up a host name.
    NameLookup,
}

impl Operation {
    /// Maps wasmtime-wasi's address use onto an operation.
    pub fn from_socket_addr_use(usage: SocketAddrUse) -> Self {
        match usage {
            SocketAddrUse::TcpBind => Self::TcpBind,
            SocketAddrUse::TcpListen => Self::TcpListen,
            SocketAddrUse::TcpAccept => Self::TcpAccept,
            SocketAddrUse::TcpConnect => Self::TcpConnect,
            SocketAddrUse::UdpBind => Self::UdpBind,
            SocketAddrUse::UdpSend => Self::UdpSend,
            SocketAddrUse::UdpReceive => Self::UdpReceive,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::TcpBind => "TCP bind to",
            Self::TcpListen => "TCP listen on",
            Self::TcpAccept => "TCP accept of",
            Self::TcpConnect => "TCP connect to",
            Self::UdpBind => "UDP bind to",
            Self::UdpSend => "UDP send to",
            Self::UdpReceive => "UDP receive from",
            Self::NameLookup => "name lookup of",
        }
    }
}

/// What a denied operation was aimed at.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A socket address.
    Addr(SocketAddr),
    /// A host name (name lookup).
    Name(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(addr) => write!(f, "{addr}"),
            Self::Name(name) => write!(f, "`{name}`"),
        }
    }
}

/// An operation the grants did not allow: what, on which address, and the `tulip` flag
/// that would grant it. The guest saw `access-denied`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    operation: Operation,
    target: Target,
    flag: String,
}

impl Denial {
    pub(crate) fn for_name_lookup(name: String) -> Self {
        Self {
            operation: Operation::NameLookup,
            target: Target::Name(name),
            flag: "--name-lookup".to_owned(),
        }
    }

    /// The denied operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The address or name it was aimed at.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The `tulip run` flag(s) that would grant it, e.g. `--connect 10.0.0.1:80`.
    pub fn flag(&self) -> &str {
        &self.flag
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} denied; grant it with `{}`",
            self.operation.describe(),
            self.target,
            self.flag
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn r(s: &str) -> AddrRange {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(
            r("127.0.0.1:8080"),
            AddrRange::new("127.0.0.1/32".parse().unwrap(), Some(8080))
        );
        assert_eq!(
            r("[::1]:8080"),
            AddrRange::new("::1/128".parse().unwrap(), Some(8080))
        );
        assert_eq!(
            r("127.0.0.1"),
            AddrRange::new("127.0.0.1/32".parse().unwrap(), None)
        );
        assert_eq!(r("::1"), AddrRange::new("::1/128".parse().unwrap(), None));
        assert_eq!(r("127.0.0.1:0"), r("127.0.0.1"));
        assert_eq!(r("127.0.0.1:*"), r("127.0.0.1"));
        assert_eq!(
            r("10.0.0.0/8"),
            AddrRange::new("10.0.0.0/8".parse().unwrap(), None)
        );
        assert_eq!(
            r("10.0.0.0/8:443"),
            AddrRange::new("10.0.0.0/8".parse().unwrap(), Some(443))
        );
        assert_eq!(
            r("[fd00::/8]:443"),
            AddrRange::new("fd00::/8".parse().unwrap(), Some(443))
        );
        assert_eq!(r("[::1]:*"), r("::1"));
    }

    #[test]
    fn rejects_garbage_with_a_readable_error() {
        for bad in [
            "",
            "localhost:80",
            "1.2.3.4:99999",
            "1.2.3.4/40",
            "[::1",
            "::1:80x",
            "1.2.3.4:x",
        ] {
            let err = bad.parse::<AddrRange>().unwrap_err();
            assert!(
                err.to_string().contains("is not an address or network"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "127.0.0.1",
            "10.0.0.0/8",
            "10.0.0.0/8:443",
        ] {
            assert_eq!(r(s).to_string(), s);
            assert_eq!(r(&r(s).to_string()), r(s));
        }
        assert_eq!(r("[fd00::/8]:443").to_string(), "[fd00::/8]:443");
    }

    #[test]
    fn new_grants_nothing() {
        let g = Grants::new();
        assert!(g.listen().is_empty() && g.connect().is_empty());
        assert!(!g.udp() && !g.name_lookup());
        for (addr, op) in [
            ("127.0.0.1:8080", Operation::TcpBind),
            ("127.0.0.1:8080", Operation::TcpListen),
            ("127.0.0.1:5000", Operation::TcpAccept),
            ("127.0.0.1:80", Operation::TcpConnect),
            ("0.0.0.0:0", Operation::UdpBind),
            ("127.0.0.1:53", Operation::UdpSend),
            ("127.0.0.1:53", Operation::UdpReceive),
            ("0.0.0.0:0", Operation::NameLookup),
        ] {
            assert!(g.check(a(addr), op).is_err(), "{op:?} {addr}");
        }
    }

    #[test]
    fn wildcard_port_zero_bind_is_always_allowed_for_tcp() {
        // wasmtime-wasi checks this implicit bind before every connect.
        let g = Grants::new();
        assert!(g.check(a("0.0.0.0:0"), Operation::TcpBind).is_ok());
        assert!(g.check(a("[::]:0"), Operation::TcpBind).is_ok());
        assert!(g.check(a("0.0.0.0:80"), Operation::TcpBind).is_err());
        assert!(g.check(a("0.0.0.0:0"), Operation::TcpListen).is_err());
        assert!(g.check(a("127.0.0.1:0"), Operation::TcpBind).is_err());
    }

    #[test]
    fn listen_grant_allows_bind_listen_and_accept() {
        let g = Grants::new().allow_listen(r("127.0.0.1:7000"));
        assert!(g.check(a("127.0.0.1:7000"), Operation::TcpBind).is_ok());
        assert!(g.check(a("127.0.0.1:7000"), Operation::TcpListen).is_ok());
        assert!(g.check(a("192.0.2.9:41000"), Operation::TcpAccept).is_ok());
        assert!(g.check(a("127.0.0.1:7001"), Operation::TcpBind).is_err());
        assert!(g.check(a("127.0.0.2:7000"), Operation::TcpListen).is_err());
        assert!(g.check(a("127.0.0.1:7000"), Operation::TcpConnect).is_err());
        // Not UDP until UDP is granted.
        assert!(g.check(a("127.0.0.1:7000"), Operation::UdpBind).is_err());
    }

    #[test]
    fn listen_any_port_allows_an_os_chosen_port() {
        let g = Grants::new().allow_listen(r("127.0.0.1:0"));
        assert!(g.check(a("127.0.0.1:0"), Operation::TcpBind).is_ok());
        assert!(g.check(a("127.0.0.1:43210"), Operation::TcpListen).is_ok());
    }

    #[test]
    fn connect_grant_matches_networks_and_ports() {
        let g = Grants::new()
            .allow_connect(r("10.0.0.0/8:443"))
            .allow_connect(r("::1"));
        assert!(g.check(a("10.200.0.1:443"), Operation::TcpConnect).is_ok());
        assert!(g.check(a("10.200.0.1:80"), Operation::TcpConnect).is_err());
        assert!(g.check(a("11.0.0.1:443"), Operation::TcpConnect).is_err());
        assert!(g.check(a("[::1]:9"), Operation::TcpConnect).is_ok());
        assert!(g.check(a("10.200.0.1:443"), Operation::TcpListen).is_err());
    }

    #[test]
    fn udp_needs_the_switch_and_an_address() {
        let off = Grants::new().allow_connect(r("127.0.0.1:53"));
        assert!(off.check(a("127.0.0.1:53"), Operation::UdpSend).is_err());
        assert!(off.check(a("0.0.0.0:0"), Operation::UdpBind).is_err());
        let on = off.allow_udp(true);
        assert!(on.check(a("0.0.0.0:0"), Operation::UdpBind).is_ok());
        assert!(on.check(a("127.0.0.1:53"), Operation::UdpSend).is_ok());
        assert!(on.check(a("127.0.0.1:53"), Operation::UdpReceive).is_ok());
        assert!(on.check(a("127.0.0.1:54"), Operation::UdpSend).is_err());
        assert!(on.check(a("127.0.0.1:54"), Operation::UdpReceive).is_err());
    }

    #[test]
    fn denial_names_the_address_and_the_flag() {
        let g = Grants::new();
        let d = g
            .check(a("10.1.2.3:80"), Operation::TcpConnect)
            .unwrap_err();
        assert_eq!(d.flag(), "--connect 10.1.2.3:80");
        assert_eq!(
            d.to_string(),
            "TCP connect to 10.1.2.3:80 denied; grant it with `--connect 10.1.2.3:80`"
        );
        let d = g.check(a("127.0.0.1:0"), Operation::TcpBind).unwrap_err();
        assert_eq!(d.flag(), "--listen 127.0.0.1:0");
        let d = g.check(a("0.0.0.0:0"), Operation::UdpBind).unwrap_err();
        assert_eq!(d.flag(), "--udp", "the wildcard bind only needs UDP");
        let d = g
            .check(a("127.0.0.1:5353"), Operation::UdpBind)
            .unwrap_err();
        assert_eq!(d.flag(), "--udp --listen 127.0.0.1:5353");
        let d = g.check(a("[::1]:53"), Operation::UdpSend).unwrap_err();
        assert_eq!(d.flag(), "--udp --connect [::1]:53");
        let d = Denial::for_name_lookup("example.com".into());
        assert_eq!(
            d.to_string(),
            "name lookup of `example.com` denied; grant it with `--name-lookup`"
        );
    }
}
