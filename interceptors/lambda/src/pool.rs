//! Warm execution environments, per function configuration, and the limits on them.
//!
//! One environment runs one invocation at a time. An invocation takes an idle environment
//! of its configuration ([`FunctionConfig::fingerprint`]) when there is one (warm), else
//! starts a new one (cold). Limits, checked before anything starts:
//! - the function's reserved concurrency (`PutFunctionConcurrency`): invocations of the
//!   function running at once;
//! - `max_concurrency`: invocations running at once, all functions together; it also bounds
//!   the processes alive, so a cold start at the bound first stops the longest-idle
//!   environment of any function.
//!
//! Past a limit the invocation is throttled (429 `TooManyRequestsException`, as Lambda).
//! Idle environments are stopped after `idle_timeout`; all of a function's environments are
//! dropped when its code or configuration changes ([`Pools::invalidate`]), those running
//! once their invocation ends.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use edgestack_core::Background;

use crate::{function::FunctionConfig, metrics::Metrics, runtime::Environment};

/// Why an invocation may not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The function's reserved concurrency is in use (or is 0).
    Reserved,
    /// `max_concurrency` invocations are running.
    Global,
}

/// The environments of all functions. Cheap to clone.
#[derive(Clone)]
pub struct Pools {
    state: Arc<Mutex<State>>,
    max: usize,
    idle_timeout: Duration,
    metrics: Metrics,
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Pools")
            .field("busy", &s.busy)
            .field("alive", &s.alive)
            .field("max", &self.max)
            .finish()
    }
}

#[derive(Default)]
struct State {
    /// Idle environments by fingerprint, most recently used last.
    idle: HashMap<String, Vec<Idle>>,
    /// Running invocations by function name.
    busy_by_function: HashMap<String, u32>,
    busy: usize,
    /// Environments alive (busy or idle).
    alive: usize,
    /// Bumped when a function's code or configuration changes: leases of an older
    /// generation do not go back to the pool.
    generation: HashMap<String, u64>,
    /// Bumped by [`Pools::reset`]: no lease taken before goes back to the pool.
    epoch: u64,
    next_env: u64,
    reaper: bool,
}

struct Idle {
    env: Environment,
    function: String,
    since: Instant,
}

/// The right to run one invocation of a function: a warm environment, or permission to
/// start one. Dropping it without [`Pools::release`] frees its slot (and stops the
/// environment, if it holds one).
pub struct Lease {
    pools: Pools,
    function: String,
    fingerprint: String,
    generation: u64,
    /// [`State::epoch`] when it was taken.
    epoch: u64,
    /// The warm environment, when one was idle.
    pub env: Option<Environment>,
    /// The id to give a new environment.
    pub env_id: u64,
    done: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("function", &self.function)
            .field("warm", &self.env.is_some())
            .finish()
    }
}

