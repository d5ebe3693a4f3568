//! Where the log goes: stderr, through a buffer that is written out every [`INTERVAL`] (or
//! when it holds [`CAPACITY`] bytes), so a busy edge makes one `write` per batch of request
//! lines instead of one per request. Warnings and errors are written at once, with what is
//! queued before them; [`BatchedStderr::flush_now`] writes the rest on exit.
//!
//! (A channel to a writer thread, as `tracing-appender` does it, costs a thread wake-up per
//! line on a loaded edge, more than the write it saves.)

use std::{
    io::{self, Write},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// How long a request line may wait in the buffer.
pub const INTERVAL: Duration = Duration::from_millis(50);
/// The buffer is written out once it holds this much.
pub const CAPACITY: usize = 64 * 1024;

/// stderr with a shared buffer; clones share it.
#[derive(Clone, Default)]
pub struct BatchedStderr {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl BatchedStderr {
    /// A writer, and a thread that writes its buffer out every [`INTERVAL`] for as long as the
    /// process runs.
    pub fn start() -> BatchedStderr {
        let w = BatchedStderr::default();
        let flusher = w.clone();
        std::thread::Builder::new()
            .name("edgestack-log".into())
            .spawn(move || loop {
                std::thread::sleep(INTERVAL);
                flusher.flush_now();
            })
            .expect("spawn the log flusher thread");
        w
    }

    /// Writes out whatever is buffered.
    pub fn flush_now(&self) {
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        if !buf.is_empty() {
            let _ = io::stderr().lock().write_all(&buf);
            buf.clear();
        }
    }
}

/// Writes the buffer out when dropped (on return from `main`, and when a panic unwinds it).
pub struct FlushOnDrop(pub BatchedStderr);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.0.flush_now();
    }
}

/// One event's writer: appends to the shared buffer; `urgent` (warnings and errors) writes
/// the buffer out when the event is complete.
pub struct EventWriter<'a> {
    owner: &'a BatchedStderr,
    urgent: bool,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut buf = self
            .owner
            .buf
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        buf.extend_from_slice(data);
        if buf.len() >= CAPACITY {
            let _ = io::stderr().lock().write_all(&buf);
            buf.clear();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter<'_> {
    fn drop(&mut self) {
        if self.urgent {
            self.owner.flush_now();
        }
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> EventWriter<'a> {
        EventWriter {
            owner: self,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> EventWriter<'a> {
        EventWriter {
            owner: self,
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wait_in_the_buffer_and_urgent_events_write_it_out() {
        let w = BatchedStderr::default();
        {
            let mut e = EventWriter {
                owner: &w,
                urgent: false,
            };
            e.write_all(b"request line\n").unwrap();
        }
        assert_eq!(&*w.buf.lock().unwrap(), b"request line\n");
        {
            let mut e = w.make_writer();
            e.write_all(b"urgent\n").unwrap();
        }
        assert!(w.buf.lock().unwrap().is_empty());
    }
}
