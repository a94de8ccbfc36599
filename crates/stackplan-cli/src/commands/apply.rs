//! `stackplan apply STACK|PLAN` and `stackplan destroy STACK`: a plan
//! carried out under the state lock, with live progress, a summary, and
//! Ctrl-C handled in two steps (stop starting work; then abort).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use miette::{IntoDiagnostic, miette};
use stackplan_core::{Plan, ProviderRegistry, STATE_FORMAT_VERSION, StateStore};
use stackplan_engine::{
    ApplyContext, ApplyReport, ApplySettings, PlanRequest, PlanSettings, Planner, StopFlag,
    check_guards, check_saved_changes, sha256_hex,
};
use stackplan_render::plan_text::{self, TextOptions};
use stackplan_state::{new_document, new_lock_info};

use super::charts::ChartAccess;
use super::plan::{
    Target, check_state_target, engine_error, provider_registry, runtime, state_error, state_store,
    stdout_color,
};
use crate::progress::Progress;
use crate::{Outcome, output};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A stack file (plan, confirm, apply), or a plan saved with
    /// `stackplan plan -o PLAN` (applied exactly, if still current).
    pub target: PathBuf,
    /// The stack file a saved plan was made from, when it is not where
    /// the plan says.
    #[arg(long)]
    pub stack: Option<PathBuf>,
    /// Apply without asking for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// At most this many resources in flight.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Allow deleting or replacing stateful resources (S3 bucket, MSK and
    /// EKS clusters).
    #[arg(long)]
    pub allow_destroy: bool,
    /// Take over live resources the state has no record of (see `plan
    /// --adopt`). A saved plan adopts what it was made to adopt.
    #[arg(long)]
    pub adopt: bool,
    /// With a stack file: apply only part of it (see `plan --target`). A
    /// saved plan applies the part it was made for.
    #[command(flatten)]
    pub selection: super::plan::SelectionArgs,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The stack file.
    pub stack: PathBuf,
    /// Destroy without asking for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// At most this many resources in flight.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Allow destroying stateful resources (S3 bucket, MSK and EKS clusters).
    #[arg(long)]
    pub allow_destroy: bool,
}

/// What to apply.
enum Source {
    Stack(PathBuf),
    Saved { plan: Box<Plan>, stack: PathBuf },
}

fn is_plan_file(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("format_version").is_some() && v.get("changes").is_some())
}

/// Asks on the terminal; refuses when there is none to ask on.
fn confirm(question: &str, yes: bool) -> miette::Result<bool> {
    confirm_with(question, yes, std::io::stdin().is_terminal())
}

fn confirm_with(question: &str, yes: bool, stdin_is_terminal: bool) -> miette::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !stdin_is_terminal {
        return Err(miette!(
            help = "review the plan, then run again with --yes (or apply a saved plan)",
            "refusing to change anything without confirmation: stdin is not a terminal"
        ));
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} Only 'yes' is accepted: ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .into_diagnostic()?;
    Ok(answer.trim() == "yes")
}

pub fn run(args: &ApplyArgs) -> miette::Result<Outcome> {
    let source = if is_plan_file(&args.target) {
        let plan = super::show::read_plan(&args.target)?;
        // The plan names the stack file it was made from; `--stack` says
        // where it is when the plan travelled (a CI artefact).
        let stack = args
            .stack
            .clone()
            .or_else(|| plan.basis.stack_path.as_ref().map(PathBuf::from))
            .ok_or_else(|| {
                miette!(
                    help = "pass the stack file the plan was made from: stackplan apply PLAN --stack STACK",
                    "`{}` does not name its stack file; apply needs it",
                    args.target.display()
                )
            })?;
        Source::Saved {
            plan: Box::new(plan),
            stack,
        }
    } else {
        Source::Stack(args.target.clone())
    };
    let selection = args.selection.selection()?;
    if matches!(source, Source::Saved { .. }) && !selection.is_empty() {
        return Err(miette!(
            help = "make the plan with the flags (`stackplan plan --target ADDR -o PLAN STACK`); a saved plan applies the part it was made for",
            "--target, --exclude and --replace cannot be given with a saved plan"
        ));
    }
    let settings = PlanSettings {
        parallelism: usize::from(args.parallelism),
        allow_destroy: args.allow_destroy,
        adopt: args.adopt,
        selection,
    };
    let charts = ChartAccess::from_env();
    runtime()?.block_on(execute(
        source,
        Run {
            settings,
            yes: args.yes,
            mode: Mode::Apply,
            registry: None,
            charts: &charts,
        },
    ))
}

