//! What a prepare will send, decided on the host before any guest is
//! touched (and before `vm run` makes a VM): the checkout, its HEAD, and
//! its submodules, or a refusal that names the problem.

use super::{WorkspaceError, git};
use banger_api::workspace::{WorkspaceCheck, WorkspaceMode};
use std::path::{Path, PathBuf};

/// Submodules inside submodules are followed this deep; a checkout deeper
/// than that is not a layout anybody has (and a bound is cheaper than a
/// cycle through symlinked directories).
const MAX_DEPTH: usize = 8;

/// One repository to send: the top checkout or a populated submodule.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// Absolute on the host.
    pub top: PathBuf,
    /// Relative to the top checkout (empty for it).
    pub rel: PathBuf,
    /// None: an unborn branch (no commit yet).
    pub head: Option<String>,
    pub branch: Option<String>,
    /// Populated submodules, each a checkout of its own; uninitialised ones
    /// travel as their gitlink in the parent's index (and an empty directory).
    pub submodules: Vec<Checkout>,
    /// Gitlinks in the index (populated or not).
    pub gitlinks: usize,
}

impl Checkout {
    pub fn count(&self) -> usize {
        1 + self.submodules.iter().map(Checkout::count).sum::<usize>()
    }

    pub fn summary(&self, mode: WorkspaceMode) -> WorkspaceCheck {
        WorkspaceCheck {
            host_path: self.top.display().to_string(),
            mode,
            head: self.head.clone(),
            branch: self.branch.clone(),
            submodules: self.gitlinks_total() as u64,
            populated_submodules: (self.count() - 1) as u64,
        }
    }

    fn gitlinks_total(&self) -> usize {
        self.gitlinks
            + self
                .submodules
                .iter()
                .map(Checkout::gitlinks_total)
                .sum::<usize>()
    }
}

/// The checkout at `path` as `mode` would send it, or why it cannot be.
pub fn plan(
    path: &Path,
    mode: WorkspaceMode,
    wants_branch: bool,
) -> Result<Checkout, WorkspaceError> {
    let top = git::toplevel(path)?;
    let c = checkout(&top, PathBuf::new(), mode, 0)?;
    match mode {
        WorkspaceMode::MetadataOnly if c.head.is_none() => {
            return Err(WorkspaceError::NoCommits(top));
        }
        WorkspaceMode::FullCopy => full_copy_checks(&top)?,
        _ => {}
    }
    if wants_branch && c.head.is_none() {
        return Err(WorkspaceError::NoCommits(top));
    }
    Ok(c)
}

fn checkout(
    top: &Path,
    rel: PathBuf,
    mode: WorkspaceMode,
    depth: usize,
) -> Result<Checkout, WorkspaceError> {
    let (head, branch) = git::head(top)?;
    let mut c = Checkout {
        top: top.to_owned(),
        rel,
        head,
        branch,
        submodules: Vec::new(),
        gitlinks: 0,
    };
    if mode == WorkspaceMode::FullCopy {
        // The directory goes as it is, submodules included.
        return Ok(c);
    }
    let mut links: Vec<PathBuf> = git::index(top)?
        .into_iter()
        .filter(|e| e.is_gitlink())
        .map(|e| e.path)
        .collect();
    links.dedup();
    c.gitlinks = links.len();
    for sub in links {
        if !git::populated(top, &sub) {
            continue;
        }
        if depth + 1 >= MAX_DEPTH {
            return Err(WorkspaceError::TooDeep(top.join(&sub)));
        }
        let inner = checkout(&top.join(&sub), c.rel.join(&sub), mode, depth + 1)?;
        if inner.head.is_none() {
            return Err(WorkspaceError::NoCommits(inner.top));
        }
        c.submodules.push(inner);
    }
    Ok(c)
}

