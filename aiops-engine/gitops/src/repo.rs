//! The deployment repository: find the commit that last changed an image's
//! tag, revert it, push.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde::Deserialize;

/// Commits looked through for the last tag change at most.
const MAX_COMMITS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum GitOpsError {
    #[error("git {args}: {why}")]
    Git { args: String, why: String },
    #[error(
        "the deployment repository at {0} has uncommitted changes: refusing to commit over them"
    )]
    Dirty(String),
    #[error("no commit among the last {MAX_COMMITS} changed the tag of {image} in {file}")]
    NoTagChange { image: String, file: String },
    #[error("reverting {commit} conflicts with later changes ({files}); aborted, nothing pushed")]
    Conflict { commit: String, files: String },
    #[error("the push was refused ({0}); the revert is not on the remote")]
    PushRefused(String),
    #[error("argo cd: {0}")]
    ArgoCd(String),
}

/// A clone of the deployment repository the engine commits to.
#[derive(Debug, Clone)]
pub struct DeployRepo {
    pub dir: PathBuf,
    pub remote: String,
    pub branch: String,
    /// Name and e-mail the revert is committed as.
    pub author: (String, String),
}

/// What a roll-back did.
#[derive(Debug, Clone, PartialEq)]
pub struct Reverted {
    /// The commit reverted, and its subject.
    pub commit: String,
    pub subject: String,
    /// The tag before the reverted commit, and the one it had set.
    pub from_tag: String,
    pub to_tag: String,
    /// The revert commit, as pushed.
    pub revision: String,
}

#[derive(Debug, Default, Deserialize)]
struct Kustomization {
    #[serde(default)]
    images: Vec<ImageEntry>,
}

#[derive(Debug, Deserialize)]
struct ImageEntry {
    name: String,
    #[serde(default, rename = "newTag")]
    new_tag: Option<String>,
}

fn tag_of(yaml: &str, image: &str) -> Option<String> {
    let k: Kustomization = serde_saphyr::from_str(yaml).ok()?;
    k.images
        .into_iter()
        .find(|i| i.name == image)
        .and_then(|i| i.new_tag)
}

impl DeployRepo {
    async fn git(&self, args: &[&str]) -> Result<Output, GitOpsError> {
        let out = tokio::process::Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["-c", &format!("user.name={}", self.author.0)])
            .args(["-c", &format!("user.email={}", self.author.1)])
            .args(args)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| GitOpsError::Git {
                args: args.join(" "),
                why: format!("git did not run: {e}"),
            })?;
        Ok(out)
    }

    /// Runs git; its standard output, or its standard error as the error.
    async fn run(&self, args: &[&str]) -> Result<String, GitOpsError> {
        let out = self.git(args).await?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        Err(GitOpsError::Git {
            args: args.join(" "),
            why: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    async fn show(&self, commit: &str, file: &str) -> Option<String> {
        self.run(&["show", &format!("{commit}:{file}")]).await.ok()
    }

    /// Reverts the newest commit that changed `image`'s tag in the
    /// kustomization `file` (relative to the repository), and pushes.
    pub async fn roll_back(&self, file: &Path, image: &str) -> Result<Reverted, GitOpsError> {
        let file = file.to_string_lossy().into_owned();
        let dirty = self.run(&["status", "--porcelain"]).await?;
        if !dirty.is_empty() {
            return Err(GitOpsError::Dirty(self.dir.display().to_string()));
        }
        // up to date first: a revert of a stale view would be pushed over
        self.run(&["fetch", "--quiet", &self.remote, &self.branch])
            .await?;
        self.run(&["checkout", "--quiet", &self.branch]).await?;
        self.run(&[
            "merge",
            "--ff-only",
            "--quiet",
            &format!("{}/{}", self.remote, self.branch),
        ])
        .await?;
        let log = self
            .run(&[
                "log",
                &format!("-n{MAX_COMMITS}"),
                "--format=%H",
                "--",
                &file,
            ])
            .await?;
        let mut found = None;
        for commit in log.lines() {
            let after = self
                .show(commit, &file)
                .await
                .and_then(|y| tag_of(&y, image));
            let before = self
                .show(&format!("{commit}^"), &file)
                .await
                .and_then(|y| tag_of(&y, image));
            if after.is_some() && after != before {
                found = Some((
                    commit.to_owned(),
                    before.unwrap_or_default(),
                    after.unwrap_or_default(),
                ));
                break;
            }
        }
        // the commit moved the tag from `restored` to `current`
        let Some((commit, restored, current)) = found else {
            return Err(GitOpsError::NoTagChange {
                image: image.to_owned(),
                file,
            });
        };
        let subject = self.run(&["log", "-n1", "--format=%s", &commit]).await?;
        let reverted = self.git(&["revert", "--no-edit", &commit]).await?;
        if !reverted.status.success() {
            let files = self
                .run(&["diff", "--name-only", "--diff-filter=U"])
                .await
                .unwrap_or_default()
                .replace('\n', ", ");
            let _ = self.run(&["revert", "--abort"]).await;
            return Err(GitOpsError::Conflict {
                commit: short(&commit),
                files,
            });
        }
        let revision = self.run(&["rev-parse", "HEAD"]).await?;
        let pushed = self
            .git(&[
                "push",
                "--quiet",
                &self.remote,
                &format!("HEAD:{}", self.branch),
            ])
            .await?;
        if !pushed.status.success() {
            // nothing half-done stays behind: the local revert goes too
            let _ = self.run(&["reset", "--quiet", "--hard", "HEAD~1"]).await;
            return Err(GitOpsError::PushRefused(
                String::from_utf8_lossy(&pushed.stderr).trim().to_owned(),
            ));
        }
        Ok(Reverted {
            commit,
            subject,
            from_tag: current,
            to_tag: restored,
            revision,
        })
    }
}

/// A commit id as people read it.
pub fn short(commit: &str) -> String {
    commit.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::tag_of;

    #[test]
    fn the_tag_is_read_from_the_images_entry_of_the_image() {
        let yaml = "resources: [../../base]\nimages:\n  - name: aiops/shop\n    newName: 1.dkr.ecr/aiops/shop\n    newTag: abc123\n  - name: aiops/engine\n    newTag: def456\n";
        assert_eq!(tag_of(yaml, "aiops/shop").as_deref(), Some("abc123"));
        assert_eq!(tag_of(yaml, "aiops/engine").as_deref(), Some("def456"));
        assert_eq!(tag_of(yaml, "redis"), None);
        assert_eq!(tag_of("{not yaml", "aiops/shop"), None);
    }
}
