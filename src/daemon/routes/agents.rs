//! Agents: spawn, list, show, stop, restart, logs.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use baton_actors::model::{Agent, AgentId, AgentLimits, AgentState, SessionId};
use baton_actors::process::{AgentTree, OutputStream, TreeUsage, tail_lines};
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;

use super::bounds;
use crate::api::{AgentLogs, AgentUsage, AgentView, ErrorBody, ErrorCode, SpawnAgentRequest, StopAgentRequest};
use crate::daemon::error::ApiError;
use crate::daemon::state::AppState;
use crate::{Baton, SpawnAgent};
use baton_actors::model::bounds::{AGENT_MAX_RSS, AGENT_TIME_LIMIT, STOP_GRACE};

/// How many lines of each stream a view carries.
const VIEW_TAIL_LINES: usize = 5;

/// Spawns an agent: answers once its record is durable, `running` with its
/// pid, `queued` at a cap, or `failed` when its command could not start. An
/// empty `argv` with a `role` runs the role's template from the daemon's config.
#[utoipa::path(
    post, path = "/v1/agents", tag = "agents",
    request_body = SpawnAgentRequest,
    responses(
        (status = 200, description = "The agent, once durable", body = AgentView),
        (status = 400, body = ErrorBody), (status = 404, description = "No such session", body = ErrorBody),
        (status = 409, description = "The session is closing or ended", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/agents")]
pub async fn spawn(
    state: web::Data<AppState>,
    body: super::JsonObject<SpawnAgentRequest>,
) -> Result<web::Json<AgentView>, ApiError> {
    let message = spawn_message(body.into_inner())?;
    let agent = state.baton.spawn_agent(message).await?;
    Ok(web::Json(unmeasured_view(&state.baton, agent).await?))
}

/// Says in the API document what the derive cannot of a spawn request:
/// either `argv` names a program (its first item is not empty), or it is
/// empty or absent and `role` names the template to run; and the names of
/// `env` are not empty and hold no `=` or NUL.
pub struct SpawnRequestShape;

impl utoipa::Modify for SpawnRequestShape {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, Type};
        let Some(components) = document.components.as_mut() else { return };
        let Some(mut fields) = components.schemas.remove("SpawnAgentRequest") else { return };
        // A variable's name is not empty and holds no `=` and no NUL.
        if let RefOr::T(Schema::Object(object)) = &mut fields {
            if let Some(RefOr::T(Schema::Object(env))) = object.properties.get_mut("env") {
                let name = ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[^=\u0000]+$"));
                env.property_names = Some(Box::new(Schema::Object(name.build())));
            }
        }
        let program = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1));
        let mut command =
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)).min_items(Some(1)).build();
        command.prefix_items = vec![Schema::Object(program.build())];
        let with_command = ObjectBuilder::new()
            .description(Some("A command: its program is named."))
            .property("argv", command)
            .required("argv");
        let from_template = ObjectBuilder::new()
            .description(Some("A role's template: no command, and a role."))
            .property(
                "argv",
                ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)).max_items(Some(0)),
            )
            .property("role", ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"\S")))
            .required("role");
        let shape = AllOfBuilder::new()
            .description(Some("An agent to spawn: a command, or (with no command) a role whose template to run."))
            .item(fields)
            .item(AnyOfBuilder::new().item(with_command).item(from_template));
        components.schemas.insert("SpawnAgentRequest".into(), shape.into());
    }
}

/// The engine's message for a spawn request; a bad value is an error before
/// anything is spawned.
fn spawn_message(request: SpawnAgentRequest) -> Result<SpawnAgent, ApiError> {
    let SpawnAgentRequest {
        session,
        argv,
        role,
        cwd,
        caller_cwd,
        env,
        restart: policy,
        max_restarts,
        max_runtime_ms,
        stale_after_ms,
        max_rss_bytes,
        max_cpu_time_ms,
        stdin_pipe,
        priority,
        on_shutdown,
        on_adopt,
    } = request;
    let limits = AgentLimits {
        max_runtime: bounds::millis_some("max_runtime_ms", max_runtime_ms, AGENT_TIME_LIMIT)?,
        stale_after: bounds::millis_some("stale_after_ms", stale_after_ms, AGENT_TIME_LIMIT)?,
        max_rss_bytes: max_rss_bytes.map(|bytes| bounds::count("max_rss_bytes", bytes, AGENT_MAX_RSS)).transpose()?,
        max_cpu_time: bounds::millis_some("max_cpu_time_ms", max_cpu_time_ms, AGENT_TIME_LIMIT)?,
    };
    let mut message = SpawnAgent::new(session, argv).stdin_pipe(stdin_pipe);
    if let Some(priority) = priority {
        message = message.priority(priority);
    }
    if let Some(policy) = on_shutdown {
        message = message.on_shutdown(policy);
    }
    if let Some(policy) = on_adopt {
        message = message.on_adopt(policy);
    }
    if let Some(role) = role {
        message = message.role(role);
    }
    if let Some(cwd) = cwd {
        message = message.cwd(cwd);
    }
    if let Some(cwd) = caller_cwd {
        message = message.caller_cwd(cwd);
    }
    for (key, value) in env {
        message = message.env(key, value);
    }
    if let Some(policy) = policy {
        message = message.restart(policy);
    }
    if let Some(max_restarts) = max_restarts {
        message = message.max_restarts(max_restarts);
    }
    Ok(message.limits(limits))
}

