//! Scheduled rules: a service on the edge's background runtime that fires the
//! `Scheduled Event` to the targets of every ENABLED rule with a `ScheduleExpression`.
//!
//! The rules come from the same cache as `PutEvents`' (the default bus of each region the
//! edge has seen EventBridge calls in), read again when the edge sees a rule change and at
//! least every `schedule.refresh`. A `rate(...)` rule first fires one period after the edge
//! first saw it, then every period; a `cron(...)` rule at each time its expression names
//! (UTC). Missed firings are not caught up (the edge was stopped, or the backend down):
//! the next one is the next time after now.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use edgestack_core::{aws::AwsClient, Background};
use tokio::sync::Notify;

use crate::{
    event,
    lanes::Lanes,
    metrics::Metrics,
    rules::{Rule, RuleCache},
    schedule::{epoch_seconds, rfc3339, Expression},
    settings::Schedule,
};

/// The scheduler of one interceptor: started once, on the first EventBridge request.
#[derive(Debug)]
pub struct Scheduler {
    settings: Schedule,
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct State {
    started: bool,
    /// Regions to scan (the default bus of each).
    regions: BTreeSet<String>,
    /// Set when a rule changed: read the rules again now.
    dirty: bool,
    /// Set by a state reset: disarm every rule; read them again at the next refresh or
    /// rule change (not now: the backend is being reset right after).
    reset: bool,
}

/// One armed rule.
#[derive(Debug)]
struct Armed {
    rule: Rule,
    region: String,
    expression_text: String,
    expression: Expression,
    next: SystemTime,
}

impl Scheduler {
    /// A scheduler with these settings (not running yet).
    pub fn new(settings: Schedule) -> Scheduler {
        Scheduler {
            settings,
            state: Mutex::default(),
            wake: Notify::new(),
        }
    }

    /// Notes a region with EventBridge traffic, and starts the service once (when schedules
    /// are enabled).
    pub fn watch(
        self: &Arc<Self>,
        region: &str,
        client: &AwsClient,
        background: &Background,
        rules: &Arc<RuleCache>,
        lanes: &Lanes,
        metrics: &Metrics,
    ) {
        if !self.settings.enabled {
            return;
        }
        let start = {
            let mut s = self.state.lock().expect("not poisoned");
            let new_region = s.regions.insert(region.to_string());
            if new_region {
                s.dirty = true;
            }
            let start = !s.started;
            s.started = true;
            start
        };
        if !start {
            return;
        }
        let me = self.clone();
        let run = Run {
            client: client.clone(),
            background: background.clone(),
            rules: rules.clone(),
            lanes: lanes.clone(),
            metrics: metrics.clone(),
        };
        let started =
            background.spawn_service("eventbridge scheduler", move |stopping| async move {
                tokio::select! {
                    _ = stopping.wait() => {}
                    _ = me.run(run) => {}
                }
            });
        if let Err(e) = started {
            tracing::warn!("eventbridge: scheduler not started: {e}");
            self.state.lock().expect("not poisoned").started = false;
        }
    }

    /// A state reset: every armed rule is dropped; the rules are read again at the next
    /// refresh, or at once when a rule changes.
    pub fn reset(&self) {
        let mut s = self.state.lock().expect("not poisoned");
        s.reset = true;
        s.dirty = false;
        drop(s);
        self.wake.notify_one();
    }

    /// A rule changed: read the rules again.
    pub fn changed(&self) {
        self.state.lock().expect("not poisoned").dirty = true;
        self.wake.notify_one();
    }

