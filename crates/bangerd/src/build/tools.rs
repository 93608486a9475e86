//! The pinned tool set (`tools.toml`, compiled in): one place for every
//! version a dev box gets.

use serde::Deserialize;

const TOOLS_TOML: &str = include_str!("tools.toml");

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub package: String,
    pub version: String,
}

impl Package {
    /// `name@version`, as npm takes it.
    pub fn spec(&self) -> String {
        format!("{}@{}", self.package, self.version)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub command: String,
    pub package: String,
    pub version: String,
}

impl Tool {
    pub fn spec(&self) -> String {
        format!("{}@{}", self.package, self.version)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    node: Package,
    npm: Package,
    tool: Vec<Tool>,
}

#[derive(Debug, Clone)]
pub struct Pins {
    pub node: Package,
    pub npm: Package,
    pub tools: Vec<Tool>,
    /// The file itself (what names the pin set's tools in the build cache).
    pub text: String,
}

pub fn pins() -> Pins {
    let f: File = toml::from_str(TOOLS_TOML).expect("tools.toml is valid (a unit test checks)");
    Pins {
        node: f.node,
        npm: f.npm,
        tools: f.tool,
        text: TOOLS_TOML.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pins_parse_and_name_the_four_tools_with_exact_versions() {
        let p = pins();
        let commands: Vec<&str> = p.tools.iter().map(|t| t.command.as_str()).collect();
        assert_eq!(commands, ["opencode", "claude", "pi", "mise"]);
        for v in p
            .tools
            .iter()
            .map(|t| &t.version)
            .chain([&p.node.version, &p.npm.version])
        {
            assert!(
                v.split('.').count() == 3 && v.split('.').all(|n| n.parse::<u32>().is_ok()),
                "`{v}` is not an exact version"
            );
        }
        // pi needs Node >= 20.6; claude's wrapper >= 22.
        let major: u32 = p.node.version.split('.').next().unwrap().parse().unwrap();
        assert!(major >= 22);
    }
}
