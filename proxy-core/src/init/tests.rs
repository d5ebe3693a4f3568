//! Which files run and in which order, how each is run, states through a stage (real `sh`
//! processes), and the endpoint's documents.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use http::Method;

use super::*;
use crate::{Listener, Response};

/// A fresh directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(what: &str) -> Dir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let d = std::env::temp_dir().join(format!(
            "edgestack-init-{what}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    /// Writes `rel` (creating its directories) with `text`, executable when `exec`.
    fn file(&self, rel: &str, text: &str, exec: bool) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        let mode = if exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn names(scripts: &[Script]) -> Vec<String> {
    scripts
        .iter()
        .map(|s| format!("{} {}", s.stage, s.name()))
        .collect()
}

#[test]
fn stages_sorted_by_file_name_and_only_runnable_files() {
    let d = Dir::new("order");
    d.file("ready.d/10-b.sh", "echo b\n", false);
    d.file("ready.d/02-a.py", "print('a')\n", false);
    d.file("ready.d/01-exe", "#!/bin/sh\necho x\n", true);
    d.file("ready.d/03-notes.txt", "not a script\n", false);
    d.file("ready.d/README", "not executable\n", false);
    d.file("ready.d/sub/00-deep.sh", "echo deep\n", false);
    d.file("ready.d/aa/01-first-dir.sh", "echo first\n", false);
    d.file("boot.d/01-boot.sh", "echo boot\n", false);
    d.file("shutdown.d/01-bye.sh", "echo bye\n", false);
    d.file("other.d/01-ignored.sh", "echo no\n", false);
    let found = discover(&[d.0.as_path()]);
    assert_eq!(
        names(&found),
        [
            "BOOT 01-boot.sh",
            // A directory's files by name, then its subdirectories by name (LocalStack's walk).
            "READY 01-exe",
            "READY 02-a.py",
            "READY 10-b.sh",
            "READY 01-first-dir.sh",
            "READY 00-deep.sh",
            "SHUTDOWN 01-bye.sh",
        ]
    );
}

#[test]
fn how_each_file_is_run() {
    let d = Dir::new("runners");
    let sh = d.file("a.sh", "echo a\n", false);
    let sh_exec_shebang = d.file("b.sh", "#!/bin/bash\necho b\n", true);
    let sh_exec_plain = d.file("c.sh", "echo c\n", true);
    let py = d.file("d.py", "print(1)\n", false);
    let py_exec_shebang = d.file("e.py", "#!/usr/bin/env python3\nprint(1)\n", true);
    let exe = d.file("f", "#!/bin/sh\n", true);
    let txt = d.file("g.txt", "text\n", false);
    assert_eq!(Runner::for_file(&sh), Some(Runner::Sh));
    assert_eq!(Runner::for_file(&sh_exec_shebang), Some(Runner::Direct));
    assert_eq!(Runner::for_file(&sh_exec_plain), Some(Runner::Sh));
    assert_eq!(Runner::for_file(&py), Some(Runner::Python));
    assert_eq!(Runner::for_file(&py_exec_shebang), Some(Runner::Direct));
    assert_eq!(Runner::for_file(&exe), Some(Runner::Direct));
    assert_eq!(Runner::for_file(&txt), None);
    assert_eq!(Runner::for_file(&d.0), None, "a directory");
    assert_eq!(Runner::for_file(&d.0.join("missing.sh")), None);
    assert_eq!(
        Runner::Sh.command(&sh),
        (PathBuf::from("sh"), vec![sh.clone()])
    );
    assert_eq!(
        Runner::Python.command(&py),
        (PathBuf::from("python3"), vec![py.clone()])
    );
    assert_eq!(Runner::Direct.command(&exe), (exe.clone(), vec![]));
}