/// Which agents to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only the agents of this session.
    #[param(value_type = Option<uuid::Uuid>)]
    session: Option<SessionId>,
}

/// Lists agents, oldest first, each with what its process uses now.
#[utoipa::path(
    get, path = "/v1/agents", tag = "agents", params(ListQuery),
    responses((status = 200, body = Vec<AgentView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/v1/agents")]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Vec<AgentView>>, ApiError> {
    let agents = state.baton.agents(query.session).await?;
    // Measuring reads /proc and the log files: off the server's threads.
    let baton = state.baton.clone();
    Ok(web::Json(off_the_workers("measure the agents", move || measured_views(&baton, agents)).await?))
}

/// Shows one agent.
#[utoipa::path(
    get, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = uuid::Uuid, Path, description = "The agent id")),
    responses((status = 200, body = AgentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/v1/agents/{id}")]
pub async fn show(state: web::Data<AppState>, id: web::Path<AgentId>) -> Result<web::Json<AgentView>, ApiError> {
    let agent = state.baton.agent(id.into_inner()).await?;
    let baton = state.baton.clone();
    let mut views = off_the_workers("measure the agent", move || measured_views(&baton, vec![agent])).await?;
    Ok(web::Json(views.remove(0)))
}

/// Stops an agent: SIGTERM to its process group, SIGKILL after the grace
/// period; answers once it is stopped. One whose run is over is returned as it is.
#[utoipa::path(
    post, path = "/v1/agents/{id}/stop", tag = "agents",
    params(("id" = uuid::Uuid, Path, description = "The agent id")),
    request_body(content = Option<StopAgentRequest>, description = "Optional; `{}` or no body uses the default grace"),
    responses(
        (status = 200, body = AgentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/agents/{id}/stop")]
pub async fn stop(
    state: web::Data<AppState>,
    id: web::Path<AgentId>,
    request: HttpRequest,
    body: web::Payload,
) -> Result<web::Json<AgentView>, actix_web::Error> {
    let request: StopAgentRequest = super::optional_json(&request, body).await?;
    let grace = bounds::millis_some("grace_ms", request.grace_ms, STOP_GRACE)?;
    let agent = state.baton.stop_agent(id.into_inner(), grace).await.map_err(ApiError::from)?;
    Ok(web::Json(unmeasured_view(&state.baton, agent).await?))
}

/// Stops every queued or running agent of a session, all at once (the
/// session stays open); answers once every one is stopped.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/agents/stop", tag = "agents",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    request_body(content = Option<StopAgentRequest>, description = "Optional; `{}` or no body uses the default grace"),
    responses(
        (status = 200, description = "The agents stopped", body = Vec<AgentView>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/sessions/{id}/agents/stop")]
pub async fn stop_session(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    request: HttpRequest,
    body: web::Payload,
) -> Result<web::Json<Vec<AgentView>>, actix_web::Error> {
    let request: StopAgentRequest = super::optional_json(&request, body).await?;
    let grace = bounds::millis_some("grace_ms", request.grace_ms, STOP_GRACE)?;
    let agents = state.baton.stop_session_agents(id.into_inner(), grace).await.map_err(ApiError::from)?;
    let baton = state.baton.clone();
    let views = off_the_workers("read the agents' logs", move || {
        agents.into_iter().map(|agent| view(&baton, agent, None)).collect()
    });
    Ok(web::Json(views.await?))
}

/// Runs again an agent whose run is over (queued when a cap is reached).
#[utoipa::path(
    post, path = "/v1/agents/{id}/restart", tag = "agents",
    params(("id" = uuid::Uuid, Path, description = "The agent id")),
    responses(
        (status = 200, body = AgentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "It is still running", body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/agents/{id}/restart")]
pub async fn restart(state: web::Data<AppState>, id: web::Path<AgentId>) -> Result<web::Json<AgentView>, ApiError> {
    let agent = state.baton.restart_agent(id.into_inner()).await?;
    Ok(web::Json(unmeasured_view(&state.baton, agent).await?))
}

/// Which output, and how much of it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// `stdout` (the default) or `stderr`.
    #[param(pattern = "^(stdout|stderr)$")]
    stream: Option<String>,
    /// The last this many lines (default 100, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    lines: Option<usize>,
}

/// The last lines an agent wrote, as text, one line each.
#[utoipa::path(
    get, path = "/v1/agents/{id}/logs", tag = "agents",
    params(("id" = uuid::Uuid, Path, description = "The agent id"), LogsQuery),
    responses(
        (status = 200, description = "The lines, oldest first", body = String, content_type = "text/plain"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[get("/v1/agents/{id}/logs")]
pub async fn logs(
    state: web::Data<AppState>,
    id: web::Path<AgentId>,
    query: web::Query<LogsQuery>,
) -> Result<HttpResponse, ApiError> {
    let stream = match query.stream.as_deref() {
        None | Some("stdout") => OutputStream::Stdout,
        Some("stderr") => OutputStream::Stderr,
        Some(other) => return Err(ApiError::bad_request(format!("unknown stream {other:?}: stdout or stderr"))),
    };
    let lines = super::bounds::size("lines", query.lines.unwrap_or(100), super::bounds::LIST_LIMIT)?;
    let agent = state.baton.agent(id.into_inner()).await?;
    let path = state.baton.agent_logs(agent.id).of(stream).to_path_buf();
    let tail = off_the_workers("read the log", move || tail_or_empty(&path, lines)).await?;
    let mut text = String::new();
    for line in tail {
        text.push_str(&line);
        text.push('\n');
    }
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(text))
}

/// Runs `work`, which reads `/proc` or log files, on actix's blocking pool,
/// so that no HTTP worker waits on the disk; `what` names it in the error.
async fn off_the_workers<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    web::block(work).await.map_err(|err| ApiError::new(ErrorCode::Internal, format!("cannot {what}: {err}")))
}

/// An agent's view without its usage (the answer to a spawn, a stop or a
/// restart does not wait for a scan of `/proc`), its log tails read off the
/// HTTP workers.
async fn unmeasured_view(baton: &Baton, agent: Agent) -> Result<AgentView, ApiError> {
    let baton = baton.clone();
    off_the_workers("read the agent's logs", move || view(&baton, agent, None)).await
}

/// The last `n` lines of a log file; none when it does not exist yet or
/// cannot be read (logged).
fn tail_or_empty(path: &std::path::Path, n: usize) -> Vec<String> {
    match tail_lines(path, n) {
        Ok(lines) => lines,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => {
            tracing::warn!(cause = %err, path = %path.display(), "cannot read an agent's log");
            Vec::new()
        }
    }
}

/// An agent's record with its uptime and the tail of its output, and the
/// usage given (measured by the caller, which may measure many at once, or
/// not at all: a spawn's answer does not wait for a scan of `/proc`).
pub fn view(baton: &Baton, agent: Agent, usage: Option<&TreeUsage>) -> AgentView {
    let paths = baton.agent_logs(agent.id);
    let running = agent.state == AgentState::Running;
    let usage = usage.filter(|usage| running && !usage.is_empty()).map(|usage| AgentUsage {
        rss_bytes: usage.rss_bytes,
        cpu_time_ms: u64::try_from(usage.cpu_time.as_millis()).unwrap_or(u64::MAX),
        processes: usage.processes(),
    });
    let uptime_ms = match agent.started_at {
        Some(started) if running => Some(u64::try_from((Utc::now() - started).num_milliseconds()).unwrap_or_default()),
        _ => None,
    };
    AgentView {
        usage,
        uptime_ms,
        stdout_tail: tail_or_empty(&paths.stdout, VIEW_TAIL_LINES),
        stderr_tail: tail_or_empty(&paths.stderr, VIEW_TAIL_LINES),
        logs: AgentLogs { stdout: paths.stdout, stderr: paths.stderr },
        agent,
    }
}

/// The views of `agents`, their usage measured with one scan of `/proc`;
/// run it off the server's threads (it reads `/proc` and the log files).
fn measured_views(baton: &Baton, agents: Vec<Agent>) -> Vec<AgentView> {
    let running: Vec<(u32, AgentTree)> = agents
        .iter()
        .filter(|agent| agent.state == AgentState::Running)
        .filter_map(|agent| Some((agent.pid?, agent.process_tree()?)))
        .collect();
    let usage =
        if running.is_empty() { Default::default() } else { TreeUsage::measure_trees(&running).unwrap_or_default() };
    agents
        .into_iter()
        .map(|agent| {
            let measured = agent.pid.and_then(|pid| usage.get(&pid));
            view(baton, agent, measured)
        })
        .collect()
}
