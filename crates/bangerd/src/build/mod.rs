//! `image build`: a dev box made from a registered image. The pinned tools
//! are fetched into the build cache on the host (`fetch`); a build VM
//! cloned from the base boots through the ordinary create/start path; the
//! inputs go in through the agent and `provision.sh` runs there, its output
//! streamed as progress and kept as the image's build log; the guest shuts
//! down cleanly and its disk becomes the new managed image. The base is
//! never touched.
//!
//! A build is recorded (`image_builds`) before it makes anything; every
//! failure, a client that goes away (Ctrl-C) and, at the next start, a
//! daemon killed mid-build remove the build VM (its TAP, address and
//! directory with it) and the staging directory, and no image is recorded.

pub mod debs;
pub mod fetch;
pub mod tools;

use crate::agent::AgentError;
use crate::staging::Staging;
use crate::store::{BuildRow, StoreError};
use crate::vm::{VmEnv, VmError};
use banger_agent_proto::FrameKind;
use banger_api::image::{BuildImage, BuildInfo, BuiltTool, Image};
use banger_api::progress::{Progress, Stage};
use banger_api::vm::CreateVm;
use banger_config::{ImageDir, Paths};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

const PROVISION_SH: &str = include_str!("provision.sh");
/// Where the inputs go in the build VM: its work disk, which is not
/// published, so nothing of them ends up in the image.
const GUEST_INPUTS: &str = "/root/.banger-build";
/// Room added to the base's rootfs when `--size` is not given: the tools
/// take about 1.5 GiB; the rest is the dev box's own (the file is sparse).
const GROWTH: u64 = 3 << 30;
const LOG: &str = "build.log";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid image name: {0}")]
    InvalidName(String),
    #[error("an image named `{0}` exists (or is being built)")]
    Exists(String),
    #[error("no image named `{0}` (see `banger image list`)")]
    BaseNotFound(String),
    #[error(
        "image build provisions Debian images that boot with systemd; `{base}` is {found} (build Alpine and Void images with their make helpers)"
    )]
    Unsupported { base: String, found: String },
    #[error("--size {want} bytes is smaller than the base's rootfs ({have} bytes)")]
    TooSmall { want: u64, have: u64 },
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Debs(#[from] debs::DebsError),
    #[error("{step}")]
    Vm {
        step: &'static str,
        #[source]
        source: VmError,
    },
    #[error("{step}: the build VM's agent failed; last lines of the build log:\n{tail}")]
    Agent {
        step: String,
        tail: String,
        #[source]
        source: AgentError,
    },
    #[error(
        "provisioning failed at step `{step}` (exit status {status}); last lines of the build log:\n{tail}"
    )]
    Provision {
        step: String,
        status: i32,
        tail: String,
    },
    #[error("cancelled at step `{0}` (the client went away); nothing was kept")]
    Cancelled(String),
    #[error("the built root filesystem fails e2fsck: {0}")]
    Fsck(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BuildError {
    pub fn kind(&self) -> banger_api::ErrorKind {
        use banger_api::ErrorKind as K;
        match self {
            BuildError::InvalidName(_) | BuildError::TooSmall { .. } => K::BadRequest,
            BuildError::Exists(_) | BuildError::Store(StoreError::ImageExists(_)) => K::Conflict,
            BuildError::BaseNotFound(_) => K::NotFound,
            BuildError::Unsupported { .. } | BuildError::Debs(debs::DebsError::Base { .. }) => {
                K::BadRequest
            }
            BuildError::Vm { source, .. } => source.kind(),
            _ => K::Internal,
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// Tells the build that its client went away.
pub trait Cancel: Send + Sync {
    fn is_cancelled(&self) -> bool;
}

pub async fn build(
    env: &VmEnv<'_>,
    cache: &fetch::Cache,
    req: BuildImage,
    cancel: &dyn Cancel,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Image, BuildError> {
    banger_config::config::check_name(&req.name).map_err(BuildError::InvalidName)?;
    if env.store.image(&req.name)?.is_some() {
        return Err(BuildError::Exists(req.name));
    }
    let base = base_image(env, &req.from_image)?;
    let base_bytes = std::fs::metadata(&base.rootfs)
        .map_err(io(format!("reading {}", base.rootfs)))?
        .len();
    let size = req.size_bytes.unwrap_or(base_bytes + GROWTH);
    if size < base_bytes {
        return Err(BuildError::TooSmall {
            want: size,
            have: base_bytes,
        });
    }
    let pins = tools::pins();
    fetch::ensure(cache, &pins, progress).await?;
    let docker = match req.docker {
        true => Some(docker_inputs(env, cache, &base, progress).await?),
        false => None,
    };

    let staging = Staging::new(env.paths, &format!("build-{}", req.name))
        .map_err(io("creating a staging directory"))?;
    let taken: Vec<String> = env.store.vms()?.into_iter().map(|v| v.name).collect();
    let vm_name = (0..)
        .map(|n| match n {
            0 => format!("build-{}", req.name),
            n => format!("build-{}-{n}", req.name),
        })
        .find(|n| !taken.contains(n))
        .expect("a free name");
    let row = BuildRow {
        name: req.name.clone(),
        vm_name: vm_name.clone(),
        staging: staging.path().display().to_string(),
        started_at: crate::clock::unix_now(),
    };
    env.store.begin_build(&row)?;
    crate::fault::point("image-build:recorded");
    let started = Instant::now();
    let mut run = Run {
        env,
        cache,
        pins: &pins,
        base: &base,
        vm_name: &vm_name,
        size,
        staging: &staging,
        cancel,
        docker: docker.as_ref(),
        step: "creating the build VM".into(),
        started,
        log: None,
    };
    let built = run.steps(&req, progress).await;
    let result = match built {
        Ok(tools) => {
            progress(Progress::step(
                Stage::Store,
                format!("publishing image {}", req.name),
            ));
            let seconds = started.elapsed().as_secs();
            publish(env, &base, &req.name, staging, tools, seconds)
        }
        Err(e) => Err(e),
    };
    // Whatever happened, the build VM goes (with its TAP, address, disks).
    if let Err(e) = remove_vm(env, &vm_name).await {
        tracing::warn!(vm = %vm_name, error = %e, "removing the build VM");
    }
    env.store.end_build(&req.name)?;
    match &result {
        Ok(i) => tracing::info!(image = %i.name, from = %base.name, "built image"),
        Err(e) => tracing::warn!(image = %req.name, error = %e, "image build failed; nothing kept"),
    }
    result
}

/// The registered image `name`, checked as a base (Debian with systemd).
pub fn base_image(env: &VmEnv<'_>, name: &str) -> Result<Image, BuildError> {
    let base = env
        .store
        .image(name)?
        .ok_or_else(|| BuildError::BaseNotFound(name.to_owned()))?;
    check_base(&base)?;
    Ok(base)
}

/// The Debian/systemd check, made on the base's disk before anything boots.
fn check_base(base: &Image) -> Result<(), BuildError> {
    let rootfs = Path::new(&base.rootfs);
    let asked = [
        "/etc/debian_version",
        "/lib/systemd/systemd",
        "/usr/lib/systemd/systemd",
    ];
    let there = crate::disk::debugfs::stat_sizes(rootfs, &asked).map_err(|e| BuildError::Io {
        what: format!("reading {}", rootfs.display()),
        source: std::io::Error::other(e),
    })?;
    if there[0].is_some() && (there[1].is_some() || there[2].is_some()) {
        return Ok(());
    }
    let found = crate::disk::debugfs::cat(rootfs, "/etc/os-release")
        .ok()
        .flatten()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .map(|n| match there[0] {
            Some(_) => format!("{n} without systemd"),
            None => n,
        })
        .unwrap_or_else(|| "not a Debian system (no /etc/debian_version)".into());
    Err(BuildError::Unsupported {
        base: base.name.clone(),
        found,
    })
}

/// What `--docker` adds to the inputs: Debian's `docker.io` with what it
/// needs (resolved against the base), and the base kernel's modules.
#[derive(Debug)]
pub struct DockerInputs {
    pub codename: String,
    pub debs: Vec<std::path::PathBuf>,
    pub modules: Option<std::path::PathBuf>,
}

/// The Docker packages for `base` into the build cache (downloaded once,
/// then reused offline); its kernel's modules located.
pub async fn docker_inputs(
    env: &VmEnv<'_>,
    cache: &fetch::Cache,
    base: &Image,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<DockerInputs, BuildError> {
    let rootfs = std::path::PathBuf::from(&base.rootfs);
    let codename = debs::codename(&rootfs)?;
    progress(Progress::step(
        Stage::Download,
        format!(
            "docker.io for Debian {codename} (apt, from {}, into {})",
            cache.debian_mirror,
            cache.dir.join("apt").display()
        ),
    ));
    let (dir, mirror) = (cache.dir.clone(), cache.debian_mirror.clone());
    // apparmor: Debian's kernel enables AppArmor, and the engine then
    // refuses to run containers without apparmor_parser to load its
    // profile (docker.io only recommends it).
    let debs = tokio::task::spawn_blocking(move || {
        debs::fetch(&dir, &mirror, &rootfs, &["docker.io", "apparmor"])
    })
    .await
    .expect("the apt run does not panic")?;
    let modules = base
        .modules
        .as_deref()
        .map(std::path::PathBuf::from)
        .or_else(|| {
            base.kernel_ref
                .as_deref()
                .map(|k| env.paths.kernel_dir(k).modules())
        })
        .filter(|m| m.is_dir());
    Ok(DockerInputs {
        codename,
        debs,
        modules,
    })
}

struct Run<'a, 'e> {
    env: &'a VmEnv<'e>,
    cache: &'a fetch::Cache,
    pins: &'a tools::Pins,
    base: &'a Image,
    vm_name: &'a str,
    size: u64,
    staging: &'a Staging,
    cancel: &'a dyn Cancel,
    docker: Option<&'a DockerInputs>,
    /// The step under way, for errors.
    step: String,
    started: Instant,
    log: Option<std::fs::File>,
}

impl Run<'_, '_> {
    fn at(
        &mut self,
        step: &str,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), BuildError> {
        if self.cancel.is_cancelled() {
            return Err(BuildError::Cancelled(self.step.clone()));
        }
        self.step = step.to_owned();
        let at = self.started.elapsed().as_secs_f64();
        self.write_log(&format!("== [+{at:.1}s] {step}\n"));
        progress(Progress::step(Stage::Build, step));
        Ok(())
    }

    fn write_log(&mut self, text: &str) {
        if let Some(f) = &mut self.log {
            let _ = f.write_all(text.as_bytes());
        }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(self.staging.path().join(LOG)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    async fn steps(
        &mut self,
        req: &BuildImage,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Vec<BuiltTool>, BuildError> {
        self.log = Some(
            std::fs::File::create(self.staging.path().join(LOG))
                .map_err(io("creating the build log"))?,
        );
        self.write_log(&format!(
            "banger image build: {} from {} ({})\n",
            req.name,
            self.base.name,
            self.pins
                .tools
                .iter()
                .map(|t| t.spec())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        // The build VM gets no credentials: the host user's secrets have
        // no business near package install scripts.
        let paths = Paths {
            home: None,
            ..self.env.paths.clone()
        };
        let env = VmEnv {
            paths: &paths,
            ..*self.env
        };

        self.at("creating the build VM", progress)?;
        let create = CreateVm {
            image: Some(self.base.name.clone()),
            name: Some(self.vm_name.to_owned()),
            no_start: true,
            memory_mib: Some(2048),
            ..Default::default()
        };
        let vm = crate::vm::create(&env, create, progress)
            .await
            .map_err(|source| BuildError::Vm {
                step: "creating the build VM",
                source,
            })?;
        let rootfs = self.env.paths.vm_dir(&vm.id).rootfs();
        self.at(
            &format!("growing the root filesystem to {} MiB", self.size >> 20),
            progress,
        )?;
        crate::disk::grow_ext4(&rootfs, self.size).map_err(|e| BuildError::Io {
            what: "growing the build VM's root filesystem".into(),
            source: std::io::Error::other(e),
        })?;

        self.at("putting the tools on the build VM's work disk", progress)?;
        let work = self.env.paths.vm_dir(&vm.id).work();
        self.work_disk(&work)?;
        crate::fault::point("image-build:vm-made");

        self.at("booting the build VM", progress)?;
        crate::vm::start(&env, self.vm_name, progress)
            .await
            .map_err(|source| BuildError::Vm {
                step: "booting the build VM",
                source,
            })?;
        crate::fault::point("image-build:booted");
        let (row, agent) =
            crate::vm::running(&env, self.vm_name).map_err(|source| BuildError::Vm {
                step: "booting the build VM",
                source,
            })?;
        // A guest stuck on its disk ends the build with that reason instead
        // of holding it for ever (vmm::stall).
        let stall = crate::vmm::stall::StallWatch::new(
            self.env.paths.vm_dir(&row.id).console(),
            row.vmm_pid.unwrap_or_default(),
        );

        self.at("provisioning", progress)?;
        let tools = self.provision(&agent, stall, progress).await?;

        self.at("shutting the build VM down", progress)?;
        crate::vm::stop(&env, self.vm_name, progress)
            .await
            .map_err(|source| BuildError::Vm {
                step: "shutting the build VM down",
                source,
            })?;
        self.at("checking the root filesystem (e2fsck)", progress)?;
        fsck(&rootfs)?;
        std::fs::rename(&rootfs, self.staging.path().join(ImageDir::ROOTFS))
            .map_err(io("moving the built root filesystem"))?;
        Ok(tools)
    }

    /// The build VM's work disk (its /root, never published) remade on the
    /// host with the inputs in `.banger-build/`: node, npm's tarball, the
    /// installed tools and the script, by `mkfs.ext4 -d` at native speed
    /// (streaming 1.1 GiB through the agent into an emulated guest took
    /// minutes); then banger's SSH key, as any VM's work disk has it.
    fn work_disk(&self, work: &Path) -> Result<(), BuildError> {
        let root = self.staging.path().join("inputs");
        let inputs = root.join(".banger-build");
        std::fs::create_dir_all(&inputs).map_err(io("making the inputs directory"))?;
        fetch::unpack_node(&self.cache.tarball(&self.pins.node), &inputs)?;
        std::fs::rename(inputs.join("bin/node"), inputs.join("node"))
            .map_err(io("placing node"))?;
        let _ = std::fs::remove_dir(inputs.join("bin"));
        std::fs::copy(self.cache.tarball(&self.pins.npm), inputs.join("npm.tgz"))
            .map_err(io("copying npm's tarball"))?;
        write_script(&inputs.join("provision.sh"))?;
        // Hard links where the cache shares the filesystem (the default),
        // a copy otherwise.
        let tools = self.cache.tools(self.pins);
        let linked = std::process::Command::new("cp")
            .arg("-al")
            .arg(&tools)
            .arg(inputs.join("tools"))
            .status()
            .is_ok_and(|s| s.success());
        if !linked {
            let _ = std::fs::remove_dir_all(inputs.join("tools"));
            run_tool(
                std::process::Command::new("cp")
                    .arg("-a")
                    .arg(&tools)
                    .arg(inputs.join("tools")),
            )?;
        }
        if let Some(d) = self.docker {
            let dir = inputs.join("debs");
            std::fs::create_dir_all(&dir).map_err(io("making the debs directory"))?;
            for deb in &d.debs {
                let to = dir.join(deb.file_name().expect("a file"));
                if std::fs::hard_link(deb, &to).is_err() {
                    std::fs::copy(deb, &to).map_err(io(format!("copying {}", deb.display())))?;
                }
            }
            if let Some(m) = &d.modules {
                run_tool(
                    std::process::Command::new("cp")
                        .arg("-a")
                        .arg(m)
                        .arg(inputs.join("modules")),
                )?;
            }
        }
        let mut mkfs = std::process::Command::new("mkfs.ext4");
        mkfs.args(["-q", "-F", "-L", "work", "-E", "root_owner=0:0", "-d"])
            .arg(&root)
            .arg(work)
            .arg("8G");
        let made = run_tool(&mut mkfs);
        let _ = std::fs::remove_dir_all(&root);
        made?;
        crate::vm::inject::inject_work_disk(work, self.env.ssh_public).map_err(|e| BuildError::Io {
            what: "putting banger's key on the build VM's work disk".into(),
            source: std::io::Error::other(e),
        })
    }

    /// provision.sh through the agent, its output into the log as it comes
    /// and its `::step::` lines as progress.
    async fn provision(
        &mut self,
        agent: &crate::agent::AgentClient,
        mut stall: crate::vmm::stall::StallWatch,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Vec<BuiltTool>, BuildError> {
        let script = format!("{GUEST_INPUTS}/provision.sh");
        let specs: Vec<String> = self.pins.tools.iter().map(|t| t.spec()).collect();
        let mut commands: Vec<&str> = self.pins.tools.iter().map(|t| t.command.as_str()).collect();
        if self.docker.is_some() {
            commands.push("docker");
        }
        let argv = vec![
            "env".to_owned(),
            format!("NODE_VERSION={}", self.pins.node.version),
            format!("NPM_VERSION={}", self.pins.npm.version),
            format!("NPM_REGISTRY={}", self.cache.registry),
            format!("TOOL_SPECS={}", specs.join(" ")),
            format!("TOOL_COMMANDS={}", commands.join(" ")),
            format!("DOCKER={}", u8::from(self.docker.is_some())),
            "sh".into(),
            script,
        ];
        struct Seen {
            log: Option<std::fs::File>,
            step: String,
            tools: Vec<(String, String)>,
            pending: String,
        }
        let started = self.started;
        let seen = std::sync::Mutex::new(Seen {
            log: self.log.take(),
            step: self.step.clone(),
            tools: Vec::new(),
            pending: String::new(),
        });
        let status = {
            let mut on_output = |_: FrameKind, bytes: &[u8]| {
                let mut seen = seen.lock().expect("not poisoned");
                if let Some(f) = &mut seen.log {
                    let _ = f.write_all(bytes);
                }
                seen.pending.push_str(&String::from_utf8_lossy(bytes));
                // A line that never ends is not a step marker: not kept.
                if !seen.pending.contains('\n') && seen.pending.len() > 64 * 1024 {
                    seen.pending.clear();
                }
                while let Some(nl) = seen.pending.find('\n') {
                    let line: String = seen.pending.drain(..=nl).collect();
                    let line = line.trim_end();
                    if let Some(s) = line.strip_prefix("::step:: ") {
                        let at = started.elapsed().as_secs_f64();
                        if let Some(f) = &mut seen.log {
                            let _ = writeln!(f, "== [+{at:.1}s] {s}");
                        }
                        seen.step = s.to_owned();
                        progress(Progress::step(Stage::Build, s));
                    } else if let Some(t) = line.strip_prefix("::tool:: ")
                        && let Some((command, version)) = t.split_once('\t')
                    {
                        seen.tools.push((command.to_owned(), version.to_owned()));
                    }
                }
                Ok(())
            };
            let exec = agent.exec_streaming(&argv, Some(GUEST_INPUTS), &mut on_output);
            tokio::pin!(exec);
            loop {
                tokio::select! {
                    s = &mut exec => break Some(s),
                    _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                        if self.cancel.is_cancelled() {
                            break None;
                        }
                        if let Some(s) = stall.check() {
                            break Some(Err(s.into()));
                        }
                    }
                }
            }
        };
        let seen = seen.into_inner().expect("not poisoned");
        self.log = seen.log;
        self.step = seen.step;
        let tools = seen.tools;
        let status = match status {
            None => return Err(BuildError::Cancelled(self.step.clone())),
            Some(Ok(s)) => s,
            Some(Err(source)) => {
                return Err(BuildError::Agent {
                    step: self.step.clone(),
                    tail: self.tail(),
                    source,
                });
            }
        };
        if status != 0 {
            return Err(BuildError::Provision {
                step: self.step.clone(),
                status,
                tail: self.tail(),
            });
        }
        let version = |command: &str| {
            tools
                .iter()
                .find(|(c, _)| *c == command)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut built: Vec<BuiltTool> = self
            .pins
            .tools
            .iter()
            .map(|t| BuiltTool {
                command: t.command.clone(),
                package: t.spec(),
                version: version(&t.command),
            })
            .collect();
        if let Some(d) = self.docker {
            built.push(BuiltTool {
                command: "docker".into(),
                package: format!("docker.io (Debian {})", d.codename),
                version: version("docker"),
            });
        }
        Ok(built)
    }
}

fn write_script(path: &Path) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, PROVISION_SH).map_err(io("writing provision.sh"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(io("writing provision.sh"))
}

/// A host tool that must succeed; its stderr is the error.
fn run_tool(cmd: &mut std::process::Command) -> Result<(), BuildError> {
    let what = format!("{cmd:?}");
    let out = cmd.output().map_err(io(format!("running {what}")))?;
    if !out.status.success() {
        return Err(BuildError::Io {
            what: format!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim()),
            source: std::io::Error::other("failed"),
        });
    }
    Ok(())
}

fn fsck(rootfs: &Path) -> Result<(), BuildError> {
    let out = std::process::Command::new("e2fsck")
        .args(["-fn"])
        .arg(rootfs)
        .output()
        .map_err(io("running e2fsck"))?;
    if !out.status.success() {
        return Err(BuildError::Fsck(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// The staged rootfs and log, the base's work-seed and kernel files, into
/// a new managed image.
fn publish(
    env: &VmEnv<'_>,
    base: &Image,
    name: &str,
    staging: Staging,
    tools: Vec<BuiltTool>,
    seconds: u64,
) -> Result<Image, BuildError> {
    let id = crate::staging::random_hex(8);
    let dest = env.paths.image_dir(&id);
    let copy = |from: &str, file: &str| -> Result<String, BuildError> {
        let to = staging.path().join(file);
        let from = Path::new(from);
        if from.is_dir() {
            crate::disk::copy_tree(from, &to).map(drop)
        } else {
            crate::disk::clone_file(from, &to, &mut |_, _| {}).map(drop)
        }
        .map_err(io(format!("copying {} into the image", from.display())))?;
        Ok(dest.join(file).display().to_string())
    };
    let work_seed = base
        .work_seed
        .as_deref()
        .map(|s| copy(s, ImageDir::WORK_SEED))
        .transpose()?;
    let kernel = base
        .kernel
        .as_deref()
        .map(|k| copy(k, ImageDir::KERNEL))
        .transpose()?;
    let initrd = base
        .initrd
        .as_deref()
        .map(|k| copy(k, ImageDir::INITRD))
        .transpose()?;
    let modules = base
        .modules
        .as_deref()
        .map(|k| copy(k, ImageDir::MODULES))
        .transpose()?;
    let rootfs_bytes = std::fs::metadata(staging.path().join(ImageDir::ROOTFS))
        .map_err(io("reading the built rootfs"))?
        .len();
    staging
        .commit(&dest)
        .map_err(io(format!("moving the image into {}", dest.display())))?;
    let image = Image {
        id,
        name: name.to_owned(),
        managed: true,
        rootfs: dest.rootfs().display().to_string(),
        work_seed,
        kernel,
        initrd,
        modules,
        kernel_ref: base.kernel_ref.clone(),
        source: None,
        rootfs_bytes,
        created_at: crate::clock::unix_now(),
        build: Some(BuildInfo {
            from_image: base.name.clone(),
            tools,
            log: dest.join(LOG).display().to_string(),
            seconds,
        }),
    };
    if let Err(e) = env.store.insert_image(&image) {
        let _ = crate::staging::remove_atomically(env.paths, &dest);
        return Err(e.into());
    }
    Ok(image)
}

async fn remove_vm(env: &VmEnv<'_>, name: &str) -> Result<(), VmError> {
    match crate::vm::delete(env, name, true).await {
        Ok(_) | Err(VmError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// At daemon start: what builds a killed daemon left (their build VMs and
/// staging directories) goes; no image was recorded for them.
pub async fn recover(env: &VmEnv<'_>) -> Result<usize, BuildError> {
    let builds = env.store.builds()?;
    for b in &builds {
        if let Err(e) = remove_vm(env, &b.vm_name).await {
            tracing::warn!(vm = %b.vm_name, error = %e, "removing an interrupted build's VM");
        }
        let _ = std::fs::remove_dir_all(&b.staging);
        env.store.end_build(&b.name)?;
        tracing::warn!(image = %b.name, vm = %b.vm_name, "removed what an interrupted image build left");
    }
    Ok(builds.len())
}
