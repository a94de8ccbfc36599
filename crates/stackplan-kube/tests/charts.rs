//! Charts fetched as plan fetches them: a pinned chart pulled by the real
//! helm from a chart repository over HTTP (a local one serving the real
//! Milvus chart of `../shared/charts`, indexed by `helm repo index`), kept
//! in the cache, and read from there once the repository is gone.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackplan_kube::chart::ChartCache;
use stackplan_kube::helm::{ChartSource, Helm};
use stackplan_stack::ChartProfile;
use stackplan_testkit::{helm_binaries, shared_chart};

/// A chart repository on 127.0.0.1 serving `dir`, stopped on drop.
struct Repository {
    child: Child,
    url: String,
}

impl Repository {
    fn serve(dir: &Path) -> Repository {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let index = Command::new(helm_binaries().0)
            .args(["repo", "index"])
            .arg(dir)
            .args(["--url", &url])
            .status()
            .unwrap();
        assert!(index.success(), "helm repo index");
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "repository did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Repository { child, url }
    }
}

impl Drop for Repository {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_pinned_repository_chart_is_pulled_once_then_read_from_the_cache() {
    let repo_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        shared_chart("milvus-5.0.19.tgz"),
        repo_dir.path().join("milvus-5.0.19.tgz"),
    )
    .unwrap();
    let repo = Repository::serve(repo_dir.path());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = ChartCache::at(cache_dir.path());
    let helm = Helm::at(helm_binaries().0).await.unwrap();
    let source = ChartSource::Repository {
        url: repo.url.clone(),
        name: "milvus".into(),
        version: Some("5.0.19".into()),
    };

    let local = helm.fetch_chart(&source, &cache).await.unwrap();
    assert_eq!(Some(local.path.clone()), cache.path_for(&source));
    assert!(local.path.is_file());
    let profile = ChartProfile::parse("pulled", &local.chart_yaml, &local.values_yaml).unwrap();
    assert_eq!(profile.describe(), "milvus 5.0.19 (app 2.6.15)");

    // The repository is gone: the cached copy still serves, offline.
    drop(repo);
    let again = helm.fetch_chart(&source, &cache).await.unwrap();
    assert_eq!(again.chart_yaml, local.chart_yaml);

    // A version the repository does not have is helm's own error, named.
    let missing = ChartSource::Repository {
        url: "http://127.0.0.1:9/".into(),
        name: "milvus".into(),
        version: Some("9.9.9".into()),
    };
    let err = helm.fetch_chart(&missing, &cache).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("helm pull milvus --repo http://127.0.0.1:9/"),
        "{err}"
    );
    // Nothing half-written is left in the cache.
    assert!(cache.path_for(&missing).is_some_and(|p| !p.exists()));
}
