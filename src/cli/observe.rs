//! `baton observe`: queue one observation in a session.

use std::io::Read as _;

use anyhow::Context as _;
use baton_actors::model::{Enqueued, ObservationKind, SessionId, payload};
use serde_json::value::RawValue;

use crate::api::ObserveRequest;
use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton observe`.
#[derive(Debug, clap::Args)]
pub struct ObserveArgs {
    /// The session whose queue takes it.
    #[arg(long, value_name = "ID")]
    session: SessionId,
    /// What it reports: tool_use, prompt, notification, summarize or custom.
    #[arg(long, default_value = "custom")]
    kind: ObservationKind,
    /// An idempotency key (such as a tool_use_id): posting it again returns the first sequence number.
    #[arg(long, value_name = "IDEMPOTENCY_KEY")]
    key: Option<String>,
    /// The payload, as JSON; read from stdin when absent.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    data: Option<Box<RawValue>>,
}

/// Checks that `text` is JSON the daemon will store; it is sent as it is.
fn parse_json(text: &str) -> Result<Box<RawValue>, String> {
    let payload: Box<RawValue> = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
    payload::check_json(payload.get()).map_err(|err| err.to_string())?;
    Ok(payload)
}

/// Queues the observation and prints its sequence number (or the answer with --json).
pub async fn run(context: &Context, args: ObserveArgs) -> anyhow::Result<()> {
    let payload = match args.data {
        Some(payload) => payload,
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read the payload from stdin")?;
            parse_json(&text).map_err(|err| anyhow::anyhow!("the payload on stdin: {err}"))?
        }
    };
    let request = ObserveRequest { kind: args.kind, key: args.key, payload };
    let path = format!("/v1/sessions/{}/observations", args.session);
    let enqueued: Enqueued = context.connect().await?.post(&path, &request).await?;
    if context.json {
        output::json(&enqueued)
    } else if enqueued.duplicate {
        output::line(format_args!("{} (already queued under this key)", enqueued.seq))
    } else {
        output::line(enqueued.seq)
    }
}
