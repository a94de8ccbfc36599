//! `[msk] secret_recovery_days`: how long Secrets Manager keeps the SCRAM
//! secret after a destroy. 0 deletes it at once; 7 to 30 is Secrets
//! Manager's recovery window (botocore secretsmanager DeleteSecret
//! `RecoveryWindowInDays`); left out, the resource carries no attribute
//! and the schema's default (30) applies.

use stackplan_core::Value;
use stackplan_stack::{Charts, expand, parse};

const REFERENCE: &str = include_str!("../../../stacks/milvus-eks.toml");

fn with_days(days: &str) -> String {
    let from = "brokers       = 3\n";
    assert!(REFERENCE.contains(from));
    REFERENCE.replacen(from, &format!("{from}secret_recovery_days = {days}\n"), 1)
}

fn recovery_window(text: &str) -> Option<Value> {
    let stack = parse("stack.toml", text).unwrap_or_else(|e| panic!("{:#?}", e.problems()));
    let resources = expand(&stack, &Charts::default());
    let secret = resources
        .iter()
        .find(|r| r.addr.to_string() == "secretsmanager_secret.msk_scram")
        .expect("the SCRAM secret");
    secret.attrs.get("recovery_window_in_days").cloned()
}

#[test]
fn recovery_days_are_set_on_the_scram_secret_only_when_given() {
    assert_eq!(recovery_window(REFERENCE), None);
    for days in [0, 7, 30] {
        assert_eq!(
            recovery_window(&with_days(&days.to_string())),
            Some(Value::Int(days))
        );
    }
}

#[test]
fn recovery_days_outside_0_and_7_to_30_are_refused_at_their_line() {
    for days in ["1", "6", "31", "-1"] {
        let text = with_days(days);
        let err = parse("stack.toml", &text).unwrap_err();
        let p = &err.problems()[0];
        assert_eq!(err.problems().len(), 1, "{:#?}", err.problems());
        assert_eq!(
            p.message,
            format!("`msk.secret_recovery_days` must be 0 or between 7 and 30, not {days}")
        );
        assert_eq!(p.label, "not a recovery window");
        assert!(p.hint.as_deref().unwrap().contains("7 to 30 days"));
        let line = text[..p.span.offset()].matches('\n').count() + 1;
        let want = text
            .lines()
            .position(|l| l.starts_with("secret_recovery_days"))
            .unwrap()
            + 1;
        assert_eq!(line, want);
    }
    let err = parse("stack.toml", &with_days("\"7\"")).unwrap_err();
    assert_eq!(
        err.problems()[0].message,
        "`msk.secret_recovery_days` must be an integer, found a string"
    );
}
