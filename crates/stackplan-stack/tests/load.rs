//! `load` reads a stack from disk and makes its file paths independent of
//! the directory stackplan runs from.

use std::path::Path;

#[test]
fn relative_paths_in_a_stack_resolve_against_its_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let stack = stackplan_stack::load(&root.join("stacks/milvus-local.toml")).unwrap();
    let kubeconfig = &stack.kubernetes.as_ref().unwrap().kubeconfig;
    assert!(
        kubeconfig.ends_with("stacks/../target/emulators/kubeconfig"),
        "{kubeconfig}"
    );
    assert!(Path::new(kubeconfig).is_absolute() == root.is_absolute());
    match &stack.milvus.as_ref().unwrap().chart {
        stackplan_stack::Chart::Path { path } => {
            assert!(
                path.ends_with("stacks/../../shared/charts/milvus-5.0.19.tgz"),
                "{path}"
            );
            assert!(Path::new(path).is_file(), "{path}")
        }
        other => panic!("expected a local chart, got {other:?}"),
    }
}
