//! Rewriting answers on their way back, as a compromised mirror or a man in the middle would:
//! a body replaced, a header set or removed. Verification paths then run against a real
//! registry.

use std::fmt;
use std::sync::Arc;

use super::http::{Req, Resp};

/// A function making a new body from the upstream's.
pub type BodyEdit = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// How to change an answer.
#[derive(Clone)]
pub enum Edit {
    /// Replace the body with what the function makes of it.
    Body(BodyEdit),
    /// Set a header, replacing any of that name.
    SetHeader(String, String),
    /// Remove a header.
    RemoveHeader(String),
}

/// Answers to requests whose `METHOD path` contains `only` get `edit`.
#[derive(Clone)]
pub struct Rewrite {
    pub only: String,
    pub edit: Edit,
}

impl Rewrite {
    /// Replaces matching bodies with `f(body)`.
    pub fn body(
        only: impl Into<String>,
        f: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
    ) -> Rewrite {
        Rewrite {
            only: only.into(),
            edit: Edit::Body(Arc::new(f)),
        }
    }

    /// Sets header `name` to `value` in matching answers.
    pub fn set_header(only: impl Into<String>, name: &str, value: &str) -> Rewrite {
        Rewrite {
            only: only.into(),
            edit: Edit::SetHeader(name.to_string(), value.to_string()),
        }
    }

    /// Removes header `name` from matching answers.
    pub fn remove_header(only: impl Into<String>, name: &str) -> Rewrite {
        Rewrite {
            only: only.into(),
            edit: Edit::RemoveHeader(name.to_string()),
        }
    }
}

impl fmt::Debug for Rewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let edit = match &self.edit {
            Edit::Body(_) => "body".to_string(),
            Edit::SetHeader(k, v) => format!("set {k}: {v}"),
            Edit::RemoveHeader(k) => format!("remove {k}"),
        };
        write!(f, "Rewrite({:?} -> {edit})", self.only)
    }
}

/// Applies the rewrites matching `req` to `resp`; returns how many applied.
pub(super) fn apply(rewrites: &[Rewrite], req: &Req, resp: &mut Resp) -> u64 {
    let line = format!("{} {}", req.method, req.path());
    let mut applied = 0;
    for r in rewrites.iter().filter(|r| line.contains(&r.only)) {
        match &r.edit {
            Edit::Body(f) => resp.body = f(&resp.body),
            Edit::SetHeader(k, v) => {
                resp.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
                resp.headers.push((k.clone(), v.clone()));
            }
            Edit::RemoveHeader(k) => resp.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k)),
        }
        applied += 1;
    }
    applied
}
