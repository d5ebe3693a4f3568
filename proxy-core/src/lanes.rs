//! Ordered delivery off the request path, for interceptors that send side effects to other
//! services once the client has its answer: S3 notifications, EventBridge targets, SNS
//! subscriptions.
//!
//! Deliveries go into lanes (one per bucket and target, per target, per subscription: the
//! caller names the lane), so each lane's deliveries go out in the order they were pushed
//! while other lanes (a dead target, say) do not hold them up.
//!
//! A lane is a queue plus at most one worker, started on the edge's [`Background`] when the
//! first delivery arrives and ended when the queue is empty. The worker tries the front
//! delivery ([`Delivery::attempt`]); a [`Failure::Retry`] is tried again after the wait
//! [`Delivery::retry`] says (each delivery has its own policy), a [`Failure::Refused`] is not.
//! A delivery that fails for good goes to [`Delivery::give_up`] (a dead-letter queue, say).
//! Only then does the worker take the next one. All lanes together hold at most `capacity`
//! deliveries; past that a delivery is dropped, logged and counted. When the edge stops,
//! shutdown waits (up to its drain timeout) for the lanes to empty; what a cancelled worker
//! (or one never started: the edge was stopping, or too many background jobs) leaves behind
//! is logged and counted as dropped. [`Lanes::clear`] drops every delivery at once (a state
//! reset), including the ones being tried or waiting for their next try.
//!
//! Every outcome goes to an [`Observer`] ([`LaneMetrics`] counts them in Prometheus), so
//! each interceptor keeps its own metric names and labels. [`Retry`] is the usual backoff
//! setting (`initial_backoff`, `max_backoff`, `max_attempts`) of such interceptors.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use prometheus::{IntCounterVec, IntGauge};
use serde::Deserialize;

use crate::{config::ConfigError, Background};

/// Why one try of a delivery failed; `E` says what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E = String> {
    /// The target is down, busy or failing: worth another try.
    Retry(E),
    /// The target refused it (missing queue, bad request): another try would fail the same way.
    Refused(E),
}

impl<E> Failure<E> {
    /// What happened.
    pub fn reason(&self) -> &E {
        match self {
            Failure::Retry(e) | Failure::Refused(e) => e,
        }
    }

    /// True for [`Failure::Retry`].
    pub fn is_retry(&self) -> bool {
        matches!(self, Failure::Retry(_))
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reason().fmt(f)
    }
}

/// What became of one delivery, as an [`Observer`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The target took it.
    Delivered,
    /// The target refused it, or the tries ran out (and [`Delivery::give_up`] found no other
    /// way).
    Failed,
    /// It failed, and [`Delivery::give_up`] sent it to a dead-letter queue.
    DeadLettered,
    /// It never went out: the queue was full, or edgestack stopped.
    Dropped,
}

impl Outcome {
    /// The metric label: `delivered`, `failed`, `dead_lettered` or `dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Dropped => "dropped",
        }
    }
}

/// One queued delivery: what to send, where, and how long to keep trying.
#[async_trait]
pub trait Delivery: Send + Sync + 'static {
    /// What a failed try says happened.
    type Error: fmt::Display + Send + Sync;

    /// Tries once.
    async fn attempt(&self) -> Result<(), Failure<Self::Error>>;

    /// The delivery in log lines ("a notification of bucket 'b' for SQS queue …").
    fn describe(&self) -> String;

    /// The metric label of its target (bounded: a kind or protocol, never an ARN).
    fn label(&self) -> &'static str;

    /// The wait before the next try after `attempts` tries (1-based) that asked for another,
    /// the delivery having been queued at `queued_at`; `None` gives up.
    fn retry(&self, attempts: u32, queued_at: Instant) -> Option<Duration>;

    /// Checked before each try: false skips the delivery (nothing is counted), e.g. when
    /// the subscription it was for is gone.
    fn wanted(&self) -> bool {
        true
    }

    /// Called once the delivery failed for good (refused, or the tries ran out) after
    /// `attempts` tries; says how it is counted. The default counts it as failed.
    async fn give_up(&self, _failure: &Failure<Self::Error>, _attempts: u32) -> Outcome {
        Outcome::Failed
    }
}

