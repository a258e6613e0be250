//! `--progress=rawjson`: one JSON object per line on stderr for every progress event, for CI
//! systems that read results instead of scraping logs. The schema is in docs/PROGRESS.md.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rbuild_build::progress::{Event, Reporter, StepInfo};
use serde_json::{json, Value};

/// Writes each event as a JSON line; safe from several threads.
pub struct RawJson {
    out: Mutex<()>,
}

impl RawJson {
    /// A renderer writing to stderr.
    pub fn new() -> Self {
        RawJson {
            out: Mutex::new(()),
        }
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn step(kind: &str, i: &StepInfo) -> Value {
    json!({
        "type": kind,
        "vertex": i.number,
        "name": format!("{} {}", i.label, i.instruction),
    })
}

/// The JSON object for one event (without its timestamp).
pub fn event_json(ev: &Event) -> Value {
    match ev {
        Event::Started(i) => step("started", i),
        Event::Cached(i) => step("cached", i),
        Event::Miss(i, reason) => {
            let mut v = step("miss", i);
            v["reason"] = Value::String(reason.clone());
            v
        }
        Event::Output(n, bytes) => json!({
            "type": "log",
            "vertex": n,
            "data": String::from_utf8_lossy(bytes),
        }),
        Event::Done(n, d) => json!({
            "type": "done",
            "vertex": n,
            "duration_ms": d.as_millis() as u64,
        }),
        Event::Failed(n, why) => json!({
            "type": "error",
            "vertex": n,
            "error": why,
        }),
        Event::Note(text) => json!({ "type": "note", "message": text }),
    }
}

impl Reporter for RawJson {
    fn event(&self, ev: Event) {
        let mut v = event_json(&ev);
        v["time_ms"] = Value::from(now_ms());
        let Ok(_guard) = self.out.lock() else {
            return;
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{v}");
    }
}

/// A reporter that shows nothing (`-q`).
pub struct Quiet;

impl Reporter for Quiet {
    fn event(&self, _ev: Event) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_one_json_object_each() {
        let info = StepInfo {
            number: 3,
            label: "[2/4]".into(),
            instruction: "RUN make".into(),
        };
        let v = event_json(&Event::Miss(info.clone(), "input \"env:A\" changed".into()));
        assert_eq!(v["type"], "miss");
        assert_eq!(v["vertex"], 3);
        assert_eq!(v["name"], "[2/4] RUN make");
        assert_eq!(v["reason"], "input \"env:A\" changed");
        let v = event_json(&Event::Output(3, b"line\n".to_vec()));
        assert_eq!(v["data"], "line\n");
        let v = event_json(&Event::Done(3, std::time::Duration::from_millis(1500)));
        assert_eq!(v["duration_ms"], 1500);
        assert!(!event_json(&Event::Note("x".into()))
            .to_string()
            .contains('\n'));
    }
}
