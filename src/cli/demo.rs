//! `baton demo`: the engine in-process, for a first look.

use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt;

use super::DataDirArgs;
use crate::{Baton, OpenSession};

/// Options of `baton demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    data: DataDirArgs,
}

/// Opens a session kept across runs and one for this run, closes the latter,
/// and prints the sessions in the store and the events of this run.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut builder = Baton::builder();
        if let Some(dir) = args.data.data_dir {
            builder = builder.data_dir(dir);
        }
        let baton = builder.spawn().context("cannot start baton")?;
        println!("data dir: {}", baton.data_dir().display());
        let mut events = baton.subscribe();

        let kept = baton.open_session(OpenSession::named("demo").with_external_id("baton-demo")).await?;
        let run = baton.open_session(OpenSession::named("demo run")).await?;
        baton.close_session_because(run.id, "the demo run is over").await?;

        println!("\nsessions in the store (the \"demo\" one is the same on every run):");
        let sessions = baton.sessions().await?;
        println!("{:<36}  {:<7}  {:<8}  OPENED", "ID", "STATE", "NAME");
        for session in &sessions {
            let name = session.name.as_deref().unwrap_or("-");
            println!("{:<36}  {:<7}  {:<8}  {}", session.id, session.state, name, session.created_at.format("%F %T"));
        }

        println!("\nevents of this run:");
        while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(200), events.next()).await {
            println!("  #{:<4} {}", event.seq, serde_json::to_string(&event.kind)?);
        }
        println!("\nkept session: {}", kept.id);
        baton.shutdown().await?;
        Ok(())
    })
}
