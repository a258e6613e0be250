//! The state of a stage while it is lowered: its config, ARGs and ENV index.

use std::collections::HashMap;

use rbuild_dockerfile::Env;

use super::StageOut;

/// The state of a stage being lowered.
pub(crate) struct StageState {
    pub index: usize,
    pub name: String,
    pub total: usize,
    pub position: usize,
    pub out: StageOut,
    /// Whether CMD was set in this stage (ENTRYPOINT resets an inherited CMD otherwise).
    pub cmd_set: bool,
    /// Position of each ENV key in the config's env list.
    pub env_index: HashMap<String, usize>,
}

/// The ARGs a stage declared (its parent stage's first, as BuildKit inherits them), in
/// declaration order: BuildKit lists them in that order in RUN's history (`RUN |2 a=1 b=2`).
#[derive(Clone, Debug, Default)]
pub(crate) struct StageArgs {
    list: Vec<(String, Option<String>)>,
    /// ARGs given a value after the last ENV of the same name: BuildKit's dispatchArg sets
    /// them in the build state's environment, so RUN and expansion see the ARG's value, while
    /// the image config keeps the ENV.
    over_env: std::collections::BTreeSet<String>,
}

impl StageArgs {
    /// Declares `name`; a redeclaration keeps its place, and without a value keeps the old
    /// one (BuildKit only sets the variable when the ARG has a value).
    pub fn declare(&mut self, name: &str, value: Option<String>) {
        if value.is_some() {
            self.over_env.insert(name.to_string());
        }
        match self.list.iter_mut().find(|(k, _)| k == name) {
            Some((_, old)) => {
                if value.is_some() {
                    *old = value;
                }
            }
            None => self.list.push((name.to_string(), value)),
        }
    }

    /// The value of `name`, if declared with one.
    pub fn value(&self, name: &str) -> Option<&str> {
        let (_, v) = self.list.iter().find(|(k, _)| k == name)?;
        v.as_deref()
    }

    /// Whether the ARG `name` was given its value after the last ENV of that name.
    pub fn over_env(&self, name: &str) -> bool {
        self.over_env.contains(name)
    }

    /// Declared ARGs in order, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.list.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }
}

/// The variables an instruction of a stage expands with (see [`StageState::expansion_env`]).
pub(crate) struct Vars<'a> {
    st: &'a StageState,
}

impl Env for Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        let args = &self.st.out.args;
        match self.st.env_value(name) {
            Some(v) if !args.over_env(name) => Some(v.to_string()),
            _ => args.value(name).map(str::to_string),
        }
    }
}

impl StageState {
    /// Variables for expansion: stage ARGs overlaid by ENV, the one set last winning (as in
    /// BuildKit's state environment: `ENV A=1` then `ARG A=2` expands `$A` to 2). A view,
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
        self.out.args.over_env.remove(key);
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
            args: StageArgs::default(),
        };
        out.config.config.env = Some(env.iter().map(|e| e.to_string()).collect());
        let mut st = StageState {
            index: 0,
            name: String::new(),
            total: 1,
            position: 0,
            out,
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
        st.out.args.declare("C", Some("arg".into()));
        st.out.args.declare("D", Some("arg".into()));
        st.out.args.declare("E", None);
        st.set_env("C", "4");
        let vars = st.expansion_env();
        assert_eq!(vars.get("C").as_deref(), Some("4"));
        assert_eq!(vars.get("D").as_deref(), Some("arg"));
        assert_eq!(vars.get("E"), None);
        assert_eq!(vars.get("B").as_deref(), Some("2"));
    }

    #[test]
    fn the_later_of_env_and_arg_wins() {
        let mut st = state(&["A=env"]);
        st.out.args.declare("A", Some("arg".into()));
        assert_eq!(st.expansion_env().get("A").as_deref(), Some("arg"));
        st.out.args.declare("A", None);
        assert_eq!(st.expansion_env().get("A").as_deref(), Some("arg"));
        st.set_env("A", "env2");
        assert_eq!(st.expansion_env().get("A").as_deref(), Some("env2"));
        assert_eq!(st.out.config.config.env.as_deref().unwrap(), ["A=env2"]);
    }

    #[test]
    fn redeclared_args_keep_their_place_and_value() {
        let mut args = StageArgs::default();
        args.declare("foo", Some("bar".into()));
        args.declare("bar", Some("123".into()));
        args.declare("foo", Some("bar2".into()));
        args.declare("bar", None);
        let got: Vec<_> = args.iter().collect();
        assert_eq!(got, [("foo", Some("bar2")), ("bar", Some("123"))]);
    }
}
