//! `hunt --profile`: where the main thread's time goes, per detector and per step.
//!
//! Readers parse and normalise on their own threads; everything an event meets after that
//! (enrichment, the engine's detectors and steps, prevalence, the report, the state store) runs
//! on the main thread, one event at a time. The profile times each of those with two clock reads
//! around it and prints them largest first, with their share of the main thread's busy time and
//! their cost per event. When their sum is well below the time reading took, the readers are
//! the limit, not detection.

use std::time::{Duration, Instant};

/// Named time slots, in the order they were first added.
#[derive(Debug, Default)]
pub struct Profile {
    slots: Vec<(String, Duration)>,
}

impl Profile {
    /// Adds the time since `started` to `name`.
    pub fn add(&mut self, name: &str, started: Instant) {
        self.add_duration(name, started.elapsed());
    }

    pub fn add_duration(&mut self, name: &str, d: Duration) {
        match self.slots.iter_mut().find(|(n, _)| n == name) {
            Some((_, total)) => *total += d,
            None => self.slots.push((name.to_owned(), d)),
        }
    }

    /// Replaces `name` (a sum that included others) by `parts`, with what the parts do not
    /// cover kept under `name`.
    pub fn split(&mut self, name: &str, parts: &[(String, Duration)]) {
        let covered: Duration = parts.iter().map(|(_, d)| *d).sum();
        if let Some((_, total)) = self.slots.iter_mut().find(|(n, _)| n == name) {
            *total = total.saturating_sub(covered);
        }
        for (n, d) in parts {
            self.add_duration(n, *d);
        }
    }

    /// The slots, largest first.
    pub fn sorted(&self) -> Vec<(String, Duration)> {
        let mut rows = self.slots.clone();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows
    }

    /// The profile as text: the main thread's busy and idle time, then one line a slot.
    pub fn render(&self, reading: Duration, events: u64) -> String {
        use std::fmt::Write as _;
        let busy: Duration = self.slots.iter().map(|(_, d)| *d).sum();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "profile: {:.2} s on the main thread after parsing, for {events} events (reading took {:.2} s, parsing on the reader threads)",
            busy.as_secs_f64(),
            reading.as_secs_f64(),
        );
        let width = self.slots.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, d) in self.sorted() {
            let _ = writeln!(
                out,
                "  {name:<width$}  {:>8.3} s  {:>5.1} %  {:>8.3} µs/event",
                d.as_secs_f64(),
                100.0 * d.as_secs_f64() / busy.as_secs_f64().max(1e-9),
                d.as_secs_f64() * 1e6 / events.max(1) as f64
            );
        }
        out
    }

    /// The profile as JSON: `{"busy_seconds", "reading_seconds", "slots": [{"name", "seconds"}]}`.
    pub fn to_json(&self, reading: Duration) -> serde_json::Value {
        let busy: Duration = self.slots.iter().map(|(_, d)| *d).sum();
        serde_json::json!({
            "busy_seconds": busy.as_secs_f64(),
            "reading_seconds": reading.as_secs_f64(),
            "slots": self.sorted().iter().map(|(n, d)| serde_json::json!({"name": n, "seconds": d.as_secs_f64()})).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_add_up_split_and_sort() {
        let mut p = Profile::default();
        p.add_duration("engine", Duration::from_millis(100));
        p.add_duration("prevalence", Duration::from_millis(30));
        p.add_duration("engine", Duration::from_millis(50));
        p.split("engine", &[("beacon".into(), Duration::from_millis(90)), ("dga".into(), Duration::from_millis(40))]);
        let rows = p.sorted();
        let ms = |name: &str| rows.iter().find(|(n, _)| n == name).unwrap().1.as_millis();
        assert_eq!(rows[0].0, "beacon");
        assert_eq!((ms("beacon"), ms("dga"), ms("prevalence"), ms("engine")), (90, 40, 30, 20));
        let text = p.render(Duration::from_millis(360), 1000);
        assert!(
            text.starts_with("profile: 0.18 s on the main thread after parsing, for 1000 events (reading took 0.36 s"),
            "{text}"
        );
        let beacon = text.lines().find(|l| l.trim_start().starts_with("beacon")).unwrap();
        assert_eq!(beacon.split_whitespace().collect::<Vec<_>>(), ["beacon", "0.090", "s", "50.0", "%", "90.000", "µs/event"]);
    }
}
