//! The control plane, read through the routed upstream: an API's resources, methods,
//! integrations and stages, and which API keys open which stages. Answers are cached; any
//! control-plane change that goes through the edge drops the cache at once, and `cache_ttl`
//! bounds how stale it gets when changes reach the backend some other way.

use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use edgestack_core::{aws::AwsClient, UpstreamName};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::model::{ApiKey, Page, PlanKey, Resource, Stage, UsagePlan};

/// What the control plane says about one API.
#[derive(Debug, Default)]
pub struct Api {
    /// Its resources, with methods and integrations.
    pub resources: Vec<Resource>,
    /// Its stages by name.
    pub stages: HashMap<String, Stage>,
}

/// Which `(api, stage, key value)` triples an enabled key in a usage plan opens.
#[derive(Debug, Default)]
pub struct KeyIndex {
    open: HashSet<(String, String, String)>,
}

impl KeyIndex {
    /// True when `key` may call `stage` of `api`.
    pub fn allows(&self, api: &str, stage: &str, key: &str) -> bool {
        self.open
            .contains(&(api.to_string(), stage.to_string(), key.to_string()))
    }
}

/// Where the control plane of a request lives: its upstream and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Place {
    /// The upstream the request was routed to.
    pub upstream: UpstreamName,
    /// The region of the API.
    pub region: String,
}

/// Reads the control plane, with a cache.
#[derive(Debug)]
pub struct ControlPlane {
    ttl: Duration,
    generation: AtomicU64,
    apis: Cache<(Place, String), Option<Arc<Api>>>,
    keys: Cache<Place, Arc<KeyIndex>>,
}

