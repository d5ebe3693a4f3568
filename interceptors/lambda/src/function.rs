//! A function's configuration as the backend reports it (`GetFunction`, with the qualifier
//! resolved), and the fingerprint that decides which warm environments may run it.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What `GetFunction` says about one version of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// `FunctionName`.
    pub name: String,
    /// `FunctionArn` (unqualified, as the backend reports it).
    pub arn: String,
    /// `Version` (`$LATEST`, `3`).
    pub version: String,
    /// `Runtime` (empty for container images).
    pub runtime: String,
    /// `Handler`.
    pub handler: String,
    /// `Timeout`, seconds.
    pub timeout: u64,
    /// `MemorySize`, MB.
    pub memory: u64,
    /// `Environment.Variables`.
    pub env: BTreeMap<String, String>,
    /// `CodeSha256`.
    pub code_sha256: String,
    /// `PackageType`: `Zip` or `Image`.
    pub package_type: String,
    /// The `CodeSha256` of each layer, in order, where the backend reports it.
    pub layers: Vec<Layer>,
    /// `Concurrency.ReservedConcurrentExecutions`, if set.
    pub reserved_concurrency: Option<u32>,
    /// `LastModified`, which changes with every configuration change.
    pub last_modified: String,
}

/// One layer of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The layer version's ARN.
    pub arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetFunction {
    configuration: Configuration,
    #[serde(default)]
    concurrency: Option<Concurrency>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Configuration {
    function_name: String,
    function_arn: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default)]
    handler: Option<String>,
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    memory_size: Option<u64>,
    #[serde(default)]
    environment: Option<EnvVars>,
    #[serde(default)]
    code_sha256: Option<String>,
    #[serde(default)]
    package_type: Option<String>,
    #[serde(default)]
    layers: Option<Vec<LayerRef>>,
    #[serde(default)]
    last_modified: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnvVars {
    #[serde(default)]
    variables: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LayerRef {
    arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Concurrency {
    #[serde(default)]
    reserved_concurrent_executions: Option<u32>,
}

impl FunctionConfig {
    /// Reads a `GetFunction` answer.
    pub fn from_get_function(body: &[u8]) -> Result<FunctionConfig, String> {
        let g: GetFunction = serde_json::from_slice(body)
            .map_err(|e| format!("cannot read the backend's GetFunction answer: {e}"))?;
        let c = g.configuration;
        Ok(FunctionConfig {
            name: c.function_name,
            arn: c.function_arn,
            version: c.version.unwrap_or_else(|| "$LATEST".into()),
            runtime: c.runtime.unwrap_or_default(),
            handler: c.handler.unwrap_or_default(),
            timeout: c.timeout.unwrap_or(3).clamp(1, 900),
            memory: c.memory_size.unwrap_or(128),
            env: c.environment.and_then(|e| e.variables).unwrap_or_default(),
            code_sha256: c.code_sha256.unwrap_or_default(),
            package_type: c.package_type.unwrap_or_else(|| "Zip".into()),
            layers: c
                .layers
                .unwrap_or_default()
                .into_iter()
                .map(|l| Layer { arn: l.arn })
                .collect(),
            reserved_concurrency: g.concurrency.and_then(|c| c.reserved_concurrent_executions),
            last_modified: c.last_modified.unwrap_or_default(),
        })
    }

    /// The ARN with the version (`...:function:f:$LATEST`, `...:function:f:3`).
    pub fn qualified_arn(&self) -> String {
        let base = self.unqualified_arn();
        format!("{base}:{}", self.version)
    }

    /// The ARN without a qualifier.
    pub fn unqualified_arn(&self) -> String {
        // arn:aws:lambda:region:account:function:name[:qualifier]
        let parts: Vec<&str> = self.arn.splitn(8, ':').collect();
        if parts.len() >= 7 {
            parts[..7].join(":")
        } else {
            self.arn.clone()
        }
    }

    /// The region of the function's ARN.
    pub fn region(&self) -> &str {
        self.arn.split(':').nth(3).unwrap_or("us-east-1")
    }

    /// The account of the function's ARN.
    pub fn account(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or("000000000000")
    }

    /// What decides whether a warm environment can run this function: code, runtime,
    /// handler, environment, layers, memory, timeout and version. Two invocations with the
    /// same fingerprint may share environments; a change of any of these starts new ones.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.unqualified_arn().as_str(),
            &self.version,
            &self.code_sha256,
            &self.runtime,
            &self.handler,
            &self.timeout.to_string(),
            &self.memory.to_string(),
            &self.last_modified,
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for (k, v) in &self.env {
            h.update(k.as_bytes());
            h.update([1]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        for l in &self.layers {
            h.update(l.arn.as_bytes());
            h.update([2]);
        }
        hex::encode(&h.finalize()[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOTO: &str = r#"{"Configuration":{"FunctionName":"f","FunctionArn":"arn:aws:lambda:us-east-1:123456789012:function:f","Runtime":"python3.12","Role":"arn:aws:iam::123456789012:role/r","Handler":"app.handler","CodeSize":10,"Description":"","Timeout":3,"MemorySize":128,"LastModified":"2026-12-05T00:00:00.000+0000","CodeSha256":"abc=","Version":"$LATEST","Environment":{"Variables":{"A":"1"}},"PackageType":"Zip","Layers":[{"Arn":"arn:aws:lambda:us-east-1:123456789012:layer:l:1","CodeSize":1}]},"Code":{"RepositoryType":"S3","Location":"https://x"},"Tags":{},"Concurrency":{"ReservedConcurrentExecutions":2}}"#;

    #[test]
    fn reads_moto_get_function() {
        let f = FunctionConfig::from_get_function(MOTO.as_bytes()).unwrap();
        assert_eq!(f.name, "f");
        assert_eq!(f.runtime, "python3.12");
        assert_eq!(f.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(f.reserved_concurrency, Some(2));
        assert_eq!(f.layers.len(), 1);
        assert_eq!(
            f.qualified_arn(),
            "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"
        );
        assert_eq!(f.region(), "us-east-1");
        assert_eq!(f.account(), "123456789012");
    }

    #[test]
    fn fingerprint_changes_with_configuration() {
        let f = FunctionConfig::from_get_function(MOTO.as_bytes()).unwrap();
        let mut g = f.clone();
        assert_eq!(f.fingerprint(), g.fingerprint());
        g.env.insert("B".into(), "2".into());
        assert_ne!(f.fingerprint(), g.fingerprint());
        let mut h = f.clone();
        h.code_sha256 = "other=".into();
        assert_ne!(f.fingerprint(), h.fingerprint());
    }
}
