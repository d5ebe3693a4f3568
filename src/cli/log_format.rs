//! The log's line format: the same text as `tracing-subscriber`'s default (`Full`, without
//! colours), `2026-12-05T08:49:05.450699Z  INFO edgestack::request::aws: AWS s3.GetObject =>
//! 200 upstream="moto" ms=0.42 ...`, written with less work for the lines edgestack writes
//! itself, above all the one line per request:
//!
//! - the timestamp's date and time of day are formatted once a second (per thread), the
//!   microseconds with integer arithmetic;
//! - the message, which carries request paths and therefore has its terminal control
//!   characters escaped (as the default format does), is escaped in one scan that copies it
//!   whole when there is nothing to escape, instead of a formatter call per character.
//!
//! Everything else is delegated to the default format, unchanged: colours (a terminal), events
//! inside spans, and events of other crates (pingora's `log` records among them).

use std::{cell::RefCell, fmt, time::SystemTime};

use tracing::{field::Field, Event, Level, Subscriber};
use tracing_subscriber::{
    field::Visit,
    fmt::{
        format::{Format, Writer},
        FmtContext, FormatEvent, FormatFields,
    },
    registry::LookupSpan,
};

/// See the module docs.
#[derive(Default)]
pub struct LineFormat {
    default: Format,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let ours = meta.target().starts_with("edgestack");
        let in_span = event.parent().is_some() || ctx.lookup_current().is_some();
        if !ours || writer.has_ansi_escapes() || in_span {
            return self.default.format_event(ctx, writer, event);
        }
        timestamp(&mut writer)?;
        writer.write_str(level(meta.level()))?;
        writer.write_char(' ')?;
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = Fields {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// The level as the default format writes it without colours: five wide, right-aligned.
fn level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

thread_local! {
    /// The second last formatted, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `2026-12-05T08:49:05.450699Z ` (UTC, microseconds, then a space), as the default format's
/// `SystemTime` timer writes it.
fn timestamp(writer: &mut Writer<'_>) -> fmt::Result {
    let Ok(since) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) else {
        return writer.write_str("<unknown time> ");
    };
    let secs = since.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != secs {
            let whole = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let text = humantime::format_rfc3339_seconds(whole).to_string();
            cached.1.clear();
            cached.1.push_str(text.trim_end_matches('Z'));
            cached.0 = secs;
        }
        writer.write_str(&cached.1)
    })?;
    let mut micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    writer.write_char('.')?;
    writer.write_str(std::str::from_utf8(&digits).expect("ASCII digits"))?;
    writer.write_str("Z ")
}

/// The fields as the default format's visitor writes them: the message first as it is
/// (escaped), then `name=value` with each value's `Debug`, separated by spaces.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

thread_local! {
    /// Where a message is formatted before it is escaped into the line.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Fields<'_, '_> {
    fn pad(&mut self) -> fmt::Result {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    fn message(&mut self, text: &str) -> fmt::Result {
        self.pad()?;
        escape_into(self.writer, text)
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            self.message(value)
        } else if value
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            // What `Debug` makes of a string with nothing to escape: the string in quotes.
            self.pad()
                .and_then(|()| write_name(self.writer, field.name()))
                .and_then(|()| {
                    self.writer.write_char('"')?;
                    self.writer.write_str(value)?;
                    self.writer.write_char('"')
                })
        } else {
            self.record_value(field.name(), &value)
        };
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if field.name() == "message" {
            return self.record_debug(field, &format_args!("{value}"));
        }
        if self.result.is_ok() {
            self.result = self.error(field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                scratch.clear();
                fmt::write(&mut *scratch, format_args!("{value:?}"))?;
                self.message(&scratch)
            })
        } else {
            self.record_value(field.name(), value)
        };
    }
}