impl ControlPlane {
    /// A control plane whose answers are kept for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        ControlPlane {
            ttl,
            generation: AtomicU64::new(0),
            apis: Cache::default(),
            keys: Cache::default(),
        }
    }

    /// Forgets everything (the control plane changed).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.apis.clear();
        self.keys.clear();
    }

    /// The API `id` at `place`, `None` when the control plane does not know it.
    pub async fn api(
        &self,
        client: &AwsClient,
        place: &Place,
        id: &str,
    ) -> Result<Option<Arc<Api>>, String> {
        if !is_id(id) {
            // Nothing to ask, and nothing to keep: a client cannot fill the cache with junk.
            return Ok(None);
        }
        let key = (place.clone(), id.to_string());
        if let Some(v) = self.apis.get(&key, self.ttl) {
            return Ok(v);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let api = load_api(client, place, id).await?.map(Arc::new);
        self.store(&self.apis, key, api.clone(), generation);
        Ok(api)
    }

    /// Which keys open which stages at `place`.
    pub async fn keys(&self, client: &AwsClient, place: &Place) -> Result<Arc<KeyIndex>, String> {
        if let Some(v) = self.keys.get(place, self.ttl) {
            return Ok(v);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let index = Arc::new(load_keys(client, place).await?);
        self.store(&self.keys, place.clone(), index.clone(), generation);
        Ok(index)
    }

    /// Keeps `value` unless the control plane changed while it was read.
    fn store<K: Eq + Hash, V: Clone>(&self, cache: &Cache<K, V>, key: K, value: V, read_at: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = cache.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::SeqCst) != read_at {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}

/// The most answers one cache keeps (unknown API ids are cached too, so this bounds what
/// clients asking for many of them can make the edge hold).
const MAX_ENTRIES: usize = 4096;

#[derive(Debug)]
struct Cache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    fn get(&self, key: &K, ttl: Duration) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((at, v)) if at.elapsed() < ttl => Some(v.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// True for the ids API Gateway hands out (and nothing that could escape the path).
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn load_api(client: &AwsClient, place: &Place, id: &str) -> Result<Option<Api>, String> {
    if !is_id(id) {
        return Ok(None);
    }
    let resources_uri = format!("/restapis/{id}/resources?embed=methods&limit=500");
    let stages_uri = format!("/restapis/{id}/stages");
    let resources = get_all::<Resource>(client, place, &resources_uri);
    let stages = get::<Page<Stage>>(client, place, &stages_uri);
    let (resources, stages) = tokio::join!(resources, stages);
    let Some(resources) = resources? else {
        return Ok(None);
    };
    let stages = stages?.map(|p| p.item).unwrap_or_default();
    Ok(Some(Api {
        resources,
        stages: stages
            .into_iter()
            .map(|s| (s.stage_name.clone(), s))
            .collect(),
    }))
}

async fn load_keys(client: &AwsClient, place: &Place) -> Result<KeyIndex, String> {
    let keys = get_all::<ApiKey>(client, place, "/apikeys?includeValues=true&limit=500");
    let plans = get_all::<UsagePlan>(client, place, "/usageplans?limit=500");
    let (keys, plans) = tokio::join!(keys, plans);
    let values: HashMap<String, String> = keys?
        .unwrap_or_default()
        .into_iter()
        .filter(|k| k.enabled)
        .filter_map(|k| Some((k.id, k.value?)))
        .collect();
    let mut open = HashSet::new();
    for plan in plans?.unwrap_or_default() {
        if plan.api_stages.is_empty() || !is_id(&plan.id) {
            continue;
        }
        let members = get_all::<PlanKey>(
            client,
            place,
            &format!("/usageplans/{}/keys?limit=500", plan.id),
        )
        .await?
        .unwrap_or_default();
        for member in members {
            let Some(value) = values.get(&member.id) else {
                continue;
            };
            for s in &plan.api_stages {
                open.insert((s.api_id.clone(), s.stage.clone(), value.clone()));
            }
        }
    }
    Ok(KeyIndex { open })
}

/// Every page of a list; `None` when the control plane answers 404.
async fn get_all<T: DeserializeOwned>(
    client: &AwsClient,
    place: &Place,
    first: &str,
) -> Result<Option<Vec<T>>, String> {
    let mut items = Vec::new();
    let mut position: Option<String> = None;
    for _ in 0..1000 {
        let uri = match &position {
            None => first.to_string(),
            Some(p) => format!(
                "{first}&position={}",
                percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC)
            ),
        };
        let Some(page) = get::<Page<T>>(client, place, &uri).await? else {
            return Ok(None);
        };
        items.extend(page.item);
        match page.position {
            Some(p) if !p.is_empty() && Some(&p) != position.as_ref() => position = Some(p),
            _ => return Ok(Some(items)),
        }
    }
    Ok(Some(items))
}

/// One GET; `None` on 404.
async fn get<T: DeserializeOwned>(
    client: &AwsClient,
    place: &Place,
    uri: &str,
) -> Result<Option<T>, String> {
    let req = http::Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(http::header::ACCEPT, "application/json")
        .body(Bytes::new())
        .map_err(|e| e.to_string())?;
    let resp = client
        .send_to(&place.upstream, "apigateway", &place.region, req)
        .await
        .map_err(|e| e.to_string())?;
    match resp.status() {
        StatusCode::NOT_FOUND => Ok(None),
        s if s.is_success() => serde_json::from_slice(resp.body()).map(Some).map_err(|e| {
            format!("control plane answered GET {uri} with JSON edgestack cannot read: {e}")
        }),
        s => Err(format!(
            "control plane answered GET {uri} with {s}: {}",
            String::from_utf8_lossy(&resp.body()[..resp.body().len().min(300)])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place {
        Place {
            upstream: UpstreamName::new("moto"),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn an_answer_read_before_an_invalidation_is_not_kept() {
        let cp = ControlPlane::new(Duration::from_secs(60));
        let key = (place(), "a".to_string());
        let read_at = cp.generation.load(Ordering::SeqCst);
        cp.invalidate();
        cp.store(&cp.apis, key.clone(), None, read_at);
        assert!(cp.apis.get(&key, cp.ttl).is_none());
        let read_at = cp.generation.load(Ordering::SeqCst);
        cp.store(
            &cp.apis,
            key.clone(),
            Some(Arc::new(Api::default())),
            read_at,
        );
        assert!(cp.apis.get(&key, cp.ttl).unwrap().is_some());
        cp.invalidate();
        assert!(cp.apis.get(&key, cp.ttl).is_none());
    }

    #[test]
    fn the_cache_stays_bounded_and_zero_ttl_keeps_nothing() {
        let cp = ControlPlane::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 10 {
            cp.store(&cp.apis, (place(), format!("api{i}")), None, 0);
        }
        assert!(cp.apis.entries.lock().unwrap().len() <= MAX_ENTRIES);
        let none = ControlPlane::new(Duration::ZERO);
        none.store(&none.apis, (place(), "a".into()), None, 0);
        assert!(none.apis.entries.lock().unwrap().is_empty());
        assert!(!is_id("a/../b") && !is_id("") && is_id("abc-DEF_1"));
    }
}
