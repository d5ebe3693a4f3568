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
        // An unknown key is named at its own path (serde_path_to_error), and does not hide
        // the bad value next to it.
        "server.lissten",
        "server.listen[0]",
        "upstreams.moto.url",
        "upstreams.bad.colour",
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
    r.register("second", |_: toml::Table| Ok::<_, String>(Noop));
    let c = Config::from_toml("[interceptors.second]\n[interceptors.noop]\n", &r).unwrap();
    assert_eq!(format!("{:?}", c.chain).matches("Noop").count(), 2);
}

fn errors_of(text: &str) -> Vec<String> {
    match Config::from_toml(text, &registry()) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn aws_edge_sections() {
    let c = Config::from_toml(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        service_ports = { dynamodb = "127.0.0.1:4569" }
        [aws]
        default_region = "eu-west-1"
        cors = { allowed_origins = ["http://app"] }
        [upstreams.moto]
        command = ["moto_server", "-p", "{port}"]
        env = { MOTO_ACCOUNT_ID = "000000000000" }
        ready = { http = "/moto-api/" }
        restart = false
        [upstreams.ddb]
        url = "http://127.0.0.1:8000"
        s3_path_style = true
        [routes]
        default = "moto"
        dynamodb = "ddb"
        "#,
        &registry(),
    )
    .unwrap();
    let s = &c.settings;
    let aws = s.aws.as_ref().expect("the AWS edge is on by default");
    assert_eq!(aws.default_region, "eu-west-1");
    assert_eq!(aws.cors.allowed_origins, ["http://app"]);
    assert_eq!(
        aws.services.upstream_for("dynamodb").unwrap().as_str(),
        "ddb"
    );
    assert_eq!(aws.services.upstream_for("sqs").unwrap().as_str(), "moto");
    assert_eq!(
        s.server.service_ports,
        [("dynamodb".to_string(), "127.0.0.1:4569".parse().unwrap())]
    );
    let moto = &s.upstreams[0];
    let spec = moto.process.as_ref().expect("managed");
    assert_eq!(spec.port, 0, "a free port is picked when the edge starts");
    assert_eq!(
        spec.ready,
        ReadyProbe::Http {
            path: "/moto-api/".into()
        }
    );
    assert!(!spec.restart.enabled);
    assert_eq!(
        spec.env,
        [("MOTO_ACCOUNT_ID".into(), "000000000000".into())]
    );
    assert!(s.upstreams[1].s3_path_style && s.upstreams[1].process.is_none());
}

#[test]
fn aws_edge_errors_all_at_once() {
    let errs = errors_of(
        r#"
        [server]
        service_ports = { dynamdb = "127.0.0.1:4569", s3 = "nope" }
        [aws]
        default_region = "mars"
        [upstreams.both]
        url = "http://127.0.0.1:1"
        command = ["x"]
        [upstreams.neither]
        read_timeout = "1s"
        [upstreams.external]
        url = "http://127.0.0.1:2"
        ready = { tcp = true }
        [upstreams.empty]
        command = []
        ready = { http = "no-slash" }
        [routes]
        dynamdb = "external"
        sqs = "missing"
        s3 = 5
        "#,
    );
    let want = [
        "server.service_ports.dynamdb: unknown AWS service 'dynamdb' (did you mean 'dynamodb'?)",
        "server.service_ports.s3: \"nope\" is not an address",
        "upstreams.both: give either url",
        "upstreams.neither: needs url",
        "upstreams.external.ready: only for a managed upstream",
        "upstreams.empty.command: needs at least the program",
        "upstreams.empty.ready.http: \"no-slash\" must start with /",
        "routes.dynamdb: unknown AWS service 'dynamdb' (did you mean 'dynamodb'?)",
        "routes.s3: expected an upstream name for AWS service 's3', found integer",
        "routes.sqs: unknown upstream \"missing\"",
        "aws.default_region: \"mars\" is not a region",
    ];
    for w in want {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in:\n{}",
            errs.join("\n")
        );
    }
    assert_eq!(errs.len(), want.len(), "{}", errs.join("\n"));
}

