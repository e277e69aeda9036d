//! The page templates. Everything a page shows at first is rendered here, with labelled controls and statuses
//! as text; `app.js` fills and updates the live parts (tables, timelines, checklists) by element id, so the ids
//! below are its contract.

use dq_proto::runs::{RunDetail, RunStatus};
use dq_proto::workflow::WorkflowList;
use maud::{DOCTYPE, Markup, html};

/// The steps of `workflow`, by name, when the server runs it.
fn steps_of<'a>(workflows: &'a WorkflowList, workflow: &str) -> Vec<&'a str> {
    workflows
        .workflows
        .iter()
        .find(|w| w.name == workflow)
        .map(|w| w.step_names())
        .unwrap_or_default()
}

/// Every status a run can have, as the wire names it and as people read it.
pub const STATUSES: [RunStatus; 5] = [
    RunStatus::Queued,
    RunStatus::Running,
    RunStatus::Retrying,
    RunStatus::Succeeded,
    RunStatus::DeadLettered,
];

/// A status as shown: text first, colour only as a second cue.
fn status_label(status: RunStatus) -> &'static str {
    match status {
        RunStatus::DeadLettered => "dead-lettered",
        other => other.as_str(),
    }
}

fn status_badge(status: RunStatus) -> Markup {
    html! { span.status data-status=(status.as_str()) { (status_label(status)) } }
}

/// The frame of every page: the navigation, the page's name in `data-page` (which part of `app.js` runs) and
/// "Log out" when the server has a token.
fn layout(title: &str, page: &str, logout: bool, body: Markup) -> Markup {
    let nav = [
        ("runs", "/", "Runs"),
        ("start", "/ui/start", "Start a run"),
        ("dlq", "/ui/dlq", "DLQ"),
        ("demo", "/ui/demo", "Demo"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · dq" }
                // No favicon request: a 404 would be a console error for nothing.
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/ui/app.css";
                script src="/ui/app.js" defer {}
            }
            body data-page=(page) {
                header.top {
                    a.brand href="/" { "dq" }
                    nav aria-label="Main" {
                        @for (id, href, name) in nav {
                            a href=(href) aria-current=[(id == page).then_some("page")] { (name) }
                        }
                    }
                    @if logout {
                        form.logout method="post" action="/ui/logout" {
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A line that says whether the page is live, updated by `app.js`.
fn live_line() -> Markup {
    html! { p #live .live role="status" aria-live="polite" { "connecting…" } }
}

/// Runs: the registry as a table, filterable by status and searchable by run id.
pub fn runs(logout: bool) -> Markup {
    layout(
        "Runs",
        "runs",
        logout,
        html! {
            div.heading {
                h1 { "Runs" }
                a.button href="/ui/start" { "Start a run" }
            }
            div.filters {
                label { "Status "
                    select #status-filter {
                        option value="" { "all" }
                        @for status in STATUSES {
                            option value=(status.as_str()) { (status_label(status)) }
                        }
                    }
                }
                label { "Search run id "
                    input #search type="search" autocomplete="off" spellcheck="false" placeholder="run id";
                }
            }
            (live_line())
            div.scroll {
                table #runs {
                    caption.visually-hidden { "Runs, newest first" }
                    thead { tr {
                        th scope="col" { "Run" } th scope="col" { "Status" } th scope="col" { "Replay" }
                        th scope="col" { "Attempts" } th scope="col" { "Fail at" }
                        th scope="col" { "Last error" } th scope="col" { "Age" }
                    } }
                    tbody {}
                }
            }
            p #runs-empty hidden { "No runs match." }
        },
    )
}

/// Run: status, replay controls, replays, DLQ record and the live timeline of one run.
pub fn run(detail: &RunDetail, workflows: &WorkflowList, logout: bool) -> Markup {
    let summary = &detail.summary;
    let steps = steps_of(workflows, &summary.workflow);
    layout(
        "Run",
        "run",
        logout,
        html! {
            div #run-page data-run=(summary.run_id) {
                h1 { "Run " code { (summary.run_id) } }
                (live_line())
                div.run-grid {
                    div.side {
                        dl.summary {
                            dt { "Status" } dd #run-status { (status_badge(summary.status)) }
                            dt { "Workflow" } dd #run-workflow { (summary.workflow) }
                            dt { "Replay" } dd #run-replay { (summary.replay_seq) }
                            dt { "Attempts" } dd #run-attempts { (summary.attempts) }
                            dt { "Fail at" } dd #run-fail-at { (summary.fail_at.as_deref().unwrap_or("none")) }
                            dt { "Last error" } dd #run-error { (summary.last_error.as_deref().unwrap_or("-")) }
                        }
                        div.actions {
                            button #replay-fix type="button" { "Replay with fix" }
                        }
                        p #replay-result role="status" aria-live="polite" {}
                        details.panel {
                            summary { "Replay with options" }
                            form #replay-form {
                                label { "Fail step"
                                    select name="fail_at" {
                                        option value="inherit" { "as the run (" (summary.fail_at.as_deref().unwrap_or("none")) ")" }
                                        option value="none" { "none (the fix)" }
                                        @for step in steps { option value=(step) { (step) } }
                                    }
                                }
                                label { "Overrides (KEY=VALUE, one per line)"
                                    textarea name="set" rows="3" spellcheck="false" placeholder="attempt_note=retried" {}
                                }
                                label { "Max attempts"
                                    input name="max_attempts" type="number" min="1" max="100" placeholder="as the run";
                                }
                                label.check { input name="keep_overrides" type="checkbox"; " Keep the previous replay's overrides" }
                                label.check { input name="force" type="checkbox"; " Supersede a replay in flight" }
                                button type="submit" { "Replay" }
                            }
                        }
                        section aria-labelledby="replays-h" {
                            h2 #replays-h { "Replays" }
                            ul #replays {
                                li { a href="#replay-0" { "Start" } }
                                @for replay in &detail.replays {
                                    li {
                                        a href={ "#replay-" (replay.seq) } { "Replay " (replay.seq) }
                                        " · fail at " (replay.fail_at.as_deref().unwrap_or("none"))
                                        " · " (replay.outcome.map_or("in flight", status_label))
                                    }
                                }
                            }
                        }
                        section #dlq-section aria-labelledby="dlq-h" hidden {
                            h2 #dlq-h { "Dead-letter record" }
                            dl.summary #dlq-record {}
                            div.heading {
                                h3 { "Payload" }
                                button #copy-payload type="button" { "Copy payload as JSON" }
                            }
                            pre #dlq-payload tabindex="0" {}
                        }
                    }
                    section.timeline aria-labelledby="timeline-h" {
                        h2 #timeline-h { "Timeline" }
                        div.scroll {
                            table #timeline {
                                caption.visually-hidden { "Events, oldest first" }
                                thead { tr {
                                    th scope="col" { "Time" } th scope="col" { "Type" } th scope="col" { "Attempt" }
                                    th scope="col" { "Replay" } th scope="col" { "Fields" }
                                } }
                                tbody {}
                            }
                        }
                    }
                }
            }
        },
    )
}

