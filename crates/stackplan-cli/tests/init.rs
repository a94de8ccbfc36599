//! `stackplan init`: every example it writes is a valid stack, and an
//! existing file is never replaced.

mod common;

use common::Scratch;

#[test]
fn every_example_init_writes_passes_validate() {
    for example in ["minimal", "reference", "new-vpc"] {
        let scratch = Scratch::with_stack("");
        let file = format!("{example}.toml");
        let init = scratch.run(&["init", "--example", example, &file]);
        assert_eq!(init.code, 0, "{example}: {}", init.stderr);
        assert!(
            init.stdout.is_empty(),
            "data only on stdout: {}",
            init.stdout
        );
        assert!(
            init.stderr.contains(&format!("stackplan validate {file}")),
            "{}",
            init.stderr
        );
        let text = std::fs::read_to_string(scratch.path().join(&file)).unwrap();
        assert!(
            text.starts_with("# A stackplan stack, written by `stackplan init`."),
            "{example}: {text}"
        );
        let validate = scratch.run(&["validate", &file]);
        assert_eq!(validate.code, 0, "{example}: {}", validate.stderr);
        // What init writes is formatted already: fmt has nothing to do.
        let check = scratch.run(&["fmt", "--check", &file]);
        assert_eq!(check.code, 0, "{example}: {}", check.stderr);
    }
}

#[test]
fn init_without_arguments_writes_the_reference_stack_to_stack_toml() {
    let scratch = Scratch::with_stack("");
    std::fs::remove_file(scratch.path().join("stack.toml")).unwrap();
    let init = scratch.run(&["init"]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let text = std::fs::read_to_string(scratch.path().join("stack.toml")).unwrap();
    assert!(text.contains(&common::reference_stack()), "{text}");
}

#[test]
fn init_refuses_to_overwrite_an_existing_file() {
    let scratch = Scratch::with_stack("# my own stack, not to be lost\n");
    let init = scratch.run(&["init", "--example", "minimal", "stack.toml"]);
    assert_eq!(init.code, 1, "{}", init.stderr);
    assert!(
        init.stderr.contains("`stack.toml` already exists"),
        "{}",
        init.stderr
    );
    assert!(init.stderr.contains("never overwrites"), "{}", init.stderr);
    let text = std::fs::read_to_string(scratch.path().join("stack.toml")).unwrap();
    assert_eq!(text, "# my own stack, not to be lost\n");
}