/// Where lanes report what happened (metrics).
pub trait Observer: Send + Sync + 'static {
    /// One delivery ended with `outcome`.
    fn outcome(&self, label: &'static str, outcome: Outcome);
    /// One try failed and the delivery will be tried again.
    fn retried(&self, label: &'static str);
    /// The number of queued deliveries changed by `change`.
    fn queued(&self, change: i64);
}

/// The usual [`Observer`]: Prometheus counters by target label.
#[derive(Debug, Clone)]
pub struct LaneMetrics {
    /// Deliveries by target label and outcome (two labels, in that order).
    pub outcomes: IntCounterVec,
    /// Tries that failed and were retried, by target label.
    pub retries: IntCounterVec,
    /// Deliveries waiting.
    pub queued: IntGauge,
}

impl Observer for LaneMetrics {
    fn outcome(&self, label: &'static str, outcome: Outcome) {
        self.outcomes
            .with_label_values(&[label, outcome.as_str()])
            .inc();
    }

    fn retried(&self, label: &'static str) {
        self.retries.with_label_values(&[label]).inc();
    }

    fn queued(&self, change: i64) {
        self.queued.add(change);
    }
}

/// The delivery lanes of one interceptor. Cheap to clone.
pub struct Lanes<D: Delivery> {
    inner: Arc<Inner<D>>,
}

impl<D: Delivery> Clone for Lanes<D> {
    fn clone(&self) -> Self {
        Lanes {
            inner: self.inner.clone(),
        }
    }
}

impl<D: Delivery> fmt::Debug for Lanes<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lanes")
            .field("name", &self.inner.name)
            .field("capacity", &self.inner.capacity)
            .field("queued", &self.queued())
            .finish()
    }
}

struct Inner<D> {
    /// Names the lanes in logs and background jobs.
    name: &'static str,
    capacity: usize,
    state: Mutex<State<D>>,
    observer: Box<dyn Observer>,
    /// Bumped by [`Lanes::clear`]: a job pushed before is no longer delivered.
    epoch: AtomicU64,
    /// Wakes the workers waiting for a retry when the lanes are cleared.
    cleared: tokio::sync::Notify,
}

struct State<D> {
    /// A lane is here exactly while its worker runs.
    lanes: HashMap<String, VecDeque<Arc<Job<D>>>>,
    /// Deliveries queued in all lanes.
    queued: usize,
}

struct Job<D> {
    delivery: D,
    queued_at: Instant,
    /// [`Inner::epoch`] when it was pushed.
    epoch: u64,
}

