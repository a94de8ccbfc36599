//! The text `--help` adds after the options: examples, exit codes and the
//! environment, in one place so that the commands agree with each other
//! (and with the README's tables).

/// `stackplan -h`: the workflow and the exit codes.
pub const MAIN: &str = "\
Getting started:
  stackplan init stack.toml            write a commented starter stack
  stackplan validate stack.toml        check it, offline
  stackplan plan stack.toml            compare it with what is live in the account
  stackplan apply stack.toml           plan, ask, then make the changes

Exit codes:
  0  success (plan: no changes with --detailed-exitcode; drift: none)
  1  error: an invalid stack, a refused or failed run, a usage error
  2  changes pending (plan --detailed-exitcode) or drift found (drift)

Run `stackplan --help` for the environment variables stackplan reads, and
`stackplan COMMAND --help` for a command's options and examples.";

/// `stackplan --help`: the workflow, what the exit codes mean, and every
/// environment variable stackplan reads.
pub const MAIN_LONG: &str = "\
Getting started:
  stackplan init stack.toml            write a commented starter stack
  stackplan validate stack.toml        check it, offline
  stackplan plan stack.toml            compare it with what is live in the account
  stackplan apply stack.toml           plan, ask, then make the changes

Exit codes:
  0  success (plan: no changes with --detailed-exitcode; drift: none)
  1  error: an invalid stack, a refused or failed run, a usage error
  2  changes pending (plan --detailed-exitcode) or drift found (drift)

Environment:
  AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
  AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_CONFIG_FILE, ...
                         the AWS SDK's standard credential chain (environment,
                         profile, SSO, web identity, container and instance
                         roles); the region is always the stack's
                         `[stack] region` (`[state] region` for S3 state), never
                         AWS_REGION
  AWS_ENDPOINT_URL       send every AWS call to this endpoint (an emulator)
  STACKPLAN_HELM         the helm binary to run (default: `helm` on PATH;
                         3.8 or newer)
  STACKPLAN_CHART_CACHE  where pinned charts are pulled to (default:
                         $XDG_CACHE_HOME/stackplan/charts, else
                         ~/.cache/stackplan/charts)
  KUBECONFIG             the kubeconfig helm reads; stackplan itself reaches
                         the stack's EKS cluster with AWS credentials, or the
                         cluster `[kubernetes] kubeconfig` names
  NO_COLOR               no colour in plans and errors (colour is used only
                         on a terminal anyway)
  USER, HOSTNAME         who holds the state lock, as `unlock` shows it
  NAME of \"env:NAME\"     a secret the stack names (MSK_SCRAM_PASSWORD in the
                         reference stack): read at apply, and at plan to see
                         a rotation; never passed to helm

Run `stackplan COMMAND --help` for a command's options and examples.";

pub const VALIDATE: &str = "\
Examples:
  stackplan validate stacks/milvus-eks.toml

Exit codes:
  0  the stack is valid
  1  it is not: every problem is listed with its file, line, field and a hint";

pub const FMT: &str = "\
The stack must be valid first: an invalid one is refused with validate's
errors and left as it is. Keys are put in the order the README documents
for each section, `key = value` lines aligned within each table, comments
kept. Tables stackplan does not define the keys of ([eks.addons],
[msk.server_properties], [milvus.values], tags) and inline tables keep
their order.

Examples:
  stackplan fmt stack.toml
  stackplan fmt --check stack.toml     in CI: fail when not formatted

Exit codes:
  0  formatted (or already formatted)
  1  invalid stack, an error, or with --check: the file would change";

pub const INIT: &str = "\
Examples:
  stackplan init                          the reference stack, to stack.toml
  stackplan init --example minimal my-stack.toml
  stackplan init --example new-vpc        a VPC stackplan creates

Exit codes:
  0  written
  1  the file exists (it is never overwritten) or cannot be written";

pub const GRAPH: &str = "\
Examples:
  stackplan graph stack.toml                       Mermaid, for a Markdown page
  stackplan graph stack.toml --format dot | dot -Tsvg > graph.svg";