/// A full copy is the directory and nothing else: a repository whose git
/// data lives outside it would arrive broken.
fn full_copy_checks(top: &Path) -> Result<(), WorkspaceError> {
    let (dir, common) = git::git_dirs(top)?;
    let top_real = std::fs::canonicalize(top).unwrap_or_else(|_| top.to_owned());
    let inside = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_owned())
            .starts_with(&top_real)
    };
    if !inside(&dir) || !inside(&common) {
        return Err(WorkspaceError::GitDirOutside {
            top: top.to_owned(),
            git_dir: common,
        });
    }
    let alternates = common.join("objects/info/alternates");
    if std::fs::metadata(&alternates).is_ok_and(|m| m.len() > 0) {
        return Err(WorkspaceError::Alternates(top.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use banger_testkit::git;

    fn repo(dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        git(dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("f"), "x\n").unwrap();
        git(dir, &["add", "f"]);
        git(dir, &["commit", "-q", "-m", "one"]);
        dir.to_owned()
    }

    use WorkspaceMode::*;

    #[test]
    fn submodules_populated_or_not_are_planned_in_every_mode() {
        let t = tempfile::tempdir().unwrap();
        let lib = repo(&t.path().join("lib"));
        let top = repo(&t.path().join("top"));
        for name in ["a", "b"] {
            git(
                &top,
                &[
                    "-c",
                    "protocol.file.allow=always",
                    "submodule",
                    "add",
                    "-q",
                    lib.to_str().unwrap(),
                    name,
                ],
            );
        }
        git(&top, &["commit", "-q", "-m", "subs"]);
        // b stays as a fresh clone would leave it: uninitialised.
        git(&top, &["submodule", "deinit", "-q", "-f", "b"]);
        for mode in [ShallowOverlay, MetadataOnly] {
            let c = plan(&top.join("a"), mode, false).expect("a submodule's own checkout");
            assert_eq!(c.rel, PathBuf::new());
            let c = plan(&top, mode, false).unwrap();
            assert_eq!(c.gitlinks, 2);
            assert_eq!(c.submodules.len(), 1, "{c:?}");
            assert_eq!(c.submodules[0].rel, PathBuf::from("a"));
            assert!(c.submodules[0].head.is_some());
            let s = c.summary(mode);
            assert_eq!((s.submodules, s.populated_submodules), (2, 1));
        }
        let c = plan(&top, FullCopy, false).unwrap();
        assert!(c.submodules.is_empty(), "a full copy takes the directory");
    }

    #[test]
    fn an_unborn_branch_goes_as_files_but_not_as_a_checkout_of_head() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("new");
        std::fs::create_dir_all(&r).unwrap();
        git(&r, &["init", "-q", "-b", "trunk"]);
        let c = plan(&r, ShallowOverlay, false).unwrap();
        assert_eq!((c.head, c.branch.as_deref()), (None, Some("trunk")));
        assert!(plan(&r, FullCopy, false).is_ok());
        for (mode, branch) in [(MetadataOnly, false), (ShallowOverlay, true)] {
            let e = plan(&r, mode, branch).unwrap_err();
            assert!(e.to_string().contains("has no commits yet"), "{e}");
        }
    }

    #[test]
    fn full_copy_refuses_git_data_outside_the_directory() {
        let t = tempfile::tempdir().unwrap();
        let main = repo(&t.path().join("main"));
        let wt = t.path().join("wt");
        git(&main, &["worktree", "add", "-q", wt.to_str().unwrap()]);
        let e = plan(&wt, FullCopy, false).unwrap_err().to_string();
        assert!(
            e.contains("outside the checkout") && e.contains("shallow_overlay"),
            "{e}"
        );
        assert!(plan(&wt, ShallowOverlay, false).is_ok());

        let borrower = t.path().join("borrower");
        git(
            t.path(),
            &[
                "clone",
                "-q",
                "--shared",
                main.to_str().unwrap(),
                borrower.to_str().unwrap(),
            ],
        );
        let e = plan(&borrower, FullCopy, false).unwrap_err().to_string();
        assert!(e.contains("alternates"), "{e}");
        assert!(plan(&borrower, MetadataOnly, false).is_ok());
        assert!(plan(&main, FullCopy, false).is_ok());
    }

    #[test]
    fn a_directory_that_is_not_a_checkout_is_named() {
        let t = tempfile::tempdir().unwrap();
        let e = plan(t.path(), ShallowOverlay, false).unwrap_err();
        assert!(e.to_string().contains("is not a git checkout"), "{e}");
    }
}
