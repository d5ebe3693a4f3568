//! Init hooks as LocalStack runs them, through the `edgestack` binary: scripts in
//! `$EDGESTACK_INIT_DIR` (or `[init] dir`) at BOOT, START, READY and SHUTDOWN, a READY script
//! that creates a bucket with the AWS CLI through the edge, a failing one and the ones after
//! it, a SHUTDOWN script on SIGTERM, a script over its time limit, and
//! `/_localstack/init[/<stage>]`. Real processes only: moto_server (managed, or from the
//! testkit), the AWS CLI (v1) and python3; a missing one fails the test with what to install.

mod support;

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    time::{Duration, Instant},
};

use edgestack_testkit::moto::{moto_server_path, MotoServer};
use support::{call, client, edgestack_bin, s3_client, EdgestackProcess as Edgestack, TestDir};

/// Writes `rel` under `dir` (creating its directory), executable when `exec`.
fn script(dir: &Path, rel: &str, text: &str, exec: bool) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Fails the test unless `program` is on PATH, saying how to get it.
fn require(program: &str, install: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()));
    assert!(
        found,
        "{program} is not on PATH; the init-hook tests need it. Install it with: {install}"
    );
}

/// `GET path` on the edge, as JSON (status 200 expected).
async fn get_json(base: &str, path: &str) -> serde_json::Value {
    let a = call(client().get(format!("{base}{path}"))).await;
    assert_eq!(a.status, 200, "{path}: {}", a.text());
    assert_eq!(a.header("content-type"), Some("application/json"));
    a.json()
}