impl<D: Delivery> Lanes<D> {
    /// Lanes holding at most `capacity` deliveries in all, reporting to `observer`; `name`
    /// (the interceptor's) starts their log lines and names their background jobs.
    pub fn new(name: &'static str, capacity: usize, observer: impl Observer) -> Lanes<D> {
        Lanes {
            inner: Arc::new(Inner {
                name,
                capacity,
                state: Mutex::new(State {
                    lanes: HashMap::new(),
                    queued: 0,
                }),
                observer: Box::new(observer),
                epoch: AtomicU64::new(0),
                cleared: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Drops every delivery queued (a state reset): the waiting ones at once, the ones being
    /// tried before their next try (a try under way is not interrupted, a wait for the next
    /// one is). Each is counted as dropped. Returns how many were queued.
    pub fn clear(&self) -> usize {
        let inner = &self.inner;
        let mut state = inner.state.lock().expect("not poisoned");
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        let mut removed = Vec::new();
        for queue in state.lanes.values_mut() {
            // The front job is its worker's: the worker skips it and takes it off the lane. A
            // lane can be empty for a moment (its worker popped the last job and has not
            // looked again yet).
            let keep = queue.len().min(1);
            removed.extend(queue.drain(keep..));
        }
        let queued = state.queued;
        state.queued -= removed.len();
        drop(state);
        inner.cleared.notify_waiters();
        for job in &removed {
            inner
                .observer
                .outcome(job.delivery.label(), Outcome::Dropped);
        }
        inner.observer.queued(-(removed.len() as i64));
        if queued > 0 {
            tracing::info!("{}: cleared; {queued} delivery(ies) dropped", inner.name);
        }
        queued
    }

    /// Deliveries waiting in all lanes (the ones being tried included).
    pub fn queued(&self) -> usize {
        self.inner.state.lock().expect("not poisoned").queued
    }

    /// Queues `delivery` at the end of `lane`, starting the lane's worker on `background` if
    /// it has none. When all lanes are full it is dropped, logged and counted.
    pub fn push(&self, lane: String, delivery: D, background: &Background) {
        let inner = &self.inner;
        let mut state = inner.state.lock().expect("not poisoned");
        if state.queued >= inner.capacity {
            drop(state);
            tracing::warn!(
                "{}: queue full ({} waiting); dropped {}",
                inner.name,
                inner.capacity,
                delivery.describe()
            );
            inner.observer.outcome(delivery.label(), Outcome::Dropped);
            return;
        }
        state.queued += 1;
        inner.observer.queued(1);
        let job = Arc::new(Job {
            delivery,
            queued_at: Instant::now(),
            epoch: inner.epoch.load(Ordering::SeqCst),
        });
        if let Some(queue) = state.lanes.get_mut(&lane) {
            queue.push_back(job);
            return;
        }
        state.lanes.insert(lane.clone(), VecDeque::from([job]));
        drop(state);
        let worker = worker(inner.clone(), lane);
        if let Err(refused) = background.spawn(inner.name, worker) {
            // The worker future was dropped unstarted: its guard logs and empties the lane.
            tracing::warn!("{}: {refused}", inner.name);
        }
    }
}

impl<D: Delivery> Inner<D> {
    /// The lane's front job; removes the lane (its worker is ending) when it is empty.
    fn front(&self, lane: &str) -> Option<Arc<Job<D>>> {
        let mut state = self.state.lock().expect("not poisoned");
        match state.lanes.get(lane).and_then(|q| q.front().cloned()) {
            Some(job) => Some(job),
            None => {
                state.lanes.remove(lane);
                None
            }
        }
    }

    /// Takes the front job off the lane once it is done with.
    fn pop(&self, lane: &str) {
        let mut state = self.state.lock().expect("not poisoned");
        if let Some(queue) = state.lanes.get_mut(lane) {
            queue.pop_front();
        }
        state.queued = state.queued.saturating_sub(1);
        drop(state);
        self.observer.queued(-1);
    }

    /// Tries one job until it is delivered, refused, or out of tries; then gives it up.
    async fn deliver(&self, job: &Job<D>) {
        let name = self.name;
        let d = &job.delivery;
        let label = d.label();
        let mut attempts = 0u32;
        loop {
            if job.epoch != self.epoch.load(Ordering::SeqCst) {
                tracing::debug!("{name}: {} was cleared; dropped", d.describe());
                self.observer.outcome(label, Outcome::Dropped);
                return;
            }
            if !d.wanted() {
                tracing::debug!("{name}: {} is no longer wanted; skipped", d.describe());
                return;
            }
            attempts += 1;
            let failure = match d.attempt().await {
                Ok(()) => {
                    if attempts > 1 {
                        tracing::info!("{name}: delivered {} after {attempts} tries", d.describe());
                    }
                    self.observer.outcome(label, Outcome::Delivered);
                    return;
                }
                Err(failure) => failure,
            };
            let wait = match &failure {
                Failure::Refused(_) => {
                    tracing::warn!("{name}: {} was refused: {failure}", d.describe());
                    None
                }
                Failure::Retry(_) => {
                    let wait = d.retry(attempts, job.queued_at);
                    if wait.is_none() {
                        tracing::warn!(
                            "{name}: gave up on {} after {attempts} tries: {failure}",
                            d.describe()
                        );
                    }
                    wait
                }
            };
            let Some(wait) = wait else {
                let outcome = d.give_up(&failure, attempts).await;
                self.observer.outcome(label, outcome);
                return;
            };
            if attempts == 1 {
                tracing::warn!(
                    "{name}: {} failed ({failure}); retrying with backoff",
                    d.describe()
                );
            } else {
                tracing::debug!(
                    "{name}: try {attempts} of {} failed ({failure}); next in {wait:?}",
                    d.describe()
                );
            }
            self.observer.retried(label);
            let cleared = self.cleared.notified();
            if job.epoch != self.epoch.load(Ordering::SeqCst) {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cleared => {}
            }
        }
    }
}

/// A lane's worker: delivers the lane's jobs in order until it is empty. The guard exists
/// from the start, so a worker dropped before it ever ran still accounts for its lane.
fn worker<D: Delivery>(inner: Arc<Inner<D>>, lane: String) -> impl Future<Output = ()> + Send {
    let mut guard = LaneGuard {
        inner,
        lane,
        armed: true,
    };
    async move {
        while let Some(job) = guard.inner.front(&guard.lane) {
            guard.inner.deliver(&job).await;
            guard.inner.pop(&guard.lane);
        }
        // `front` removed the empty lane; a new worker may own a new lane of this key now.
        guard.disarm();
    }
}

/// Logs and counts what a worker leaves behind when it is cancelled (the edge stopped) or was
/// never started (the edge was stopping, or too many background jobs).
struct LaneGuard<D: Delivery> {
    inner: Arc<Inner<D>>,
    lane: String,
    armed: bool,
}

impl<D: Delivery> LaneGuard<D> {
    /// The worker ended normally: nothing was left behind.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl<D: Delivery> Drop for LaneGuard<D> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let inner = &self.inner;
        let mut state = inner.state.lock().expect("not poisoned");
        let Some(left) = state.lanes.remove(&self.lane) else {
            return;
        };
        state.queued = state.queued.saturating_sub(left.len());
        drop(state);
        let Some(first) = left.front() else {
            return;
        };
        for job in &left {
            inner
                .observer
                .outcome(job.delivery.label(), Outcome::Dropped);
        }
        inner.observer.queued(-(left.len() as i64));
        tracing::warn!(
            "{}: {} delivery(ies) dropped undelivered, the first {} (edgestack is stopping, or too many background jobs)",
            inner.name,
            left.len(),
            first.delivery.describe()
        );
    }
}

/// How a delivery that failed because the target is down or busy is tried again: waits that
/// double from `initial_backoff` up to `max_backoff`, and at most `max_attempts` tries (0:
/// keep trying). Deliveries the target refuses are not retried.
///
/// ```toml
/// initial_backoff = "100ms"       # first wait after a failed delivery, doubled each time
/// max_backoff = "10s"             # the longest wait between tries
/// max_attempts = 0                # 0: keep trying while the target is down
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    /// The first wait; each later one doubles, up to `max_backoff`.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// The longest wait between tries.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Tries in all before a delivery is given up (and logged); 0 keeps trying.
    pub max_attempts: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_attempts: 0,
        }
    }
}

