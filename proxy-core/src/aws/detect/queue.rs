//! SQS queue-URL paths: `/<account>/<queue>` (moto, AWS) and LocalStack's
//! `/queue/[<region>/]<account>/<queue>`.

use super::host::is_region;

/// `/<12-digit account>/<queue>` (moto, AWS) or `/queue/<region>/<account>/<queue>`
/// (LocalStack's path strategy) or `/queue/<account>/<queue>`: `(account, queue)`.
pub fn queue_of(path: &str) -> Option<(String, String)> {
    queue_parts(path).map(|(a, q)| (a.to_string(), q.to_string()))
}

/// [`queue_of`] without allocating: borrowed account and queue name.
fn queue_parts(path: &str) -> Option<(&str, &str)> {
    let queue_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 80
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    };
    let account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    let mut segs = path.trim_start_matches('/').split('/');
    let first = segs.next()?;
    let (a, q) = if first == "queue" {
        let x = segs.next()?;
        match segs.next() {
            // `/queue/<account>/<queue>`
            Some(q) if account(x) => (x, q),
            // `/queue/<region>/<account>/<queue>`
            Some(a) if is_region(x) => (a, segs.next()?),
            _ => return None,
        }
    } else {
        (first, segs.next()?)
    };
    (segs.next().is_none() && account(a) && queue_name(q)).then_some((a, q))
}

pub(super) fn is_queue_path(path: &str) -> bool {
    queue_parts(path).is_some()
}