    async fn run(&self, run: Run) {
        let mut armed: HashMap<String, Armed> = HashMap::new();
        let mut last_read: Option<tokio::time::Instant> = None;
        loop {
            let (dirty, regions) = {
                let mut s = self.state.lock().expect("not poisoned");
                if std::mem::take(&mut s.reset) {
                    armed.clear();
                    last_read = Some(tokio::time::Instant::now());
                }
                let dirty = std::mem::take(&mut s.dirty);
                (dirty, s.regions.iter().cloned().collect::<Vec<_>>())
            };
            if dirty || last_read.is_none_or(|t| t.elapsed() >= self.settings.refresh) {
                last_read = Some(tokio::time::Instant::now());
                self.read(&run, &regions, &mut armed).await;
            }
            let now = SystemTime::now();
            for a in armed.values_mut() {
                if a.next > now {
                    continue;
                }
                self.fire(&run, a);
                a.next = match a.expression.period(self.settings.rate_minute) {
                    Some(period) => {
                        let mut next = a.next + period;
                        while next <= now {
                            next += period;
                        }
                        next
                    }
                    None => cron_next(&a.expression, now),
                };
            }
            let until_refresh = self
                .settings
                .refresh
                .saturating_sub(last_read.map_or(Duration::ZERO, |t| t.elapsed()));
            let until_fire = armed
                .values()
                .map(|a| a.next.duration_since(SystemTime::now()).unwrap_or_default())
                .min()
                .unwrap_or(until_refresh);
            let wait = until_refresh.min(until_fire).max(Duration::from_millis(10));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Reads the scheduled rules of every region and arms them (keeping the next time of a
    /// rule whose expression did not change).
    async fn read(&self, run: &Run, regions: &[String], armed: &mut HashMap<String, Armed>) {
        let mut seen = BTreeSet::new();
        for region in regions {
            let rules = match run.rules.rules(&run.client, region, "default").await {
                Ok(rules) => rules,
                Err(e) => {
                    tracing::warn!(
                        "eventbridge: scheduler could not read the rules of {region}: {e}"
                    );
                    // Keep what is armed there.
                    seen.extend(
                        armed
                            .iter()
                            .filter(|(_, a)| &a.region == region)
                            .map(|(k, _)| k.clone()),
                    );
                    continue;
                }
            };
            for rule in rules.iter() {
                let Some(text) = &rule.schedule else { continue };
                let expression = match Expression::parse(text) {
                    Ok(e) => e,
                    Err(why) => {
                        tracing::warn!("eventbridge: rule {} not scheduled: {why}", rule.arn);
                        continue;
                    }
                };
                seen.insert(rule.arn.clone());
                match armed.get_mut(&rule.arn) {
                    Some(a) if &a.expression_text == text => a.rule = rule.clone(),
                    _ => {
                        let now = SystemTime::now();
                        let next = match expression.period(self.settings.rate_minute) {
                            Some(period) => now + period,
                            None => cron_next(&expression, now),
                        };
                        tracing::debug!(
                            "eventbridge: rule {} scheduled ({text}), next at {}",
                            rule.arn,
                            rfc3339(epoch_seconds(next))
                        );
                        armed.insert(
                            rule.arn.clone(),
                            Armed {
                                rule: rule.clone(),
                                region: region.clone(),
                                expression_text: text.clone(),
                                expression,
                                next,
                            },
                        );
                    }
                }
            }
        }
        armed.retain(|arn, _| seen.contains(arn));
    }

    fn fire(&self, run: &Run, a: &Armed) {
        let now = epoch_seconds(SystemTime::now());
        let account = a.rule.arn.split(':').nth(4).unwrap_or("000000000000");
        let e = Arc::new(event::scheduled(&a.rule.arn, &a.region, account, now));
        let deliveries = event::deliveries(&a.rule, &e, &rfc3339(now));
        tracing::debug!(
            "eventbridge: scheduled rule {} fired to {} target(s)",
            a.rule.arn,
            deliveries.len()
        );
        run.metrics.scheduled.inc();
        run.lanes.push(deliveries, &run.client, &run.background);
    }
}

/// What the service works with.
struct Run {
    client: AwsClient,
    background: Background,
    rules: Arc<RuleCache>,
    lanes: Lanes,
    metrics: Metrics,
}

/// The next firing time of a cron expression after `now` (far in the future if none).
fn cron_next(expression: &Expression, now: SystemTime) -> SystemTime {
    match expression.next_after(epoch_seconds(now)) {
        Some(secs) => UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0)),
        None => now + Duration::from_secs(365 * 86_400),
    }
}
