//! Long-lived sessions: the agent owns each one (the process, its pipes,
//! its exit status) and keeps its stdout and stderr in log files on the
//! guest disk, so clients and even the daemon may come and go.
//!
//! Logs: `<state dir>/<name>/stdout.log` and `stderr.log`, each rotated to
//! `.1` once it reaches LOG_CAP bytes (so at most about twice that per
//! stream, and never less than the last LOG_CAP).
//!
//! An attached client is fed through an `Outbox` (a bounded queue with its
//! own writer thread): a client that stops reading is let go, never the
//! session stalled; a new attach replays what earlier clients were not
//! sent, from the rotated log too.

use crate::outbox::{Outbox, Pushed};
use banger_agent_proto::{
    Frame, FrameKind, LogStream, Response, SessionInfo, SessionState, StdinMode, write_frame,
};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const LOG_CAP: u64 = if cfg!(test) { 64 << 10 } else { 8 << 20 };
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Who is attached, and how far each stream has been delivered to a
/// client (bytes since the start), so a new attach replays the rest.
#[derive(Default)]
struct Attach {
    out: Option<Outbox>,
    /// Which attach this is (a writer of an earlier one must not count).
    generation: u64,
    holder: String,
    since: u64,
    total: [u64; 2],
    delivered: [u64; 2],
}

struct Session {
    info: Mutex<SessionInfo>,
    attach: Arc<Mutex<Attach>>,
    dir: PathBuf,
    /// The write end of a `pipe` session's stdin.
    stdin: Mutex<Option<ChildStdin>>,
}

fn registry() -> &'static Mutex<HashMap<String, Arc<Session>>> {
    static R: OnceLock<Mutex<HashMap<String, Arc<Session>>>> = OnceLock::new();
    R.get_or_init(Mutex::default)
}

