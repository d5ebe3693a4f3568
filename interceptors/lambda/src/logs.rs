//! One invocation's log as Lambda frames it, and the tail `LogType: Tail` returns:
//!
//! ```text
//! START RequestId: <id> Version: $LATEST
//! <the function's output>
//! END RequestId: <id>
//! REPORT RequestId: <id>  Duration: 1.23 ms  Billed Duration: 2 ms  Memory Size: 128 MB  Max Memory Used: 128 MB
//! ```
//!
//! (Lambda bills whole milliseconds; edgestack does not measure memory and reports the
//! function's size as used; the REPORT fields are separated by tabs.) A cold start adds
//! `Init Duration` to the REPORT line.

use std::time::Duration;

use base64::Engine as _;

/// The most `X-Amz-Log-Result` carries: the last 4 KB of the log.
pub const TAIL_BYTES: usize = 4096;

/// An invocation's log, built as the invocation runs.
#[derive(Debug, Clone, Default)]
pub struct InvocationLog {
    text: Vec<u8>,
}

impl InvocationLog {
    /// A log that starts with the START line.
    pub fn start(request_id: &str, version: &str) -> InvocationLog {
        InvocationLog {
            text: format!("START RequestId: {request_id} Version: {version}\n").into_bytes(),
        }
    }

    /// Adds the function's output (lines ending in `\n`).
    pub fn output(&mut self, bytes: &[u8]) {
        self.text.extend_from_slice(bytes);
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            self.text.push(b'\n');
        }
    }

    /// Adds a line of the platform's own (`Task timed out after 1.00 seconds`), with the time
    /// and request id, as Lambda writes it.
    pub fn platform(&mut self, request_id: &str, line: &str) {
        let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        self.text
            .extend_from_slice(format!("{now} {request_id} {line}\n").as_bytes());
    }

    /// Ends the log with END and REPORT.
    pub fn end(
        &mut self,
        request_id: &str,
        duration: Duration,
        init: Option<Duration>,
        memory_mb: u64,
    ) {
        let ms = duration.as_secs_f64() * 1000.0;
        let billed = (ms.ceil() as u64).max(1);
        let init = match init {
            Some(d) => format!("\tInit Duration: {:.2} ms", d.as_secs_f64() * 1000.0),
            None => String::new(),
        };
        self.text.extend_from_slice(
            format!(
                "END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {ms:.2} ms\t\
                 Billed Duration: {billed} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: \
                 {memory_mb} MB{init}\t\n"
            )
            .as_bytes(),
        );
    }

    /// The whole log.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// `X-Amz-Log-Result`: base64 of the last 4 KB (cut at a character boundary).
    pub fn tail_base64(&self) -> String {
        let mut start = self.text.len().saturating_sub(TAIL_BYTES);
        // Do not start inside a UTF-8 sequence.
        while start < self.text.len() && (self.text[start] & 0b1100_0000) == 0b1000_0000 {
            start += 1;
        }
        base64::engine::general_purpose::STANDARD.encode(&self.text[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_and_tailed() {
        let mut log = InvocationLog::start("r1", "$LATEST");
        log.output(b"hello\n");
        log.end("r1", Duration::from_micros(1500), None, 128);
        let text = String::from_utf8(log.text().to_vec()).unwrap();
        assert!(
            text.starts_with("START RequestId: r1 Version: $LATEST\nhello\nEND RequestId: r1\n")
        );
        assert!(text.contains(
            "REPORT RequestId: r1\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
        ));
        let tail = base64::engine::general_purpose::STANDARD
            .decode(log.tail_base64())
            .unwrap();
        assert_eq!(tail, log.text());
    }

    #[test]
    fn tail_is_the_last_4_kb() {
        let mut log = InvocationLog::start("r", "1");
        log.output("é".repeat(5000).as_bytes());
        let tail = base64::engine::general_purpose::STANDARD
            .decode(log.tail_base64())
            .unwrap();
        assert!(tail.len() <= TAIL_BYTES);
        assert!(String::from_utf8(tail).is_ok());
    }
}
