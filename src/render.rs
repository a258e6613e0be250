//! Progress renderers: BuildKit-like plain output (`#N [stage i/n] INSTR`, `#N CACHED`, …).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use rbuild_build::progress::{Event, Reporter};

use crate::cli::ProgressMode;

/// The renderer for `--progress`: `auto` is tty when stderr is a terminal, plain otherwise.
pub fn reporter(mode: ProgressMode) -> std::sync::Arc<dyn Reporter> {
    use std::io::IsTerminal;
    let tty = match mode {
        ProgressMode::Auto => std::io::stderr().is_terminal(),
        ProgressMode::Tty => true,
        ProgressMode::Plain => false,
        ProgressMode::Rawjson => return std::sync::Arc::new(crate::render_json::RawJson::new()),
    };
    if tty {
        std::sync::Arc::new(crate::render_tty::Tty::new())
    } else {
        std::sync::Arc::new(Plain::new())
    }
}

/// Writes progress as lines on stderr; safe from several threads.
pub struct Plain {
    state: Mutex<State>,
}

struct State {
    started: HashMap<usize, Instant>,
    partial: HashMap<usize, Vec<u8>>,
    /// Why a step missed the cache, shown under its header once it starts.
    misses: HashMap<usize, String>,
}

impl Plain {
    /// A renderer writing to stderr.
    pub fn new() -> Self {
        Plain {
            state: Mutex::new(State {
                started: HashMap::new(),
                partial: HashMap::new(),
                misses: HashMap::new(),
            }),
        }
    }
}

impl Reporter for Plain {
    fn event(&self, ev: Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let mut err = std::io::stderr().lock();
        let _ = match ev {
            Event::Started(i) => {
                st.started.insert(i.number, Instant::now());
                let _ = writeln!(err, "#{} {} {}", i.number, i.label, i.instruction);
                match st.misses.remove(&i.number) {
                    Some(reason) => writeln!(err, "#{} cache miss: {reason}", i.number),
                    None => Ok(()),
                }
            }
            Event::Cached(i) => writeln!(
                err,
                "#{} {} {}\n#{} CACHED",
                i.number, i.label, i.instruction, i.number
            ),
            Event::Miss(i, reason) => {
                // Base images are never cached; saying so on every build is noise.
                if !reason.contains("not cacheable") {
                    st.misses.insert(i.number, reason);
                }
                Ok(())
            }
            Event::Output(n, bytes) => write_output(&mut st, &mut err, n, &bytes),
            Event::Done(n, d) => {
                flush_partial(&mut st, &mut err, n);
                writeln!(err, "#{n} DONE {:.1}s", d.as_secs_f64())
            }
            Event::Failed(n, msg) => {
                flush_partial(&mut st, &mut err, n);
                writeln!(err, "#{n} ERROR: {msg}")
            }
            Event::Note(msg) => writeln!(err, "{msg}"),
        };
    }
}

fn write_output(
    st: &mut State,
    err: &mut impl Write,
    n: usize,
    bytes: &[u8],
) -> std::io::Result<()> {
    let elapsed = st
        .started
        .get(&n)
        .map_or(0.0, |t| t.elapsed().as_secs_f64());
    let buf = st.partial.entry(n).or_default();
    buf.extend_from_slice(bytes);
    while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=pos).collect();
        write!(err, "#{n} {elapsed:.3} ")?;
        err.write_all(&line)?;
    }
    Ok(())
}

fn flush_partial(st: &mut State, err: &mut impl Write, n: usize) {
    if let Some(rest) = st.partial.remove(&n).filter(|r| !r.is_empty()) {
        let _ = write!(err, "#{n} ");
        let _ = err.write_all(&rest);
        let _ = writeln!(err);
    }
}
