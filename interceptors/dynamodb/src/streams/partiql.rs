//! Just enough PartiQL for the Streams emulator. ExecuteStatement,
//! BatchExecuteStatement and ExecuteTransaction write items through PartiQL
//! statements rather than PutItem/UpdateItem/DeleteItem. To write stream
//! records for them, the emulator needs each statement's kind, table and item
//! key. This module reads that much: the whole item of an INSERT, and the
//! top-level `attribute = value` equalities of an UPDATE's or DELETE's WHERE
//! clause, with literals and `?` parameters turned into AttributeValue JSON.
//! Everything else (SET/REMOVE expressions, other conditions, RETURNING) is
//! skipped. It does not validate: the backend still judges the statement.

use serde_json::{json, Map, Value};

/// The deepest nesting of brackets (`{`, `[`, `(`, `<<`) that is accepted.
const MAX_DEPTH: usize = 32;

/// What a PartiQL statement does, as far as stream records need to know.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// A read (SELECT): no record.
    Select {
        /// The table read (without any `."index"` suffix).
        table: String,
    },
    /// INSERT: the whole item, as DynamoDB AttributeValue JSON (attribute name -> {"S": ...} etc).
    Insert {
        /// The table written.
        table: String,
        /// The item inserted.
        item: Map<String, Value>,
    },
    /// UPDATE: the `attribute = value` equalities of the WHERE clause that are joined by AND at the top level.
    Update {
        /// The table written.
        table: String,
        /// The WHERE clause's `attribute = value` terms (none if it has a top-level OR).
        equalities: Map<String, Value>,
    },
    /// DELETE: as Update.
    Delete {
        /// The table written.
        table: String,
        /// The WHERE clause's `attribute = value` terms (none if it has a top-level OR).
        equalities: Map<String, Value>,
    },
}

/// Parses `statement` with its `parameters`. Errors say what was not understood (they are logged, not shown to clients).
pub fn parse(statement: &str, parameters: &[Value]) -> Result<Statement, String> {
    let toks = lex(statement)?;
    let markers = toks.iter().filter(|t| matches!(t, Tok::Param(_))).count();
    if markers > parameters.len() {
        return Err(format!(
            "{markers} parameter markers, {} parameters",
            parameters.len()
        ));
    }
    let mut c = Cursor::new(&toks, parameters);
    let word = match c.next() {
        Some(Tok::Ident(w, false)) => w.to_ascii_uppercase(),
        other => return Err(expected("a statement", other)),
    };
    match word.as_str() {
        "SELECT" => c.select(),
        "EXISTS" => {
            // ExecuteTransaction's condition check: EXISTS(SELECT ...).
            c.expect_sym("(")?;
            c.expect_kw("SELECT")?;
            c.select()
        }
        "INSERT" => {
            c.expect_kw("INTO")?;
            let table = c.table()?;
            c.expect_kw("VALUE")?;
            let item = match c.value(0)? {
                Value::Object(mut o) if o.len() == 1 => o.remove("M"),
                _ => None,
            };
            match (item, c.peek()) {
                (Some(Value::Object(item)), None) => Ok(Statement::Insert { table, item }),
                (_, None) => Err("INSERT's VALUE is not a map".into()),
                (_, t) => Err(format!("unexpected {} after INSERT's item", describe(t))),
            }
        }
        "UPDATE" => {
            let table = c.table()?;
            let at = find_top(&toks, c.pos, "WHERE").ok_or("UPDATE without WHERE")?;
            let equalities = equalities(&toks[at + 1..], parameters);
            Ok(Statement::Update { table, equalities })
        }
        "DELETE" => {
            c.expect_kw("FROM")?;
            let table = c.table()?;
            c.expect_kw("WHERE")?;
            let equalities = equalities(&toks[c.pos..], parameters);
            Ok(Statement::Delete { table, equalities })
        }
        _ => Err(format!("unknown statement {word}")),
    }
}

/// A token. Identifiers carry whether they were double-quoted (quoted ones are never keywords).
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String, bool),
    Str(String),
    Num(String),
    /// A `?`, with its index among the statement's markers.
    Param(usize),
    Sym(&'static str),
}

/// Symbols, longest first.
const SYMS: &[&str] = &[
    "<<", ">>", "<>", "<=", ">=", "!=", "||", "{", "}", "[", "]", "(", ")", ",", ":", ".", "=",
    "<", ">", "+", "-", "*", "/", "%", ";",
];

