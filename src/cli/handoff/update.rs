//! `baton handoff ack | start | complete | fail | cancel`: one step of a
//! handoff's lifecycle, by an agent or an operator.

use crate::HandoffAction;
use baton_actors::model::{AgentId, Handoff, HandoffId};

use super::json_value;
use crate::api::HandoffActionRequest;
use crate::cli::UsageError;
use crate::cli::context::Context;
use crate::cli::output;

/// The variable baton sets in every agent's environment to its id.
const AGENT_ID_VAR: &str = "BATON_AGENT_ID";

/// Options of the lifecycle verbs.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The handoff's id.
    #[arg(value_name = "HANDOFF")]
    handoff: HandoffId,
    /// What the receiver hands back, as JSON (on complete or fail).
    #[arg(long, value_name = "JSON", value_parser = json_value)]
    result: Option<serde_json::Value>,
    /// Why, kept in the handoff's history.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// The agent taking the step [default: $BATON_AGENT_ID; an operator when it is unset].
    #[arg(long = "as", value_name = "AGENT")]
    as_agent: Option<AgentId>,
    /// Take the step as an operator, who may take any, even inside an agent.
    #[arg(long, conflicts_with = "as_agent")]
    operator: bool,
}

impl UpdateArgs {
    /// The agent taking the step; none for an operator.
    fn by(&self) -> Result<Option<AgentId>, UsageError> {
        if self.operator {
            return Ok(None);
        }
        if let Some(agent) = self.as_agent {
            return Ok(Some(agent));
        }
        match std::env::var(AGENT_ID_VAR) {
            Ok(id) if !id.trim().is_empty() => id.trim().parse().map(Some).map_err(|err| {
                UsageError(format!("{AGENT_ID_VAR}={id:?} is not an agent id ({err}); pass --as AGENT or --operator"))
            }),
            _ => Ok(None),
        }
    }
}

/// Takes the step and prints the handoff's new state (its record with `--json`).
pub async fn run(context: &Context, action: HandoffAction, args: UpdateArgs) -> anyhow::Result<()> {
    let request = HandoffActionRequest { by: args.by()?, result: args.result, note: args.note };
    let path = format!("/v1/handoffs/{}/{}", args.handoff, action.as_str());
    let handoff: Handoff = context.connect().await?.post(&path, &request).await?;
    if context.json {
        return output::json(&handoff);
    }
    output::line(handoff.state)
}
