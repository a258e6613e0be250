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
            // BuildKit's util/suggest, case-sensitive, over the stage names in file order
            // (unnamed stages as `stage-N`, as BuildKit's dispatchStates.names lists them).
            let labels: Vec<String> = (0..df.stages.len()).map(|i| stage_label(df, i)).collect();
            let options: Vec<&str> = labels
                .iter()
                .map(String::as_str)
                .filter(|l| !l.is_empty())
                .collect();
            if let Some(near) = rbuild_dockerfile::closest(t, &options) {
                msg.push_str(&format!(" (did you mean {near}?)"));
            }
            BuildError::general(msg)
        }),
    }
}

/// A stage as BuildKit names it in messages: its name, else `stage-N`, else (the only stage)
/// nothing.
pub fn stage_label(df: &Dockerfile, index: usize) -> String {
    match df.stages.get(index).and_then(|s| s.name.clone()) {
        Some(name) => name,
        None if df.stages.len() > 1 => format!("stage-{index}"),
        None => String::new(),
    }
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
#[allow(non_snake_case)] // test names carry BuildKit's Go test names
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_target_gets_buildkits_suggestion__buildkit_testTargetMistype() {
        let df = rbuild_dockerfile::parse_dockerfile(
            "FROM scratch AS build\nFROM scratch AS test\nFROM scratch AS tests\nFROM scratch\n",
        )
        .unwrap();
        let names = stage_names(&df).unwrap();
        let err = |t: &str| target_index(&df, &names, Some(t)).unwrap_err().to_string();
        assert!(
            err("bulid")
                .contains("target stage \"bulid\" could not be found (did you mean build?)"),
            "{}",
            err("bulid")
        );
        // Ties go to the first stage in the file; BuildKit compares case-sensitively and
        // allows at most two edits, whatever the length.
        assert!(
            err("tes").ends_with("(did you mean test?)"),
            "{}",
            err("tes")
        );
        assert!(
            err("BULID").ends_with("could not be found"),
            "{}",
            err("BULID")
        );
        assert!(err("xy").ends_with("could not be found"), "{}", err("xy"));
        assert_eq!(target_index(&df, &names, Some("Build")).unwrap(), 0);
    }
}
