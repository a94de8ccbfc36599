//! A private set of emulators (`Emulators::start`) answers while it lives and
//! leaves no process behind once dropped. Its own test binary, so it never
//! shares a process with tests using the shared set.

use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;
use stackplan_testkit::Emulators;

/// Is `pid` still a live process? A zombie (killed, not yet reaped by its
/// new parent) counts as gone: it holds no port, file or memory.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_private_set_answers_and_stops_every_process_when_dropped() {
    let emulators = Emulators::start().expect("emulators (run `just emulators-install` once)");
    let run_dir = emulators.run_dir().to_path_buf();

    let sdk = emulators.aws_config().await;
    aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .expect("moto answers");
    let client = emulators.kube_client().await.expect("kube client");
    Api::<StorageClass>::all(client)
        .get("gp2")
        .await
        .expect("the apiserver answers and has gp2");

    let pids: Vec<(String, u32)> = emulators.env_vars()["STACKPLAN_EMULATORS_PIDS"]
        .split_whitespace()
        .filter_map(|entry| entry.split_once('='))
        .map(|(name, pid)| (name.to_owned(), pid.parse().expect("numeric pid")))
        .collect();
    let names: Vec<&str> = pids.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "moto",
        "watchdog",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    assert!(pids.iter().all(|(_, pid)| alive(*pid)));

    drop(emulators);

    let still: Vec<_> = pids.iter().filter(|(_, pid)| alive(*pid)).collect();
    assert!(still.is_empty(), "still running after drop: {still:?}");
    assert!(!run_dir.exists(), "{} was not removed", run_dir.display());
}
