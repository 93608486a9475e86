//! Friendly generated VM names (`brisk-otter`, `brisk-otter-2`, ...).

const ADJECTIVES: &[&str] = &[
    "brisk", "calm", "eager", "fond", "glad", "keen", "lucky", "merry", "proud", "swift", "bold",
    "quiet",
];
const NOUNS: &[&str] = &[
    "otter", "lynx", "heron", "panda", "tapir", "finch", "koala", "marten", "bison", "ibis",
    "gecko", "wren",
];

/// A name not in `taken`.
pub fn generate(taken: &[String]) -> String {
    let seed = crate::staging::random_hex(2);
    let n = usize::from_str_radix(&seed, 16).unwrap_or(0);
    let base = format!(
        "{}-{}",
        ADJECTIVES[n % ADJECTIVES.len()],
        NOUNS[(n / ADJECTIVES.len()) % NOUNS.len()]
    );
    (1..)
        .map(|i| {
            if i == 1 {
                base.clone()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|name| !taken.contains(name))
        .expect("an unused name")
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_names_are_valid_and_unique() {
        let mut taken = Vec::new();
        for _ in 0..300 {
            let n = super::generate(&taken);
            banger_config::config::check_name(&n).unwrap();
            assert!(!taken.contains(&n));
            taken.push(n);
        }
    }
}
