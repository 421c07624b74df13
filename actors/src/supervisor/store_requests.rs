//! Requests about the store as a whole: checking it and backing it up.
//!
//! They are handled here, on the engine's thread, because every write is
//! made on it: while one runs, nothing writes, so what it reads is one
//! moment of the store. That moment costs the engine its thread for as long
//! as the store takes to read, which `baton doctor` and `baton backup` say.

use actix::prelude::*;

use super::Supervisor;
use crate::error::EngineError;
use crate::messages::{BackupStore, CheckStore};
use crate::store::{CommitRecord, StoreCheck};

impl Handler<CheckStore> for Supervisor {
    type Result = Result<StoreCheck, EngineError>;

    fn handle(&mut self, _: CheckStore, _: &mut Context<Self>) -> Self::Result {
        Ok(self.engine.store.check()?)
    }
}

impl Handler<BackupStore> for Supervisor {
    type Result = Result<CommitRecord, EngineError>;

    fn handle(&mut self, BackupStore { dest }: BackupStore, _: &mut Context<Self>) -> Self::Result {
        Ok(self.engine.store.backup(&dest)?)
    }
}