pub fn destroy(args: &DestroyArgs) -> miette::Result<Outcome> {
    let settings = PlanSettings {
        parallelism: usize::from(args.parallelism),
        allow_destroy: args.allow_destroy,
        adopt: false,
        selection: Default::default(),
    };
    let charts = ChartAccess::from_env();
    runtime()?.block_on(execute(
        Source::Stack(args.stack.clone()),
        Run {
            settings,
            yes: args.yes,
            mode: Mode::Destroy,
            registry: None,
            charts: &charts,
        },
    ))
}

/// How one apply or destroy runs, and what it reaches.
#[derive(Debug, Clone)]
struct Run<'a> {
    settings: PlanSettings,
    yes: bool,
    mode: Mode,
    /// The providers; `None` builds the real ones for the stack.
    registry: Option<&'a ProviderRegistry>,
    charts: &'a ChartAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Apply,
    Destroy,
}

/// Lock, plan (or check the saved plan), confirm, apply, unlock. The lock
/// is released on every path out, errors included.
async fn execute(source: Source, run: Run<'_>) -> miette::Result<Outcome> {
    let Run {
        settings,
        yes,
        mode,
        registry,
        charts,
    } = run;
    let stack_path = match &source {
        Source::Stack(p) | Source::Saved { stack: p, .. } => p.clone(),
    };
    // Planning an apply reads and renders the charts, as `plan` does (a
    // saved plan is planned again and compared); destroy needs none.
    let loaded = match mode {
        Mode::Apply => super::charts::load_checked(&stack_path, charts).await?,
        Mode::Destroy => super::load(&stack_path)?,
    };
    if mode == Mode::Apply {
        super::plan::warn(&loaded);
    }
    let bytes = std::fs::read(&stack_path).into_diagnostic()?;
    let owned;
    let (registry, target) = match registry {
        Some(r) => (r, None),
        None => {
            owned = provider_registry(&loaded.stack).await?;
            // Identity, the cluster and helm, before anything changes
            // (destroy has not run helm yet).
            let checked = super::preflight::Checked {
                helm: loaded.charts.is_some(),
            };
            (
                &owned,
                Some(super::preflight::run(&loaded.stack, checked).await?),
            )
        }
    };
    let store = state_store(&loaded.stack).await;
    let operation = match mode {
        Mode::Apply => "apply",
        Mode::Destroy => "destroy",
    };
    // Listening from before the lock is taken (a signal stream installs
    // its handler when made, and keeps what arrives until read): no
    // Ctrl-C from here on takes SIGINT's default action, which would end
    // the process holding the lock.
    let interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .into_diagnostic()?;
    store
        .lock(&new_lock_info(operation))
        .await
        .map_err(state_error)?;
    // From here to the first change, a Ctrl-C (while the plan is made, or
    // at the question) stops the run and releases the lock: without this,
    // SIGINT's default action ended the process holding it, and an S3 lock
    // then blocked every run until it went stale. Once changes start,
    // `InterruptWatch` answers Ctrl-C instead.
    let changing = AtomicBool::new(false);
    let result = tokio::select! {
        // The signal first: a Ctrl-C that comes with the answer to the
        // question is not lost to the apply it meant to stop.
        biased;
        () = interrupted_before_changes(interrupts, &changing) => Err(miette!(
            help = "nothing was changed; run it again when ready",
            "{operation} interrupted before any change: the state lock is released"
        )),
        result = locked(Locked {
            source: &source,
            loaded: &loaded,
            bytes: &bytes,
            settings,
            yes,
            mode,
            registry,
            store: store.as_ref(),
            target: target.as_ref(),
            changing: &changing,
        }) => result,
    };
    let unlocked = store.unlock().await.map_err(state_error);
    let outcome = result?;
    unlocked?;
    Ok(outcome)
}

