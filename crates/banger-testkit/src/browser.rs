//! A real browser for the web UI's tests: Debian's `chromium` driven
//! through `chromedriver` (WebDriver), headless, with a fresh profile and
//! the flags ../shared/docs/environment.md gives for these machines.
//! Screenshots go to a directory the test names, kept after it.

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("shots", &self.shots)
            .finish()
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; screenshots into `shots`.
    pub fn start(shots: &Path) -> Browser {
        std::fs::create_dir_all(shots).unwrap();
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/install-deps.sh installs it)");
        let profile = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match rt.block_on(
                ClientBuilder::new(connector)
                    .capabilities(caps.clone())
                    .connect(&url),
            ) {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("starting chromium through chromedriver: {e}"),
            }
        };
        Browser {
            rt,
            client,
            driver,
            _profile: profile,
            shots: shots.to_owned(),
        }
    }

    pub fn open(&self, url: &str) {
        self.rt.block_on(self.client.goto(url)).unwrap();
    }

    /// The text of the first element matching `css`, if there is one.
    pub fn text(&self, css: &str) -> Option<String> {
        self.rt.block_on(async {
            let e = self.client.find(Locator::Css(css)).await.ok()?;
            e.text().await.ok()
        })
    }

    /// Waits (up to `within`) until the element `css` shows `want`; its text.
    pub fn wait_for(&self, css: &str, want: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.text(css);
            if seen.as_deref().is_some_and(|t| t.contains(want)) {
                return seen.unwrap();
            }
            if Instant::now() > deadline {
                let shot = self.screenshot("timed-out");
                panic!(
                    "`{css}` did not show {want:?} within {within:?}; it shows {seen:?} (screenshot {})",
                    shot.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A PNG of the window as `NAME.png` in the screenshot directory.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.rt.block_on(self.client.screenshot()).unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.rt.block_on(self.client.clone().close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
