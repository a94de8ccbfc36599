//! A small builder for running the `stackplan` binary in a scratch
//! directory, as ripgrep's `TestCommand` does.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The reference stack shipped with the repository.
pub fn reference_stack() -> String {
    std::fs::read_to_string(repo_root().join("stacks/milvus-eks.toml")).expect("reference stack")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The reference stack with each `(from, to)` replaced once; panics when
/// `from` is not in it, so a test never silently checks the unmodified file.
pub fn reference_with(edits: &[(&str, &str)]) -> String {
    let mut text = reference_stack();
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "`{from}` is not in the reference stack"
        );
        text = text.replacen(from, to, 1);
    }
    text
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A scratch directory holding `stack.toml`, where the binary runs.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn with_stack(text: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("stack.toml"), text).expect("write stack");
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out: Output = Command::new(env!("CARGO_BIN_EXE_stackplan"))
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("STACKPLAN_CHART_CACHE", chart_cache())
            .env("STACKPLAN_HELM", stackplan_testkit::helm_binaries().0)
            .env_remove("MSK_SCRAM_PASSWORD")
            .output()
            .expect("run stackplan");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `validate` on a stack text and returns what it printed to stderr,
/// asserting that it failed with exit code 1 and printed nothing to stdout.
pub fn validate_error(text: &str) -> String {
    let run = Scratch::with_stack(text).run(&["validate", "stack.toml"]);
    assert_eq!(
        run.code, 1,
        "expected failure, got stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "stdout must stay clean: {}",
        run.stdout
    );
    run.stderr
}

/// A chart cache holding the real charts of `../shared/charts` as if
/// pulled from their public repositories: the reference stack plans and
/// renders offline with the real charts. Seeded once, atomically, so
/// concurrent tests share it.
pub fn chart_cache() -> PathBuf {
    use stackplan_kube::chart::ChartCache;
    use stackplan_kube::helm::ChartSource;
    let dir = std::env::temp_dir().join("stackplan-test-chart-cache");
    let cache = ChartCache::at(&dir);
    let mut charts: Vec<(&str, &str, &str)> = stackplan_testkit::SHARED_MILVUS_CHARTS
        .iter()
        .map(|v| (stackplan_stack::MILVUS_REPO, "milvus", *v))
        .collect();
    charts.push((
        stackplan_stack::LBC_REPO,
        "aws-load-balancer-controller",
        "3.5.0",
    ));
    for (url, name, version) in charts {
        let source = ChartSource::Repository {
            url: url.into(),
            name: name.into(),
            version: Some(version.into()),
        };
        let archive = stackplan_testkit::shared_chart(&format!("{name}-{version}.tgz"));
        cache
            .insert(&source, &archive)
            .expect("seeding the chart cache");
    }
    dir
}

/// The charts the stack installs, read as plan reads them (the harness's
/// helm, the seeded chart cache), for tests that expand a stack
/// themselves.
pub fn charts_of(stack: &stackplan_stack::Stack) -> stackplan_stack::Charts {
    use stackplan_kube::chart::ChartCache;
    use stackplan_kube::helm::{ChartSource, Helm};
    use stackplan_stack::{Chart, ChartProfile, Charts};
    let source = |c: &Chart| match c {
        Chart::Repository { url, name, version } => ChartSource::Repository {
            url: url.clone(),
            name: name.clone(),
            version: version.clone(),
        },
        Chart::Path { path } => ChartSource::Path(path.clone()),
        Chart::Oci { reference, version } => ChartSource::Oci {
            reference: reference.clone(),
            version: version.clone(),
        },
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let helm = Helm::at(stackplan_testkit::helm_binaries().0)
            .await
            .expect("the harness's helm");
        let cache = ChartCache::at(chart_cache());
        let read = |chart: &Chart| {
            let helm = &helm;
            let cache = &cache;
            let s = source(chart);
            async move {
                let local = helm.fetch_chart(&s, cache).await.expect("chart");
                ChartProfile::parse("test", &local.chart_yaml, &local.values_yaml).unwrap()
            }
        };
        let mut charts = Charts::default();
        if let Some(m) = &stack.milvus {
            charts.milvus = Some(read(&m.chart).await);
        }
        if let Some(l) = &stack.load_balancer_controller {
            charts.load_balancer_controller = Some(read(&l.chart).await);
        }
        charts
    })
}
pub mod workspace;