impl Fields<'_, '_> {
    /// As the default format writes an error: its text escaped, then its sources as
    /// `name.sources=[a, b]`.
    fn error(&mut self, name: &str, error: &(dyn std::error::Error + 'static)) -> fmt::Result {
        self.pad()?;
        write_name(self.writer, name)?;
        escaped_display(self.writer, error)?;
        if let Some(source) = error.source() {
            write!(
                self.writer,
                " {}.sources=[",
                name.strip_prefix("r#").unwrap_or(name)
            )?;
            let mut next = Some(source);
            let mut first = true;
            while let Some(e) = next {
                if !first {
                    self.writer.write_str(", ")?;
                }
                first = false;
                escaped_display(self.writer, e)?;
                next = e.source();
            }
            self.writer.write_char(']')?;
        }
        Ok(())
    }

    fn record_value(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        self.pad()?;
        write_name(self.writer, name)?;
        write!(self.writer, "{value:?}")
    }
}

/// `name=` (a raw identifier without its `r#`).
fn write_name(writer: &mut Writer<'_>, name: &str) -> fmt::Result {
    writer.write_str(name.strip_prefix("r#").unwrap_or(name))?;
    writer.write_char('=')
}

/// `value`'s `Display`, escaped as [`escape_into`] does.
fn escaped_display(writer: &mut Writer<'_>, value: &dyn fmt::Display) -> fmt::Result {
    SCRATCH.with(|scratch| {
        // The message may be using the scratch buffer: a fresh one then.
        let mut owned = String::new();
        let mut borrowed = scratch.try_borrow_mut();
        let text = match borrowed.as_deref_mut() {
            Ok(s) => {
                s.clear();
                s
            }
            Err(_) => &mut owned,
        };
        fmt::write(text, format_args!("{value}"))?;
        escape_into(writer, text)
    })
}

/// `text` with the terminal control characters the default format escapes (ESC, BEL, BS, FF,
/// DEL, and C1 controls U+0080 to U+009F) written as escapes; copied whole when it has none.
fn escape_into(writer: &mut impl fmt::Write, text: &str) -> fmt::Result {
    let bytes = text.as_bytes();
    let clean = !bytes.iter().enumerate().any(|(i, &b)| {
        matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f)
            || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    });
    if clean {
        return writer.write_str(text);
    }
    for ch in text.chars() {
        match ch {
            '\x1b' => writer.write_str("\\x1b")?,
            '\x07' => writer.write_str("\\x07")?,
            '\x08' => writer.write_str("\\x08")?,
            '\x0c' => writer.write_str("\\x0c")?,
            '\x7f' => writer.write_str("\\x7f")?,
            c if ('\u{80}'..='\u{9f}').contains(&c) => write!(writer, "\\u{{{:x}}}", c as u32)?,
            c => writer.write_char(c)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    /// The lines `log` writes, with each format.
    fn lines(log: impl Fn()) -> (String, String) {
        let ours = Capture::default();
        let theirs = Capture::default();
        let sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(LineFormat::default())
            .with_writer(ours.clone())
            .finish();
        tracing::subscriber::with_default(sub, &log);
        let sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(theirs.clone())
            .finish();
        tracing::subscriber::with_default(sub, &log);
        let text = |c: Capture| String::from_utf8(c.0.lock().unwrap().clone()).unwrap();
        (text(ours), text(theirs))
    }

    /// An error with a source, for the `name.sources=[...]` form.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("could not write")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// Without the timestamps (they differ by the microseconds between the two runs).
    fn untimed(text: &str) -> Vec<String> {
        text.lines()
            .map(|l| {
                let (time, rest) = l.split_once(' ').unwrap();
                assert_eq!(time.len(), 27, "{l}");
                assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{l}");
                rest.to_string()
            })
            .collect()
    }

    #[test]
    fn lines_are_the_default_formats() {
        let path = "/b/k\u{1b}[31mred\u{7}\u{85}é";
        let (ours, theirs) = lines(|| {
            tracing::info!(
                target: "edgestack::request::http",
                upstream = "moto",
                ms = 12.5,
                id = %format_args!("{:016}", 7),
                error = Option::<String>::None,
                "{} {} => {}{}",
                "GET",
                path,
                200,
                ""
            );
            tracing::warn!(target: "edgestack::request::aws", error = "quote\"d", r#type = 3, "AWS s3.GetObject => 404 (NoSuchKey)");
            tracing::info!(target: "edgestack", plain = "a b-c.d", ctl = "x\u{1b}y", uni = "é", empty = "", "fields");
            tracing::error!(target: "edgestack", "plain {}", 1);
            let io = std::io::Error::other("disk \u{1b}gone");
            let wrapped = Wrapped(io);
            tracing::warn!(target: "edgestack", error = &wrapped as &(dyn std::error::Error + 'static), "failed");
            let alone = std::io::Error::other("alone");
            tracing::warn!(target: "edgestack", error = &alone as &(dyn std::error::Error + 'static), "failed too");
            tracing::debug!(target: "edgestack::x", "not shown at info");
            tracing::info!(target: "other_crate", answer = 42, "delegated");
            let span = tracing::info_span!("in_span", n = 1);
            let _g = span.enter();
            tracing::info!(target: "edgestack", "delegated too");
        });
        assert_eq!(untimed(&ours), untimed(&theirs), "{ours}\n{theirs}");
        assert!(ours.contains("\\x1b[31mred\\x07\\u{85}é"), "{ours}");
        assert!(
            ours.contains(" INFO edgestack::request::http: GET "),
            "{ours}"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        let (ours, _) = lines(|| tracing::info!(target: "edgestack", "x"));
        let time = ours.split_once(' ').unwrap().0;
        let parsed = humantime::parse_rfc3339(time).unwrap();
        let now = SystemTime::now();
        let age = now.duration_since(parsed).unwrap();
        assert!(age < std::time::Duration::from_secs(5), "{time}");
    }
}
