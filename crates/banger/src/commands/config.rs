//! `banger config show`.

use crate::context::Context;
use crate::render;
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every config key: its effective value and where it came from
    ///
    /// Values come from the config file (shown as FILE:LINE) or are defaults.
    /// The file is ~/.config/banger/config.toml ($XDG_CONFIG_HOME honoured),
    /// or the file named by BANGER_CONFIG.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, cmd: Command) -> anyhow::Result<ExitCode> {
    let Command::Show(args) = cmd;
    let config = &ctx.config;
    let mut entries = config.entries();
    // Show the key that will really be used rather than "unset".
    for (key, value, _) in &mut entries {
        if *key == "ssh_key_path" && value.is_null() {
            *value = serde_json::json!(config.ssh_key(&ctx.paths));
        }
    }
    if args.json {
        let keys: Vec<_> = entries
            .iter()
            .map(|(k, v, o)| serde_json::json!({ "key": k, "value": v, "source": o.to_string() }))
            .collect();
        render::print_json(&serde_json::json!({
            "file": ctx.paths.config_file,
            "file_exists": config.file.is_some(),
            "keys": keys,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let exists = if config.file.is_some() {
        ""
    } else {
        " (absent: all defaults)"
    };
    println!("# {}{exists}", ctx.paths.config_file.display());
    for (key, value, origin) in entries {
        let shown = match &value {
            serde_json::Value::Null => "(unset)".to_owned(),
            v => v.to_string(),
        };
        println!("{key:<22} = {shown:<36} # {origin}");
    }
    Ok(ExitCode::SUCCESS)
}
