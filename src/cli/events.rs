//! `baton events`: stored events, or the live stream with `--follow`.

use baton_actors::model::{Event, SessionId};
use futures_util::StreamExt as _;

use super::context::Context;
use super::output;

/// Options of `baton events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Only events of this session.
    #[arg(long)]
    session: Option<SessionId>,
    /// Keep printing events as they happen, until interrupted.
    #[arg(long, short)]
    follow: bool,
    /// Only events after this sequence number.
    #[arg(long, value_name = "SEQ")]
    after: Option<u64>,
    /// At most this many stored events (without --follow).
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

/// Prints events, one a line (JSON lines with --json).
pub async fn run(context: &Context, args: EventsArgs) -> anyhow::Result<()> {
    let client = context.connect().await?;
    let mut query = Vec::new();
    if let Some(session) = args.session {
        query.push(format!("session={session}"));
    }
    if let Some(after) = args.after {
        query.push(format!("after={after}"));
    }
    if !args.follow {
        query.push(format!("limit={}", args.limit));
        let events: Vec<Event> = client.get(&format!("/v1/events/log?{}", query.join("&"))).await?;
        if context.json {
            return output::json(&events);
        }
        return events.iter().try_for_each(|event| print_event(event, false));
    }
    let mut stream = client.events(&format!("/v1/events?{}", query.join("&"))).await?;
    while let Some(data) = stream.next().await {
        let event: Event = serde_json::from_str(&data?)?;
        print_event(&event, context.json)?;
    }
    Ok(())
}

fn print_event(event: &Event, json: bool) -> anyhow::Result<()> {
    if json {
        return output::line(serde_json::to_string(event)?);
    }
    let mut details = serde_json::to_value(&event.kind)?;
    if let Some(object) = details.as_object_mut() {
        object.remove("type");
    }
    output::line(format_args!(
        "{:>6}  {}  {:<22}  {}  {}",
        event.seq,
        event.at.format("%F %T%.3f"),
        event.kind.name(),
        output::or_dash(event.session),
        details
    ))
}
