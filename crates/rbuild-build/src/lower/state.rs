//! The state of a stage while it is lowered: its config, ARGs and ENV index.

use std::collections::{BTreeMap, HashMap};

use rbuild_dockerfile::Env;

use super::StageOut;

/// The state of a stage being lowered.
pub(crate) struct StageState {
    pub index: usize,
    pub name: String,
    pub total: usize,
    pub position: usize,
    pub out: StageOut,
    /// ARGs declared in this stage: `None` = declared without a value.
    pub args: BTreeMap<String, Option<String>>,
    /// Whether CMD was set in this stage (ENTRYPOINT resets an inherited CMD otherwise).
    pub cmd_set: bool,
    /// Position of each ENV key in the config's env list.
    pub env_index: HashMap<String, usize>,
}

/// The variables an instruction of a stage expands with (see [`StageState::expansion_env`]).
pub(crate) struct Vars<'a> {
    st: &'a StageState,
}

impl Env for Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self.st.env_value(name) {
            Some(v) => Some(v.to_string()),
            None => self.st.args.get(name).cloned().flatten(),
        }
    }
}

impl StageState {
    /// Variables for expansion: stage ARGs overlaid by ENV (ENV wins, as in Docker). A view,
    /// not a copy: building a map per instruction made 10,000 ENV lines quadratic.
    pub fn expansion_env(&self) -> Vars<'_> {
        Vars { st: self }
    }

    /// The value of ENV `key` in the config, if set.
    pub fn env_value(&self, key: &str) -> Option<&str> {
        let env = self.out.config.config.env.as_deref()?;
        let kv = env.get(*self.env_index.get(key)?)?;
        Some(kv.split_once('=').map_or("", |(_, v)| v))
    }

    /// Sets ENV `key=value`, replacing an existing entry in place (its position is kept).
    pub fn set_env(&mut self, key: &str, value: &str) {
        let env = self.out.config.config.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match self.env_index.get(key) {
            Some(&i) if i < env.len() => env[i] = entry,
            _ => {
                self.env_index.insert(key.to_string(), env.len());
                env.push(entry);
            }
        }
    }

    /// Rebuilds the ENV index after the config was replaced (a new base or parent stage).
    pub fn reindex_env(&mut self) {
        self.env_index.clear();
        for (i, kv) in self.out.config.config.env.iter().flatten().enumerate() {
            let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
            self.env_index.insert(key.to_string(), i);
        }
    }

    /// Stage identity for cache explanations.
    pub fn identity(&self) -> String {
        format!("stage {} step {}", self.index, self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::VertexId;

    fn state(env: &[&str]) -> StageState {
        let mut out = StageOut {
            vertex: VertexId(0),
            config: Default::default(),
            history: Vec::new(),
            fs_steps: 0,
            base_created: None,
            platform: rbuild_oci::Platform::host(),
        };
        out.config.config.env = Some(env.iter().map(|e| e.to_string()).collect());
        let mut st = StageState {
            index: 0,
            name: String::new(),
            total: 1,
            position: 0,
            out,
            args: BTreeMap::new(),
            cmd_set: false,
            env_index: HashMap::new(),
        };
        st.reindex_env();
        st
    }

    #[test]
    fn env_replaces_in_place_and_wins_over_args() {
        let mut st = state(&["A=1", "B=2"]);
        st.set_env("A", "3");
        st.set_env("C", "4");
        assert_eq!(
            st.out.config.config.env.as_deref().unwrap(),
            ["A=3", "B=2", "C=4"]
        );
        st.args.insert("C".into(), Some("arg".into()));
        st.args.insert("D".into(), Some("arg".into()));
        st.args.insert("E".into(), None);
        let vars = st.expansion_env();
        assert_eq!(vars.get("C").as_deref(), Some("4"));
        assert_eq!(vars.get("D").as_deref(), Some("arg"));
        assert_eq!(vars.get("E"), None);
        assert_eq!(vars.get("B").as_deref(), Some("2"));
    }
}
