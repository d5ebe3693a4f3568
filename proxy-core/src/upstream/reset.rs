//! How an upstream's state is reset on `POST /_localstack/state/reset` ([`ResetMethod`]):
//! moto's own reset endpoint, a restart of an in-memory managed backend, or nothing. Set per
//! upstream (`[upstreams.NAME] reset = "moto" | "restart" | "none"`); without it, the method
//! is derived from a managed backend's command ([`ResetMethod::for_command`]).

use std::{fmt, path::Path};

/// How an upstream's state is reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ResetMethod {
    /// Nothing is reset (a backend that keeps its data on disk, or one edgestack does not own).
    #[default]
    None,
    /// `POST /moto-api/reset` to the upstream: moto_server forgets every resource.
    Moto,
    /// The managed backend's process is stopped and started again on the same port (a
    /// backend that keeps everything in memory: dynalite without `--path`, DynamoDB Local
    /// with `-inMemory`). Only for managed upstreams.
    Restart,
}

impl ResetMethod {
    /// The method's name in the configuration: `none`, `moto`, `restart`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetMethod::None => "none",
            ResetMethod::Moto => "moto",
            ResetMethod::Restart => "restart",
        }
    }

    /// The method a managed backend run with `command` gets when none is set:
    ///
    /// * moto_server (the program `moto_server`, or `python -m moto.server`): [`Moto`](Self::Moto);
    /// * dynalite (a program or script named `dynalite`, or one inside a `dynalite` folder,
    ///   such as `node .../dynalite/cli.js`) without `--path` (which keeps tables on disk):
    ///   [`Restart`](Self::Restart);
    /// * DynamoDB Local (`DynamoDBLocal.jar`) with `-inMemory`: [`Restart`](Self::Restart);
    /// * anything else: [`None`](Self::None).
    pub fn for_command(command: &[String]) -> ResetMethod {
        let names = |arg: &String| -> Vec<String> {
            Path::new(arg)
                .components()
                .filter_map(|c| c.as_os_str().to_str().map(str::to_ascii_lowercase))
                .collect()
        };
        let has = |flag: &str| {
            command
                .iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        };
        let file_name = |arg: &String| names(arg).pop().unwrap_or_default();
        if command
            .iter()
            .any(|a| file_name(a) == "moto_server" || a == "moto.server")
        {
            return ResetMethod::Moto;
        }
        let dynalite = command.iter().any(|a| {
            names(a)
                .iter()
                .any(|n| n == "dynalite" || n == "dynalite.js")
        });
        if dynalite && !has("--path") {
            return ResetMethod::Restart;
        }
        let dynamodb_local = command.iter().any(|a| file_name(a) == "dynamodblocal.jar");
        if dynamodb_local && has("-inMemory") {
            return ResetMethod::Restart;
        }
        ResetMethod::None
    }
}

impl fmt::Display for ResetMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn derived_from_the_command() {
        for (cmd, want) in [
            ("moto_server -p {port}", ResetMethod::Moto),
            (
                "/w/.venv/bin/moto_server -H 127.0.0.1 -p {port}",
                ResetMethod::Moto,
            ),
            ("python3 -m moto.server -p {port}", ResetMethod::Moto),
            ("dynalite --port {port}", ResetMethod::Restart),
            ("npx dynalite --port {port}", ResetMethod::Restart),
            (
                "node -r keep.js /w/.deps/dynalite/node_modules/dynalite/cli.js --port {port}",
                ResetMethod::Restart,
            ),
            ("dynalite --port {port} --path /data", ResetMethod::None),
            ("dynalite --port {port} --path=/data", ResetMethod::None),
            (
                "java -jar /d/DynamoDBLocal.jar -inMemory -sharedDb -port {port}",
                ResetMethod::Restart,
            ),
            (
                "java -jar /d/DynamoDBLocal.jar -dbPath /data -port {port}",
                ResetMethod::None,
            ),
            ("node s3rver/run.js 127.0.0.1 {port}", ResetMethod::None),
            ("minio server /data", ResetMethod::None),
        ] {
            assert_eq!(ResetMethod::for_command(&argv(cmd)), want, "{cmd}");
        }
        assert_eq!(ResetMethod::for_command(&[]), ResetMethod::None);
    }
}
