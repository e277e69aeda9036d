//! Admission of new runs: a bound on the runs queued or running, the only thing that keeps memory bounded
//! when runs are offered faster than the workers end them (each unfinished run holds its timeline topic in
//! the broker and its registry entry).

use crate::{QueueError, RunsError, RunsService};
use dq_proto::runs::COMMANDS_TOPIC;

impl RunsService {
    /// Refuses a new run while `max_unfinished` runs are unfinished (their commands not settled by the workers'
    /// group); a broker that cannot say how many takes every run.
    pub(super) async fn admit(&self) -> Result<(), RunsError> {
        let Some(limit) = self.config.max_unfinished else {
            return Ok(());
        };
        match self
            .emitter
            .queue
            .unsettled(COMMANDS_TOPIC, &self.config.group)
            .await
        {
            Ok(Some(unfinished)) if unfinished >= limit => {
                Err(RunsError::TooManyUnfinished { unfinished, limit })
            }
            Ok(_) | Err(QueueError::Unsupported(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