/// Resolves at a Ctrl-C that comes before any change; once `changing`
/// is set, never (`InterruptWatch`, listening by then, has the signal).
async fn interrupted_before_changes(
    mut interrupts: tokio::signal::unix::Signal,
    changing: &AtomicBool,
) {
    while interrupts.recv().await.is_some() {
        if !changing.load(Ordering::SeqCst) {
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Everything the part of an apply under the state lock works with.
struct Locked<'a> {
    source: &'a Source,
    loaded: &'a super::Loaded,
    bytes: &'a [u8],
    settings: PlanSettings,
    yes: bool,
    mode: Mode,
    registry: &'a ProviderRegistry,
    store: &'a dyn StateStore,
    /// The account and region, when acting on AWS (not in fake-provider
    /// tests).
    target: Option<&'a Target>,
    /// Set just before the first change: a Ctrl-C from then on is
    /// `InterruptWatch`'s.
    changing: &'a AtomicBool,
}

async fn locked(ctx: Locked<'_>) -> miette::Result<Outcome> {
    let Locked {
        source,
        loaded,
        bytes,
        settings,
        yes,
        mode,
        registry,
        store,
        target,
        changing,
    } = ctx;
    let state = store.read().await.map_err(state_error)?;
    if let Some(t) = target {
        check_state_target(state.as_ref(), t)?;
    }
    let planner = Planner::new(registry, settings.clone());
    let stack_sha = sha256_hex(bytes);
    let req = PlanRequest {
        stack: &loaded.stack.name,
        stack_sha256: &stack_sha,
        resources: &loaded.resources,
        state: state.as_ref(),
    };
    let plan = match (source, mode) {
        (Source::Saved { plan: saved, .. }, _) => {
            // The saved file is evidence of what was reviewed, not what is
            // applied: the plan is made again from the stack, state and
            // live resources, and applied only if it is the same plan.
            // What runs is the fresh one, whose secrets are in memory.
            // The destroy guards take the stricter of the plan's options
            // and this command line.
            let strict = PlanSettings {
                allow_destroy: settings.allow_destroy && saved.options.allow_destroy,
                adopt: saved.options.adopt,
                selection: saved.options.selection.clone(),
                ..settings.clone()
            };
            let mut fresh = Planner::new(registry, strict)
                .plan(req)
                .await
                .map_err(engine_error)?;
            if let Some(t) = target {
                fresh.basis.account = Some(t.account.clone());
                fresh.basis.region = Some(t.region.clone());
            }
            check_saved_changes(saved, &fresh).map_err(engine_error)?;
            fresh
        }
        (Source::Stack(_), Mode::Apply) => planner.plan(req).await.map_err(engine_error)?,
        (Source::Stack(_), Mode::Destroy) => {
            // Everything in state goes; the guards look at the stack's
            // resources, which still say what is protected.
            let plan = planner
                .drift(PlanRequest {
                    resources: &[],
                    ..req
                })
                .await
                .map_err(engine_error)?;
            check_guards(&plan, &loaded.resources, settings.allow_destroy).map_err(engine_error)?;
            plan
        }
    };

    // Where it points, at the top of the plan shown before the question.
    let mut plan = plan;
    super::plan::point_plan(&mut plan, &loaded.stack, store.location(), target);

    let progress = Progress::new();
    if !plan.has_changes() {
        progress.line("No changes: the live resources match the stack.");
        if let Some(doc) = state
            .as_ref()
            .filter(|d| d.format_version < STATE_FORMAT_VERSION)
        {
            // An older format held what state must not (format 1: digests
            // of secrets): rewritten now rather than at the next change.
            store.write(doc).await.map_err(state_error)?;
            progress.line(&format!(
                "State upgraded from format {} to {STATE_FORMAT_VERSION}.",
                doc.format_version
            ));
        }
        // As Terraform does: an apply with nothing to do still says where
        // the deployment is.
        if let (Mode::Apply, Some(_), Some(doc)) = (mode, target, state.as_ref()) {
            super::output::show_after_apply(&loaded.stack, doc).await;
        }
        return Ok(Outcome::Clean);
    }
    if matches!(source, Source::Stack(_)) {
        output::emit(
            &plan_text::render(
                &plan,
                TextOptions {
                    color: stdout_color(),
                    ..TextOptions::default()
                },
            ),
            None,
        )?;
        let question = match mode {
            Mode::Apply => "Apply these changes?",
            Mode::Destroy => "Destroy every resource of this stack?",
        };
        // On a thread of its own, never joined: the Ctrl-C watch runs on
        // this task, which a read of stdin here would block; and a
        // runtime waits for its blocking tasks when dropped, which would
        // hang an interrupted run until Enter.
        let (answer, answered) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = answer.send(confirm(question, yes));
        });
        let confirmed = answered
            .await
            .map_err(|_| miette!("the confirmation prompt ended without an answer"))??;
        if !confirmed {
            progress.line("Cancelled: nothing was changed.");
            return Ok(Outcome::Clean);
        }
    }

    let first = state.is_none();
    let mut doc = state.unwrap_or_else(|| new_document(&loaded.stack.name));
    if let Some(t) = target {
        // Pinned by the first apply: a later run in another account or
        // region is refused (see `check_state_target`).
        doc.account = Some(t.account.clone());
        doc.region = Some(t.region.clone());
    }
    let stop = StopFlag::new();
    // The watch listens before the hand-over, so no Ctrl-C falls between
    // the two; one that both see ends the run here, before any change.
    let signals = InterruptWatch::start(stop.clone(), progress.notices());
    changing.store(true, Ordering::SeqCst);
    if first {
        // Written before the first create: an apply stopped at any moment
        // leaves a state, so the next one takes back what this one made
        // (tagged as this stack's) without `--adopt`.
        doc.serial = store.write(&doc).await.map_err(state_error)?;
    }
    let apply_settings = ApplySettings {
        parallelism: settings.parallelism,
        ..ApplySettings::default()
    };
    let cx = ApplyContext {
        registry,
        store,
        settings: &apply_settings,
        sink: &progress,
        events: &progress,
        stop: &stop,
    };
    let report = stackplan_engine::apply(&plan, &mut doc, &cx)
        .await
        .map_err(engine_error);
    signals.finish();
    let report = report?;
    if let Some(failure) = &report.state_write {
        summarize(&progress, &report, mode);
        let stack_path = match source {
            Source::Stack(p) | Source::Saved { stack: p, .. } => p,
        };
        return Err(unsaved_state(failure, &store.location(), stack_path));
    }
    if mode == Mode::Destroy && report.succeeded() {
        // Lookups were only read, never owned: forget them.
        let before = doc.resources.len();
        doc.resources
            .retain(|r| r.mode != stackplan_core::ResourceMode::Lookup);
        if doc.resources.len() != before {
            doc.serial = store.write(&doc).await.map_err(state_error)?;
        }
    }
    summarize(&progress, &report, mode);
    if report.succeeded() {
        if mode == Mode::Apply && target.is_some() {
            super::output::show_after_apply(&loaded.stack, &doc).await;
        }
        Ok(Outcome::Clean)
    } else {
        let command = match mode {
            Mode::Apply => "apply",
            Mode::Destroy => "destroy",
        };
        Err(miette!(
            help = format!(
                "fix the cause named above and run {command} again: it continues from what was done"
            ),
            "{command} did not finish: {} failed, {} skipped",
            report.failed.len(),
            report.skipped.len()
        ))
    }
}

