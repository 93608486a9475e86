//! What every command starts from: the resolved paths and the loaded config.
//! Loading the config here (not only in the daemon) means a bad file is
//! reported directly, before any daemon is started with it.

use anyhow::Context as _;
use banger_api::client::Client;
use banger_config::{Config, Env, Paths};

#[derive(Debug)]
pub struct Context {
    pub paths: Paths,
    pub config: Config,
}

impl Context {
    pub fn load() -> anyhow::Result<Context> {
        let env = Env::from_process();
        let paths = Paths::resolve(&env).context("locating banger's directories")?;
        let config = Config::load(
            &paths.config_file,
            env.banger_config.is_some(),
            env.home.as_deref(),
        )?;
        Ok(Context { paths, config })
    }

    /// A client for the daemon, starting the daemon if it is not running.
    pub async fn daemon(&self) -> anyhow::Result<Client> {
        crate::daemon_process::ensure_running(&self.paths).await
    }

    /// A client for the daemon, without starting one.
    pub fn client(&self) -> Client {
        Client::new(self.paths.socket())
    }
}
