//! Webhook channel: each alarm event as an HTTP POST of JSON to a configured URL, with a
//! per-target timeout, retries with exponential backoff while the target is down, and an
//! optional body template for chat tools (`{"text": "{{severity}}: {{message}}"}`).
//!
//! Delivery is in order, one event at a time per target: a chat room should read alarms in the
//! order they happened. A 4xx answer (other than 408 and 429) means the target will never take
//! this body, so the event is dropped and counted rather than blocking every later one.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Backlog, ChannelStats, Event};
use crate::backoff::Backoff;
use crate::config::template::Template;
use crate::config::WebhookTarget;

/// The body for an event: the template filled in, or the event itself as JSON.
fn body(template: Option<&Template>, e: &Event) -> Result<String, String> {
    match template {
        None => serde_json::to_string(e).map_err(|x| x.to_string()),
        Some(t) => Ok(t.render(&serde_json::to_value(e).map_err(|x| x.to_string())?)),
    }
}

enum Failure {
    /// Try again later.
    Retry(String),
    /// The target refuses this event for good.
    Refused(String),
}

async fn send(client: &reqwest::Client, t: &WebhookTarget, body: String) -> Result<(), Failure> {
    let mut req = client
        .post(&t.url)
        .timeout(t.timeout)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in &t.headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let code = r.status().as_u16();
            let msg = format!("HTTP {code}");
            if (400..500).contains(&code) && code != 408 && code != 429 {
                Err(Failure::Refused(msg))
            } else {
                Err(Failure::Retry(msg))
            }
        }
        // Without the URL: it may be the secret (a chat webhook's key).
        Err(e) => Err(Failure::Retry(format!(
            "{:#} ({})",
            anyhow::Error::from(e.without_url()),
            crate::config::redacted_url(&t.url)
        ))),
    }
}

/// Delivers the events of one target until the engine goes away.
pub async fn run(t: WebhookTarget, mut rx: mpsc::Receiver<Arc<Event>>, stats: Arc<ChannelStats>) {
    let client = match reqwest::Client::builder().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("webhook {}: cannot build an HTTP client: {e}", t.name);
            return;
        }
    };
    let mut backlog = Backlog::new(t.backlog, stats.clone());
    let mut backoff = Backoff::new(t.retry_initial, t.retry_max);
    let mut down_since_logged = false;
    loop {
        if backlog.is_empty() {
            match rx.recv().await {
                Some(e) => backlog.push(e),
                None => return,
            }
        }
        backlog.drain_from(&mut rx);
        let Some(e) = backlog.front().cloned() else {
            continue;
        };
        // Tier n hears about an alarm once it has been escalated to n.
        if e.transition.severity < t.min_severity || e.transition.tier < t.tier {
            backlog.pop();
            continue;
        }
        let body = match body(t.template.as_ref(), &e) {
            Ok(b) => b,
            Err(err) => {
                tracing::error!("webhook {}: template: {err}", t.name);
                backlog.pop();
                ChannelStats::add(&stats.dropped);
                continue;
            }
        };
        match send(&client, &t, body).await {
            Ok(()) => {
                backlog.pop();
                ChannelStats::add(&stats.delivered);
                if down_since_logged {
                    tracing::info!("webhook {}: delivering again", t.name);
                    down_since_logged = false;
                }
                backoff.reset();
            }
            Err(Failure::Refused(why)) => {
                tracing::warn!(
                    "webhook {}: {} refused ({why}); dropped",
                    t.name,
                    e.transition.key
                );
                backlog.pop();
                ChannelStats::add(&stats.failures);
                ChannelStats::add(&stats.dropped);
            }
            Err(Failure::Retry(why)) => {
                ChannelStats::add(&stats.failures);
                if !down_since_logged {
                    tracing::warn!("webhook {}: {why}; retrying with backoff", t.name);
                    down_since_logged = true;
                }
                // Wait, but keep taking events in so the engine's queue never fills meanwhile.
                let wake = tokio::time::Instant::now() + backoff.next_delay();
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(wake) => break,
                        got = rx.recv() => match got {
                            Some(e) => backlog.push(e),
                            None => return,
                        },
                    }
                }
            }
        }
    }
}
