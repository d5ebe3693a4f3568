//! Copies of bodies for listeners that observe them: refcounted chunks, capped at the limit.

use bytes::{Bytes, BytesMut};

use crate::body::ObservedBody;

/// Collects a body as it streams by, without delaying it.
#[derive(Debug)]
pub(crate) struct Tee {
    chunks: Vec<Bytes>,
    len: usize,
    limit: usize,
    complete: bool,
    cut: bool,
}

impl Tee {
    pub(crate) fn new(limit: usize) -> Self {
        Tee {
            chunks: Vec::new(),
            len: 0,
            limit,
            complete: false,
            cut: false,
        }
    }

    /// A tee that already holds a whole body.
    pub(crate) fn complete(body: Bytes) -> Self {
        Tee {
            len: body.len(),
            limit: body.len(),
            chunks: vec![body],
            complete: true,
            cut: false,
        }
    }

    pub(crate) fn push(&mut self, chunk: Option<&Bytes>, end: bool) {
        if let Some(c) = chunk.filter(|c| !c.is_empty()) {
            let room = self.limit.saturating_sub(self.len);
            if c.len() > room {
                self.cut = true;
            }
            let take = c.len().min(room);
            if take > 0 {
                self.chunks.push(c.slice(..take));
                self.len += take;
            }
        }
        if end {
            self.complete = !self.cut;
        }
    }

    pub(crate) fn finish(self) -> ObservedBody {
        let bytes = match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.into_iter().next().expect("one chunk"),
            _ => {
                let mut b = BytesMut::with_capacity(self.len);
                for c in self.chunks {
                    b.extend_from_slice(&c);
                }
                b.freeze()
            }
        };
        ObservedBody {
            bytes,
            complete: self.complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_marks() {
        let mut t = Tee::new(5);
        t.push(Some(&Bytes::from_static(b"abc")), false);
        t.push(Some(&Bytes::from_static(b"def")), true);
        let o = t.finish();
        assert_eq!(&o.bytes[..], b"abcde");
        assert!(!o.complete);

        let mut t = Tee::new(10);
        t.push(Some(&Bytes::from_static(b"abc")), false);
        t.push(None, true);
        let o = t.finish();
        assert_eq!(&o.bytes[..], b"abc");
        assert!(o.complete);
    }
}