#[test]
fn roots_run_one_after_the_other() {
    let a = Dir::new("root-a");
    let b = Dir::new("root-b");
    a.file("start.d/02-a.sh", "", false);
    b.file("start.d/01-b.sh", "", false);
    b.file("ready.d/01-r.sh", "", false);
    let found = discover(&[a.0.as_path(), b.0.as_path(), Path::new("/nonexistent/init")]);
    assert_eq!(
        names(&found),
        ["START 02-a.sh", "START 01-b.sh", "READY 01-r.sh"]
    );
    let settings = InitSettings {
        dir: Some(b.0.clone()),
        timeout: Duration::from_secs(1),
    };
    assert_eq!(
        settings.roots(),
        [PathBuf::from(InitSettings::DEFAULT_DIR), b.0.clone()]
    );
    let same = InitSettings {
        dir: Some(PathBuf::from(InitSettings::DEFAULT_DIR)),
        ..settings
    };
    assert_eq!(same.roots().len(), 1);
}

#[test]
fn stage_names() {
    assert_eq!(Stage::parse("ready"), Some(Stage::Ready));
    assert_eq!(Stage::parse("SHUTDOWN"), Some(Stage::Shutdown));
    assert_eq!(Stage::parse("Boot"), Some(Stage::Boot));
    assert_eq!(Stage::parse("later"), None);
    assert_eq!(Stage::Start.dir_name(), "start.d");
}

fn env() -> ScriptEnv {
    ScriptEnv::for_edge("0.0.0.0:4566".parse().unwrap(), "eu-west-1", "AK", "SK")
}

