//! Interactive progress: a live spinner per running step; output lines and finished steps are
//! printed above the spinners, so nothing is clipped and the log stays readable afterwards.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rbuild_build::progress::{Event, Reporter};

/// Renders events on a terminal.
pub struct Tty {
    multi: MultiProgress,
    state: Mutex<HashMap<usize, (ProgressBar, Vec<u8>)>>,
}

impl Tty {
    /// A renderer drawing on stderr.
    pub fn new() -> Self {
        Tty {
            multi: MultiProgress::new(),
            state: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, text: String) {
        let _ = self.multi.println(text);
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix} {wide_msg} {elapsed:>4}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Reporter for Tty {
    fn event(&self, ev: Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match ev {
            Event::Started(i) => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(style());
                bar.set_prefix(format!("#{} {}", i.number, i.label));
                bar.set_message(i.instruction.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                st.insert(i.number, (bar, Vec::new()));
            }
            Event::Cached(i) => self.line(format!(
                "#{} {} {} CACHED",
                i.number, i.label, i.instruction
            )),
            Event::Miss(i, reason) if !reason.contains("not cacheable") => {
                self.line(format!("#{} cache miss: {reason}", i.number))
            }
            Event::Miss(..) => {}
            Event::Output(n, bytes) => {
                if let Some((_, buf)) = st.get_mut(&n) {
                    buf.extend_from_slice(&bytes);
                    while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        self.line(format!(
                            "#{n} {}",
                            String::from_utf8_lossy(&line).trim_end()
                        ));
                    }
                }
            }
            Event::Done(n, d) => self.finish(&mut st, n, format!("DONE {:.1}s", d.as_secs_f64())),
            Event::Failed(n, msg) => self.finish(&mut st, n, format!("ERROR: {msg}")),
            Event::Note(msg) => self.line(msg),
        }
    }
}

impl Tty {
    fn finish(&self, st: &mut HashMap<usize, (ProgressBar, Vec<u8>)>, n: usize, status: String) {
        if let Some((bar, rest)) = st.remove(&n) {
            if !rest.is_empty() {
                self.line(format!("#{n} {}", String::from_utf8_lossy(&rest)));
            }
            let title = format!("{} {}", bar.prefix(), bar.message());
            bar.finish_and_clear();
            self.line(format!("{title} {status}"));
        }
    }
}