pub const RENDER: &str = "\
Examples:
  stackplan render stack.toml > values.yaml
  stackplan render stack.toml --manifests | less";

pub const PLAN: &str = "\
Examples:
  stackplan plan stack.toml
  stackplan plan stack.toml -o plan.json         save it for `apply plan.json`
  stackplan plan stack.toml --detailed-exitcode  in CI: 2 when changes are pending
  stackplan plan stack.toml --format markdown    for a pull-request comment
  stackplan plan stack.toml --target helm_release.milvus

Exit codes:
  0  a plan was made (with --detailed-exitcode: and it changes nothing)
  1  error: an invalid stack, a refused plan, AWS, Kubernetes or helm failed
  2  with --detailed-exitcode: changes are pending";

pub const DRIFT: &str = "\
Examples:
  stackplan drift stack.toml
  stackplan drift stack.toml --json > drift.json

Exit codes:
  0  nothing changed outside stackplan
  1  error
  2  drift found";

pub const SHOW: &str = "\
Examples:
  stackplan show plan.json
  stackplan show plan.json --format markdown";

pub const APPLY: &str = "\
Examples:
  stackplan apply stack.toml                 plan, show it, ask, apply
  stackplan plan stack.toml -o plan.json && stackplan apply plan.json
  stackplan apply stack.toml --yes           no question (CI)

Exit codes:
  0    applied, nothing to do, or declined at the prompt
  1    failed or refused (a saved plan no longer current, a stateful
       resource to delete without --allow-destroy, no terminal to ask on)
  130  a second Ctrl-C aborted it; state holds every resource that finished";

pub const DESTROY: &str = "\
Examples:
  stackplan destroy stack.toml
  stackplan destroy stack.toml --yes --allow-destroy

Exit codes:
  0    destroyed, nothing to do, or declined at the prompt
  1    failed or refused
  130  a second Ctrl-C aborted it; state holds every resource that finished";

pub const OUTPUT: &str = "\
Examples:
  stackplan output stack.toml
  stackplan output stack.toml milvus_endpoint
  stackplan output stack.toml --json

Exit codes:
  0  printed
  1  before any apply, an unknown name, or NAME is still pending";

pub const UNLOCK: &str = "\
Examples:
  stackplan unlock stack.toml
  stackplan unlock stack.toml --force";

pub const STATE: &str = "\
Examples:
  stackplan state list stack.toml
  stackplan state show stack.toml eks_cluster.main
  stackplan state push stackplan-recovery-1a2b3c4d-7.json --stack stack.toml";

pub const STATE_LIST: &str = "\
Examples:
  stackplan state list stack.toml
  stackplan state list stack.toml --json

Exit codes:
  0  listed
  1  the stack has no state, or it cannot be read";

pub const STATE_SHOW: &str = "\
Examples:
  stackplan state show stack.toml eks_cluster.main
  stackplan state show stack.toml s3_bucket.milvus --json

Exit codes:
  0  shown
  1  the address is not in state (the nearest one is named)";

pub const STATE_PUSH: &str = "\
Examples:
  stackplan state push stackplan-recovery-1a2b3c4d-7.json --stack stack.toml

Exit codes:
  0  pushed, or the backend holds it already
  1  refused (another lineage, an older serial without --force) or failed";

pub const IMPORT: &str = "\
Examples:
  stackplan import stack.toml s3_bucket.milvus acme-milvus-demo
  stackplan import stack.toml eks_nodegroup.ng-1-milvus milvus-demo:ng-1-milvus
  stackplan import stack.toml helm_release.milvus milvus/demo

Exit codes:
  0  imported (the plan against the new state follows)
  1  refused, with the reason; nothing is written";

pub const VERSION: &str = "\
Examples:
  stackplan version
  stackplan version --json";

pub const COMPLETION: &str = "\
Examples:
  stackplan completion bash > ~/.local/share/bash-completion/completions/stackplan
  stackplan completion zsh > \"${fpath[1]}/_stackplan\"
  stackplan completion fish > ~/.config/fish/completions/stackplan.fish";

pub const MAN: &str = "\
Examples:
  stackplan man | man -l -
  stackplan man --out-dir /usr/local/share/man/man1";