#[test]
fn aws_edge_can_be_turned_off() {
    let c = Config::from_toml(
        "[aws]\nenabled = false\n[upstreams.up]\nurl = \"http://127.0.0.1:1\"\n[routes]\ndefault = \"up\"\n",
        &registry(),
    )
    .unwrap();
    assert!(c.settings.aws.is_none());
    let errs = errors_of(
        "[server]\nservice_ports = { s3 = \"127.0.0.1:4572\" }\n[aws]\nenabled = false\n[upstreams.up]\nurl = \"http://127.0.0.1:1\"\n[routes]\ns3 = \"up\"\n",
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].contains("routing by AWS service needs the AWS edge"),
        "{errs:?}"
    );
    assert!(
        errs[1].contains("service ports need the AWS edge"),
        "{errs:?}"
    );
}

#[test]
fn aws_edge_checks_that_need_the_whole_file() {
    let errs = errors_of(
        r#"
        [server]
        listen = ["127.0.0.1:4566"]
        service_ports = { dynamodb = "127.0.0.1:4566", s3 = "127.0.0.1:4572", sqs = "127.0.0.1:4572" }
        [upstreams.m]
        command = ["x"]
        ready_timeout = "0s"
        stop_timeout = "48h"
        "#,
    );
    for w in [
        "server.service_ports.dynamodb: 127.0.0.1:4566 is already used by server.listen",
        "server.service_ports.sqs: 127.0.0.1:4572 is already used by server.service_ports.s3",
        "upstreams.m.ready_timeout: must be more than 0",
        "upstreams.m.stop_timeout: must be more than 0 and at most 24h",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {errs:?}"
        );
    }
    assert_eq!(errs.len(), 4, "{errs:?}");
}

#[test]
fn code_built_settings_are_checked_like_a_file() {
    let err = crate::Edge::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .upstream(Upstream::new("up", "http://127.0.0.1:1").unwrap())
        .service_route("dynamdb", "up")
        .service_port("sqs", "127.0.0.1:0".parse().unwrap())
        .service_port("kinesiss", "127.0.0.1:0".parse().unwrap())
        .start()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("routes.dynamdb: unknown AWS service 'dynamdb' (did you mean 'dynamodb'?)"),
        "{err}"
    );
    assert!(
        err.contains("server.service_ports.kinesiss: unknown AWS service"),
        "{err}"
    );
    assert!(err.contains("2 configuration errors"), "{err}");

    // The AWS keys that a file gets checked when read, checked when set in code.
    let mut b = crate::Edge::builder().listen("127.0.0.1:0".parse().unwrap());
    let aws = b.settings_mut().aws.as_mut().unwrap();
    aws.external_url = Some("localhost:4566".into());
    aws.enabled_services = Some(["s3".to_string(), "nope".to_string()].into());
    let err = b.start().unwrap_err().to_string();
    assert!(
        err.contains("aws.external_url: must be http://host[:port]"),
        "{err}"
    );
    assert!(
        err.contains("aws.services: unknown AWS service 'nope'"),
        "{err}"
    );
}

