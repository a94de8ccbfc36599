//! `stackplan import STACK ADDR ID`: takes a live resource made outside
//! stackplan (an EKS cluster or node group, a bucket, an MSK cluster, an
//! IAM role, a Helm release) into the stack's state at `ADDR`, by its id
//! or name, under the state lock; then prints the plan made against the
//! new state: what apply would change to make it match the stack.
//!
//! The resource is read with its provider's read, the one refresh uses
//! (`stackplan_engine::import_resource`), and recorded as read, sealed:
//! state keeps no secret. Nothing live is changed. Refused, with the
//! reason and nothing written: an address the stack does not have, one
//! state already records, an id state records at another address, an id
//! not found live, an id of another kind, a resource tagged as another
//! stack's.

use std::path::PathBuf;

use clap::Args;
use miette::miette;
use stackplan_core::{ResourceAddr, ResourceKind};
use stackplan_engine::{EngineError, ImportRequest, PlanSettings, import_resource, nearest_addr};
use stackplan_state::{new_document, new_lock_info};

use super::charts::ChartAccess;
use super::plan::{
    PlanCtx, PlanFormat, aws_target, check_state_target, make_plan, provider_registry, render,
    runtime, state_error, state_store, stdout_color,
};
use crate::{Outcome, output};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The stack file.
    pub stack: PathBuf,
    /// The stack's address to import into (`s3_bucket.milvus`; `stackplan
    /// graph` shows them).
    pub addr: String,
    /// The live resource's id: the name of a bucket or EKS cluster, the
    /// name or ARN of an IAM role, `CLUSTER:NODEGROUP` for a node group,
    /// the ARN or name of an MSK cluster, `NAMESPACE/NAME` for a Helm
    /// release.
    pub id: String,
    /// Print the plan after the import as JSON (docs/plan-json.md).
    #[arg(long)]
    pub json: bool,
    /// The plan after the import may take over other live resources the
    /// state has no record of, as `plan --adopt`.
    #[arg(long)]
    pub adopt: bool,
}

/// How `kind`'s id is written, for the hint of a refusal.
fn id_form(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::S3Bucket => "a bucket is imported by its name",
        ResourceKind::IamRole => "an IAM role is imported by its name or its ARN",
        ResourceKind::EksCluster => "an EKS cluster is imported by its name",
        ResourceKind::EksNodegroup => {
            "a node group is imported as `CLUSTER:NODEGROUP` (`aws eks list-nodegroups`)"
        }
        ResourceKind::MskCluster => {
            "an MSK cluster is imported by its ARN or its name (`aws kafka list-clusters-v2`)"
        }
        ResourceKind::HelmRelease => "a Helm release is imported as `NAMESPACE/NAME`",
        _ => "see `stackplan import --help` for the ids each kind takes",
    }
}

fn refusal(e: EngineError, addr: &str) -> miette::Report {
    let help = match &e {
        EngineError::ImportNotInStack { .. } => {
            "import takes an address the stack declares; `stackplan graph STACK` lists them"
                .to_string()
        }
        EngineError::ImportNotImportable { .. } | EngineError::ImportLookedUp { .. } => {
            "nothing was imported".to_string()
        }
        EngineError::ImportAlreadyInState { .. } => format!(
            "`stackplan state show STACK {addr}` shows what state records; nothing was imported"
        ),
        EngineError::ImportManagedElsewhere { .. } => {
            "one live resource is managed at one address only; nothing was imported".to_string()
        }
        EngineError::ImportNotFound { kind, .. }
        | EngineError::ImportWrongKind { wanted: kind, .. } => {
            format!("{}; nothing was imported", id_form(*kind))
        }
        EngineError::ImportOwnedByAnotherStack { owner, .. } => format!(
            "stack `{owner}` manages it: remove it from that stack's state first; nothing was imported"
        ),
        EngineError::ImportRead { kind, .. } => format!(
            "check the id and your access to the API; {}; nothing was imported",
            id_form(*kind)
        ),
        _ => "nothing was imported".to_string(),
    };
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(&format!("\ncaused by: {c}"));
        cause = c.source();
    }
    miette!(help = help, "cannot import into `{addr}`: {message}")
}

pub fn run(args: &ImportArgs) -> miette::Result<Outcome> {
    let charts = ChartAccess::from_env();
    runtime()?.block_on(import(args, &charts))
}

async fn import(args: &ImportArgs, charts: &ChartAccess) -> miette::Result<Outcome> {
    let first = super::load(&args.stack)?;
    // An address that does not parse is still answered with the nearest
    // one the stack has.
    let addr: ResourceAddr = args.addr.parse().map_err(|_| {
        refusal(
            EngineError::ImportNotInStack {
                addr: args.addr.clone(),
                nearest: nearest_addr(&args.addr, first.resources.iter().map(|r| &r.addr)),
            },
            &args.addr,
        )
    })?;
    // The charts are read only for a release, whose read needs the
    // stack's values to know which are secret.
    let loaded = if addr.kind == ResourceKind::HelmRelease {
        super::load_with_charts(&args.stack, charts).await?
    } else {
        first
    };
    let stack = &loaded.stack;

    let store = state_store(stack).await;
    store
        .lock(&new_lock_info("import"))
        .await
        .map_err(state_error)?;
    let imported = async {
        let state = store.read().await.map_err(state_error)?;
        let registry = provider_registry(stack).await?;
        let target = aws_target(stack).await?;
        check_state_target(state.as_ref(), &target)?;
        let entry = import_resource(
            &registry,
            ImportRequest {
                stack: &stack.name,
                resources: &loaded.resources,
                state: state.as_ref(),
                addr: &addr,
                id: &args.id,
            },
        )
        .await
        .map_err(|e| refusal(e, &args.addr))?;
        let id = entry.physical_id.clone().unwrap_or_default();
        let mut doc = state.unwrap_or_else(|| new_document(&stack.name));
        // The state now names a live resource of this account and region:
        // pinned as a first apply pins them.
        doc.account = Some(target.account);
        doc.region = Some(target.region);
        doc.upsert(entry);
        let serial = store.write(&doc).await.map_err(state_error)?;
        Ok::<_, miette::Report>((id, serial))
    }
    .await;
    // Released whatever happened; a refusal says why first.
    let unlocked = store.unlock().await;
    let (id, serial) = imported?;
    unlocked.map_err(state_error)?;
    eprintln!(
        "imported {addr} ({id}) into {} at serial {serial}; the plan against the new state follows",
        store.location()
    );

    let ctx = PlanCtx {
        registry: None,
        charts,
        settings: PlanSettings {
            adopt: args.adopt,
            ..PlanSettings::default()
        },
        drift_only: false,
    };
    let plan = make_plan(&args.stack, ctx).await.map_err(|e| {
        e.wrap_err(format!(
            "{addr} was imported (it stays in state), but the plan after it failed"
        ))
    })?;
    let format = if args.json {
        PlanFormat::Json
    } else {
        PlanFormat::Text
    };
    output::emit(&render(&plan, format, stdout_color())?, None)?;
    Ok(Outcome::Clean)
}
