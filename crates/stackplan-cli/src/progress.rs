//! Apply's progress: on a terminal, one live line per resource in flight
//! with its elapsed time (indicatif); elsewhere (CI logs), plain
//! timestamped lines. Both go to stderr, so stdout keeps only data.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use stackplan_core::{EventSink, ProgressEvent, ResourceAddr};
use stackplan_engine::{ApplyEvent, ApplySink, Op};

/// Shows apply events and provider progress events.
pub struct Progress {
    live: Option<Live>,
    plain: Mutex<std::io::Stderr>,
    /// Operations started and not yet done or failed.
    in_flight: Arc<AtomicUsize>,
}

/// What a Ctrl-C handler on another thread needs of the display: how
/// many operations are in flight, and a way to print a line that stays
/// above the live lines (an `eprintln!` there is drawn over by them).
#[derive(Clone)]
pub struct Notices {
    multi: Option<MultiProgress>,
    in_flight: Arc<AtomicUsize>,
}

impl Notices {
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// A line that stays, as `Progress::line` prints it.
    pub fn line(&self, text: &str) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => {
                let stamp = stackplan_state::rfc3339_utc(SystemTime::now());
                let _ = writeln!(std::io::stderr(), "{stamp} {text}");
            }
        }
    }
}

struct Live {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<(ResourceAddr, Op), ProgressBar>>,
    style: ProgressStyle,
}

impl Progress {
    /// Live lines when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let live = std::io::stderr().is_terminal().then(|| Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(BTreeMap::new()),
            style: ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {wide_msg}")
                .expect("a valid template")
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
        });
        Progress {
            live,
            plain: Mutex::new(std::io::stderr()),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The handle a Ctrl-C handler prints through.
    pub fn notices(&self) -> Notices {
        Notices {
            multi: self.live.as_ref().map(|l| l.multi.clone()),
            in_flight: self.in_flight.clone(),
        }
    }

    fn ended(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// A line that stays: printed above the live lines on a terminal,
    /// with a timestamp elsewhere.
    pub fn line(&self, text: &str) {
        match &self.live {
            Some(live) => {
                let _ = live.multi.println(text);
            }
            None => {
                let stamp = stackplan_state::rfc3339_utc(SystemTime::now());
                let mut err = self.plain.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(err, "{stamp} {text}");
            }
        }
    }

    fn finish(&self, key: &(ResourceAddr, Op)) -> Option<Duration> {
        let live = self.live.as_ref()?;
        let bar = live
            .bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)?;
        let elapsed = bar.elapsed();
        bar.finish_and_clear();
        live.multi.remove(&bar);
        Some(elapsed)
    }
}

fn took(d: Option<Duration>) -> String {
    match d {
        Some(d) if d.as_secs() >= 1 => format!(" after {}s", d.as_secs()),
        _ => String::new(),
    }
}

impl ApplySink for Progress {
    fn event(&self, event: ApplyEvent) {
        match &event {
            ApplyEvent::Started { .. } => {
                self.in_flight.fetch_add(1, Ordering::SeqCst);
            }
            ApplyEvent::Done { .. } | ApplyEvent::Failed { .. } => self.ended(),
            _ => {}
        }
        match event {
            ApplyEvent::Started { addr, op } => match &self.live {
                Some(live) => {
                    let bar = live.multi.add(ProgressBar::new_spinner());
                    bar.set_style(live.style.clone());
                    bar.set_prefix(format!("{op} {addr}"));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    live.bars
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert((addr, op), bar);
                }
                None => self.line(&format!("{addr}: {op} started")),
            },
            ApplyEvent::Done { addr, op } => {
                let elapsed = self.finish(&(addr.clone(), op));
                self.line(&format!("{addr}: {op} done{}", took(elapsed)));
            }
            ApplyEvent::Failed { addr, op, error } => {
                let elapsed = self.finish(&(addr.clone(), op));
                self.line(&format!("{addr}: {op} FAILED{}: {error}", took(elapsed)));
            }
            ApplyEvent::Skipped { addr, op, reason } => {
                self.line(&format!("{addr}: {op} skipped: {reason}"));
            }
            ApplyEvent::StateSaved { .. } => {}
        }
    }
}

impl EventSink for Progress {
    fn emit(&self, event: ProgressEvent) {
        if let Some(live) = &self.live {
            let bars = live.bars.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, bar)) = bars.iter().find(|((a, _), _)| *a == event.addr) {
                bar.set_message(event.message);
                return;
            }
        }
        self.line(&format!(
            "{}: {}: {}",
            event.addr, event.phase, event.message
        ));
    }
}
