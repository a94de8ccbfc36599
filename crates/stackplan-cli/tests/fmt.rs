//! `stackplan fmt`: a valid stack comes out in the documented layout with
//! its comments; formatting again changes nothing; an invalid stack is
//! refused with validate's errors and left as it is; `--check` changes
//! nothing and fails, naming the file, when fmt would.

mod common;

use common::{Scratch, reference_stack};

/// The reference stack as a user might have edited it: sections and keys
/// out of order, `=` unaligned, comments on headers, keys and lines.
fn shuffled() -> String {
    "# My Milvus stack.\n\
     \n\
     [eks] # the cluster\n\
     version = \"1.30\"\n\
     name = \"milvus-demo\"\n\
     \n\
     [stack]\n\
     region = \"us-west-2\" # Oregon\n\
     name = \"milvus-demo\"\n\
     \n\
     [[eks.nodegroup]]\n\
     labels = { role = \"milvus\" }\n\
     # the size the reference guide uses\n\
     instance_type = \"m6i.2xlarge\"\n\
     name = \"ng-1-milvus\"\n\
     desired = 3\n\
     \n\
     [network]\n\
     private_subnets = [\"subnet-0aaa1111\", \"subnet-0bbb2222\", \"subnet-0ccc3333\"]\n\
     vpc_id = \"vpc-0123456789abcdef0\"\n\
     \n\
     [s3]\n\
     root_path = \"milvus\"\n\
     bucket = \"acme-milvus-demo\"\n"
        .to_string()
}

#[test]
fn fmt_orders_aligns_and_keeps_comments() {
    let scratch = Scratch::with_stack(&shuffled());
    let run = scratch.run(&["fmt", "stack.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.trim(), "formatted stack.toml");
    let text = std::fs::read_to_string(scratch.path().join("stack.toml")).unwrap();
    for comment in [
        "# My Milvus stack.",
        "# the cluster",
        "# Oregon",
        "# the size the reference guide uses",
    ] {
        assert!(text.contains(comment), "lost `{comment}`:\n{text}");
    }
    insta::assert_snapshot!(text);
    let validate = scratch.run(&["validate", "stack.toml"]);
    assert_eq!(validate.code, 0, "{}", validate.stderr);
}

#[test]
fn fmt_of_fmt_output_is_unchanged() {
    let scratch = Scratch::with_stack(&shuffled());
    assert_eq!(scratch.run(&["fmt", "stack.toml"]).code, 0);
    let once = std::fs::read(scratch.path().join("stack.toml")).unwrap();
    let again = scratch.run(&["fmt", "stack.toml"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stderr.trim(), "stack.toml is formatted");
    assert_eq!(
        std::fs::read(scratch.path().join("stack.toml")).unwrap(),
        once
    );
}

#[test]
fn the_reference_stack_is_formatted_as_shipped() {
    let run = Scratch::with_stack(&reference_stack()).run(&["fmt", "--check", "stack.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// The demo's stack too: what users copy first should be what fmt writes.
#[test]
fn the_local_stack_is_formatted_as_shipped() {
    let local = std::fs::read_to_string(common::repo_root().join("stacks/milvus-local.toml"))
        .expect("stacks/milvus-local.toml");
    let run = Scratch::with_stack(&local).run(&["fmt", "--check", "stack.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn check_fails_naming_the_file_and_changes_nothing() {
    let scratch = Scratch::with_stack(&shuffled());
    let run = scratch.run(&["fmt", "--check", "stack.toml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("stack.toml is not formatted"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("stackplan fmt stack.toml"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("stack.toml")).unwrap(),
        shuffled()
    );
}

#[test]
fn an_invalid_stack_is_refused_with_the_validate_error_and_left_untouched() {
    let text = shuffled().replace("instance_type", "instance_typ");
    let scratch = Scratch::with_stack(&text);
    let run = scratch.run(&["fmt", "stack.toml"]);
    assert_eq!(run.code, 1);
    let validate = scratch.run(&["validate", "stack.toml"]);
    assert_eq!(
        run.stderr, validate.stderr,
        "fmt reports what validate reports"
    );
    assert!(run.stderr.contains("instance_typ"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("stack.toml")).unwrap(),
        text
    );
}

#[cfg(unix)]
#[test]
fn fmt_keeps_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::with_stack(&shuffled());
    let path = scratch.path().join("stack.toml");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(scratch.run(&["fmt", "stack.toml"]).code, 0);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}