/// State the backend would not take even after retries: kept in a local
/// recovery file beside the stack file (no secret is in state), with how
/// to push it back.
fn unsaved_state(
    failure: &stackplan_engine::StateWriteFailure,
    location: &str,
    stack_path: &Path,
) -> miette::Report {
    // Beside the stack file: where the user works and looks first.
    let dir = match stack_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // The serial the failed write would have had: it continues the
    // stored state, which `state push` requires.
    let mut document = failure.document.clone();
    document.serial += 1;
    match stackplan_state::write_recovery_file(&dir, &document) {
        Ok(file) => miette!(
            help = format!(
                "once the backend is reachable again, run `stackplan state push {} --stack {}`, \
                 then plan: nothing this apply made is lost",
                file.display(),
                stack_path.display()
            ),
            "state could not be written to {location}: {}\nthe state this apply reached is saved in {}",
            failure.error,
            file.display()
        ),
        Err(e) => miette!(
            help = "do not run apply again before the state is restored: it would not know what \
                    this run made; the resources it made carry this stack's stackplan tags",
            "state could not be written to {location}: {}; nor could a recovery file be written in {}: {e}",
            failure.error,
            dir.display()
        ),
    }
}

/// Ctrl-C during an apply. First: start nothing new, let the work in
/// flight finish and be saved, and say so at once, with how many
/// operations that is. Second: abort (state is written after every
/// operation).
///
/// It runs on its own thread and runtime: the acknowledgement must not
/// wait for a worker of the apply's runtime, which state writes (fsync)
/// and busy operations can hold, and it prints through the progress
/// display, which an `eprintln!` would be drawn over.
struct InterruptWatch {
    done: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InterruptWatch {
    /// Returns once the handler is in place: a Ctrl-C from then on is
    /// acknowledged, never the default action that kills the process
    /// (which a handler installed later, by the thread's first poll,
    /// left open while the apply's first operations started).
    fn start(stop: StopFlag, notices: crate::progress::Notices) -> Self {
        let (done, mut finished) = tokio::sync::oneshot::channel::<()>();
        let (ready, installed) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("stackplan-interrupts".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    let _ = ready.send(());
                    return;
                };
                rt.block_on(async move {
                    // Creating the stream installs the handler (tokio's
                    // `signal::unix::signal`), before `start` returns.
                    let Ok(mut interrupts) =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                    else {
                        let _ = ready.send(());
                        return;
                    };
                    let _ = ready.send(());
                    tokio::select! {
                        _ = &mut finished => return,
                        r = interrupts.recv() => if r.is_none() { return },
                    }
                    stop.request();
                    let n = notices.in_flight();
                    notices.line(&format!(
                        "stopping after the {n} operation{} in flight; Ctrl-C again aborts",
                        if n == 1 { "" } else { "s" }
                    ));
                    tokio::select! {
                        _ = &mut finished => {}
                        r = interrupts.recv() => if r.is_some() { abort(&notices) },
                    }
                });
            })
            .ok();
        if thread.is_some() {
            let _ = installed.recv();
        }
        InterruptWatch {
            done: Some(done),
            thread,
        }
    }

    /// The apply is over: stop watching. (The process keeps tokio's
    /// handler, so a later Ctrl-C is ignored, as it was before.)
    fn finish(mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The second Ctrl-C: `exit` runs no destructor, so nothing would stop
/// helm: an upgrade left running would go on changing the cluster outside
/// the state lock. Every helm process group is killed first (helm
/// children run in their own group, so the terminal's Ctrl-C never
/// reached them).
fn abort(notices: &crate::progress::Notices) -> ! {
    let killed = stackplan_kube::process::kill_all();
    if killed > 0 {
        notices.line(&format!(
            "aborted: stopped {killed} helm command(s) in flight; the next apply recovers a release they left pending"
        ));
    }
    notices.line("aborted: state holds every resource that finished");
    std::process::exit(130);
}

fn summarize(progress: &Progress, report: &ApplyReport, mode: Mode) {
    progress.line(&outcome_line(report, mode));
    for f in &report.failed {
        progress.line(&format!("  failed:  {} {}: {}", f.op, f.addr, f.message));
    }
    for (addr, op, reason) in &report.skipped {
        progress.line(&format!("  skipped: {op} {addr}: {reason}"));
    }
}

/// `Apply complete: 3 done, 0 failed, 0 skipped.`, or `Destroy ...` for
/// a destroy: the command the user ran, not the walker underneath.
fn outcome_line(report: &ApplyReport, mode: Mode) -> String {
    format!(
        "{} {}: {} done, {} failed, {} skipped.",
        match mode {
            Mode::Apply => "Apply",
            Mode::Destroy => "Destroy",
        },
        if report.interrupted {
            "interrupted"
        } else if report.succeeded() {
            "complete"
        } else {
            "incomplete"
        },
        report.done.len(),
        report.failed.len(),
        report.skipped.len()
    )
}

#[cfg(test)]
mod outcome_line_tests {
    use stackplan_core::{ResourceAddr, ResourceKind};
    use stackplan_engine::Op;

    use super::*;

    #[test]
    fn destroy_says_destroy_complete_and_apply_says_apply_complete() {
        let report = ApplyReport {
            done: vec![(
                ResourceAddr::new(ResourceKind::S3Bucket, "milvus"),
                Op::Delete,
            )],
            ..ApplyReport::default()
        };
        assert_eq!(
            outcome_line(&report, Mode::Destroy),
            "Destroy complete: 1 done, 0 failed, 0 skipped."
        );
        assert_eq!(
            outcome_line(&report, Mode::Apply),
            "Apply complete: 1 done, 0 failed, 0 skipped."
        );
        let stopped = ApplyReport {
            interrupted: true,
            ..report
        };
        assert_eq!(
            outcome_line(&stopped, Mode::Destroy),
            "Destroy interrupted: 1 done, 0 failed, 0 skipped."
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use stackplan_core::ProviderRegistry;
    use stackplan_engine::testing::FakeCloud;
    use stackplan_state::LocalStateStore;

    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, FakeCloud, ProviderRegistry) {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text = std::fs::read_to_string(root.join("stacks/milvus-eks.toml")).unwrap();
        let path = dir.path().join("stack.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = crate::commands::load(&path).unwrap();
        let cloud = FakeCloud::new();
        cloud.seed_lookups(&loaded.resources);
        let registry = ProviderRegistry::new().with(cloud.provider().into_arc());
        (dir, path, cloud, registry)
    }

    fn settings(allow_destroy: bool) -> PlanSettings {
        PlanSettings {
            parallelism: 8,
            allow_destroy,
            adopt: false,
            selection: Default::default(),
        }
    }

    fn go(
        source: Source,
        mode: Mode,
        allow: bool,
        registry: &ProviderRegistry,
    ) -> miette::Result<Outcome> {
        runtime().unwrap().block_on(execute(
            source,
            Run {
                settings: settings(allow),
                yes: true,
                mode,
                registry: Some(registry),
                charts: &crate::commands::charts::test_access(),
            },
        ))
    }

    fn state_of(path: &Path) -> stackplan_core::StateDocument {
        let loaded = crate::commands::load(path).unwrap();
        let store = LocalStateStore::for_stack(path.parent().unwrap(), &loaded.stack.name);
        runtime().unwrap().block_on(store.read()).unwrap().unwrap()
    }

    #[test]
    fn apply_creates_everything_then_a_second_apply_has_nothing_to_do() {
        let (_dir, path, cloud, registry) = setup();
        assert_eq!(
            go(Source::Stack(path.clone()), Mode::Apply, false, &registry).unwrap(),
            Outcome::Clean
        );
        let managed = crate::commands::charts::load_for_test(&path)
            .resources
            .len();
        assert_eq!(cloud.len(), managed, "every resource is live");
        assert_eq!(state_of(&path).resources.len(), managed);
        let plan = runtime()
            .unwrap()
            .block_on(super::super::plan::make_plan(
                &path,
                super::super::plan::PlanCtx {
                    registry: Some(&registry),
                    charts: &crate::commands::charts::test_access(),
                    settings: settings(false),
                    drift_only: false,
                },
            ))
            .unwrap();
        assert!(
            !plan.has_changes(),
            "{:#?}",
            plan.changes
                .iter()
                .filter(|c| c.action.is_change())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn state_the_backend_refuses_is_kept_in_a_recovery_file_that_state_push_takes_back() {
        let (dir, path, cloud, _) = setup();
        // Halfway through, the state file's place is taken by a directory:
        // every later write (a rename onto it) fails, as a backend that
        // went away.
        let stack = crate::commands::load(&path).unwrap().stack.name;
        let state_file = dir
            .path()
            .join(".stackplan")
            .join(format!("{stack}.state.json"));
        let base = cloud.provider();
        let create = base.create_f.clone().unwrap();
        let blocker = state_file.clone();
        let backup = dir.path().join("last-good-state.json");
        let kept = backup.clone();
        let provider = stackplan_engine::testing::FakeProvider {
            create_f: Some(std::sync::Arc::new(move |req| {
                if req.addr.kind == stackplan_core::ResourceKind::S3Bucket {
                    std::fs::rename(&blocker, &kept).unwrap();
                    std::fs::create_dir_all(&blocker).unwrap();
                }
                create(req)
            })),
            ..base
        };
        let registry = ProviderRegistry::new().with(provider.into_arc());
        let err = go(Source::Stack(path.clone()), Mode::Apply, false, &registry).unwrap_err();
        let msg = format!("{err:?}");
        assert!(msg.contains("state could not be written"), "{msg}");
        assert!(msg.contains("stackplan state push"), "{msg}");
        let recovery: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("stackplan-recovery-")
            })
            .collect();
        assert_eq!(recovery.len(), 1, "{msg}");
        let doc = stackplan_core::StateDocument::from_bytes(&std::fs::read(&recovery[0]).unwrap())
            .unwrap();
        // Everything made is in it, the bucket included.
        assert!(
            doc.resources
                .iter()
                .any(|r| r.addr.kind == stackplan_core::ResourceKind::S3Bucket),
            "{:?}",
            doc.resources
                .iter()
                .map(|r| r.addr.to_string())
                .collect::<Vec<_>>()
        );
        for r in &doc.resources {
            if r.mode == stackplan_core::ResourceMode::Managed {
                assert!(cloud.get(&r.addr).is_some(), "{} is not live", r.addr);
            }
        }
        assert!(state_file.is_dir());

        // The backend is back: the recovery file is pushed, and the next
        // apply finds everything made in state and makes nothing twice.
        std::fs::remove_dir(&state_file).unwrap();
        std::fs::rename(&backup, &state_file).unwrap();
        crate::commands::state::run(&crate::commands::state::StateArgs {
            command: crate::commands::state::StateCommand::Push(crate::commands::state::PushArgs {
                file: recovery[0].clone(),
                stack: path.clone(),
                force: false,
            }),
        })
        .unwrap();
        let live_before = cloud.len();
        assert_eq!(
            go(Source::Stack(path.clone()), Mode::Apply, false, &registry).unwrap(),
            Outcome::Clean
        );
        let managed = crate::commands::charts::load_for_test(&path)
            .resources
            .len();
        assert_eq!(cloud.len(), managed, "one of each resource");
        assert!(cloud.len() >= live_before);
    }

    #[test]
    fn destroy_refuses_stateful_resources_without_allow_destroy() {
        let (_dir, path, cloud, registry) = setup();
        go(Source::Stack(path.clone()), Mode::Apply, false, &registry).unwrap();
        let err = go(Source::Stack(path.clone()), Mode::Destroy, false, &registry).unwrap_err();
        let msg = format!("{err:?}");
        assert!(msg.contains("refusing to destroy"), "{msg}");
        assert!(msg.contains("s3_bucket.milvus"), "{msg}");
        assert!(cloud.len() > 4, "nothing was deleted");

        go(Source::Stack(path.clone()), Mode::Destroy, true, &registry).unwrap();
        // Only the looked-up VPC and subnets, never stackplan's, remain.
        assert_eq!(cloud.len(), 4);
        assert!(state_of(&path).resources.is_empty());
    }

    #[test]
    fn prevent_destroy_refuses_even_with_allow_destroy() {
        let (_dir, path, _cloud, registry) = setup();
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "root_path = \"milvus\"",
            "root_path = \"milvus\"\nprevent_destroy = true",
        );
        std::fs::write(&path, text).unwrap();
        go(Source::Stack(path.clone()), Mode::Apply, false, &registry).unwrap();
        let err = go(Source::Stack(path.clone()), Mode::Destroy, true, &registry).unwrap_err();
        assert!(format!("{err:?}").contains("prevent_destroy"), "{err:?}");
    }

    #[test]
    fn saved_plan_is_refused_after_a_live_change_and_applied_when_current() {
        let (dir, path, cloud, registry) = setup();
        go(Source::Stack(path.clone()), Mode::Apply, false, &registry).unwrap();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("desired       = 3", "desired       = 4\nmax           = 4");
        std::fs::write(&path, text).unwrap();
        let plan = runtime()
            .unwrap()
            .block_on(super::super::plan::make_plan(
                &path,
                super::super::plan::PlanCtx {
                    registry: Some(&registry),
                    charts: &crate::commands::charts::test_access(),
                    settings: settings(false),
                    drift_only: false,
                },
            ))
            .unwrap();
        let saved = dir.path().join("plan.json");
        super::super::plan::save(&plan, &saved).unwrap();

        let bucket =
            stackplan_core::ResourceAddr::new(stackplan_core::ResourceKind::S3Bucket, "milvus");
        let before = cloud.get(&bucket).unwrap();
        cloud.set_attr(&bucket, "versioning", stackplan_core::Value::Bool(false));
        let read = super::super::show::read_plan(&saved).unwrap();
        let err = go(
            Source::Saved {
                plan: Box::new(read.clone()),
                stack: path.clone(),
            },
            Mode::Apply,
            false,
            &registry,
        )
        .unwrap_err();
        assert!(format!("{err:?}").contains("s3_bucket.milvus"), "{err:?}");

        cloud.insert(bucket, before);
        go(
            Source::Saved {
                plan: Box::new(read),
                stack: path.clone(),
            },
            Mode::Apply,
            false,
            &registry,
        )
        .unwrap();
        let ng = stackplan_core::ResourceAddr::new(
            stackplan_core::ResourceKind::EksNodegroup,
            "ng-1-milvus",
        );
        assert_eq!(
            cloud.get(&ng).unwrap().attrs["scaling"].get_path("desired_size"),
            Some(&stackplan_core::Value::Int(4))
        );
    }

    #[test]
    fn apply_without_yes_and_without_a_terminal_is_refused() {
        let err = confirm_with("Apply?", false, false).unwrap_err();
        assert!(
            format!("{err:?}").contains("stdin is not a terminal"),
            "{err:?}"
        );
        assert!(confirm_with("Apply?", true, false).unwrap());
    }
}
