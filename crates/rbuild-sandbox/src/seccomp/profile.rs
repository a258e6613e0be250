//! Docker's seccomp profile format (`--security-opt seccomp=PROFILE.json`): the fields that
//! decide the filter; others (`architectures`, `archMap`, `flags`, `comment`) are ignored.

use serde::{Deserialize, Serialize};

/// What the kernel does with a matching syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Kill the thread (libseccomp's historical "kill").
    #[serde(rename = "SCMP_ACT_KILL")]
    Kill,
    /// Kill the thread.
    #[serde(rename = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    /// Kill the whole process.
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    /// Send SIGSYS.
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    /// Fail with an errno (`errnoRet`, EPERM by default).
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    /// Notify a ptrace tracer.
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    /// Run the syscall.
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    /// Run the syscall and log it.
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    /// Ask a user-space listener (not supported: rbuild runs none).
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

/// How an argument is compared (unsigned, 64 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// arg != value.
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
    /// arg < value.
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    /// arg <= value.
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    /// arg == value.
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    /// arg >= value.
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    /// arg > value.
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    /// (arg & value) == valueTwo.
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
}

/// One argument condition of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    /// Which argument (0-5).
    pub index: u32,
    /// The value, or the mask for MASKED_EQ.
    pub value: u64,
    /// The value MASKED_EQ compares the masked argument with.
    #[serde(default)]
    pub value_two: u64,
    /// The comparison.
    pub op: Op,
}

/// When a rule applies: capabilities, architectures (Go names: amd64, arm64...) and kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Capability names (CAP_SYS_ADMIN...).
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    /// Architecture names.
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    /// A kernel version "major.minor".
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// One entry of `syscalls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The syscalls it covers.
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// The one syscall of the older format.
    #[serde(default)]
    pub name: Option<String>,
    /// What happens when it matches.
    pub action: Action,
    /// The errno of an ERRNO (or the data of a TRACE) action.
    #[serde(default)]
    pub errno_ret: Option<u32>,
    /// Argument conditions, all of which must hold.
    #[serde(default)]
    pub args: Option<Vec<Arg>>,
    /// Applies only when all of these hold.
    #[serde(default)]
    pub includes: Option<Filter>,
    /// Does not apply when any of these holds.
    #[serde(default)]
    pub excludes: Option<Filter>,
}

/// A seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The action of every syscall no rule matches.
    pub default_action: Action,
    /// The errno of an ERRNO default action (EPERM when absent).
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// The rules, in order.
    #[serde(default)]
    pub syscalls: Option<Vec<Rule>>,
}

impl Rule {
    /// An unconditional rule for `names`.
    pub fn new(names: &[&str], action: Action) -> Rule {
        Rule {
            names: Some(names.iter().map(|n| n.to_string()).collect()),
            name: None,
            action,
            errno_ret: None,
            args: None,
            includes: None,
            excludes: None,
        }
    }

    /// Every syscall name of the rule, both formats.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .flatten()
            .chain(self.name.iter())
            .map(String::as_str)
    }
}

impl Filter {
    /// A filter on capabilities.
    pub fn caps(caps: &[&str]) -> Filter {
        Filter {
            caps: Some(caps.iter().map(|c| c.to_string()).collect()),
            ..Default::default()
        }
    }

    /// A filter on architectures.
    pub fn arches(arches: &[&str]) -> Filter {
        Filter {
            arches: Some(arches.iter().map(|c| c.to_string()).collect()),
            ..Default::default()
        }
    }
}