fn closer(open: &str) -> &'static str {
    match open {
        "{" => "}",
        "[" => "]",
        "(" => ")",
        _ => ">>",
    }
}

/// +1 for an opening bracket, -1 for a closing one.
fn delta(t: &Tok) -> isize {
    match t {
        Tok::Sym("{" | "[" | "(" | "<<") => 1,
        Tok::Sym("}" | "]" | ")" | ">>") => -1,
        _ => 0,
    }
}

/// Splits `src` into tokens, checking that brackets balance and don't nest too deep.
fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let at = |i: usize, f: fn(&char) -> bool| chars.get(i).is_some_and(f);
    let word = |c: &char| c.is_alphanumeric() || *c == '_';
    let (mut toks, mut open, mut params, mut i) = (Vec::new(), Vec::new(), 0, 0);
    while let Some(&c) = chars.get(i) {
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None if c == '"' => return Err(format!("unterminated identifier at {start}")),
                    None => return Err(format!("unterminated string at {start}")),
                    Some(&q) if q == c && chars.get(i + 1) == Some(&c) => i += 1,
                    Some(&q) if q == c => break,
                    Some(_) => {}
                }
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            toks.push(if c == '"' {
                Tok::Ident(text, true)
            } else {
                Tok::Str(text)
            });
        } else if c == '?' {
            toks.push(Tok::Param(params));
            params += 1;
            i += 1;
        } else if c.is_ascii_digit() {
            let digits = |i: usize| i + (i..).take_while(|&j| at(j, char::is_ascii_digit)).count();
            i = digits(i);
            if chars.get(i) == Some(&'.') && at(i + 1, char::is_ascii_digit) {
                i = digits(i + 1);
            }
            let sign = usize::from(matches!(chars.get(i + 1), Some('+' | '-')));
            if at(i, |c| matches!(c, 'e' | 'E')) && at(i + 1 + sign, char::is_ascii_digit) {
                i = digits(i + 1 + sign);
            }
            if at(i, word) {
                return Err(format!("malformed number at {start}"));
            }
            toks.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            i += (i..).take_while(|&j| at(j, word)).count();
            toks.push(Tok::Ident(chars[start..i].iter().collect(), false));
        } else {
            let sym = SYMS
                .iter()
                .find(|s| {
                    s.chars()
                        .enumerate()
                        .all(|(k, sc)| chars.get(i + k) == Some(&sc))
                })
                .ok_or_else(|| format!("unexpected character {c:?} at {i}"))?;
            if delta(&Tok::Sym(sym)) > 0 {
                open.push(*sym);
                if open.len() > MAX_DEPTH {
                    return Err(format!("brackets nested deeper than {MAX_DEPTH}"));
                }
            } else if delta(&Tok::Sym(sym)) < 0 && open.pop().map(closer) != Some(*sym) {
                return Err(format!("unbalanced {sym} at {i}"));
            }
            toks.push(Tok::Sym(sym));
            i += sym.len();
        }
    }
    match open.last() {
        Some(o) => Err(format!("unclosed {o}")),
        None => Ok(toks),
    }
}

/// The error for finding `t` where `what` was expected.
fn expected(what: &str, t: Option<&Tok>) -> String {
    format!("expected {what}, found {}", describe(t))
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "end of statement".into(),
        Some(Tok::Ident(s, false) | Tok::Num(s)) => s.clone(),
        Some(Tok::Ident(s, true)) => format!("\"{s}\""),
        Some(Tok::Str(s)) => format!("'{s}'"),
        Some(Tok::Param(_)) => "?".into(),
        Some(Tok::Sym(s)) => format!("'{s}'"),
    }
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Ident(w, false) if w.eq_ignore_ascii_case(kw))
}

/// The index of the first keyword `kw` at bracket depth 0, from `from` on.
fn find_top(toks: &[Tok], from: usize, kw: &str) -> Option<usize> {
    let mut depth = 0;
    (from..toks.len()).find(|&i| {
        depth += delta(&toks[i]);
        depth == 0 && is_kw(&toks[i], kw)
    })
}

