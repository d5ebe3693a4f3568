//! IP addresses in patterns: the `cidr` operator's operand (validated with event-ruler's
//! messages) and the IP form of plain string values.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A validated CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    bits: u32,
}

impl Cidr {
    /// Parses a `cidr` operand; the error is AWS's reason text.
    pub(crate) fn parse(text: &str) -> Result<Cidr, String> {
        let mut parts = text.split('/');
        let (address, mask) = match (parts.next(), parts.next(), parts.next()) {
            (Some(address), Some(mask), None) if !mask.is_empty() => (address, mask),
            _ => return Err("Malformed CIDR, one '/' required".into()),
        };
        let digits = mask.strip_prefix(['+', '-']).unwrap_or(mask);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("Malformed CIDR, mask bits must be an integer".into());
        }
        let bits: i32 = mask
            .parse()
            .map_err(|_| "Malformed CIDR, mask bits must be an integer".to_string())?;
        if bits < 0 {
            return Err("Malformed CIDR, mask bits must not be negative".into());
        }
        let bits = bits.unsigned_abs();
        let network = if looks_like_v4(address) {
            let ip = parse_v4_decimal(address)
                .ok_or_else(|| format!("Invalid IP address: {address}"))?;
            if bits > 31 {
                return Err("IPv4 mask bits must be < 32".into());
            }
            IpAddr::V4(ip)
        } else if looks_like_v6(address) {
            let ip: Ipv6Addr = address
                .parse()
                .map_err(|_| format!("Invalid IP address: {address}"))?;
            if bits > 127 {
                return Err("IPv6 mask bits must be < 128".into());
            }
            IpAddr::V6(ip)
        } else {
            return Err(format!("Nonstandard IP address: {address}"));
        };
        Ok(Cidr { network, bits })
    }

    /// Whether the string `value` is an address inside the block (same family only).
    pub(crate) fn contains(&self, value: &str) -> bool {
        match (self.network, parse_ip(value)) {
            (IpAddr::V4(net), Some(IpAddr::V4(ip))) => {
                let mask = u32::MAX.checked_shl(32 - self.bits).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), Some(IpAddr::V6(ip))) => {
                let mask = u128::MAX.checked_shl(128 - self.bits).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses an IPv4 or IPv6 address as written in an event or a pattern value
/// (`2001:db8::1` and `2001:0db8:0:0:0:0:0:1` are the same address).
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    if looks_like_v4(text) {
        parse_v4_decimal(text).map(IpAddr::V4)
    } else if looks_like_v6(text) {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        None
    }
}

fn looks_like_v4(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn looks_like_v6(text: &str) -> bool {
    text.contains(':') && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
}

/// A dotted quad read as decimal octets (`010.0.0.1` is `10.0.0.1`, as AWS reads it).
fn parse_v4_decimal(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.len() > 3 {
            // leading zeros beyond three digits are not an octet either
            let trimmed = part.trim_start_matches('0');
            if trimmed.len() > 3 {
                return None;
            }
            *octet = if trimmed.is_empty() {
                0
            } else {
                trimmed.parse().ok()?
            };
        } else {
            *octet = part.parse().ok()?;
        }
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_messages() {
        let err = |s: &str| Cidr::parse(s).unwrap_err();
        assert_eq!(err("10.0.0.0"), "Malformed CIDR, one '/' required");
        assert_eq!(err("10.0.0.0/"), "Malformed CIDR, one '/' required");
        assert_eq!(err("10.0.0.0/8/8"), "Malformed CIDR, one '/' required");
        assert_eq!(
            err("10.0.0.0/xx"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(err("xx.11.xx/24"), "Nonstandard IP address: xx.11.xx");
        assert_eq!(
            err("xxxx:db8:1234:1a00::/64"),
            "Nonstandard IP address: xxxx:db8:1234:1a00::"
        );
        assert_eq!(err("300.0.0.0/8"), "Invalid IP address: 300.0.0.0");
        assert_eq!(err("10.0.0.0/32"), "IPv4 mask bits must be < 32");
        assert_eq!(err("::/128"), "IPv6 mask bits must be < 128");
        assert_eq!(
            err("10.0.0.0/-1"),
            "Malformed CIDR, mask bits must not be negative"
        );
    }

    #[test]
    fn containment() {
        let v4 = Cidr::parse("10.0.0.0/24").unwrap();
        assert!(v4.contains("10.0.0.255"));
        assert!(!v4.contains("10.0.1.0"));
        assert!(!v4.contains("::1"));
        assert!(!v4.contains("not an ip"));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("255.255.255.255"));
        let v6 = Cidr::parse("2001:db8:1234:1a00::/64").unwrap();
        assert!(v6.contains("2001:0db8:1234:1a00:0000:0000:0000:0000"));
        assert!(v6.contains("2001:db8:1234:1a00:ffff::1"));
        assert!(!v6.contains("2001:db8:1234:1a01::"));
        assert!(!v6.contains("10.0.0.1"));
    }
}
