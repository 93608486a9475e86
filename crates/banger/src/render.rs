//! Output conventions shared by every command.

use std::process::ExitCode;

/// Prints an error chain once, outermost first, and returns the failure code.
pub fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    ExitCode::FAILURE
}

pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `--json`: the value as JSON; otherwise `text` shows it to people.
pub fn output<T: serde::Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce(&T),
) -> anyhow::Result<()> {
    if json {
        print_json(value)
    } else {
        text(value);
        Ok(())
    }
}

/// `3d 4h`, `2h 5m`, `4m 2s`, `9s`: the two largest units.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_keep_two_units() {
        assert_eq!(super::duration(9), "9s");
        assert_eq!(super::duration(242), "4m 2s");
        assert_eq!(super::duration(7500), "2h 5m");
        assert_eq!(super::duration(273600), "3d 4h");
    }
}
