//! Helm release records, read natively so that `plan` needs no helm binary.
//!
//! Helm's secret storage driver keeps one Secret per revision,
//! `sh.helm.release.v1.<name>.v<revision>`, labelled `owner=helm`,
//! `name=<name>`, `version=<revision>`, `status=<status>`. Its `release`
//! key holds the release as JSON, gzipped, then base64 (standard alphabet):
//! the Secret's own base64 comes on top of that on the wire. Helm v3 and v4
//! write the same format.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::read::GzDecoder;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::KubeError;

/// The secret name prefix of every release record.
pub const RECORD_PREFIX: &str = "sh.helm.release.v1.";

/// What stackplan needs from one release revision.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRecord {
    pub name: String,
    pub namespace: String,
    pub revision: i64,
    /// `deployed`, `failed`, `pending-install`, `superseded`, `uninstalled`, ...
    pub status: String,
    pub chart_name: String,
    pub chart_version: String,
    pub app_version: Option<String>,
    /// The user-supplied values (what `-f` passed), not the chart's
    /// defaults merged in: exactly what stackplan manages.
    pub config: Json,
    /// The objects this revision rendered (hooks apart), as one
    /// multi-document YAML text: what a plan diffs the new manifest with.
    pub manifest: String,
}

#[derive(Deserialize)]
struct RawRelease {
    name: String,
    #[serde(default)]
    namespace: String,
    version: i64,
    #[serde(default)]
    info: RawInfo,
    chart: Option<RawChart>,
    #[serde(default)]
    config: Option<Json>,
    #[serde(default)]
    manifest: String,
}

#[derive(Deserialize, Default)]
struct RawInfo {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct RawChart {
    metadata: RawMetadata,
}

#[derive(Deserialize)]
struct RawMetadata {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(rename = "appVersion", default)]
    app_version: Option<String>,
}

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Decodes the `release` key of a record Secret (the bytes after the
/// Kubernetes API's own base64, i.e. helm's base64 text).
pub fn decode_release(secret: &str, data: &[u8]) -> Result<ReleaseRecord, KubeError> {
    let bad = |reason: String| KubeError::ReleaseRecord {
        secret: secret.to_string(),
        reason,
    };
    let text: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let raw = STANDARD
        .decode(&text)
        .map_err(|e| bad(format!("not base64: {e}")))?;
    // Helm gzips since 3.0; a record it did not compress is plain JSON,
    // and its own decoder accepts both, so this one does too.
    let json = if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("not gzip: {e}")))?;
        out
    } else {
        raw
    };
    let release: RawRelease =
        serde_json::from_slice(&json).map_err(|e| bad(format!("not a release: {e}")))?;
    let chart = release
        .chart
        .ok_or_else(|| bad("the record has no chart".into()))?;
    Ok(ReleaseRecord {
        name: release.name,
        namespace: release.namespace,
        revision: release.version,
        status: release.info.status,
        chart_name: chart.metadata.name,
        chart_version: chart.metadata.version,
        app_version: chart.metadata.app_version.filter(|v| !v.is_empty()),
        config: match release.config {
            Some(Json::Null) | None => Json::Object(Default::default()),
            Some(c) => c,
        },
        manifest: release.manifest,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    /// A record written by helm v4.1.4 (`helm upgrade --install fixture
    /// tests/fixtures/charts/milvus -n release-fixture -f values.json` against
    /// the harness apiserver), copied from the Secret's decoded `release` key.
    const HELM_V4_RECORD: &str = include_str!("../tests/fixtures/release-v4.b64");

    #[test]
    fn record_written_by_helm_decodes_to_its_chart_status_and_values() {
        let r = decode_release("sh.helm.release.v1.fixture.v1", HELM_V4_RECORD.as_bytes()).unwrap();
        assert_eq!(r.name, "fixture");
        assert_eq!(r.namespace, "release-fixture");
        assert_eq!(r.revision, 1);
        assert_eq!(r.status, "deployed");
        assert_eq!(r.chart_name, "milvus");
        assert_eq!(r.chart_version, "4.1.30");
        assert_eq!(r.app_version.as_deref(), Some("2.3.13"));
        assert_eq!(
            r.config,
            serde_json::json!({
                "clusterName": "fixture",
                "externalKafka": {"sasl": {"password": "fixture-password"}},
                "proxy": {"replicas": 2}
            })
        );
    }

    fn encode(json: &str, gzip: bool) -> String {
        let bytes = if gzip {
            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            enc.write_all(json.as_bytes()).unwrap();
            enc.finish().unwrap()
        } else {
            json.as_bytes().to_vec()
        };
        STANDARD.encode(bytes)
    }

    #[test]
    fn uncompressed_record_and_missing_config_are_accepted() {
        let json = r#"{"name":"r","namespace":"n","version":3,"info":{"status":"failed"},
                      "chart":{"metadata":{"name":"c","version":"1.0.0"}},"config":null}"#;
        let r = decode_release("s", encode(json, false).as_bytes()).unwrap();
        assert_eq!(r.revision, 3);
        assert_eq!(r.status, "failed");
        assert_eq!(r.app_version, None);
        assert_eq!(r.config, serde_json::json!({}));
    }

    #[test]
    fn garbage_is_an_error_naming_the_secret() {
        let err = decode_release("sh.helm.release.v1.x.v1", b"!!!").unwrap_err();
        assert!(err.to_string().contains("sh.helm.release.v1.x.v1"), "{err}");
        let err = decode_release("s", encode("{}", true).as_bytes()).unwrap_err();
        assert!(err.to_string().contains("not a release"), "{err}");
    }
}
