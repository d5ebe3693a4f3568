//! The `wildcard` operator: `*` matches any run of characters (also none); `\*` is a literal
//! star and `\\` a literal backslash. Validation follows event-ruler's `WildcardParser`:
//! positions in its messages are 1-based UTF-8 byte offsets (AWS counts the opening quote
//! it wraps the operand in).

/// A validated wildcard operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wildcard {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Star,
}

/// More `*` than this in one operand is refused as "too complex" (an approximation of
/// AWS's state-machine complexity limit; AWS refuses `*:*:*:*:*:event-bus/*`).
const MAX_STARS: usize = 5;

impl Wildcard {
    /// Parses and validates an operand; the error is AWS's reason text.
    pub(crate) fn parse(text: &str) -> Result<Wildcard, String> {
        let mut tokens = Vec::with_capacity(text.len());
        let mut chars = text.char_indices().peekable();
        let mut stars = 0;
        while let Some((at, c)) = chars.next() {
            match c {
                '*' => {
                    if matches!(chars.peek(), Some((_, '*'))) {
                        return Err(format!("Consecutive wildcard characters at pos {}", at + 1));
                    }
                    stars += 1;
                    tokens.push(Token::Star);
                }
                '\\' => match chars.peek() {
                    Some(&(_, next)) if next == '*' || next == '\\' => {
                        chars.next();
                        tokens.push(Token::Char(next));
                    }
                    // A trailing backslash would escape the closing quote AWS appends.
                    _ => return Err(format!("Invalid escape character at pos {}", at + 1)),
                },
                c => tokens.push(Token::Char(c)),
            }
        }
        if stars > MAX_STARS {
            return Err(
                "Rule is too complex - try using fewer wildcard characters or fewer \
                 repeating character sequences after a wildcard character"
                    .into(),
            );
        }
        Ok(Wildcard { tokens })
    }

    /// Whether the whole of `value` matches (glob matching, O(len × pattern) at worst).
    pub(crate) fn matches(&self, value: &str) -> bool {
        let text: Vec<char> = value.chars().collect();
        let pat = &self.tokens;
        let (mut t, mut p) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match pat.get(p) {
                Some(Token::Char(c)) if *c == text[t] => {
                    t += 1;
                    p += 1;
                }
                Some(Token::Star) => {
                    p += 1;
                    backtrack = Some((p, t));
                }
                _ => match backtrack {
                    Some((star_p, star_t)) => {
                        p = star_p;
                        t = star_t + 1;
                        backtrack = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        pat[p..].iter().all(|tok| *tok == Token::Star)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, value: &str) -> bool {
        Wildcard::parse(pattern).unwrap().matches(value)
    }

    #[test]
    fn matching() {
        assert!(m("*.png", "a.png"));
        assert!(m("*.png", ".png"));
        assert!(!m("*.png", "a.png.bak"));
        assert!(m("dir/*/*.png", "dir/a/b.png"));
        assert!(m("dir/*/*.png", "dir//x/y.png"));
        assert!(!m("dir/*/*.png", "dir/b.png"));
        assert!(m("*Title*", "MyTitleHere"));
        assert!(m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
        assert!(m(r"a\\*", r"a\xyz"));
        assert!(m("*a*a*b", "aaaaaaaaaaaaab"));
        assert!(!m("*a*a*b", "aaaaaaaaaaaaaa"));
        assert!(m("ü*ß", "üxyzß"));
    }

    #[test]
    fn validation_messages() {
        let err = |s: &str| Wildcard::parse(s).unwrap_err();
        assert_eq!(err("abc**def"), "Consecutive wildcard characters at pos 4");
        assert_eq!(
            err("arn:aws:events:us-east-1:**:event-bus/*"),
            "Consecutive wildcard characters at pos 26"
        );
        assert_eq!(err(r"a\bc"), "Invalid escape character at pos 2");
        assert_eq!(err("a\\"), "Invalid escape character at pos 2");
        assert_eq!(err("é**"), "Consecutive wildcard characters at pos 3");
        assert!(err("*:*:*:*:*:event-bus/*").starts_with("Rule is too complex"));
        assert!(Wildcard::parse(r"a\**").is_ok());
    }
}
