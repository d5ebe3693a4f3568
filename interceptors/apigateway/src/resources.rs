//! Finding the resource a path addresses, as API Gateway does: literal segments beat
//! `{param}` segments, which beat a greedy `{param+}`; the path parameters come out of the
//! match.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use crate::model::Resource;

/// A resource that matched, and the path parameters it bound.
#[derive(Debug)]
pub struct Matched<'a> {
    /// The resource.
    pub resource: &'a Resource,
    /// Path parameters, decoded (`{proxy+}` keeps its slashes).
    pub params: BTreeMap<String, String>,
    /// The same, as sent (percent-encoded), for building integration URLs.
    pub raw_params: BTreeMap<String, String>,
}

/// How specific one template segment is; lower wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Literal,
    Param,
    Greedy,
}

/// The most specific resource matching `path` (percent-encoded, starting with `/`).
pub fn find<'a>(resources: &'a [Resource], path: &str) -> Option<Matched<'a>> {
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    resources
        .iter()
        .filter_map(|r| {
            let (rank, raw) = matches(&r.path, &segments)?;
            Some((rank, r, raw))
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, resource, raw_params)| Matched {
            resource,
            params: raw_params
                .iter()
                .map(|(k, v)| (k.clone(), decode(v)))
                .collect(),
            raw_params,
        })
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The match's rank (segment kinds in order) and raw parameters, if `template` matches.
fn matches(template: &str, segments: &[&str]) -> Option<(Vec<Kind>, BTreeMap<String, String>)> {
    let parts: Vec<&str> = template
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut rank = Vec::with_capacity(parts.len());
    let mut params = BTreeMap::new();
    for (i, part) in parts.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            // Greedy: the rest of the path, at least one segment; only last.
            if i + 1 != parts.len() || i >= segments.len() {
                return None;
            }
            params.insert(name.to_string(), segments[i..].join("/"));
            rank.push(Kind::Greedy);
            return Some((rank, params));
        }
        let seg = segments.get(i)?;
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            params.insert(name.to_string(), seg.to_string());
            rank.push(Kind::Param);
        } else if decode(seg) == *part {
            rank.push(Kind::Literal);
        } else {
            return None;
        }
    }
    (parts.len() == segments.len()).then_some((rank, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(paths: &[&str]) -> Vec<Resource> {
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| Resource {
                id: format!("r{i}"),
                path: p.to_string(),
                ..Resource::default()
            })
            .collect()
    }

    fn hit(rs: &[Resource], path: &str) -> Option<(String, BTreeMap<String, String>)> {
        find(rs, path).map(|m| (m.resource.path.clone(), m.params))
    }

    #[test]
    fn literal_beats_param_beats_greedy() {
        let rs = res(&[
            "/",
            "/items",
            "/items/{id}",
            "/items/special",
            "/{proxy+}",
            "/items/{id}/{rest+}",
        ]);
        assert_eq!(hit(&rs, "/").unwrap().0, "/");
        assert_eq!(hit(&rs, "/items").unwrap().0, "/items");
        assert_eq!(hit(&rs, "/items/special").unwrap().0, "/items/special");
        let (p, params) = hit(&rs, "/items/a%20b").unwrap();
        assert_eq!(p, "/items/{id}");
        assert_eq!(params["id"], "a b");
        let (p, params) = hit(&rs, "/items/7/x/y").unwrap();
        assert_eq!(p, "/items/{id}/{rest+}");
        assert_eq!(
            (params["id"].as_str(), params["rest"].as_str()),
            ("7", "x/y")
        );
        let (p, params) = hit(&rs, "/other/deep/path").unwrap();
        assert_eq!(p, "/{proxy+}");
        assert_eq!(params["proxy"], "other/deep/path");
    }

    #[test]
    fn greedy_needs_a_segment_and_misses_are_none() {
        let rs = res(&["/{proxy+}"]);
        assert!(hit(&rs, "/").is_none());
        let rs = res(&["/a", "/a/{b}"]);
        assert!(hit(&rs, "/b").is_none());
        assert!(hit(&rs, "/a/b/c").is_none());
        let m = find(&rs, "/a/x%2Fy").unwrap();
        assert_eq!(m.raw_params["b"], "x%2Fy");
        assert_eq!(m.params["b"], "x/y");
    }
}
