//! `ignore = [...]` per section and `desired = "autoscaled"`: fields
//! something else owns reach the section's resource as ignored paths, and
//! a path that names no attribute of that resource is refused at validate,
//! with the line and a did-you-mean.

use stackplan_core::{ResourceAddr, ResourceKind};
use stackplan_stack::{Charts, expand, parse};

const REFERENCE: &str = include_str!("../../../stacks/milvus-eks.toml");

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

fn ignored(text: &str, addr: &ResourceAddr) -> Vec<String> {
    let stack = parse("stack.toml", text).expect("valid");
    expand(&stack, &Charts::default())
        .into_iter()
        .find(|r| &r.addr == addr)
        .unwrap_or_else(|| panic!("no {addr}"))
        .ignore
}

#[test]
fn an_autoscaled_node_group_ignores_its_count_and_starts_at_min() {
    let text = REFERENCE.replacen(
        "desired       = 3",
        "desired       = \"autoscaled\"\nmin           = 2\nmax           = 10",
        1,
    );
    let stack = parse("stack.toml", &text).expect("valid");
    let ng = &stack.eks.nodegroups[0];
    assert!(ng.autoscaled);
    assert_eq!((ng.desired, ng.min, ng.max), (2, 2, 10));
    let addr = ResourceAddr::new(ResourceKind::EksNodegroup, &ng.name);
    assert_eq!(ignored(&text, &addr), ["scaling.desired_size"]);
}

#[test]
fn autoscaled_without_its_bounds_is_refused_on_its_line() {
    let text = REFERENCE.replacen("desired       = 3", "desired       = \"autoscaled\"", 1);
    let err = parse("stack.toml", &text).expect_err("no bounds");
    let p = &err.problems()[0];
    assert!(
        p.message
            .contains("\"autoscaled\" but `min` or `max` is missing"),
        "{p:?}"
    );
    assert_eq!(line_of(&text, p.span.offset()), 26);
}

#[test]
fn a_section_ignore_reaches_its_resource() {
    let text = REFERENCE.replacen(
        "[milvus]\n",
        "[milvus]\nignore = [\"values.queryNode.replicas\"]\n",
        1,
    );
    let addr = ResourceAddr::new(ResourceKind::HelmRelease, "milvus");
    assert_eq!(ignored(&text, &addr), ["values.queryNode.replicas"]);
}

#[test]
fn an_ignore_path_naming_no_attribute_is_refused_with_a_did_you_mean() {
    let text = REFERENCE.replacen(
        "desired       = 3",
        "desired       = 3\nignore        = [\"scalng.desired_size\"]",
        1,
    );
    let err = parse("stack.toml", &text).expect_err("unknown attribute");
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = &problems[0];
    assert_eq!(
        p.message,
        "`eks.nodegroup[0].ignore[0]`: `scalng` is not an attribute of `eks_nodegroup`"
    );
    assert!(
        p.hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `scaling`?"),
        "{p:?}"
    );
    assert_eq!(line_of(&text, p.span.offset()), 27);
}