impl Retry {
    /// The wait after the `attempt`-th failed try (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// True when `attempts` tries are all there may be.
    pub fn exhausted(&self, attempts: u32) -> bool {
        self.max_attempts != 0 && attempts >= self.max_attempts
    }

    /// The wait before the next try after `attempts` tries, `None` when they are exhausted.
    pub fn next(&self, attempts: u32) -> Option<Duration> {
        (!self.exhausted(attempts)).then(|| self.backoff(attempts))
    }

    /// Every problem with these settings, at its key under `prefix` (`retry`:
    /// `retry.max_backoff`).
    pub fn validate(&self, prefix: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.initial_backoff.is_zero() {
            errors.push(ConfigError::new(
                format!("{prefix}.initial_backoff"),
                "must be more than 0",
            ));
        }
        if self.max_backoff < self.initial_backoff {
            errors.push(ConfigError::new(
                format!("{prefix}.max_backoff"),
                format!("must be at least {prefix}.initial_backoff"),
            ));
        }
        if self.max_backoff > Duration::from_secs(3600) {
            errors.push(ConfigError::new(
                format!("{prefix}.max_backoff"),
                "must be at most 1h",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::sync::Semaphore;

    /// What the test deliveries and the observer saw.
    #[derive(Default)]
    struct Log {
        tried: Mutex<Vec<(&'static str, u32)>>,
        outcomes: Mutex<Vec<(&'static str, Outcome)>>,
        retried: AtomicU32,
        queued: Mutex<i64>,
        gave_up: Mutex<Vec<(String, u32)>>,
    }

    #[derive(Clone)]
    struct Recorder(Arc<Log>);

    impl Observer for Recorder {
        fn outcome(&self, label: &'static str, outcome: Outcome) {
            self.0.outcomes.lock().unwrap().push((label, outcome));
        }
        fn retried(&self, _label: &'static str) {
            self.0.retried.fetch_add(1, Ordering::SeqCst);
        }
        fn queued(&self, change: i64) {
            *self.0.queued.lock().unwrap() += change;
        }
    }

    /// How a test delivery behaves.
    enum Act {
        Ok,
        /// Waits for a permit first.
        Gate(Arc<Semaphore>),
        Refuse,
        /// Fails with `Retry` this many times, then succeeds.
        Flaky(u32),
    }

    struct Test {
        lane: &'static str,
        seq: u32,
        act: Act,
        tries: AtomicU32,
        max_attempts: u32,
        log: Arc<Log>,
    }

    #[async_trait]
    impl Delivery for Test {
        type Error = String;

        async fn attempt(&self) -> Result<(), Failure> {
            let n = self.tries.fetch_add(1, Ordering::SeqCst) + 1;
            self.log.tried.lock().unwrap().push((self.lane, self.seq));
            match &self.act {
                Act::Ok => Ok(()),
                Act::Gate(gate) => {
                    let _ = gate.acquire().await.unwrap();
                    Ok(())
                }
                Act::Refuse => Err(Failure::Refused("no such target".into())),
                Act::Flaky(k) if n <= *k => Err(Failure::Retry("down".into())),
                Act::Flaky(_) => Ok(()),
            }
        }

        fn describe(&self) -> String {
            format!("delivery {} of lane {}", self.seq, self.lane)
        }

        fn label(&self) -> &'static str {
            self.lane
        }

        fn retry(&self, attempts: u32, _queued_at: Instant) -> Option<Duration> {
            (attempts < self.max_attempts).then_some(Duration::from_millis(1))
        }

        async fn give_up(&self, failure: &Failure, attempts: u32) -> Outcome {
            let kind = if failure.is_retry() {
                "retry"
            } else {
                "refused"
            };
            self.log
                .gave_up
                .lock()
                .unwrap()
                .push((format!("{kind}: {failure}"), attempts));
            Outcome::DeadLettered
        }
    }

    struct Fixture {
        log: Arc<Log>,
        lanes: Lanes<Test>,
        bg: Background,
    }

    impl Fixture {
        fn new(capacity: usize, jobs: usize, handle: tokio::runtime::Handle) -> Fixture {
            let log = Arc::new(Log::default());
            Fixture {
                lanes: Lanes::new("test", capacity, Recorder(log.clone())),
                log,
                bg: Background::new(handle, jobs),
            }
        }

        fn push(&self, lane: &'static str, seq: u32, act: Act, max_attempts: u32) {
            let d = Test {
                lane,
                seq,
                act,
                tries: AtomicU32::new(0),
                max_attempts,
                log: self.log.clone(),
            };
            self.lanes.push(lane.to_string(), d, &self.bg);
        }

        fn outcomes(&self) -> Vec<(&'static str, Outcome)> {
            self.log.outcomes.lock().unwrap().clone()
        }

        async fn settle(&self) {
            assert!(self.bg.drain(Duration::from_secs(5)).await);
            assert_eq!(self.lanes.queued(), 0);
            assert_eq!(*self.log.queued.lock().unwrap(), 0);
        }
    }

    #[tokio::test]
    async fn each_lane_delivers_in_order() {
        let f = Fixture::new(100, 10, tokio::runtime::Handle::current());
        for seq in 0..5 {
            f.push("a", seq, Act::Flaky(seq % 2), 10);
            f.push("b", seq, Act::Ok, 10);
        }
        f.settle().await;
        let tried = f.log.tried.lock().unwrap().clone();
        for lane in ["a", "b"] {
            let mut seqs: Vec<u32> = tried
                .iter()
                .filter(|(l, _)| *l == lane)
                .map(|(_, s)| *s)
                .collect();
            seqs.dedup();
            assert_eq!(seqs, [0, 1, 2, 3, 4], "lane {lane}: {tried:?}");
        }
        let delivered = f
            .outcomes()
            .iter()
            .filter(|(_, o)| *o == Outcome::Delivered)
            .count();
        assert_eq!(delivered, 10);
        assert_eq!(f.log.retried.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn past_capacity_a_delivery_is_dropped_and_counted() {
        let f = Fixture::new(2, 10, tokio::runtime::Handle::current());
        let gate = Arc::new(Semaphore::new(0));
        f.push("a", 0, Act::Gate(gate.clone()), 1);
        f.push("b", 0, Act::Gate(gate.clone()), 1);
        f.push("c", 0, Act::Ok, 1);
        assert_eq!(f.lanes.queued(), 2);
        assert_eq!(*f.log.queued.lock().unwrap(), 2);
        assert_eq!(f.outcomes(), [("c", Outcome::Dropped)]);
        gate.add_permits(2);
        f.settle().await;
        assert_eq!(f.outcomes().len(), 3);
        assert_eq!(f.log.tried.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn clear_drops_what_waits_and_what_is_retried() {
        let f = Fixture::new(10, 10, tokio::runtime::Handle::current());
        let gate = Arc::new(Semaphore::new(0));
        // Lane a: the front is being tried (held at the gate), two wait behind it.
        f.push("a", 0, Act::Gate(gate.clone()), 1);
        f.push("a", 1, Act::Ok, 1);
        f.push("a", 2, Act::Ok, 1);
        // Lane b: retried for ever.
        f.push("b", 0, Act::Flaky(u32::MAX), u32::MAX);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(f.lanes.clear(), 4);
        assert_eq!(
            f.outcomes()
                .iter()
                .filter(|(_, o)| *o == Outcome::Dropped)
                .count(),
            2,
            "the two waiting in lane a at once"
        );
        // The try under way ends as it ends; nothing after it is tried.
        gate.add_permits(1);
        // (Not `settle`: the background takes no more jobs once drained.)
        for _ in 0..500 {
            if f.lanes.queued() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(f.lanes.queued(), 0);
        let tried = f.log.tried.lock().unwrap().clone();
        assert!(
            !tried.contains(&("a", 1)) && !tried.contains(&("a", 2)),
            "{tried:?}"
        );
        assert!(f.outcomes().contains(&("b", Outcome::Dropped)));
        // A lane works as before after a clear.
        f.push("a", 3, Act::Ok, 1);
        f.settle().await;
        assert!(f.outcomes().contains(&("a", Outcome::Delivered)));
        assert!(f.log.tried.lock().unwrap().contains(&("a", 3)));
    }

    #[tokio::test]
    async fn clear_takes_a_lane_whose_worker_just_emptied_it() {
        let f = Fixture::new(10, 10, tokio::runtime::Handle::current());
        // What a worker leaves between taking its last job off and looking again.
        f.lanes
            .inner
            .state
            .lock()
            .unwrap()
            .lanes
            .insert("emptied".into(), VecDeque::new());
        assert_eq!(f.lanes.clear(), 0);
        f.lanes.inner.state.lock().unwrap().lanes.clear();
        f.push("a", 0, Act::Ok, 1);
        f.settle().await;
        assert!(f.outcomes().contains(&("a", Outcome::Delivered)));
    }

    #[tokio::test]
    async fn retries_then_gives_up() {
        let f = Fixture::new(10, 10, tokio::runtime::Handle::current());
        f.push("a", 0, Act::Flaky(u32::MAX), 3);
        f.push("a", 1, Act::Refuse, 3);
        f.settle().await;
        assert_eq!(
            *f.log.gave_up.lock().unwrap(),
            [
                ("retry: down".to_string(), 3),
                ("refused: no such target".to_string(), 1)
            ]
        );
        assert_eq!(f.log.retried.load(Ordering::SeqCst), 2);
        assert_eq!(
            f.outcomes(),
            [("a", Outcome::DeadLettered), ("a", Outcome::DeadLettered)]
        );
    }

    #[tokio::test]
    async fn a_stuck_lane_holds_no_other() {
        let f = Fixture::new(10, 10, tokio::runtime::Handle::current());
        let gate = Arc::new(Semaphore::new(0));
        f.push("stuck", 0, Act::Gate(gate.clone()), 1);
        f.push("stuck", 1, Act::Ok, 1);
        f.push("free", 0, Act::Ok, 1);
        f.push("free", 1, Act::Ok, 1);
        tokio::time::timeout(Duration::from_secs(5), async {
            while f.outcomes().len() < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the free lane delivers");
        assert_eq!(
            f.outcomes(),
            [("free", Outcome::Delivered), ("free", Outcome::Delivered)]
        );
        assert_eq!(f.lanes.queued(), 2);
        gate.add_permits(1);
        f.settle().await;
        assert_eq!(f.outcomes().len(), 4);
    }

    #[test]
    fn what_a_cancelled_worker_leaves_is_dropped_and_counted() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let f = Fixture::new(10, 10, rt.handle().clone());
        let gate = Arc::new(Semaphore::new(0));
        f.push("a", 0, Act::Gate(gate), 1);
        f.push("a", 1, Act::Ok, 1);
        f.push("a", 2, Act::Ok, 1);
        rt.block_on(async {
            while f.log.tried.lock().unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        // The edge stops: the runtime drops the worker mid-delivery.
        rt.shutdown_timeout(Duration::from_secs(5));
        assert_eq!(f.outcomes(), [("a", Outcome::Dropped); 3]);
        assert_eq!(f.lanes.queued(), 0);
        assert_eq!(*f.log.queued.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn an_unstarted_worker_leaves_its_lane_dropped_and_counted() {
        let f = Fixture::new(10, 0, tokio::runtime::Handle::current());
        f.push("a", 0, Act::Ok, 1);
        assert_eq!(f.outcomes(), [("a", Outcome::Dropped)]);
        assert_eq!(f.lanes.queued(), 0);
        // The lane is gone, so the next push tries to start a worker again.
        f.push("a", 1, Act::Ok, 1);
        assert_eq!(f.outcomes().len(), 2);
        assert!(f.log.tried.lock().unwrap().is_empty());
    }

    #[test]
    fn retry_backs_off_and_validates_at_its_keys() {
        let r = Retry::default();
        assert_eq!(r.backoff(1), Duration::from_millis(100));
        assert_eq!(r.backoff(2), Duration::from_millis(200));
        assert_eq!(r.backoff(u32::MAX), Duration::from_secs(10));
        assert_eq!(r.next(1_000_000), Some(Duration::from_secs(10)));
        let limited = Retry {
            max_attempts: 3,
            ..r
        };
        assert_eq!(limited.next(2), Some(Duration::from_millis(200)));
        assert_eq!(limited.next(3), None);
        assert!(r.validate("retry").is_empty());
        let bad = Retry {
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::from_secs(7200),
            max_attempts: 0,
        };
        let errors = bad.validate("x.retry");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["x.retry.initial_backoff", "x.retry.max_backoff"]);
        let inverted = Retry {
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(1),
            max_attempts: 0,
        };
        assert_eq!(
            inverted.validate("retry")[0].message,
            "must be at least retry.initial_backoff"
        );
    }
}
