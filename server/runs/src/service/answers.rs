//! What the service answers about runs that exist: one run with its replays, pages of the registry, and the
//! DLQ records of runs dead-lettered now (`GET /dlq` and its filters, the starter's peek, one run's record).

use super::{DlqRecord, RunDetail, RunStatus, RunSummary, RunsError, RunsService, validate_run_id};

impl RunsService {
    /// One run with its status, input and replays.
    pub async fn run(&self, run_id: &str) -> Result<RunDetail, RunsError> {
        self.known(run_id).await?;
        self.refresh(run_id).await?;
        let registry = self.registry();
        let entry = registry.runs.get(run_id).ok_or(RunsError::RunNotFound)?;
        Ok(entry.detail())
    }

    /// Runs, newest first, optionally only those with `status`, at most `limit`.
    pub async fn list_runs(
        &self,
        status: Option<RunStatus>,
        limit: usize,
    ) -> Result<Vec<RunSummary>, RunsError> {
        Ok(self.list_runs_page(status, None, limit).await?.0)
    }

    /// Like [`Self::list_runs`], only runs listed after the run `after` (a page's cursor), with how many runs
    /// match in all (the statuses of runs past the page as last folded, not refreshed).
    pub async fn list_runs_page(
        &self,
        status: Option<RunStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<RunSummary>, usize), RunsError> {
        self.catch_up_if_supported().await?;
        let ids: Vec<String> = self
            .registry()
            .newest_first()
            .into_iter()
            .map(|entry| entry.run_id.clone())
            .collect();
        let start = after
            .and_then(|after| ids.iter().position(|id| id == after))
            .map_or(0, |i| i + 1);
        let mut out = Vec::new();
        for id in &ids[start..] {
            if out.len() >= limit {
                break;
            }
            let id = id.clone();
            match self.refresh(&id).await {
                // A forged index record, forgotten just now.
                Err(RunsError::RunNotFound) => continue,
                other => other?,
            }
            let registry = self.registry();
            if let Some(entry) = registry.runs.get(&id)
                && status.is_none_or(|s| s == entry.fold.state.status)
            {
                out.push(entry.summary());
            }
        }
        let registry = self.registry();
        let total = registry
            .runs
            .values()
            .filter(|entry| status.is_none_or(|s| s == entry.fold.state.status))
            .count();
        Ok((out, total))
    }

    /// DLQ records, newest first, that `filter` accepts, at most `limit` (`GET /dlq` and its filters): only the
    /// record of why each run is dead-lettered *now* (a run replayed since, or a late record of a superseded
    /// replay, is not listed), so that this list, the runs' status and their timelines agree.
    pub async fn dlq_list(
        &self,
        filter: &DlqFilter,
        limit: usize,
    ) -> Result<Vec<DlqRecord>, RunsError> {
        self.catch_up_if_supported().await?;
        self.dlq_select(true, true, limit, |r| filter.accepts(r))
            .await
    }

    /// The oldest `limit` DLQ records, as the original's peek.
    pub async fn dlq_peek(&self, limit: usize) -> Result<Vec<DlqRecord>, RunsError> {
        self.catch_up_if_supported().await?;
        self.dlq_select(false, false, limit, |_| true).await
    }

    /// Up to `limit` DLQ records that `wanted` accepts, newest or oldest first, of confirmed runs only: the run
    /// of a record about to be answered is confirmed first, so that a forged run's record never shows. With
    /// `current`, only records of runs dead-lettered now by that record (see `RunEntry::dead_lettered_by`),
    /// each run's status refreshed first unless settled.
    async fn dlq_select(
        &self,
        newest_first: bool,
        current: bool,
        limit: usize,
        wanted: impl Fn(&DlqRecord) -> bool,
    ) -> Result<Vec<DlqRecord>, RunsError> {
        let mut refreshed = std::collections::HashSet::new();
        loop {
            let mut items = Vec::new();
            let mut stale = None;
            {
                let registry = self.registry();
                let records: Box<dyn Iterator<Item = &DlqRecord>> = if newest_first {
                    Box::new(registry.dlq.iter().rev())
                } else {
                    Box::new(registry.dlq.iter())
                };
                for record in records.filter(|r| wanted(r)) {
                    if items.len() >= limit {
                        break;
                    }
                    let Some(entry) = registry.runs.get(&record.run_id) else {
                        continue;
                    };
                    let fresh = entry.confirmed && (!current || entry.settled());
                    if !fresh && !refreshed.contains(&record.run_id) {
                        stale = Some(record.run_id.clone());
                        break;
                    }
                    if !entry.confirmed || (current && !entry.dead_lettered_by(record)) {
                        continue;
                    }
                    items.push(record.clone());
                }
            }
            // Each pass confirms (or forgets) and refreshes one run, once, so this ends.
            match stale {
                None => return Ok(items),
                Some(run_id) => {
                    let checked = if current {
                        self.refresh(&run_id).await
                    } else {
                        self.confirm(&run_id).await
                    };
                    match checked {
                        Ok(()) | Err(RunsError::RunNotFound) => {}
                        Err(e) => return Err(e),
                    }
                    refreshed.insert(run_id);
                }
            }
        }
    }

    /// The latest DLQ record of a run, whatever its status now: the one of its latest dead-lettered start or
    /// replay (a late record of a superseded replay does not win).
    pub async fn dlq_for_run(&self, run_id: &str) -> Result<DlqRecord, RunsError> {
        validate_run_id(run_id).map_err(RunsError::InvalidRunId)?;
        self.catch_up_if_supported().await?;
        self.dlq_select(true, false, usize::MAX, |r| r.run_id == run_id)
            .await?
            .into_iter()
            .reduce(|latest, r| {
                if r.replay_seq > latest.replay_seq {
                    r
                } else {
                    latest
                }
            })
            .ok_or(RunsError::NoDlqRecord)
    }
}

/// What `GET /dlq` filters on, besides the run being dead-lettered now; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct DlqFilter {
    /// Only this run's records.
    pub run_id: Option<String>,
    /// Only records of this workflow.
    pub workflow: Option<String>,
    /// Only records whose error contains this text (case-insensitive).
    pub error: Option<String>,
    /// Only records written at or after this time (unix ms).
    pub since_ms: Option<u64>,
}

impl DlqFilter {
    fn accepts(&self, record: &DlqRecord) -> bool {
        self.run_id.as_ref().is_none_or(|id| &record.run_id == id)
            && self.workflow.as_ref().is_none_or(|w| &record.workflow == w)
            && self.since_ms.is_none_or(|since| record.ts >= since)
            && self
                .error
                .as_ref()
                .is_none_or(|text| record.error.to_lowercase().contains(&text.to_lowercase()))
    }
}