/// The `attribute = value` terms of a WHERE clause (the tokens after WHERE).
fn equalities(toks: &[Tok], params: &[Value]) -> Map<String, Value> {
    let (mut terms, mut start, mut end) = (Vec::new(), 0, toks.len());
    let (mut depth, mut between) = (0, false);
    for (i, t) in toks.iter().enumerate() {
        depth += delta(t);
        if depth != 0 {
            continue;
        } else if is_kw(t, "RETURNING") {
            end = i;
            break;
        } else if is_kw(t, "OR") {
            return Map::new();
        } else if is_kw(t, "BETWEEN") {
            between = true;
        } else if is_kw(t, "AND") && !std::mem::take(&mut between) {
            terms.push(&toks[start..i]);
            start = i + 1;
        }
    }
    terms.push(&toks[start..end]);
    let literal = |n: &str| {
        ["true", "false", "null", "missing"]
            .iter()
            .any(|w| n.eq_ignore_ascii_case(w))
    };
    let attr = |t: &Tok| match t {
        Tok::Ident(n, quoted) if *quoted || !literal(n) => Some(n.clone()),
        _ => None,
    };
    let value = |toks: &[Tok]| {
        let mut c = Cursor::new(toks, params);
        c.value(0).ok().filter(|_| c.peek().is_none())
    };
    let mut out = Map::new();
    for term in terms {
        let found = match term {
            [a, Tok::Sym("="), rest @ ..] => attr(a).zip(value(rest)),
            _ => None,
        };
        let found = found.or_else(|| match term {
            [rest @ .., Tok::Sym("="), a] => attr(a).zip(value(rest)),
            _ => None,
        });
        out.extend(found);
    }
    out
}

struct Cursor<'a> {
    toks: &'a [Tok],
    pos: usize,
    params: &'a [Value],
}

impl<'a> Cursor<'a> {
    fn new(toks: &'a [Tok], params: &'a [Value]) -> Self {
        Cursor {
            toks,
            pos: 0,
            params,
        }
    }

    fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<&'a Tok> {
        let t = self.peek();
        self.pos += usize::from(t.is_some());
        t
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        let hit = matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym);
        self.pos += usize::from(hit);
        hit
    }

    fn expect_sym(&mut self, sym: &str) -> Result<(), String> {
        match self.eat_sym(sym) {
            true => Ok(()),
            false => Err(expected(&format!("'{sym}'"), self.peek())),
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if is_kw(t, kw) => Ok(()),
            other => Err(expected(kw, other)),
        }
    }

    fn table(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Ident(name, _)) => Ok(name.clone()),
            other => Err(expected("a table name", other)),
        }
    }

    /// After SELECT: skips the projection up to FROM and reads the table.
    fn select(&mut self) -> Result<Statement, String> {
        self.pos = find_top(self.toks, self.pos, "FROM").ok_or("SELECT without FROM")? + 1;
        let table = self.table()?;
        Ok(Statement::Select { table })
    }

    /// A literal or parameter, as AttributeValue JSON.
    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nested deeper than {MAX_DEPTH}"));
        }
        let is = |w: &str, kw: &str| w.eq_ignore_ascii_case(kw);
        let (open, close) = match (self.next(), self.peek()) {
            (Some(Tok::Str(s)), _) => return Ok(json!({ "S": s })),
            (Some(Tok::Num(n)), _) => return Ok(json!({ "N": n })),
            (Some(Tok::Sym("-")), Some(Tok::Num(n))) => {
                self.pos += 1;
                return Ok(json!({ "N": format!("-{n}") }));
            }
            (Some(Tok::Param(i)), _) => {
                return self
                    .params
                    .get(*i)
                    .cloned()
                    .ok_or_else(|| format!("no parameter #{i}"))
            }
            (Some(Tok::Ident(w, false)), _) if is(w, "true") => return Ok(json!({ "BOOL": true })),
            (Some(Tok::Ident(w, false)), _) if is(w, "false") => {
                return Ok(json!({ "BOOL": false }))
            }
            (Some(Tok::Ident(w, false)), _) if is(w, "null") => return Ok(json!({ "NULL": true })),
            (Some(Tok::Sym(s @ ("{" | "[" | "<<"))), _) => (*s, closer(s)),
            (other, _) => return Err(expected("a value", other)),
        };
        let (mut map, mut list) = (Map::new(), Vec::new());
        while !self.eat_sym(close) {
            if !map.is_empty() || !list.is_empty() {
                self.expect_sym(",")?;
            }
            if open == "{" {
                let key = match self.next() {
                    Some(Tok::Str(k) | Tok::Ident(k, true)) => k.clone(),
                    other => return Err(expected("a map key", other)),
                };
                self.expect_sym(":")?;
                map.insert(key, self.value(depth + 1)?);
            } else {
                list.push(self.value(depth + 1)?);
            }
        }
        match open {
            "{" => Ok(json!({ "M": map })),
            "[" => Ok(json!({ "L": list })),
            _ => set(list),
        }
    }
}