/// Where logs live: on the guest's disk, or BANGER_AGENT_STATE (tests).
fn state_dir() -> PathBuf {
    std::env::var_os("BANGER_AGENT_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/banger/sessions"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn get(name: &str) -> Result<Arc<Session>, String> {
    lock(registry())
        .get(name)
        .cloned()
        .ok_or_else(|| format!("no session named `{name}`"))
}

/// `cmd` as PATH lookup would find it (or as given, with a slash).
fn resolves(cmd: &str, path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if cmd.contains('/') {
        return executable(Path::new(cmd));
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .any(|d| executable(&Path::new(d).join(cmd)))
}

pub struct StartRequest {
    pub name: String,
    pub argv: Vec<String>,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    pub stdin_mode: StdinMode,
    pub require: Vec<String>,
}

pub fn start(req: StartRequest) -> Result<SessionInfo, String> {
    let ok_name = !req.name.is_empty()
        && req.name.len() <= 64
        && !req.name.starts_with(['.', '-'])
        && req
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok_name {
        return Err(format!(
            "`{}` is not a valid session name (1-64 of a-z A-Z 0-9 . _ -, not starting with . or -)",
            req.name
        ));
    }
    let Some(program) = req.argv.first() else {
        return Err("no command given".into());
    };
    // Preflight: everything missing, in one answer, before anything starts.
    let path = req
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let mut missing = Vec::new();
    if let Some(cwd) = &req.cwd
        && !Path::new(cwd).is_dir()
    {
        missing.push(format!("directory {cwd}"));
    }
    for cmd in std::iter::once(program).chain(&req.require) {
        if !resolves(cmd, &path) && !missing.contains(&format!("command {cmd}")) {
            missing.push(format!("command {cmd}"));
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "session `{}` not started: missing {}",
            req.name,
            missing.join(", ")
        ));
    }
    let mut sessions = lock(registry());
    if let Some(s) = sessions.get(&req.name)
        && lock(&s.info).state == SessionState::Running
    {
        return Err(format!("a session named `{}` is running", req.name));
    }
    let dir = state_dir().join(&req.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut cmd = Command::new(program);
    cmd.args(&req.argv[1..])
        .envs(req.env.iter().cloned())
        .stdin(match req.stdin_mode {
            StdinMode::Detached => Stdio::null(),
            StdinMode::Pipe => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: stop and kill reach its children too.
        .process_group(0);
    if std::env::var_os("PATH").is_none() && !req.env.iter().any(|(k, _)| k == "PATH") {
        cmd.env("PATH", DEFAULT_PATH);
    }
    if let Some(cwd) = &req.cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting {program}: {e}"))?;
    let info = SessionInfo {
        name: req.name.clone(),
        argv: req.argv.clone(),
        cwd: req.cwd.clone(),
        stdin_mode: req.stdin_mode,
        pid: child.id(),
        state: SessionState::Running,
        started_at: now(),
        ended_at: None,
        exit_code: None,
        exit_signal: None,
        ended_by: None,
    };
    let attach = Arc::new(Mutex::new(Attach::default()));
    let session = Arc::new(Session {
        info: Mutex::new(info.clone()),
        attach: attach.clone(),
        dir: dir.clone(),
        stdin: Mutex::new(child.stdin.take()),
    });
    let pumps = [
        pump(
            child.stdout.take().expect("piped"),
            dir.join("stdout.log"),
            attach.clone(),
            0,
        ),
        pump(
            child.stderr.take().expect("piped"),
            dir.join("stderr.log"),
            attach.clone(),
            1,
        ),
    ];
    let waiter = session.clone();
    std::thread::spawn(move || {
        let status = child.wait();
        for p in pumps {
            let _ = p.join();
        }
        let mut info = lock(&waiter.info);
        info.state = SessionState::Exited;
        info.ended_at = Some(now());
        if let Ok(s) = status {
            info.exit_code = s.code();
            info.exit_signal = s.signal();
        }
        lock(&waiter.stdin).take();
        // An attached client learns how it ended, then is let go.
        if let Some(out) = lock(&waiter.attach).out.take() {
            out.finish(Some(Frame::response(&Response::Exit {
                code: info.exit_code,
                signal: info.exit_signal,
            })));
        }
    });
    sessions.insert(req.name, session);
    Ok(info)
}

/// Copies a pipe into its log file, rotating it at LOG_CAP, and to the
/// attached client's outbox if there is one (never waiting for the client).
fn pump(
    mut from: impl Read + Send + 'static,
    log: PathBuf,
    attach: Arc<Mutex<Attach>>,
    stream: usize,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let open = |p: &Path| OpenOptions::new().create(true).append(true).open(p);
        let Ok(mut out) = open(&log) else { return };
        let mut written = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // Under the attach lock: an attach replays and goes live between
            // two chunks, never in the middle of one (nor of a rotation).
            let mut a = lock(&attach);
            if out.write_all(&buf[..n]).is_err() {
                return;
            }
            written += n as u64;
            // Rotated once past the cap, after the write: `.1` then holds at
            // least LOG_CAP bytes, so the two generations always keep the
            // last LOG_CAP whatever sizes the pipe's reads came in (rotating
            // before a write could leave `.1` with one small read).
            if written >= LOG_CAP {
                let _ = std::fs::rename(&log, log.with_extension("log.1"));
                match open(&log) {
                    Ok(f) => out = f,
                    Err(_) => return,
                }
                written = 0;
            }
            a.total[stream] += n as u64;
            let kind = [FrameKind::Stdout, FrameKind::Stderr][stream];
            let upto = a.total[stream];
            if let Some(out) = a.out.as_ref()
                && out.push(Frame::data(kind, &buf[..n]), stream, upto) == Pushed::Dropped
            {
                a.out = None;
                a.holder.clear();
            }
        }
    })
}

pub fn list() -> Vec<SessionInfo> {
    let mut all: Vec<SessionInfo> = lock(registry())
        .values()
        .map(|s| lock(&s.info).clone())
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

fn signal_group(pid: u32, signal: i32) -> Result<(), String> {
    // SAFETY: kill(2) on the session's own process group.
    if unsafe { libc::kill(-(pid as i32), signal) } != 0 {
        return Err(format!(
            "signal {signal}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

pub fn signal(name: &str, signal: i32) -> Result<(), String> {
    let s = get(name)?;
    let info = lock(&s.info).clone();
    if info.state != SessionState::Running {
        return Err(format!("session `{name}` is not running"));
    }
    signal_group(info.pid, signal)
}

fn wait_exit(s: &Session, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if lock(&s.info).state != SessionState::Running {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    lock(&s.info).state != SessionState::Running
}

/// SIGTERM, then SIGKILL after `grace`; says which ended it.
pub fn stop(name: &str, grace: Duration) -> Result<SessionInfo, String> {
    let s = get(name)?;
    let pid = {
        let info = lock(&s.info);
        if info.state != SessionState::Running {
            return Ok(info.clone());
        }
        info.pid
    };
    signal_group(pid, libc::SIGTERM)?;
    let by = if wait_exit(&s, grace) {
        "SIGTERM"
    } else {
        let _ = signal_group(pid, libc::SIGKILL);
        wait_exit(&s, Duration::from_secs(10));
        "SIGKILL"
    };
    let mut info = lock(&s.info);
    info.ended_by = Some(by.into());
    Ok(info.clone())
}

/// Sends the logs as frames: `tail` lines of each stream, then (with
/// `follow`) what is appended until the session has ended.
pub fn logs(
    conn: &mut File,
    name: &str,
    stream: Option<LogStream>,
    tail: Option<u64>,
    follow: bool,
) -> Result<(), String> {
    let s = get(name)?;
    let streams: Vec<(FrameKind, PathBuf)> = [
        (LogStream::Stdout, FrameKind::Stdout, "stdout.log"),
        (LogStream::Stderr, FrameKind::Stderr, "stderr.log"),
    ]
    .into_iter()
    .filter(|(st, _, _)| stream.is_none_or(|want| want == *st))
    .map(|(_, kind, file)| (kind, s.dir.join(file)))
    .collect();
    let send = |conn: &mut File, kind: FrameKind, data: &[u8]| {
        data.chunks(64 * 1024)
            .try_for_each(|c| write_frame(conn, &Frame::data(kind, c)).map_err(|e| e.to_string()))
    };
    let mut offsets = Vec::new();
    for (kind, path) in &streams {
        let data = std::fs::read(path).unwrap_or_default();
        let from = match tail {
            Some(n) => tail_start(&data, n),
            None => 0,
        };
        send(conn, *kind, &data[from..])?;
        offsets.push(data.len() as u64);
    }
    loop {
        if !follow {
            break;
        }
        let ended = lock(&s.info).state != SessionState::Running;
        for ((kind, path), offset) in streams.iter().zip(offsets.iter_mut()) {
            let Ok(mut f) = File::open(path) else {
                continue;
            };
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < *offset {
                *offset = 0; // rotated
            }
            if len > *offset {
                let mut data = Vec::new();
                f.seek(SeekFrom::Start(*offset))
                    .and_then(|_| f.read_to_end(&mut data))
                    .map_err(|e| e.to_string())?;
                send(conn, *kind, &data)?;
                *offset += data.len() as u64;
            }
        }
        if ended {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    write_frame(conn, &Frame::response(&Response::Ok)).map_err(|e| e.to_string())
}

/// Attaches `conn` to a pipe session: replays what was not delivered yet,
/// then feeds the session's stdin from the connection until it closes.
pub fn attach(mut conn: File, name: &str, holder: &str) -> Result<(), String> {
    let s = get(name)?;
    let info = lock(&s.info).clone();
    if info.stdin_mode != StdinMode::Pipe {
        return Err(format!(
            "session `{name}` has stdin mode detached; only pipe sessions can be attached"
        ));
    }
    if info.state != SessionState::Running {
        return Err(format!("session `{name}` is not running"));
    }
    let generation = {
        let mut a = lock(&s.attach);
        if a.out.is_some() {
            return Err(format!(
                "session `{name}` is attached by {} since {}; only one attach at a time",
                a.holder, a.since
            ));
        }
        write_frame(&mut conn, &Frame::response(&Response::Ok)).map_err(|e| e.to_string())?;
        a.generation += 1;
        let generation = a.generation;
        let counter = s.attach.clone();
        let out = Outbox::start(
            conn.try_clone().map_err(|e| e.to_string())?,
            move |stream, upto| {
                let mut a = lock(&counter);
                if a.generation == generation {
                    a.delivered[stream] = a.delivered[stream].max(upto);
                }
            },
        )
        .map_err(|e| e.to_string())?;
        // Under the lock: no output is written between the replay and the
        // live feed, so the client sees each byte once, in order.
        for (i, kind) in [FrameKind::Stdout, FrameKind::Stderr]
            .into_iter()
            .enumerate()
        {
            let log = s.dir.join(["stdout.log", "stderr.log"][i]);
            let data = unsent(&log, a.total[i], a.delivered[i]);
            let mut upto = a.total[i] - data.len() as u64;
            for chunk in data.chunks(64 * 1024) {
                upto += chunk.len() as u64;
                out.replay(Frame::data(kind, chunk), i, upto);
            }
        }
        a.out = Some(out);
        a.holder = holder.to_owned();
        a.since = now();
        generation
    };
    // Stdin frames to the session until the client goes (= detach).
    loop {
        match banger_agent_proto::read_frame(&mut conn) {
            Ok(Some(f)) if f.kind == FrameKind::Stdin && f.payload.is_empty() => {
                lock(&s.stdin).take();
            }
            Ok(Some(f)) if f.kind == FrameKind::Stdin => {
                let mut stdin = lock(&s.stdin);
                if let Some(w) = stdin.as_mut()
                    && w.write_all(&f.payload).is_err()
                {
                    stdin.take();
                }
            }
            _ => break,
        }
    }
    let mut a = lock(&s.attach);
    if a.generation == generation {
        if let Some(out) = a.out.take() {
            out.finish(None);
        }
        a.holder.clear();
    }
    Ok(())
}

/// The last `total - delivered` bytes of a stream whose log is `log` (and,
/// rotated, `log.1` before it): what no client was sent, as far as the
/// logs still hold it.
fn unsent(log: &Path, total: u64, delivered: u64) -> Vec<u8> {
    let want = total.saturating_sub(delivered);
    if want == 0 {
        return Vec::new();
    }
    let mut data = std::fs::read(log).unwrap_or_default();
    if (data.len() as u64) < want
        && let Ok(mut older) = std::fs::read(log.with_extension("log.1"))
    {
        older.extend_from_slice(&data);
        data = older;
    }
    let keep = (want as usize).min(data.len());
    data.split_off(data.len() - keep)
}

/// Where the last `n` lines of `data` start.
fn tail_start(data: &[u8], n: u64) -> usize {
    if n == 0 {
        return data.len();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use banger_agent_proto::read_frame;
    use std::os::unix::net::UnixStream;

    fn state() {
        static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
        let d = DIR.get_or_init(|| tempfile::tempdir().unwrap());
        // SAFETY: every test sets the same value before starting sessions.
        unsafe { std::env::set_var("BANGER_AGENT_STATE", d.path()) };
    }

    fn pipe_session(name: &str, script: &str) {
        state();
        start(StartRequest {
            name: name.into(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: None,
            env: vec![],
            stdin_mode: StdinMode::Pipe,
            require: vec![],
        })
        .unwrap();
    }

    /// Attaches from a thread; the test's end of the connection.
    fn attach_client(name: &str) -> UnixStream {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let name = name.to_owned();
        std::thread::spawn(move || {
            attach(
                File::from(std::os::fd::OwnedFd::from(theirs)),
                &name,
                "test",
            )
        });
        let mut c = ours;
        let f = read_frame(&mut c).unwrap().unwrap();
        assert!(matches!(f.as_response(), Ok(Response::Ok)), "{f:?}");
        c
    }

    fn ended(name: &str, within: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < within {
            if get(name).is_ok_and(|s| lock(&s.info).state == SessionState::Exited) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_client_that_stops_reading_is_let_go_and_the_session_runs_on() {
        pipe_session("stalled", "read x; head -c 12000000 /dev/zero; echo done");
        let mut c = attach_client("stalled");
        banger_agent_proto::write_frame(&mut c, &Frame::data(FrameKind::Stdin, b"go\n")).unwrap();
        // The test reads nothing until the session has ended: before the
        // outbox, the session stalled on its full stdout pipe here.
        assert!(
            ended("stalled", Duration::from_secs(20)),
            "the session stalled"
        );
        let s = get("stalled").unwrap();
        let log = std::fs::read(s.dir.join("stdout.log")).unwrap();
        assert!(log.ends_with(b"done\n"), "the logs still get everything");
        let (mut bytes, mut last) = (0usize, None);
        while let Ok(Some(f)) = read_frame(&mut c) {
            match f.kind {
                FrameKind::Stdout => bytes += f.payload.len(),
                _ => last = Some(f),
            }
        }
        assert!(
            (crate::outbox::CAP..12_000_000).contains(&bytes),
            "{bytes} bytes reached it"
        );
        let msg = format!("{:?}", last.unwrap().as_response().unwrap());
        assert!(msg.contains("fell 4 MiB behind"), "{msg}");
        assert!(lock(&s.attach).out.is_none(), "detached");
    }

    #[test]
    fn a_new_attach_replays_what_nobody_was_sent_rotated_log_included() {
        pipe_session("replay", "seq 1 20000; read x; echo after");
        let s = get("replay").unwrap();
        let t = Instant::now();
        while lock(&s.attach).total[0] < 108_894 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(s.dir.join("stdout.log.1").exists(), "the log was rotated");
        let mut c = attach_client("replay");
        banger_agent_proto::write_frame(&mut c, &Frame::data(FrameKind::Stdin, b"\n")).unwrap();
        let mut out = Vec::new();
        let mut exit = None;
        while let Ok(Some(f)) = read_frame(&mut c) {
            match f.kind {
                FrameKind::Stdout => out.extend_from_slice(&f.payload),
                _ => exit = Some(f),
            }
        }
        let want: String = (1..=20000).map(|i| format!("{i}\n")).collect();
        assert_eq!(String::from_utf8(out).unwrap(), format!("{want}after\n"));
        let exit = format!("{:?}", exit.unwrap().as_response().unwrap());
        assert!(exit.contains("Exit") && exit.contains("Some(0)"), "{exit}");
    }

    /// A pipe whose reads come in the given sizes.
    struct Chunks(Vec<Vec<u8>>);
    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some(next) = self.0.first_mut() else {
                return Ok(0);
            };
            let n = next.len().min(buf.len());
            buf[..n].copy_from_slice(&next[..n]);
            next.drain(..n);
            if next.is_empty() {
                self.0.remove(0);
            }
            Ok(n)
        }
    }

    #[test]
    fn the_two_generations_keep_the_last_log_cap_whatever_the_read_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stdout.log");
        let all: Vec<u8> = (0..LOG_CAP + 40_000).map(|i| (i % 251) as u8).collect();
        let cap = LOG_CAP as usize;
        // A small read, then one as large as the buffer, then the rest: a
        // rotation before the large one would leave `.1` with the small one.
        let sizes = [28_000, cap, all.len() - 28_000 - cap];
        let mut at = 0;
        let chunks = sizes
            .iter()
            .map(|n| {
                at += n;
                all[at - n..at].to_vec()
            })
            .collect();
        let attach = Arc::new(Mutex::new(Attach::default()));
        pump(Chunks(chunks), log.clone(), attach.clone(), 0)
            .join()
            .unwrap();
        assert_eq!(lock(&attach).total[0], all.len() as u64);
        let mut kept = std::fs::read(log.with_extension("log.1")).unwrap();
        kept.extend(std::fs::read(&log).unwrap());
        assert!(kept.len() >= cap, "{} bytes kept", kept.len());
        assert!(all.ends_with(&kept), "the kept bytes are the stream's end");
        assert_eq!(unsent(&log, all.len() as u64, 0), all, "all of it replays");
    }

    #[test]
    fn tail_counts_lines_from_the_end() {
        let d = b"a\nb\nc\n";
        assert_eq!(&d[tail_start(d, 2)..], b"b\nc\n");
        assert_eq!(&d[tail_start(d, 10)..], d);
        assert_eq!(&d[tail_start(d, 0)..], b"");
        assert_eq!(&b"x\ny"[tail_start(b"x\ny", 1)..], b"y");
    }
}