/// Polls `/_localstack/init` until `stage` is completed (fails after `within`).
async fn wait_completed(base: &str, stage: &str, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let doc = get_json(base, "/_localstack/init").await;
        if doc["completed"][stage] == true {
            return doc;
        }
        assert!(Instant::now() < deadline, "{stage} not completed: {doc}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn states(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    doc["scripts"]
        .as_array()
        .unwrap_or_else(|| panic!("no scripts in {doc}"))
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["name"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn triples(want: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    want.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

/// What a LocalStack user has: no config, no `--listen` but a free port, the init directory
/// from the environment, the default managed moto_server. Every stage runs where LocalStack
/// runs it, a READY script creates a bucket with the AWS CLI through the edge while the edge
/// serves, a failing script is ERROR and the later ones still run, SHUTDOWN runs on SIGTERM
/// while the edge and moto still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_style_init_dir_from_the_environment() {
    require("aws", "pip install awscli (the AWS CLI, v1 or v2)");
    require("python3", "apt install python3");
    let init = TestDir::new("init-hooks-env");
    let marks = TestDir::new("init-hooks-marks");
    let d = init.path();
    script(
        d,
        "boot.d/01-boot.sh",
        "echo \"boot sees $AWS_ENDPOINT_URL\"\necho \"$AWS_ENDPOINT_URL\" > \"$INIT_MARKS/boot\"\n",
        false,
    );
    script(
        d,
        "start.d/01-start.sh",
        "#!/bin/sh\necho \"$AWS_ENDPOINT_URL $LOCALSTACK_HOST $EDGESTACK_URL $AWS_DEFAULT_REGION\" > \"$INIT_MARKS/start\"\n",
        true,
    );
    script(
        d,
        "ready.d/01-bucket.sh",
        "set -e\naws --endpoint-url \"$AWS_ENDPOINT_URL\" s3 mb s3://init-hook-bucket\n",
        false,
    );
    script(
        d,
        "ready.d/02-fail.sh",
        "echo 'about to fail' >&2\nexit 1\n",
        false,
    );
    script(
        d,
        "ready.d/03-ok.py",
        "import os\n\
         print('python ran')\n\
         open(os.path.join(os.environ['INIT_MARKS'], 'ready-py'), 'w').write(\n\
             os.environ['AWS_ACCESS_KEY_ID'] + ' ' + os.environ['AWS_SECRET_ACCESS_KEY'])\n",
        false,
    );
    script(d, "ready.d/04-notes.txt", "not a script\n", false);
    script(
        d,
        "shutdown.d/01-bye.sh",
        "aws --endpoint-url \"$AWS_ENDPOINT_URL\" s3 ls > \"$INIT_MARKS/shutdown\"\n",
        false,
    );

    let mut cmd = edgestack_bin();
    cmd.args(["--listen", "127.0.0.1:0"])
        .env("EDGESTACK_MOTO_SERVER", moto_server_path())
        .env("EDGESTACK_INIT_DIR", d)
        .env("INIT_MARKS", marks.path())
        .env_remove("EDGESTACK_CONFIG");
    let mut edge = Edgestack::start(cmd);
    let base = edge.url();
    let listening = edge.log.len() - 1;

    // BOOT ran before the edge listened (and so before its backends), told the address the
    // edge then took.
    let boot_done = edge.wait_for_line("init BOOT 01-boot.sh: SUCCESSFUL");
    assert!(boot_done < listening, "{}", edge.log.join("\n"));
    let boot = std::fs::read_to_string(marks.path().join("boot")).unwrap();
    assert_eq!(boot.trim(), base);
    let echoed = edge.wait_for_line("[01-boot.sh] boot sees http://");
    assert!(edge.log[echoed].contains(&base), "{}", edge.log[echoed]);

    assert_eq!(edge.ready_line(), "Ready.");
    let doc = wait_completed(&base, "READY", Duration::from_secs(120)).await;
    assert_eq!(
        doc["completed"],
        serde_json::json!({"BOOT": true, "START": true, "READY": true, "SHUTDOWN": false}),
        "{doc}"
    );
    assert_eq!(
        states(&doc),
        triples(&[
            ("BOOT", "01-boot.sh", "SUCCESSFUL"),
            ("START", "01-start.sh", "SUCCESSFUL"),
            ("READY", "01-bucket.sh", "SUCCESSFUL"),
            ("READY", "02-fail.sh", "ERROR"),
            ("READY", "03-ok.py", "SUCCESSFUL"),
            ("SHUTDOWN", "01-bye.sh", "UNKNOWN"),
        ]),
        "{doc}"
    );
    // One stage, its name in any case.
    for path in ["/_localstack/init/ready", "/_localstack/init/READY"] {
        let ready = get_json(&base, path).await;
        assert_eq!(ready["completed"], true, "{ready}");
        assert_eq!(
            states(&ready),
            triples(&[
                ("READY", "01-bucket.sh", "SUCCESSFUL"),
                ("READY", "02-fail.sh", "ERROR"),
                ("READY", "03-ok.py", "SUCCESSFUL"),
            ])
        );
    }
    let shutdown = get_json(&base, "/_localstack/init/shutdown").await;
    assert_eq!(shutdown["completed"], false);
    let unknown = call(client().get(format!("{base}/_localstack/init/later"))).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    // What the scripts got and did.
    let start = std::fs::read_to_string(marks.path().join("start")).unwrap();
    assert_eq!(
        start.trim(),
        format!("{base} {} {base} us-east-1", edge.addr),
        "START's environment"
    );
    assert_eq!(
        std::fs::read_to_string(marks.path().join("ready-py")).unwrap(),
        "test test"
    );
    let s3 = s3_client(&base);
    s3.head_bucket()
        .bucket("init-hook-bucket")
        .send()
        .await
        .unwrap_or_else(|e| panic!("the READY script's bucket is missing: {e:?}"));
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(buckets
        .buckets()
        .iter()
        .any(|b| b.name() == Some("init-hook-bucket")));
    for want in [
        "[02-fail.sh] about to fail",
        "init READY 02-fail.sh: ERROR",
        "[03-ok.py] python ran",
        "init READY 03-ok.py: SUCCESSFUL",
    ] {
        edge.wait_for_line(want);
    }
    assert!(
        !edge.log.iter().any(|l| l.contains("04-notes.txt")),
        "a file that is not a script does not run"
    );

    // SIGTERM: the SHUTDOWN script runs while the edge and moto still answer, then exit 0.
    assert_eq!(edge.terminate(), Some(0), "{}", edge.log.join("\n"));
    let listed = std::fs::read_to_string(marks.path().join("shutdown"))
        .unwrap_or_else(|e| panic!("no shutdown mark ({e}):\n{}", edge.log.join("\n")));
    assert!(listed.contains("init-hook-bucket"), "{listed}");
    let bye = edge
        .log
        .iter()
        .position(|l| l.contains("init SHUTDOWN 01-bye.sh: SUCCESSFUL"))
        .unwrap_or_else(|| panic!("{}", edge.log.join("\n")));
    let draining = edge
        .log
        .iter()
        .position(|l| l.contains("stopping: finishing in-flight requests"))
        .unwrap();
    assert!(bye < draining, "{}", edge.log.join("\n"));
}

/// `[init] dir` in a config file wins over `$EDGESTACK_INIT_DIR`; a script over `[init]
/// timeout` is killed (with what it started) and marked ERROR, the next one runs; the edge
/// answers while a READY script runs (it shows as RUNNING).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_dir_wins_and_a_script_over_its_time_limit_is_killed() {
    let moto = MotoServer::start();
    let from_file = TestDir::new("init-hooks-file");
    let from_env = TestDir::new("init-hooks-ignored");
    let marks = TestDir::new("init-hooks-marks2");
    script(
        from_file.path(),
        "ready.d/01-slow.sh",
        "echo started\n(sleep 8; touch \"$INIT_MARKS/leaked\") &\nsleep 60\n",
        false,
    );
    script(
        from_file.path(),
        "ready.d/02-after.sh",
        "touch \"$INIT_MARKS/after\"\n",
        false,
    );
    script(
        from_env.path(),
        "ready.d/01-not-me.sh",
        "touch \"$INIT_MARKS/env-dir-ran\"\n",
        false,
    );
    let config = from_file.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 2\n\n\
             [upstreams.moto]\nurl = \"{}\"\n\n[routes]\ndefault = \"moto\"\n\n\
             [init]\ndir = \"{}\"\ntimeout = \"5s\"\n",
            moto.url(),
            from_file.path().display()
        ),
    )
    .unwrap();
    let mut cmd = edgestack_bin();
    cmd.arg("--config")
        .arg(&config)
        .env("EDGESTACK_INIT_DIR", from_env.path())
        .env("INIT_MARKS", marks.path());
    let mut edge = Edgestack::start(cmd);
    let base = edge.url();
    assert_eq!(edge.ready_line(), "Ready.");
    edge.wait_for_line("[01-slow.sh] started");

    // The edge serves while the script runs: the script is RUNNING, an S3 call goes through.
    let running = get_json(&base, "/_localstack/init/ready").await;
    assert_eq!(
        states(&running),
        triples(&[
            ("READY", "01-slow.sh", "RUNNING"),
            ("READY", "02-after.sh", "UNKNOWN"),
        ]),
        "{running}"
    );
    assert_eq!(running["completed"], false);
    s3_client(&base)
        .create_bucket()
        .bucket("while-init-runs")
        .send()
        .await
        .unwrap();

    let started = Instant::now();
    let doc = wait_completed(&base, "READY", Duration::from_secs(30)).await;
    assert_eq!(
        states(&doc),
        triples(&[
            ("READY", "01-slow.sh", "ERROR"),
            ("READY", "02-after.sh", "SUCCESSFUL"),
        ]),
        "{doc}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    edge.wait_for_line("init READY 01-slow.sh: ERROR: killed after 5s ([init] timeout)");
    assert!(marks.path().join("after").exists());
    assert!(
        !marks.path().join("env-dir-ran").exists(),
        "the file's dir wins"
    );

    // What the slow script left in the background was killed with it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!marks.path().join("leaked").exists());
    assert_eq!(edge.terminate(), Some(0), "{}", edge.log.join("\n"));
}

/// A plain proxy (`[aws] enabled = false`) forwards every path untouched, LocalStack's admin
/// paths included: `/_localstack/init` reaches the upstream (init scripts still run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_proxy_forwards_the_init_path() {
    let up = edgestack_testkit::FakeUpstream::start();
    let dir = TestDir::new("init-plain");
    script(
        dir.path(),
        "ready.d/01-mark.sh",
        &format!("touch {}/ran\n", dir.path().display()),
        false,
    );
    let conf = dir.path().join("plain.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[aws]\nenabled = false\n\
             [upstreams.up]\nurl = \"{}\"\n[routes]\ndefault = \"up\"\n[init]\ndir = \"{}\"\n",
            up.url(),
            dir.path().display()
        ),
    )
    .unwrap();
    let mut cmd = edgestack_bin();
    cmd.arg("--config").arg(&conf);
    let mut e = Edgestack::start(cmd);
    assert_eq!(e.ready_line(), "Ready.");
    let answer = call(client().get(format!("{}/_localstack/init", e.url()))).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), "fake upstream");
    e.wait_for_line("init READY 01-mark.sh: SUCCESSFUL");
    assert!(dir.path().join("ran").exists());
    assert_eq!(e.terminate(), Some(0));
}
