//! Which address a request comes from. Behind a reverse proxy every client arrives from the
//! proxy's address, so a per-address limit would treat them all as one; `X-Forwarded-For`
//! names the real client, but anybody can send that header, so it is believed only when
//! the peer is a configured trusted proxy (`http.trusted_proxies`).

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// An address range such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is one host.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// An IPv4 range written in code (the checked resolver's tables).
    pub(crate) const fn v4(network: [u8; 4], prefix: u8) -> Cidr {
        let [a, b, c, d] = network;
        Cidr {
            network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }

    pub(crate) fn contains(&self, address: IpAddr) -> bool {
        // A dual-stack socket reports IPv4 peers as `::ffff:a.b.c.d`.
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        Cidr::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy (entries to its left
/// were written by the client itself and prove nothing). An entry that is not an address
/// stops the walk at the last trusted hop, so garbage never picks the address.
pub(crate) fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |a: IpAddr| trusted.iter().any(|c| c.contains(a));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    // Several headers are one list, in order.
    let entries: Vec<&str> = forwarded_for.flat_map(|h| h.split(',')).collect();
    for entry in entries.into_iter().rev() {
        let Some(address) = parse_entry(entry) else {
            break;
        };
        client = address;
        if !is_trusted(address) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|a| a.to_canonical())
}

/// [`client_address`] for an actix request.
pub(crate) fn of_request(req: &actix_web::HttpRequest, trusted: &[Cidr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    let headers = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    client_address(peer, headers, trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        let host = Cidr::parse("2001:db8::1").unwrap();
        assert!(host.contains(ip("2001:db8::1")) && !host.contains(ip("2001:db8::2")));
        assert!(
            Cidr::parse("2001:db8::/32")
                .unwrap()
                .contains(ip("2001:db8:5::1"))
        );
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let trusted = [Cidr::parse("127.0.0.0/8").unwrap()];
        let xff = |h: &'static str| std::iter::once(h);
        // No trusted proxies: the header is ignored.
        assert_eq!(
            client_address(ip("127.0.0.1"), xff("203.0.113.7"), &[]),
            ip("127.0.0.1")
        );
        // An untrusted peer cannot speak for anyone.
        assert_eq!(
            client_address(ip("198.51.100.1"), xff("203.0.113.7"), &trusted),
            ip("198.51.100.1")
        );
        // The right-most untrusted entry wins; what the client wrote to its left does not.
        assert_eq!(
            client_address(
                ip("127.0.0.1"),
                xff("6.6.6.6, 203.0.113.7, 127.0.0.2"),
                &trusted
            ),
            ip("203.0.113.7")
        );
        // Several headers form one list; ports and brackets are understood.
        assert_eq!(
            client_address(
                ip("127.0.0.1"),
                ["6.6.6.6", "[2001:db8::7]:443"].into_iter(),
                &trusted
            ),
            ip("2001:db8::7")
        );
        // Garbage stops at the last trusted hop; no header leaves the peer.
        assert_eq!(
            client_address(ip("127.0.0.1"), xff("6.6.6.6, junk, 127.0.0.5"), &trusted),
            ip("127.0.0.5")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), std::iter::empty(), &trusted),
            ip("127.0.0.1")
        );
    }
}