#[test]
fn listen_addresses_that_clash_are_errors() {
    let errs = errors_of(
        r#"
        [server]
        listen = [
            "nowhere",
            "127.0.0.1:4566", "127.0.0.1:4566",
            "0.0.0.0:4567", "127.0.0.1:4567",
            "[::1]:4568", "[::]:4568",
            "[::]:4570", "127.0.0.1:4570",
            "127.0.0.1:0", "127.0.0.1:0",
            "127.0.0.2:4569", "127.0.0.1:4569", "[::1]:4569",
        ]
        service_ports = { s3 = "0.0.0.0:4566", sqs = "127.0.0.1:0", sns = "127.0.0.3:4575" }
        "#,
    );
    let want = [
        "server.listen[0]: \"nowhere\" is not an address",
        // Indexes are the file's, even after an entry that could not be read.
        "server.listen[2]: 127.0.0.1:4566 is already used by server.listen[1]",
        "server.listen[4]: 127.0.0.1:4567 overlaps 0.0.0.0:4567 of server.listen[3]",
        "server.listen[6]: [::]:4568 overlaps [::1]:4568 of server.listen[5]",
        // `[::]` takes IPv4 too (Linux's dual stack).
        "server.listen[8]: 127.0.0.1:4570 overlaps [::]:4570 of server.listen[7]",
        "server.service_ports.s3: 0.0.0.0:4566 overlaps 127.0.0.1:4566 of server.listen[1]",
    ];
    for w in want {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in:\n{}",
            errs.join("\n")
        );
    }
    // Port 0 never clashes; other addresses on one port do not either.
    assert_eq!(errs.len(), want.len(), "{}", errs.join("\n"));
    assert!(errs[2].contains("Address already in use"), "{errs:?}");

    // Code-built settings are checked the same way.
    let s = Settings {
        server: ServerSettings {
            listen: vec![
                "0.0.0.0:4566".parse().unwrap(),
                "127.0.0.1:4566".parse().unwrap(),
            ],
            ..ServerSettings::default()
        },
        ..Settings::default()
    };
    let errs = s.validate();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].path, "server.listen[1]");

    // What passes the check binds: the same addresses with distinct ports start.
    let ok = errors_of(
        "[server]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:0\", \"[::1]:0\"]\n\
         service_ports = { s3 = \"127.0.0.1:0\" }\n",
    );
    assert!(ok.is_empty(), "{ok:?}");
}

#[test]
fn every_unknown_key_is_reported_next_to_bad_values() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Timed {
        #[allow(dead_code)]
        #[serde(default, with = "humantime_serde")]
        cache_ttl: Option<std::time::Duration>,
    }
    let mut r = registry();
    r.register("timed", |_: Timed| Ok::<_, String>(Noop));
    r.register("only-typos", |_: NoopConfig| Ok::<_, String>(Noop));
    r.register("strict", |c: NoopConfig| match c.level {
        Some(l) if l > 3 => Err(format!("level: {l} is more than 3")),
        _ => Ok(Noop),
    });
    let err = Config::from_toml(
        r#"
        [server]
        listen = ["nowhere"]
        lissten = 1
        thread = 2
        [aws]
        enabled = "yes"
        regoin = "eu-west-1"
        [aws.cors]
        enabeld = true
        allowed_origins = "*"
        [upstreams.moto]
        url = "http://127.0.0.1:1"
        colour = "red"
        read_timeout = "soon"
        shape = "round"
        [upstreams.ok]
        url = "http://127.0.0.1:2"
        extra = 1
        [routes]
        default = "ok"
        [[routes.rules]]
        upstream = 5
        hots = "x"
        [[routes.rules]]
        upstream = "ok"
        path_prefix = "no-slash"
        colour = 1
        [[routes.rules]]
        upstream = "ok"
        ready = { http = "/" }
        [interceptors.noop]
        level = "high"
        lvl = 1
        [interceptors.timed]
        cache_ttl = "soon"
        [interceptors.strict]
        levle = 1
        level = 9
        [interceptors.only-typos]
        lvel = 1
        "#,
        &r,
    )
    .unwrap_err();
    let got: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    let want = [
        "server.listen[0]: \"nowhere\" is not an address",
        "server.lissten: unknown field `lissten`",
        "server.thread: unknown field `thread`",
        "aws.enabled: invalid type: string \"yes\", expected a boolean",
        "aws.regoin: unknown field `regoin`",
        "aws.cors.enabeld: unknown field `enabeld`",
        "aws.cors.allowed_origins: invalid type: string \"*\", expected a sequence",
        "upstreams.moto.colour: unknown field `colour`",
        // A duration is reported at its key.
        "upstreams.moto.read_timeout: ",
        "upstreams.moto.shape: unknown field `shape`",
        "upstreams.ok.extra: unknown field `extra`",
        "routes.rules[0].upstream: invalid type: integer `5`, expected a string",
        "routes.rules[0].hots: unknown field `hots`",
        "routes.rules[1].colour: unknown field `colour`",
        // The rule without its unknown key is still checked.
        "routes.rules[1].path_prefix: \"no-slash\" must start with /",
        "routes.rules[2].ready: unknown field `ready`",
        "routes.rules[2]: a rule needs at least one of",
        "interceptors.noop.level: invalid type: string \"high\"",
        "interceptors.noop.lvl: unknown field `lvl`",
        "interceptors.timed.cache_ttl: ",
        // Unknown keys of an interceptor section, and its builder's errors without them.
        "interceptors.strict.levle: unknown field `levle`",
        "interceptors.strict: level: 9 is more than 3",
        "interceptors.only-typos.lvel: unknown field `lvel`",
    ];
    for w in want {
        assert!(
            got.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in:\n{}",
            got.join("\n")
        );
    }
    // Nothing twice, and no "missing field `upstream`" for the key taken out to read on.
    assert_eq!(got.len(), want.len(), "{}", got.join("\n"));
    let read_timeout = got
        .iter()
        .find(|e| e.starts_with("upstreams.moto.read_timeout"))
        .unwrap();
    assert!(read_timeout.contains("soon"), "{read_timeout}");
}