#[test]
fn script_environment() {
    let e = env();
    assert_eq!(e.get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:4566"));
    assert_eq!(e.get("EDGESTACK_URL"), Some("http://127.0.0.1:4566"));
    assert_eq!(e.get("LOCALSTACK_HOST"), Some("127.0.0.1:4566"));
    assert_eq!(e.get("AWS_DEFAULT_REGION"), Some("eu-west-1"));
    assert_eq!(e.get("AWS_ACCESS_KEY_ID"), Some("AK"));
    assert_eq!(e.get("AWS_SECRET_ACCESS_KEY"), Some("SK"));
    let v6 = ScriptEnv::for_edge("[::]:1".parse().unwrap(), "us-east-1", "test", "test");
    assert_eq!(v6.get("AWS_ENDPOINT_URL"), Some("http://[::1]:1"));
    let v4 = ScriptEnv::for_edge("127.0.0.2:9".parse().unwrap(), "us-east-1", "t", "t");
    assert_eq!(v4.get("LOCALSTACK_HOST"), Some("127.0.0.2:9"));
}

#[tokio::test]
async fn a_stage_runs_in_order_failures_do_not_stop_it_and_slow_scripts_are_killed() {
    let d = Dir::new("run");
    let log = d.0.join("log");
    let log_s = log.display().to_string();
    d.file(
        "ready.d/01-env.sh",
        &format!(
            "echo \"1 $AWS_ENDPOINT_URL $AWS_DEFAULT_REGION $AWS_ACCESS_KEY_ID\" >> {log_s}\n"
        ),
        false,
    );
    d.file(
        "ready.d/02-fail.sh",
        &format!("echo 2 >> {log_s}\nexit 3\n"),
        false,
    );
    // Its background child would outlive it unless the whole group is killed.
    d.file(
        "ready.d/03-slow.sh",
        &format!("(sleep 3; echo leaked >> {log_s}) &\nsleep 30\n"),
        false,
    );
    d.file(
        "ready.d/04-exe",
        &format!("#!/bin/sh\necho 4 >> {log_s}\n"),
        true,
    );
    d.file("ready.d/05-not-run.txt", "", false);
    d.file("shutdown.d/01-later.sh", "exit 0\n", false);
    let hooks = InitHooks::from_scripts(discover(&[d.0.as_path()]), Duration::from_millis(700));
    assert_eq!(hooks.len(), 5);
    let doc = hooks.document();
    assert_eq!(doc["completed"]["READY"], false);
    assert_eq!(doc["scripts"][0]["state"], "UNKNOWN");

    let started = std::time::Instant::now();
    hooks.run_stage(Stage::Ready, &env()).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "1 http://127.0.0.1:4566 eu-west-1 AK\n2\n4\n"
    );
    let doc = hooks.stage_document(Stage::Ready);
    assert_eq!(doc["completed"], true);
    let states: Vec<(String, String)> = doc["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["stage"], "READY");
            (
                s["name"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("01-env.sh", "SUCCESSFUL"),
        ("02-fail.sh", "ERROR"),
        ("03-slow.sh", "ERROR"),
        ("04-exe", "SUCCESSFUL"),
    ];
    assert_eq!(
        states,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    let all = hooks.document();
    assert_eq!(
        all["completed"],
        serde_json::json!({"BOOT": false, "START": false, "READY": true, "SHUTDOWN": false})
    );
    assert_eq!(all["scripts"][4]["state"], "UNKNOWN");
    // A stage runs once.
    hooks.run_stage(Stage::Ready, &env()).await;
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
    // The slow script's background child was killed with it.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(!std::fs::read_to_string(&log).unwrap().contains("leaked"));
}

#[tokio::test]
async fn a_dropped_stage_kills_its_script_and_marks_it_error() {
    let d = Dir::new("drop");
    let script = d.file("shutdown.d/01-long.sh", "sleep 30\n", false);
    let hooks = InitHooks::from_scripts(discover(&[d.0.as_path()]), Duration::from_secs(60));
    let env = env();
    let run = hooks.run_stage(Stage::Shutdown, &env);
    assert!(tokio::time::timeout(Duration::from_millis(300), run)
        .await
        .is_err());
    assert_eq!(
        hooks.state(Stage::Shutdown, &script),
        Some(ScriptState::Error)
    );
    assert_eq!(hooks.document()["completed"]["SHUTDOWN"], false);
}

#[tokio::test]
async fn a_script_that_cannot_start_is_an_error() {
    let d = Dir::new("nostart");
    let p = d.file("start.d/01-x.sh", "", false);
    let scripts = vec![Script {
        stage: Stage::Start,
        path: d.0.join("start.d/missing"),
        runner: Runner::Direct,
    }];
    let hooks = InitHooks::from_scripts(scripts, Duration::from_secs(5));
    hooks.run_stage(Stage::Start, &env()).await;
    assert_eq!(
        hooks.state(Stage::Start, &d.0.join("start.d/missing")),
        Some(ScriptState::Error)
    );
    assert_eq!(hooks.state(Stage::Start, &p), None);
}

#[test]
fn endpoint_answers() {
    let d = Dir::new("endpoint");
    d.file("ready.d/01-x.sh", "", false);
    let hooks = InitHooks::from_scripts(discover(&[d.0.as_path()]), Duration::from_secs(5));
    let e = hooks.listener();
    assert_eq!(e.admin_paths(), ["/_localstack/init/"]);
    let json = |r: Response| -> (u16, serde_json::Value) {
        let status = r.status().as_u16();
        let body = r.body().bytes().cloned().unwrap_or_default();
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    };
    let (s, doc) = json(e.answer(&Method::GET, "/_localstack/init").unwrap());
    assert_eq!(s, 200);
    assert_eq!(
        doc,
        serde_json::json!({
            "completed": {"BOOT": false, "START": false, "READY": false, "SHUTDOWN": false},
            "scripts": [{"stage": "READY", "name": "01-x.sh", "state": "UNKNOWN"}],
        })
    );
    for path in ["/_localstack/init/ready", "/_localstack/init/READY/"] {
        let (s, doc) = json(e.answer(&Method::GET, path).unwrap());
        assert_eq!(s, 200, "{path}");
        assert_eq!(doc["completed"], false);
        assert_eq!(doc["scripts"][0]["name"], "01-x.sh");
    }
    let (s, doc) = json(e.answer(&Method::GET, "/_localstack/init/boot").unwrap());
    assert_eq!((s, doc["scripts"].as_array().unwrap().len()), (200, 0));
    let (s, doc) = json(e.answer(&Method::GET, "/_localstack/init/later").unwrap());
    assert_eq!(s, 404);
    assert!(doc["error"].as_str().unwrap().contains("no such stage"));
    assert_eq!(
        e.answer(&Method::HEAD, "/_localstack/init")
            .unwrap()
            .status(),
        200
    );
    let post = e.answer(&Method::POST, "/_localstack/init").unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    assert!(e.answer(&Method::GET, "/_localstack/initx").is_none());
    assert!(e.answer(&Method::GET, "/_localstack/health").is_none());
}
