//! Nothing panics on any input: arbitrary bytes, arbitrary text, and the
//! reference stack with random damage (which reaches far deeper into
//! validation than random text does).

use proptest::prelude::*;

const REFERENCE: &str = include_str!("../../../stacks/milvus-eks.toml");

fn parse_and_expand(text: &str) {
    if let Ok(stack) = stackplan_stack::parse("fuzz.toml", text) {
        // A stack that validates must also expand.
        let _ = stackplan_stack::expand(&stack, &stackplan_stack::Charts::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        parse_and_expand(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,512}") {
        parse_and_expand(&text);
    }

    #[test]
    fn damaged_reference_stack_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..16, "\\PC{0,12}"), 1..6)
    ) {
        let mut text = REFERENCE.to_string();
        for (at, len, insert) in edits {
            let mut start = at.index(text.len().max(1)).min(text.len());
            while !text.is_char_boundary(start) { start -= 1; }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) { end -= 1; }
            text.replace_range(start..end, &insert);
        }
        parse_and_expand(&text);
    }
}