#[test]
fn init_section_and_its_environment_variable() {
    use std::{path::PathBuf, time::Duration};
    let load = |text: &str, env: &[(&str, &str)]| {
        Config::from_toml_with_env(
            text,
            &registry(),
            &Environment::from_pairs(env.iter().copied()),
        )
    };
    let none = load("", &[]).unwrap();
    assert_eq!(none.init, InitSettings::default());
    assert_eq!(none.init.timeout, Duration::from_secs(600));
    let c = load("[init]\ndir = \"./hooks\"\ntimeout = \"2s\"\n", &[]).unwrap();
    assert_eq!(c.init.dir, Some(PathBuf::from("./hooks")));
    assert_eq!(c.init.timeout, Duration::from_secs(2));
    // The variable gives the directory when the file does not; the file wins.
    let var = [(InitSettings::DIR_VAR, "/tmp/from-env")];
    let c = load("", &var).unwrap();
    assert_eq!(c.init.dir, Some(PathBuf::from("/tmp/from-env")));
    let c = load("[init]\ndir = \"/from/file\"\n", &var).unwrap();
    assert_eq!(c.init.dir, Some(PathBuf::from("/from/file")));
    let c = load("", &[(InitSettings::DIR_VAR, " ")]).unwrap();
    assert_eq!(c.init.dir, None, "blank means unset");
    // Every mistake at its key.
    let errors = load("[init]\ndir = \"\"\ntimeout = \"0s\"\nscripts = 1\n", &[])
        .unwrap_err()
        .to_string();
    for key in [
        "init.dir: ",
        "init.timeout: ",
        "init.scripts: unknown field",
    ] {
        assert!(errors.contains(key), "{key} missing in:\n{errors}");
    }
    let errors = load("[init]\ntimeout = \"soon\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(errors.contains("init.timeout: "), "{errors}");
    let errors = load("[init]\ntimeout = \"25h\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("init.timeout: must be more than 0 and at most 24h"),
        "{errors}"
    );
}

#[test]
fn reset_methods_are_set_or_derived_from_the_command() {
    use crate::ResetMethod;
    let c = Config::from_toml(
        r#"
        [upstreams.moto]
        command = ["/venv/bin/moto_server", "-p", "{port}"]
        [upstreams.dynalite]
        command = ["node", "/deps/dynalite/node_modules/dynalite/cli.js", "--port", "{port}"]
        [upstreams.on_disk]
        command = ["dynalite", "--port", "{port}", "--path", "/data"]
        [upstreams.other]
        command = ["minio", "server", "/data"]
        [upstreams.kept]
        command = ["moto_server", "-p", "{port}"]
        reset = "none"
        [upstreams.wiped]
        command = ["minio", "server", "/tmp/x"]
        reset = "restart"
        [upstreams.external_moto]
        url = "http://127.0.0.1:5000"
        reset = "moto"
        [upstreams.external]
        url = "http://127.0.0.1:8000"
        [routes]
        default = "moto"
        "#,
        &registry(),
    )
    .unwrap();
    let s = &c.settings;
    let method = |name: &str| {
        let u = s
            .upstreams
            .iter()
            .find(|u| u.name.as_str() == name)
            .unwrap();
        s.reset_method(u)
    };
    for (name, want) in [
        ("moto", ResetMethod::Moto),
        ("dynalite", ResetMethod::Restart),
        ("on_disk", ResetMethod::None),
        ("other", ResetMethod::None),
        ("kept", ResetMethod::None),
        ("wiped", ResetMethod::Restart),
        ("external_moto", ResetMethod::Moto),
        ("external", ResetMethod::None),
    ] {
        assert_eq!(method(name), want, "{name}");
    }
}

#[test]
fn bad_reset_methods_are_reported_at_their_key() {
    let errs = errors_of(
        r#"
        [upstreams.typo]
        command = ["moto_server", "-p", "{port}"]
        reset = "wipe"
        [upstreams.number]
        url = "http://127.0.0.1:1"
        reset = 1
        [upstreams.external]
        url = "http://127.0.0.1:2"
        reset = "restart"
        [routes]
        default = "typo"
        "#,
    );
    let want = [
        "upstreams.typo.reset: \"wipe\" is not a reset method: \"moto\" (POST /moto-api/reset), \
         \"restart\" (restart the managed backend) or \"none\"",
        "upstreams.number.reset: invalid type: integer `1`, expected a string",
        "upstreams.external.reset: \"restart\" is only for a managed upstream",
    ];
    for w in want {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in:\n{}",
            errs.join("\n")
        );
    }
    assert_eq!(errs.len(), want.len(), "{}", errs.join("\n"));

    // Code-built settings are checked the same way.
    let b = crate::Edge::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .upstream(Upstream::new("up", "http://127.0.0.1:1").unwrap())
        .default_route("up");
    let err = b
        .upstream_reset("up", crate::ResetMethod::Restart)
        .upstream_reset("ghost", crate::ResetMethod::Moto)
        .start()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("upstreams.up.reset: \"restart\" is only for a managed upstream"),
        "{err}"
    );
    assert!(
        err.contains("upstreams.ghost.reset: set for an upstream that is not defined"),
        "{err}"
    );
}

