use super::*;
use crate::{async_trait, Listener};

struct Noop;
#[async_trait]
impl Listener for Noop {}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoopConfig {
    #[allow(dead_code)]
    level: Option<u8>,
}

fn registry() -> Interceptors {
    let mut r = Interceptors::new();
    r.register("noop", |c: NoopConfig| match c.level {
        Some(l) if l > 3 => Err(format!("level: {l} is more than 3")),
        _ => Ok(Noop),
    });
    r
}

#[test]
fn a_good_file_gives_typed_settings() {
    let c = Config::from_toml(
        r#"
        [server]
        listen = ["127.0.0.1:0", "[::1]:0"]
        body_limit = "2 MiB"
        drain_timeout = "3s"
        threads = 3
        [upstreams.moto]
        url = "http://127.0.0.1:5000"
        read_timeout = "1m"
        [upstreams.ddb]
        url = "http://localhost:8000"
        [routes]
        default = "moto"
        [[routes.rules]]
        upstream = "ddb"
        header = { name = "x-amz-target", value = "DynamoDB_20120810.GetItem" }
        [interceptors.noop]
        "#,
        &registry(),
    )
    .unwrap();
    let s = &c.settings;
    assert_eq!(s.server.listen.len(), 2);
    assert_eq!(s.server.body_limit, 2 * 1024 * 1024);
    assert_eq!(s.server.drain_timeout, std::time::Duration::from_secs(3));
    assert_eq!(
        s.upstreams[0].timeouts.read,
        std::time::Duration::from_secs(60)
    );
    assert_eq!(s.routes.default.as_ref().unwrap().as_str(), "moto");
    assert_eq!(s.routes.rules[0].upstream.as_str(), "ddb");
    assert_eq!(c.chain.len(), 1);
}

#[test]
fn every_error_is_reported_at_once_with_its_place() {
    let err = Config::from_toml(
        r#"
        [server]
        listen = ["nowhere"]
        lissten = 1
        [upstreams.moto]
        url = "htp://127.0.0.1:5000"
        [upstreams.bad]
        url = "http://127.0.0.1:1"
        colour = "red"
        [routes]
        default = "mto"
        [[routes.rules]]
        upstream = "ghost"
        path_prefix = "api"
        [[routes.rules]]
        upstream = "moto"
        [[routes.rules]]
        upstream = "ghost"
        host = "x"
        [interceptors.noop]
        level = 9
        [interceptors.nope]
        [extra]
        "#,
        &registry(),
    )
    .unwrap_err();
    let got: Vec<String> = err.0.iter().map(|e| e.path.clone()).collect();
    for want in [
        "server",
        "upstreams.moto.url",
        "upstreams.bad",
        "routes.default",
        "routes.rules[0].path_prefix",
        "routes.rules[1]",
        "routes.rules[2].upstream",
        "interceptors.noop",
        "interceptors.nope",
        "extra",
    ] {
        assert!(
            got.iter().any(|p| p == want),
            "missing {want} in {got:?}\n{err}"
        );
    }
    let text = err.to_string();
    assert!(text.contains("unknown field `lissten`"), "{text}");
    assert!(text.contains("unknown field `colour`"), "{text}");
    assert!(
        text.contains("unknown upstream \"mto\" (defined: bad, moto)"),
        "{text}"
    );
    assert!(text.contains("unknown interceptor (known: noop)"), "{text}");
    assert!(text.contains("level: 9 is more than 3"), "{text}");
}

#[test]
fn numbers_out_of_range_are_errors() {
    let err = Config::from_toml(
        r#"
        [server]
        background_capacity = 0
        drain_timeout = "300000y"
        [upstreams.a]
        url = "http://127.0.0.1:1"
        connect_timeout = "0s"
        "#,
        &registry(),
    )
    .unwrap_err();
    let got: Vec<&str> = err.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        got,
        [
            "server.background_capacity",
            "server.drain_timeout",
            "upstreams.a.connect_timeout"
        ],
        "{err}"
    );
}

#[test]
fn syntax_errors_say_where() {
    let err = Config::from_toml("[server]\nlisten = [\n", &registry()).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].message.contains("line 2"), "{}", err.0[0].message);
}

#[test]
fn an_empty_file_is_valid_and_listens_on_4566() {
    let c = Config::from_toml("", &registry()).unwrap();
    assert_eq!(c.settings.server.listen[0].port(), 4566);
    assert!(c.settings.upstreams.is_empty());
}

#[test]
fn interceptors_keep_file_order() {
    let mut r = registry();
    r.register("second", |_: toml::Table| Ok(Noop));
    let c = Config::from_toml("[interceptors.second]\n[interceptors.noop]\n", &r).unwrap();
    assert_eq!(format!("{:?}", c.chain).matches("Noop").count(), 2);
}
