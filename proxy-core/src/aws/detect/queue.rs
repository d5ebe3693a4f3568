//! SQS queue-URL paths: `/<account>/<queue>` (moto, AWS) and LocalStack's
//! `/queue/[<region>/]<account>/<queue>`.

use super::host::is_region;

/// `/<12-digit account>/<queue>` (moto, AWS) or `/queue/<region>/<account>/<queue>`
/// (LocalStack's path strategy) or `/queue/<account>/<queue>`: `(account, queue)`.
pub fn queue_of(path: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let queue_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 80
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    };
    let account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    let found = match segs.as_slice() {
        [a, q] if account(a) && queue_name(q) => Some((a, q)),
        ["queue", a, q] if account(a) && queue_name(q) => Some((a, q)),
        ["queue", r, a, q] if is_region(r) && account(a) && queue_name(q) => Some((a, q)),
        _ => None,
    };
    found.map(|(a, q)| (a.to_string(), q.to_string()))
}

pub(super) fn is_queue_path(path: &str) -> bool {
    queue_of(path).is_some()
}
