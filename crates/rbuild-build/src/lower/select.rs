//! Which stages a build needs: names, the target, and dependencies through FROM and `--from`.

use std::collections::{BTreeMap, BTreeSet};

use rbuild_dockerfile::{Command, Dockerfile, Lexer};

use crate::BuildError;

/// Stage name → index; duplicate names are an error, as in BuildKit.
pub fn stage_names(df: &Dockerfile) -> Result<BTreeMap<String, usize>, BuildError> {
    let mut names = BTreeMap::new();
    for (i, s) in df.stages.iter().enumerate() {
        if let Some(n) = &s.name {
            if names.insert(n.to_lowercase(), i).is_some() {
                return Err(BuildError::at(
                    s.location.start_line,
                    format!("duplicate stage name {n:?}"),
                ));
            }
        }
    }
    Ok(names)
}

/// The stage `--target` names (default: the last one).
pub fn target_index(
    df: &Dockerfile,
    names: &BTreeMap<String, usize>,
    target: Option<&str>,
) -> Result<usize, BuildError> {
    if df.stages.is_empty() {
        return Err(BuildError::general(
            "the Dockerfile has no FROM instruction",
        ));
    }
    match target {
        None => Ok(df.stages.len() - 1),
        Some(t) => names.get(&t.to_lowercase()).copied().ok_or_else(|| {
            let mut msg = format!("target stage {t:?} could not be found");
            if let Some(near) = closest(t, names.keys()) {
                // BuildKit's suggestion, from its util/suggest.
                msg.push_str(&format!(" (did you mean {near}?)"));
            }
            BuildError::general(msg)
        }),
    }
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 2).max(1);
    candidates
        .map(|c| (edit_distance(&word, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Resolves a stage reference (name or index) seen from stage `current`.
pub fn stage_ref(names: &BTreeMap<String, usize>, word: &str, current: usize) -> Option<usize> {
    let i = names
        .get(&word.to_lowercase())
        .copied()
        .or_else(|| word.parse::<usize>().ok())?;
    (i < current).then_some(i)
}

/// Stages the target depends on, in Dockerfile order.
pub fn needed_stages(
    df: &Dockerfile,
    names: &BTreeMap<String, usize>,
    globals: &BTreeMap<String, String>,
    lexer: &Lexer,
    target: usize,
) -> Vec<usize> {
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !needed.insert(i) {
            continue;
        }
        let stage = &df.stages[i];
        let base = lexer
            .expand_word(&stage.base, globals)
            .unwrap_or_else(|_| stage.base.clone());
        todo.extend(stage_ref(names, &base, i));
        for ins in &stage.instructions {
            match &ins.command {
                Command::Copy(c) => {
                    if let Some(from) = &c.from {
                        let from = lexer
                            .expand_word(from, globals)
                            .unwrap_or_else(|_| from.clone());
                        todo.extend(stage_ref(names, &from, i));
                    }
                }
                // `RUN --mount=from=` takes no variables: the parsed value is final.
                Command::Run(r) => todo.extend(
                    r.mounts
                        .iter()
                        .filter_map(|m| m.from.as_deref())
                        .filter_map(|from| stage_ref(names, from, i)),
                ),
                _ => {}
            }
        }
    }
    needed.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_target_gets_buildkits_suggestion() {
        let names = ["build".to_string(), "test".to_string()];
        assert_eq!(closest("bulid", names.iter()), Some("build"));
        assert_eq!(closest("tset", names.iter()), Some("test"));
        assert_eq!(closest("zzzzzz", names.iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