/// `<<a, b>>`: a string, number or binary set, from its elements' AttributeValues.
fn set(elems: Vec<Value>) -> Result<Value, String> {
    let mut kind: Option<String> = None;
    let mut out = Vec::with_capacity(elems.len());
    for e in elems {
        let one = e
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next());
        match one {
            Some((k, v))
                if ["S", "N", "B"].contains(&k.as_str())
                    && kind.as_ref().is_none_or(|kind| kind == k) =>
            {
                kind = Some(k.clone());
                out.push(v.clone());
            }
            _ => return Err("sets hold strings, numbers or binaries, all of one type".into()),
        }
    }
    match kind {
        Some(kind) => Ok(json!({ format!("{kind}S"): out })),
        None => Err("empty set".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement's item or equalities.
    fn keys(s: &str, p: &[Value]) -> Value {
        match parse(s, p).unwrap() {
            Statement::Insert { item: m, .. }
            | Statement::Update { equalities: m, .. }
            | Statement::Delete { equalities: m, .. } => Value::Object(m),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statement_kinds_and_tables() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        let s = r#"insert into "tbl" VALUE {'pk': 'a'}"#;
        let item = m(json!({"pk": {"S": "a"}}));
        assert_eq!(
            parse(s, &[]).unwrap(),
            Statement::Insert {
                table: "tbl".into(),
                item
            }
        );
        let equalities = m(json!({"pk": {"N": "1"}}));
        let s = "UPDATE tbl SET a = 1 WHERE pk = 1";
        let update = Statement::Update {
            table: "tbl".into(),
            equalities: equalities.clone(),
        };
        assert_eq!(parse(s, &[]).unwrap(), update);
        let delete = Statement::Delete {
            table: "t".into(),
            equalities,
        };
        assert_eq!(parse("Delete From t Where pk = 1", &[]).unwrap(), delete);
        let sel = |t: &str| Statement::Select { table: t.into() };
        let p = [json!({"S": "a"})];
        assert_eq!(
            parse("SELECT * FROM \"tbl\" WHERE pk = ?", &p).unwrap(),
            sel("tbl")
        );
        assert_eq!(
            parse("select a, \"from\" FROM \"t\".\"idx\"", &[]).unwrap(),
            sel("t")
        );
        assert_eq!(
            parse("EXISTS(SELECT * FROM t WHERE pk = 'a')", &[]).unwrap(),
            sel("t")
        );
    }

    #[test]
    fn literals_parameters_and_nesting() {
        let s = "INSERT INTO t VALUE {'s': 'a', 'n': ?, 'f': -2.5e3, 'b': TRUE, 'z': null, \
                 'm': {'l': [1, 'x', [], {}], \"q\": <<'a', ?>>}, 'ns': <<1, 2>>}";
        let p = [json!({"N": "7"}), json!({"S": "b"})];
        let want = json!({"s": {"S": "a"}, "n": {"N": "7"}, "f": {"N": "-2.5e3"},
            "b": {"BOOL": true}, "z": {"NULL": true}, "m": {"M": {"l": {"L": [{"N": "1"},
            {"S": "x"}, {"L": []}, {"M": {}}]}, "q": {"SS": ["a", "b"]}}}, "ns": {"NS": ["1", "2"]}});
        assert_eq!(keys(s, &p), want);
        let p = [json!({"M": {"pk": {"S": "a"}}})];
        assert_eq!(keys("INSERT INTO t VALUE ?", &p), json!({"pk": {"S": "a"}}));
    }

    #[test]
    fn quoting_and_escapes() {
        let s = r#"INSERT INTO "my ""t""" VALUE {'it''s': 'don''t', "k""": ''}"#;
        let Statement::Insert { table, .. } = parse(s, &[]).unwrap() else {
            panic!()
        };
        assert_eq!(table, "my \"t\"");
        assert_eq!(
            keys(s, &[]),
            json!({"it's": {"S": "don't"}, "k\"": {"S": ""}})
        );
    }

    #[test]
    fn where_clauses() {
        let s = "UPDATE \"tbl\" SET a = a + 1 SET b = ? SET c = list_append(c, [?, 'x']) \
                 REMOVE d WHERE pk = 'a' AND sk = ? AND attribute_exists(x) AND n > 3 \
                 RETURNING ALL OLD *";
        let p = [json!({"N": "2"}), json!({"S": "y"}), json!({"N": "7"})];
        assert_eq!(keys(s, &p), json!({"pk": {"S": "a"}, "sk": {"N": "7"}}));
        let s = r#"DELETE FROM t WHERE "pk" = 'a' AND 2 = sk AND x BETWEEN 1 AND 5
                   AND "q" = y AND r IN [1] AND (k = 1 OR k = 2) RETURNING ALL OLD *"#;
        assert_eq!(keys(s, &[]), json!({"pk": {"S": "a"}, "sk": {"N": "2"}}));
        assert_eq!(
            keys("UPDATE t SET a = 1 WHERE pk = 'a' OR pk = 'b'", &[]),
            json!({})
        );
    }

    #[test]
    fn errors() {
        let err = |s: &str| parse(s, &[json!({"S": "a"})]).unwrap_err();
        assert!(err("SELECT * FROM t WHERE a = ? AND b = ?").contains("parameter"));
        assert!(err("INSERT INTO t VALUE {'a': 'x}").contains("unterminated string"));
        assert!(err("INSERT INTO \"t VALUE {}").contains("unterminated identifier"));
        assert!(err("MERGE INTO t").contains("unknown statement"));
        assert!(err("").contains("expected a statement"));
        assert!(err("UPDATE t SET a = 1").contains("without WHERE"));
        assert!(err("INSERT INTO t VALUE {'a': [1}").contains("unbalanced"));
        assert!(err("INSERT INTO t VALUE {'a': 1").contains("unclosed"));
        assert!(err("INSERT INTO t VALUE {'a': 1x}").contains("malformed number"));
        assert!(err("INSERT INTO t VALUE {a: 1}").contains("map key"));
        assert!(err("INSERT INTO t VALUE [1]").contains("not a map"));
        assert!(err("INSERT INTO t VALUE {} x").contains("after INSERT"));
        assert!(err("INSERT INTO t VALUE {'s': <<1, 'a'>>}").contains("one type"));
        assert!(err("INSERT INTO t VALUE {'s': <<>>}").contains("empty set"));
        let nest = |n| {
            format!(
                "INSERT INTO t VALUE {{'a': {}1{}}}",
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert!(parse(&nest(31), &[]).is_ok());
        assert!(err(&nest(40)).contains("deeper"));
    }

    #[test]
    fn garbage_never_panics() {
        let valid = [
            r#"INSERT INTO "t" VALUE {'pk': 'a', 'l': [1, <<'x'>>, {'m': ?}], 'n': -1.5e-3}"#,
            "UPDATE t SET a = a + 1 REMOVE b WHERE pk = 'it''s' AND x BETWEEN 1 AND 2 RETURNING *",
            r#"DELETE FROM "t""x" WHERE "p""k" = ? AND sk = 2"#,
            "EXISTS(SELECT a FROM \"t\".\"i\" WHERE pk = 'é')",
        ];
        let params = [json!({"S": "p"}), json!(1), json!(null)];
        for s in valid {
            for (i, _) in s.char_indices() {
                let _ = parse(&s[..i], &params);
                let _ = parse(&s[i..], &params[..1]);
            }
        }
        let frags = [
            "INSERT",
            "INTO",
            "UPDATE",
            "DELETE",
            "SELECT",
            "EXISTS",
            "FROM",
            "WHERE",
            "SET",
            "VALUE",
            "AND",
            "OR",
            "BETWEEN",
            "RETURNING",
            "\"t\"",
            "'s'",
            "'",
            "\"",
            "''",
            "{",
            "}",
            "[",
            "]",
            "<<",
            ">>",
            "<",
            ">",
            "(",
            ")",
            "?",
            "=",
            ",",
            ":",
            ".",
            "-",
            "1",
            "1e",
            "2.",
            "true",
            "é",
            "\u{0}",
            " ",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..20_000 {
            let s: String = (0..rand(24)).map(|_| frags[rand(frags.len())]).collect();
            let _ = parse(&s, &params[..rand(4)]);
        }
        let deep = ["[".repeat(100_000), "<<".repeat(1000), "{'a':".repeat(5000)];
        for s in deep {
            assert!(parse(&format!("INSERT INTO t VALUE {s}"), &[]).is_err());
        }
    }
}
