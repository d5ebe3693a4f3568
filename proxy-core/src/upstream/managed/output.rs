//! A managed backend's stdout and stderr: read line by line (bounded, lossy UTF-8, colour
//! sequences stripped) and logged through `tracing` as `[name] line`, always drained so a
//! chatty backend never blocks.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::LOG_TARGET;

/// Lines longer than this many bytes are cut, with a note of how much was dropped.
const MAX_LINE: usize = 8 * 1024;

/// Logs every line of a backend's stdout or stderr as `[name] line`.
pub(super) async fn log_lines(name: Arc<str>, reader: impl AsyncRead + Unpin) {
    read_lines(reader, MAX_LINE, |line| {
        tracing::info!(target: LOG_TARGET, backend = %name, "[{name}] {line}");
    })
    .await;
}

/// Reads `reader` to its end and calls `emit` with every line: lossy UTF-8, without the line
/// ending, cut at `max` bytes (with a note of how many bytes were dropped). Memory stays
/// bounded however long a line is, and the reader is always drained.
pub(super) async fn read_lines(
    reader: impl AsyncRead + Unpin,
    max: usize,
    mut emit: impl FnMut(&str),
) {
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut line: Vec<u8> = Vec::new();
    let mut dropped = 0usize;
    let push = |line: &mut Vec<u8>, dropped: &mut usize, bytes: &[u8]| {
        let take = bytes.len().min(max - line.len());
        line.extend_from_slice(&bytes[..take]);
        *dropped += bytes.len() - take;
    };
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if buf.is_empty() {
            if !line.is_empty() || dropped > 0 {
                emit(&render_line(&line, dropped));
            }
            break;
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                push(&mut line, &mut dropped, &buf[..i]);
                reader.consume(i + 1);
                emit(&render_line(&line, dropped));
                line.clear();
                dropped = 0;
            }
            None => {
                let n = buf.len();
                push(&mut line, &mut dropped, buf);
                reader.consume(n);
            }
        }
    }
}

fn render_line(line: &[u8], dropped: usize) -> String {
    let mut line = line;
    if dropped == 0 {
        if let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
    } else if let Err(e) = std::str::from_utf8(line) {
        // Do not turn a character cut in half at the limit into a replacement character.
        if e.error_len().is_none() {
            line = &line[..e.valid_up_to()];
        }
    }
    let mut text = strip_ansi(&String::from_utf8_lossy(line));
    if dropped > 0 {
        text.push_str(&format!(" … [{dropped} more bytes]"));
    }
    text
}

/// The line without terminal colour sequences (`ESC [ … letter`), which backends such as
/// moto_server's Werkzeug print and which would show up escaped in edgestack's log.
pub(super) fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