#[test]
fn aws_services_and_external_url_are_checked_at_their_keys() {
    let c = Config::from_toml("[aws]\nservices = [\"S3\", \"lambda\"]\n", &registry()).unwrap();
    let enabled = c.settings.aws.unwrap().enabled_services.unwrap();
    for s in ["s3", "lambda", "sts"] {
        assert!(enabled.contains(s), "{s} in {enabled:?}");
    }
    assert!(!enabled.contains("sqs"));
    assert!(Config::from_toml("[aws]\n", &registry())
        .unwrap()
        .settings
        .aws
        .unwrap()
        .enabled_services
        .is_none());
    assert_eq!(
        errors_of("[aws]\nservices = [\"s3\", \"sqss\", \"nope\"]\n"),
        [
            "aws.services[1]: unknown AWS service 'sqss' (did you mean 'sqs'?)",
            "aws.services[2]: unknown AWS service 'nope' (use botocore service names: s3, dynamodb, sqs, …)"
        ]
    );
    let c =
        Config::from_toml("[aws]\nexternal_url = \"HTTP://Edge:4566/\"\n", &registry()).unwrap();
    let aws = c.settings.aws.unwrap();
    assert_eq!(aws.external_url.as_deref(), Some("http://Edge:4566"));
    let bad = errors_of("[aws]\nexternal_url = \"http://edge:4566/x\"\n");
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].starts_with("aws.external_url: must be http://host[:port]"),
        "{bad:?}"
    );
    let empty = errors_of("[aws]\nservices = []\n");
    assert_eq!(empty.len(), 1);
    assert!(
        empty[0].starts_with("aws.services: name at least one"),
        "{empty:?}"
    );
}
