//! Where a plan points, and how long it is, through the real binary
//! against the emulators (`stacks/milvus-local.toml`, nothing applied):
//! the header names moto's account and caller (one `GetCallerIdentity`),
//! the region, the state file and the kubeconfig context, in text, JSON
//! and Markdown; `--compact` is one line per resource; a saved plan made
//! in another account is refused by apply.

mod common;

use common::workspace::{Workspace, text};
use stackplan_testkit::{Emulators, sorted_json};

/// The run's scratch directory and the emulators' kubeconfig, which
/// differ from run to run, as fixed words, so snapshots hold.
fn redact(out: &str, w: &Workspace, emulators: &Emulators) -> String {
    let kubeconfig = emulators.kubeconfig().canonicalize().unwrap();
    out.replace(&kubeconfig.display().to_string(), "[kubeconfig]")
        .replace(&w.dir.path().display().to_string(), "[scratch]")
}

fn stdout(w: &Workspace, emulators: &Emulators, args: &[&str]) -> String {
    let out = w
        .command(emulators, args)
        .env("GITHUB_SHA", "0123abcd4567ef890123abcd4567ef8901234567")
        .output()
        .expect("running stackplan");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    redact(&String::from_utf8_lossy(&out.stdout), w, emulators)
}

#[test]
fn a_first_plan_says_where_it_points_in_every_format() {
    let emulators = Emulators::shared().expect("emulators");
    let w = Workspace::new(emulators);
    let stack = w.stack().display().to_string();

    let plan = stdout(&w, emulators, &["plan", &stack]);
    let header: String = plan.lines().take(5).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!("first_plan_header_text", header);

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&w, emulators, &["plan", "--json", &stack])).unwrap();
    insta::assert_json_snapshot!("first_plan_header_json", sorted_json(&json["target"]));

    let markdown = stdout(&w, emulators, &["plan", "--format", "markdown", &stack]);
    let title = markdown.split("**Plan:**").next().unwrap().to_string();
    let version = env!("CARGO_PKG_VERSION");
    insta::assert_snapshot!(
        "first_plan_header_markdown",
        title.replace(&format!("stackplan {version}"), "stackplan [version]")
    );

    // The cluster's own gp2 class is taken over, never created.
    let compact = stdout(&w, emulators, &["plan", "--compact", &stack]);
    insta::assert_snapshot!("first_plan_compact", compact);
    assert!(
        !plan.contains("k8s_default_class.gp2 will be created"),
        "{plan}"
    );
    // The apiserver has it already (as EKS does): an update, said as one.
    assert!(
        plan.contains(
            "  ~ k8s_default_class.gp2 will be taken over and updated in place\n      \
             # made by the cluster, not by stackplan: taking it over (`default` differ)\n"
        ),
        "{plan}"
    );
}

/// This stack's first plan before issue 16, measured by rendering the
/// same saved plan with the previous renderer: 1,029 lines, plus the 49
/// "not in state" reason lines its creates carried then.
const LOCAL_FIRST_PLAN_LINES_BEFORE: usize = 1_078;

#[test]
fn a_first_plan_is_short_by_default_and_full_shows_every_value() {
    let emulators = Emulators::shared().expect("emulators");
    let w = Workspace::new(emulators);
    let stack = w.stack().display().to_string();
    let short = stdout(&w, emulators, &["plan", &stack]);
    let full = stdout(&w, emulators, &["plan", "--full", &stack]);
    let compact = stdout(&w, emulators, &["plan", "--compact", &stack]);
    let (s, f, c) = (
        short.lines().count(),
        full.lines().count(),
        compact.lines().count(),
    );
    // What the default leaves out is the published documents' text.
    assert!(
        short.contains("AWS Load Balancer Controller IAM policy"),
        "{short}"
    );
    assert!(!full.contains("shown with --full"), "{full}");
    assert!(
        full.contains("\"elasticloadbalancing:CreateLoadBalancer\""),
        "{full}"
    );
    // Measured when this test was written: 533 by default, 893 with
    // --full, 61 with --compact.
    assert!(
        s < LOCAL_FIRST_PLAN_LINES_BEFORE / 2 && s < f && c < s,
        "{s} lines by default, {f} with --full, {c} with --compact"
    );
}

#[test]
fn apply_refuses_a_saved_plan_made_in_another_account() {
    let emulators = Emulators::shared().expect("emulators");
    let w = Workspace::new(emulators);
    let stack = w.stack().display().to_string();
    let file = w.dir.path().join("reviewed.plan");
    let path = file.display().to_string();
    let plan = w.run(emulators, &["plan", "-o", &path, &stack]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    // The plan as if made with another account's credentials.
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["basis"]["account"], "123456789012");
    saved["basis"]["account"] = "210987654321".into();
    std::fs::write(&file, serde_json::to_vec_pretty(&saved).unwrap()).unwrap();

    let apply = w.run(emulators, &["apply", &path]);
    assert_eq!(apply.status.code(), Some(1), "{}", text(&apply));
    // miette wraps the message at the terminal's width: compare words.
    let stderr = String::from_utf8_lossy(&apply.stderr);
    let words = stderr
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        words.contains(
            "the plan was made in AWS account 210987654321, but these credentials are for account 123456789012"
        ),
        "{}",
        text(&apply)
    );
    assert!(!w.state().exists(), "nothing was applied");

    // apply without a saved plan shows the plan, header first, before it
    // asks (here it cannot: stdin is not a terminal, so it changes nothing).
    let asked = w.run(emulators, &["apply", &stack]);
    assert_eq!(asked.status.code(), Some(1), "{}", text(&asked));
    let shown = String::from_utf8_lossy(&asked.stdout);
    assert!(
        shown.starts_with(
            "stackplan plan for stack `milvus-local`\n  account  123456789012 as arn:aws:sts::123456789012:user/moto\n  region   us-west-2\n"
        ),
        "{}",
        text(&asked)
    );
}