/// Start a run: workflow, input, where to fail, attempts.
pub fn start(workflows: &WorkflowList, logout: bool) -> Markup {
    let first_steps = workflows
        .workflows
        .first()
        .map(|w| w.step_names())
        .unwrap_or_default();
    layout(
        "Start a run",
        "start",
        logout,
        html! {
            h1 { "Start a run" }
            form #start-form novalidate {
                label { "Workflow"
                    select #workflow name="workflow" {
                        @for workflow in &workflows.workflows {
                            option value=(workflow.name) data-steps=(workflow.step_names().join(" ")) { (workflow.name) }
                        }
                    }
                }
                label { "Input (JSON object)"
                    textarea #input name="input" rows="5" spellcheck="false" aria-describedby="input-error" { "{}" }
                }
                p #input-error .error role="alert" {}
                label { "Fail at"
                    select #fail-at name="fail_at" {
                        option value="" { "none" }
                        @for step in first_steps { option value=(step) { (step) } }
                    }
                }
                label { "Max attempts"
                    input #max-attempts name="max_attempts" type="number" min="1" max="100" placeholder="server default";
                }
                button type="submit" { "Start run" }
                p #start-result role="status" aria-live="polite" {}
            }
        },
    )
}

/// DLQ: runs dead-lettered now, with their payloads; several can be replayed with the fix at once.
pub fn dlq(logout: bool) -> Markup {
    layout(
        "DLQ",
        "dlq",
        logout,
        html! {
            h1 { "Dead-letter queue" }
            p { "Runs dead-lettered now, newest first. A replay takes a run out of this list." }
            (live_line())
            div.actions {
                label.check { input #select-all type="checkbox"; " Select all" }
                button #redrive type="button" disabled { "Replay selected with fix" }
            }
            p #redrive-result role="status" aria-live="polite" {}
            div.scroll {
                table #dlq {
                    caption.visually-hidden { "Dead-lettered runs" }
                    thead { tr {
                        th scope="col" { span.visually-hidden { "Select" } }
                        th scope="col" { "Run" } th scope="col" { "Workflow" } th scope="col" { "Error" }
                        th scope="col" { "Attempts" } th scope="col" { "Reason" } th scope="col" { "When" }
                        th scope="col" { "Payload" }
                    } }
                    tbody {}
                }
            }
            p #dlq-empty hidden { "Nothing is dead-lettered." }
        },
    )
}

/// Demo: the four-step checklist, ticked live.
pub fn demo(logout: bool) -> Markup {
    let steps = [
        "Fail (forced at tool_call)",
        "DLQ persisted",
        "Replay with fix applied",
        "Success",
    ];
    layout(
        "Demo",
        "demo",
        logout,
        html! {
            h1 { "Demo" }
            p { "Starts a run that fails at " code { "tool_call" } ", waits for its dead-letter record, replays it with the fix and waits for success." }
            button #run-demo type="button" { "Run the demo" }
            ol #demo-steps {
                @for (i, step) in steps.iter().enumerate() {
                    li data-step=(i + 1) data-state="waiting" {
                        span.mark aria-hidden="true" { "○" }
                        span.name { (step) }
                        span.state { "waiting" }
                        span.elapsed {}
                        span.detail {}
                    }
                }
            }
            p #demo-result role="status" aria-live="polite" {}
            p #demo-run {}
        },
    )
}

/// A page with one message (a run that does not exist, a read that failed).
pub fn message(title: &str, text: &str, logout: bool) -> Markup {
    layout(
        title,
        "message",
        logout,
        html! {
            h1 { (title) }
            p { (text) }
            p { a href="/" { "All runs" } }
        },
    )
}

/// The token form.
pub fn login(next: &str, error: Option<&str>) -> Markup {
    layout(
        "Log in",
        "login",
        false,
        html! {
            h1 { "Log in" }
            p { "This dq server has a token. Enter it once; the browser keeps a session cookie until it closes." }
            form method="post" action="/ui/login" {
                input type="hidden" name="next" value=(next);
                label { "Token"
                    input name="token" type="password" autocomplete="current-password" required autofocus;
                }
                @if let Some(error) = error { p.error role="alert" { (error) } }
                button type="submit" { "Log in" }
            }
        },
    )
}
