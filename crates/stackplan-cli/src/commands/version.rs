//! `stackplan version [--json]`: what this binary is (version, commit,
//! build profile, target) and the helm it would run, found as plan and
//! apply find it (`STACKPLAN_HELM`, else `helm` on `PATH`) and checked the
//! same way (`helm version --short`, 3.8 or newer).

use clap::Args;
use stackplan_kube::KubeError;
use stackplan_kube::helm::{Helm, locate};

use super::plan::runtime;
use crate::{Outcome, VERSION_LINE, output};

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print a JSON object: version, commit, profile, target and helm
    /// (`status` is `ok`, `missing` or `too_old`).
    #[arg(long)]
    pub json: bool,
}

/// The build facts `build.rs` recorded.
#[derive(Debug, Clone, Copy)]
pub struct Build {
    pub version: &'static str,
    pub commit: &'static str,
    pub profile: &'static str,
    pub target: &'static str,
}

pub const BUILD: Build = Build {
    version: env!("CARGO_PKG_VERSION"),
    commit: env!("STACKPLAN_GIT_COMMIT"),
    profile: env!("STACKPLAN_BUILD_PROFILE"),
    target: env!("STACKPLAN_TARGET"),
};

/// The helm plan and apply would use, or why there is none.
#[derive(Debug)]
pub enum HelmFound {
    Usable {
        path: String,
        version: (u32, u32, u32),
    },
    /// Not found; the message says where it looked and what to do.
    Missing { message: String },
    /// Found but unusable (older than 3.8, or it did not answer).
    TooOld { path: String, message: String },
}

pub fn find_helm() -> miette::Result<HelmFound> {
    let path = match locate() {
        Ok(path) => path,
        Err(e) => {
            return Ok(HelmFound::Missing {
                message: e.to_string(),
            });
        }
    };
    let shown = path.display().to_string();
    Ok(match runtime()?.block_on(Helm::at(path)) {
        Ok(helm) => HelmFound::Usable {
            path: shown,
            version: helm.version,
        },
        Err(e @ KubeError::HelmMissing { .. }) => HelmFound::Missing {
            message: e.to_string(),
        },
        Err(e) => HelmFound::TooOld {
            path: shown,
            message: e.to_string(),
        },
    })
}

pub fn run(args: &VersionArgs) -> miette::Result<Outcome> {
    let helm = find_helm()?;
    let text = if args.json {
        let mut out = serde_json::to_string_pretty(&json(&BUILD, &helm)).expect("JSON");
        out.push('\n');
        out
    } else {
        text(&BUILD, &helm)
    };
    output::emit(&text, None)?;
    Ok(Outcome::Clean)
}

fn text(build: &Build, helm: &HelmFound) -> String {
    let helm = match helm {
        HelmFound::Usable {
            path,
            version: (a, b, c),
        } => format!("{path} (v{a}.{b}.{c})"),
        HelmFound::Missing { message } => format!("not found: {message}"),
        HelmFound::TooOld { path, message } => format!("{path} is not usable: {message}"),
    };
    format!(
        "stackplan {VERSION_LINE}\n\
         commit:  {}\n\
         profile: {}\n\
         target:  {}\n\
         helm:    {helm}\n",
        build.commit, build.profile, build.target
    )
}

fn json(build: &Build, helm: &HelmFound) -> serde_json::Value {
    let helm = match helm {
        HelmFound::Usable {
            path,
            version: (a, b, c),
        } => serde_json::json!({
            "status": "ok",
            "path": path,
            "version": format!("v{a}.{b}.{c}"),
        }),
        HelmFound::Missing { message } => serde_json::json!({
            "status": "missing",
            "message": message,
        }),
        HelmFound::TooOld { path, message } => serde_json::json!({
            "status": "too_old",
            "path": path,
            "message": message,
        }),
    };
    serde_json::json!({
        "version": build.version,
        "commit": build.commit,
        "profile": build.profile,
        "target": build.target,
        "helm": helm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: Build = Build {
        version: "0.1.0",
        commit: "abc1234",
        profile: "release",
        target: "x86_64-unknown-linux-gnu",
    };

    #[test]
    fn text_names_the_helm_path_and_version() {
        let helm = HelmFound::Usable {
            path: "/usr/local/bin/helm".into(),
            version: (3, 18, 0),
        };
        let out = text(&FIXED, &helm);
        assert!(out.starts_with(&format!("stackplan {VERSION_LINE}\n")));
        assert!(
            out.contains("helm:    /usr/local/bin/helm (v3.18.0)\n"),
            "{out}"
        );
    }

    #[test]
    fn a_missing_helm_is_reported_with_the_hint_not_as_an_error() {
        let helm = HelmFound::Missing {
            message: KubeError::HelmMissing {
                looked: "STACKPLAN_HELM and PATH".into(),
            }
            .to_string(),
        };
        let out = text(&FIXED, &helm);
        assert!(out.contains("helm:    not found: helm is needed"), "{out}");
        assert!(out.contains("STACKPLAN_HELM"), "{out}");
        let json = json(&FIXED, &helm);
        assert_eq!(json["helm"]["status"], "missing");
        assert_eq!(json["commit"], "abc1234");
    }
}
