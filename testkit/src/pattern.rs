//! Deterministic bodies of any size, generated chunk by chunk, and their digests.

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Chunk size used when generating pattern bodies.
pub const CHUNK: usize = 64 * 1024;

/// Byte `i` of the pattern (a sequence that does not repeat on power-of-two boundaries).
pub fn byte_at(i: u64) -> u8 {
    ((i.wrapping_mul(31).wrapping_add(7)) % 251) as u8
}

/// The pattern bytes `[from, from + len)`. The pattern has period 251, so this copies from one
/// precomputed cycle (fast enough for gigabyte bodies in debug builds).
pub fn slice(from: u64, len: usize) -> Bytes {
    let cycle: Vec<u8> = (0..251u64).map(byte_at).collect();
    let mut out = Vec::with_capacity(len);
    let mut pos = (from % 251) as usize;
    while out.len() < len {
        let n = (251 - pos).min(len - out.len());
        out.extend_from_slice(&cycle[pos..pos + n]);
        pos = 0;
    }
    out.into()
}

/// The whole pattern body of `len` bytes (for small sizes).
pub fn body(len: usize) -> Bytes {
    slice(0, len)
}

/// The chunks of a `len`-byte pattern body, generated lazily.
pub fn chunks(len: u64) -> impl Iterator<Item = Bytes> {
    let mut at = 0u64;
    std::iter::from_fn(move || {
        if at >= len {
            return None;
        }
        let n = CHUNK.min((len - at) as usize);
        let c = slice(at, n);
        at += n as u64;
        Some(c)
    })
}

/// SHA-256 (hex) of a `len`-byte pattern body.
pub fn sha256(len: u64) -> String {
    let mut h = Sha256::new();
    for c in chunks(len) {
        h.update(&c);
    }
    hex::encode(h.finalize())
}

/// SHA-256 (hex) of `data`.
pub fn sha256_of(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
