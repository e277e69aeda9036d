//! User events: `POST /runs/{id}/emit` pushes any JSON object into a run's timeline, checked so that it can
//! never pass for one of the lifecycle events that only the service and the worker write.

use super::{Event, Map, RunsError, RunsService, SOURCE_USER, Value, is_reserved, now_ms};

impl RunsService {
    /// Pushes any JSON object into the run's timeline; `ts`, `run_id` and `type` (`"custom"`) are filled in
    /// when missing so that every stored event keeps the starter's three fields. The event is stored as the
    /// user's: `"source": "user"` and the run's current `replay_seq` are set (over any the client sent), so that
    /// the status fold never takes it for the server's (see [`dq_proto::fold`]).
    ///
    /// A present `ts` must be a non-negative integer and `type` and `run_id` strings, and `type` outside the
    /// reserved namespaces: anything else is the client's mistake ([`RunsError::InvalidEvent`]), checked
    /// before anything is written.
    pub async fn emit(&self, run_id: &str, mut event: Map<String, Value>) -> Result<(), RunsError> {
        check_event_fields(&event)?;
        self.known(run_id).await?;
        let _writable = self.archive.writable(&self.registry, run_id).await?;
        event.entry("ts").or_insert_with(|| Value::from(now_ms()));
        event.entry("type").or_insert_with(|| Value::from("custom"));
        event.entry("run_id").or_insert_with(|| Value::from(run_id));
        let mut event = Event::from_map(event).map_err(|e| RunsError::InvalidEvent {
            field: "",
            message: format!("event: {e}"),
        })?;
        event.source = Some(SOURCE_USER.to_owned());
        event.replay_seq = self
            .registry()
            .runs
            .get(run_id)
            .map(|entry| entry.summary().replay_seq);
        // The timeline topic is the run's own: an event naming another run still lands here.
        let named = std::mem::replace(&mut event.run_id, run_id.to_owned());
        if named != run_id {
            event
                .extra
                .insert("emitted_run_id".to_owned(), Value::from(named));
        }
        self.emitter.emit(&event, None).await
    }
}

/// The JSON type of a value, as a client would name it.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The three fields every stored event has, when an emitted event brings its own: `ts` a non-negative integer
/// (unix ms), `type` and `run_id` strings; and `type` outside the namespaces only the runs service and the
/// worker write ([`is_reserved`]: `run.*`, `step.*`, `worker.*` and the vocabulary's other types).
fn check_event_fields(event: &Map<String, Value>) -> Result<(), RunsError> {
    if let Some(ts) = event.get("ts")
        && ts.as_u64().is_none()
    {
        return Err(RunsError::InvalidEvent {
            field: "ts",
            message: format!(
                "ts must be a non-negative integer (unix ms), got {}",
                json_type(ts)
            ),
        });
    }
    for field in ["type", "run_id"] {
        if let Some(value) = event.get(field)
            && !value.is_string()
        {
            return Err(RunsError::InvalidEvent {
                field,
                message: format!("{field} must be a string, got {}", json_type(value)),
            });
        }
    }
    if let Some(kind) = event.get("type").and_then(Value::as_str)
        && is_reserved(kind)
    {
        return Err(RunsError::InvalidEvent {
            field: "type",
            message: format!(
                "type {kind:?} is reserved: run.*, step.* and worker.* are lifecycle events that only the runs service and the worker write; emit a type of your own"
            ),
        });
    }
    Ok(())
}