impl Pools {
    /// No environments yet; at most `max` invocations at once.
    pub fn new(max: usize, idle_timeout: Duration, metrics: Metrics) -> Pools {
        Pools {
            state: Arc::default(),
            max,
            idle_timeout,
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for one invocation of `f`: a warm environment when one is idle.
    pub fn acquire(&self, f: &FunctionConfig) -> Result<Lease, Throttle> {
        let fingerprint = f.fingerprint();
        let mut stopped = Vec::new();
        let lease = {
            let mut s = self.lock();
            let running = s.busy_by_function.get(&f.name).copied().unwrap_or(0);
            if f.reserved_concurrency.is_some_and(|r| running >= r) {
                return Err(Throttle::Reserved);
            }
            if s.busy >= self.max {
                return Err(Throttle::Global);
            }
            let env = s.idle.get_mut(&fingerprint).and_then(|v| v.pop());
            if s.idle.get(&fingerprint).is_some_and(|v| v.is_empty()) {
                s.idle.remove(&fingerprint);
            }
            let env = env.map(|i| i.env);
            if env.is_none() {
                // A new process: stay within the bound by stopping the longest-idle one.
                while s.alive >= self.max {
                    match oldest_idle(&mut s) {
                        Some(i) => {
                            s.alive -= 1;
                            stopped.push(i);
                        }
                        None => break,
                    }
                }
                s.alive += 1;
                self.metrics
                    .environments
                    .with_label_values(&[f.name.as_str()])
                    .inc();
            }
            s.busy += 1;
            *s.busy_by_function.entry(f.name.clone()).or_default() += 1;
            s.next_env += 1;
            Lease {
                pools: self.clone(),
                function: f.name.clone(),
                fingerprint,
                generation: s.generation.get(&f.name).copied().unwrap_or(0),
                epoch: s.epoch,
                env,
                env_id: s.next_env,
                done: false,
            }
        };
        for i in stopped {
            self.stopped(&i.function);
            drop(i.env);
        }
        Ok(lease)
    }

    /// Ends a lease: the environment goes back to the pool when it is still alive and its
    /// function has not changed since the lease was taken; else it is stopped.
    pub fn release(&self, mut lease: Lease, env: Option<Environment>) {
        lease.done = true;
        let mut env = env;
        let mut stop = None;
        {
            let mut s = self.lock();
            s.busy = s.busy.saturating_sub(1);
            if let Some(n) = s.busy_by_function.get_mut(&lease.function) {
                *n = n.saturating_sub(1);
            }
            let current = s.generation.get(&lease.function).copied().unwrap_or(0);
            let fresh = current == lease.generation && lease.epoch == s.epoch;
            match env.take() {
                Some(e) if fresh && e.is_alive() => {
                    s.idle
                        .entry(std::mem::take(&mut lease.fingerprint))
                        .or_default()
                        .push(Idle {
                            env: e,
                            function: lease.function.clone(),
                            since: Instant::now(),
                        });
                }
                Some(e) => {
                    s.alive = s.alive.saturating_sub(1);
                    stop = Some(e);
                }
                None => {
                    // The environment died (timeout, exit) or never started.
                    s.alive = s.alive.saturating_sub(1);
                    self.metrics
                        .environments
                        .with_label_values(&[lease.function.as_str()])
                        .dec();
                }
            }
        }
        if let Some(e) = stop {
            self.stopped(&lease.function);
            drop(e);
        }
    }

    /// Drops every idle environment of `function` and keeps running ones from coming back:
    /// its code or configuration changed, or it was deleted.
    pub fn invalidate(&self, function: &str) {
        let mut stopped = Vec::new();
        {
            let mut s = self.lock();
            *s.generation.entry(function.to_string()).or_default() += 1;
            for list in s.idle.values_mut() {
                let (gone, keep): (Vec<Idle>, Vec<Idle>) =
                    list.drain(..).partition(|i| i.function == function);
                *list = keep;
                stopped.extend(gone);
            }
            s.idle.retain(|_, v| !v.is_empty());
            s.alive = s.alive.saturating_sub(stopped.len());
        }
        for i in stopped {
            self.stopped(&i.function);
        }
    }

    /// Environments alive (busy or idle) of `function`.
    pub fn environments(&self, function: &str) -> usize {
        self.metrics
            .environments
            .with_label_values(&[function])
            .get()
            .max(0) as usize
    }

    /// The process ids of `function`'s idle environments (for tests and the admin API).
    pub fn idle_pids(&self, function: &str) -> Vec<u32> {
        self.lock()
            .idle
            .values()
            .flatten()
            .filter(|i| i.function == function)
            .filter_map(|i| i.env.pid())
            .collect()
    }

    /// Stops every idle environment, and every busy one once its invocation ends (a state
    /// reset: the functions are gone). Returns how many were stopped now.
    pub fn reset(&self) -> usize {
        let all: Vec<Idle> = {
            let mut s = self.lock();
            s.epoch += 1;
            let all: Vec<Idle> = s.idle.drain().flat_map(|(_, v)| v).collect();
            s.alive = s.alive.saturating_sub(all.len());
            all
        };
        let n = all.len();
        for i in all {
            tracing::debug!(target: "edgestack::lambda", "{}: environment #{} stopped (reset)", i.function, i.env.id());
            self.stopped(&i.function);
        }
        n
    }

    /// Stops every environment (the edge is stopping).
    pub fn shutdown(&self) {
        let all: Vec<Idle> = {
            let mut s = self.lock();
            let all: Vec<Idle> = s.idle.drain().flat_map(|(_, v)| v).collect();
            s.alive = s.alive.saturating_sub(all.len());
            all
        };
        for i in all {
            self.stopped(&i.function);
        }
    }

    fn stopped(&self, function: &str) {
        self.metrics
            .environments
            .with_label_values(&[function])
            .dec();
    }

    /// Stops idle environments older than the idle timeout; returns how many.
    pub fn reap(&self) -> usize {
        let now = Instant::now();
        let mut stopped = Vec::new();
        {
            let mut s = self.lock();
            for list in s.idle.values_mut() {
                let (gone, keep): (Vec<Idle>, Vec<Idle>) = list
                    .drain(..)
                    .partition(|i| now.duration_since(i.since) >= self.idle_timeout);
                *list = keep;
                stopped.extend(gone);
            }
            s.idle.retain(|_, v| !v.is_empty());
            s.alive = s.alive.saturating_sub(stopped.len());
        }
        let n = stopped.len();
        for i in stopped {
            tracing::debug!(target: "edgestack::lambda", "{}: idle environment #{} stopped", i.function, i.env.id());
            self.stopped(&i.function);
        }
        n
    }

    /// Starts the idle reaper once, as a service of the edge: it stops idle environments
    /// past the idle timeout, and every environment when the edge stops (or when its runtime
    /// goes away).
    pub fn start_reaper(&self, background: &Background) {
        {
            let mut s = self.lock();
            if s.reaper {
                return;
            }
            s.reaper = true;
        }
        let pools = self.clone();
        let every =
            (self.idle_timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
        let started = background.spawn_service("lambda environments", move |stopping| async move {
            // Stops everything when the edge stops, and also when the task is dropped (a
            // runtime shut down without draining).
            let _guard = ShutdownGuard(pools.clone());
            loop {
                tokio::select! {
                    _ = stopping.wait() => return,
                    _ = tokio::time::sleep(every) => {
                        pools.reap();
                    }
                }
            }
        });
        if started.is_err() {
            self.lock().reaper = false;
        }
    }
}

/// Stops every idle environment when dropped.
struct ShutdownGuard(Pools);

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// Removes the environment idle the longest, of any function.
fn oldest_idle(s: &mut State) -> Option<Idle> {
    let key = s
        .idle
        .iter()
        .filter_map(|(k, v)| v.first().map(|i| (k.clone(), i.since)))
        .min_by_key(|(_, since)| *since)?
        .0;
    let list = s.idle.get_mut(&key)?;
    let i = list.remove(0);
    if list.is_empty() {
        s.idle.remove(&key);
    }
    Some(i)
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            let env = self.env.take();
            let pools = self.pools.clone();
            let lease = Lease {
                pools: self.pools.clone(),
                function: std::mem::take(&mut self.function),
                fingerprint: std::mem::take(&mut self.fingerprint),
                generation: self.generation,
                epoch: self.epoch,
                env: None,
                env_id: self.env_id,
                done: true,
            };
            // Dropped mid-invocation (the client went away): the environment's state is
            // unknown, so it is stopped rather than reused.
            drop(env);
            pools.release(lease, None);
        }
    }
}
