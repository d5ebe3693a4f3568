//! Replacing byte ranges of a text, so that everything not replaced stays byte for byte.

use std::ops::Range;

/// One replacement: `range` of the original text becomes `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The bytes replaced (on character boundaries of the original).
    pub range: Range<usize>,
    /// What they become.
    pub text: String,
}

/// `original` with `edits` applied, or `None` when there are none, or when any is out of
/// bounds, not on character boundaries, or overlaps another (nothing is applied then).
pub fn apply(original: &str, mut edits: Vec<Edit>) -> Option<String> {
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|e| e.range.start);
    let mut out = String::with_capacity(original.len() + 64 * edits.len());
    let mut copied = 0;
    for edit in &edits {
        if edit.range.start < copied || edit.range.start > edit.range.end {
            return None;
        }
        out.push_str(original.get(copied..edit.range.start)?);
        original.get(edit.range.clone())?;
        out.push_str(&edit.text);
        copied = edit.range.end;
    }
    out.push_str(original.get(copied..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(range: Range<usize>, text: &str) -> Edit {
        Edit {
            range,
            text: text.into(),
        }
    }

    #[test]
    fn applies_in_order_and_refuses_bad_ranges() {
        let s = "aXbYc";
        assert_eq!(
            apply(s, vec![edit(3..4, "yy"), edit(1..2, "")]).as_deref(),
            Some("abyyc")
        );
        assert_eq!(apply(s, vec![]), None);
        assert_eq!(apply(s, vec![edit(1..3, "1"), edit(2..4, "2")]), None);
        assert_eq!(apply(s, vec![edit(4..9, "")]), None);
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = edit(3..2, "");
        assert_eq!(apply(s, vec![backwards]), None);
        assert_eq!(apply("é", vec![edit(1..2, "e")]), None, "not a boundary");
        assert_eq!(apply("é", vec![edit(0..2, "e")]).as_deref(), Some("e"));
    }
}
