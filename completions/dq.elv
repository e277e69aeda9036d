
use builtin;
use str;

set edit:completion:arg-completer[dq] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'dq'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'dq'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand up 'Start the server: broker, runs API and worker(s) in one process'
            cand down 'Stop a server started with `dq up --detach`'
            cand run 'Start a run and follow it until it ends (exit 0 succeeded, 3 dead-lettered)'
            cand events 'Show a run''s timeline, one line per event'
            cand dlq 'Inspect dead-letter records'
            cand replay 'Replay a run, with the fix applied or a new failure, and follow it until it ends'
            cand runs 'List runs and show one run''s state'
            cand workflows 'List the workflows the server runs and show one''s steps and retry policies'
            cand demo 'The 2-minute demo as a checklist: fail, DLQ persisted, replay with the fix, success'
            cand health 'Check that the server and its broker answer'
            cand emit 'Push a debug event into a run''s timeline'
            cand worker 'Run a worker in this process against the broker of the dq server at --url, or at --broker'
            cand bench 'Load-test a dq server (--url, else an embedded one): runs or /v1 messages per second and latency'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;up'= {
            cand --listen 'Address to listen on; a non-loopback address requires --token'
            cand --data-dir 'Where the server keeps its data, pid and log [default: the platform data dir + /dq]'
            cand --header-timeout 'Close a connection whose request head is not complete this long after it connects or starts sending it [default: 10s]'
            cand --idle-timeout 'Close a keep-alive connection idle this long between requests, or whose client reads none of its answer for this long [default: 30s]'
            cand --body-timeout 'Answer 408 and close when a request body has not fully arrived this long after its head [default: 30s]'
            cand --max-connections 'Open connections at most; past it new ones wait to be accepted [default: half the open-file limit, at most 1024]'
            cand --workers 'In-process workers (0: none, runs wait for `dq worker`)'
            cand --concurrency 'Commands each worker executes in parallel [default: 16]'
            cand --step-delay 'Pretend work per step of the built-in demo, e.g. 200ms [default: 200ms]'
            cand --max-attempts 'Attempts per run before dead-lettering, 1 to 100 [default: 3]'
            cand --max-abandoned 'Attempts abandoned by a vanished worker (a server restart, an expired lease) per run before dead-lettering with reason max_abandoned, 1 to 1000; they do not count against --max-attempts [default: 10]'
            cand --backoff 'Wait between attempts, multiplied by the attempt number [default: 300ms]'
            cand --workflows 'Also run the workflows of this TOML file (the built-in demo stays); an invalid file is refused with its file, line and key'
            cand --broker 'Use this external broker instead of the embedded one: a DriftQ v1 server (http://…) or a NATS JetStream cluster (nats://h1:4222,nats://h2:4222; tls:// for TLS; user:password@ or token@ in the URL)'
            cand --nats-creds 'NATS credentials file (JWT and nkey seed) for --broker nats://…'
            cand --max-in-flight 'Messages in flight per topic, group and partition [default: 64]'
            cand --max-topics 'Most topics at once; one more is refused with 429 (each run makes one) [default: 100000]'
            cand --max-total-partitions 'Most partitions across all topics; a topic over it is refused with 429 [default: 1000000]'
            cand --archive-after 'Archive a finished run''s timeline this long after its last event and delete its topic (reads and replays go on as before); off: keep every run''s topic [default: 10s]'
            cand --max-unfinished-runs 'Most runs queued or running at once; one more is refused with 429 and Retry-After (what keeps memory bounded when runs come faster than the workers end them); off: no limit [default: 10000]'
            cand --group-retention 'Forget a consumer group idle this long (no stream, nothing in flight), e.g. 7d, 12h [default: 7d]'
            cand --cors-origin 'A web origin that may call the API besides the server''s own and http://localhost:3000 (repeatable)'
            cand --cors-origin-regex 'A regular expression for web origins that may call the API, matched against the whole origin (repeatable); in a GitHub Codespace, https://*.app.github.dev is allowed too'
            cand --allowed-host 'A Host name to answer besides localhost, loopback addresses and --listen; * for any (repeatable)'
            cand --token-file 'Read the token (16 characters or more) from this file instead of --token / DQ_TOKEN'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --detach 'Run in the background (pid and log in the data dir); print the URL once healthy'
            cand --open 'Open the dashboard in a browser once the server is up ($BROWSER, else xdg-open or open)'
            cand --no-fsync 'Answer produces before they reach the disk (faster, loses the last writes on a crash)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;down'= {
            cand --data-dir 'Where the server keeps its data, pid and log [default: the platform data dir + /dq]'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --wipe 'Also delete the data directory (asks first on a terminal unless -y). Only a directory `dq up` marked as its data dir (a `dq-data-dir` file), and in it only dq''s files; any other directory exits 2, untouched'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;run'= {
            cand --fail 'Force a failure when this step starts (none, fetch_input, transform, tool_call, finalize)'
            cand --input 'The run''s input: JSON, @FILE, or - for stdin'
            cand --workflow 'The workflow to run'
            cand --max-attempts 'Attempts before dead-lettering, 1 to 100 (the server''s default when absent)'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --detach 'Print the run id and return without following'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;events'= {
            cand --type 'Only events of this type (repeatable); * and ? are wildcards, e.g. ''step.*'''
            cand --grep 'Only events whose JSON contains this text'
            cand --since 'Only events after this sequence number: the number leading each line (`seq` in JSON)'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand -f 'Keep following new events until Ctrl-C'
            cand --follow 'Keep following new events until Ctrl-C'
            cand --until-end 'With --follow: stop when the run''s current start or replay ends (exit 0 succeeded, 3 dead-lettered)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;dlq'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand show 'Show a run''s latest DLQ record [default: the latest dead-lettered run]'
            cand list 'List DLQ records, newest first'
            cand redrive 'Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;dlq;show'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --full 'Print the whole payload on a terminal too (there, long strings and payloads are shortened; a pipe and --json always get all of it)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;dlq;list'= {
            cand --run 'Only this run''s record'
            cand --limit 'At most this many'
            cand --after 'The next page: list what comes after this run (the `next` of a JSON page)'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;dlq;redrive'= {
            cand --error 'Only runs whose DLQ error contains this text (case-insensitive)'
            cand --workflow 'Only runs of this workflow'
            cand --since 'Only runs dead-lettered within this long (e.g. 1h, 30m)'
            cand --fail 'Replay with a forced failure at this step instead (fetch_input, transform, tool_call, finalize)'
            cand --set 'Override one input field over the original input (VALUE is JSON, or a string when it is not valid JSON); repeatable'
            cand --input 'Input overrides over the original input, as a JSON object, @FILE, or - for stdin'
            cand --max-attempts 'Attempts for this replay, 1 to 100 (the run''s when absent)'
            cand --rate 'Replays requested per second at most, e.g. 10 or 10/s'
            cand --limit 'Replay at most this many runs'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --fix 'Apply the fix: replay without the forced failure'
            cand --keep-overrides 'Start from the previous replay''s input (its overrides kept) instead of the original input'
            cand --dry-run 'List what would be replayed, replay nothing'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;dlq;help'= {
            cand show 'Show a run''s latest DLQ record [default: the latest dead-lettered run]'
            cand list 'List DLQ records, newest first'
            cand redrive 'Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;dlq;help;show'= {
        }
        &'dq;dlq;help;list'= {
        }
        &'dq;dlq;help;redrive'= {
        }
        &'dq;dlq;help;help'= {
        }
        &'dq;replay'= {
            cand --fail 'Replay with a forced failure at this step instead (fetch_input, transform, tool_call, finalize)'
            cand --set 'Override one input field over the original input (VALUE is JSON, or a string when it is not valid JSON); repeatable'
            cand --input 'Input overrides over the original input, as a JSON object, @FILE, or - for stdin'
            cand --max-attempts 'Attempts for this replay, 1 to 100 (the run''s when absent)'
            cand --from 'Run from this step, reusing the outputs the steps before it have in the run''s timeline [default: the step that failed]'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --fix 'Apply the fix: replay without the forced failure'
            cand --keep-overrides 'Start from the previous replay''s input (its overrides kept) instead of the original input'
            cand --detach 'Print the replay and return without following'
            cand --force 'Replay even while the run or an earlier replay is still queued or running: that one is superseded (its worker stops at the next step). Without it, such a replay is refused (exit 4)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;runs'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'List runs, newest first'
            cand show 'Show one run: state, attempts, last error, replays'
            cand wait 'Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;runs;list'= {
            cand --status 'Only runs in this state (queued, running, retrying, succeeded, dead_lettered; dlq, failed and dead-lettered mean dead_lettered)'
            cand --limit 'At most this many'
            cand --after 'The next page: list what comes after this run (the `next` of a JSON page)'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;runs;show'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;runs;wait'= {
            cand --replay 'Wait for this replay (0: the first start) [default: the run''s latest]'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;runs;help'= {
            cand list 'List runs, newest first'
            cand show 'Show one run: state, attempts, last error, replays'
            cand wait 'Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;runs;help;list'= {
        }
        &'dq;runs;help;show'= {
        }
        &'dq;runs;help;wait'= {
        }
        &'dq;runs;help;help'= {
        }
        &'dq;workflows'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'List the workflows: name, where from, steps'
            cand show 'Show one workflow''s steps, what each does and how it is retried'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;workflows;list'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;workflows;show'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;workflows;help'= {
            cand list 'List the workflows: name, where from, steps'
            cand show 'Show one workflow''s steps, what each does and how it is retried'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;workflows;help;list'= {
        }
        &'dq;workflows;help;show'= {
        }
        &'dq;workflows;help;help'= {
        }
        &'dq;demo'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --fast 'Drop the pretend delays (embedded server only: no step delay, no backoff)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;health'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;emit'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;worker'= {
            cand --concurrency 'Commands each worker executes in parallel [default: 16]'
            cand --step-delay 'Pretend work per step of the built-in demo, e.g. 200ms [default: 200ms]'
            cand --max-attempts 'Attempts per run before dead-lettering, 1 to 100 [default: 3]'
            cand --max-abandoned 'Attempts abandoned by a vanished worker (a server restart, an expired lease) per run before dead-lettering with reason max_abandoned, 1 to 1000; they do not count against --max-attempts [default: 10]'
            cand --backoff 'Wait between attempts, multiplied by the attempt number [default: 300ms]'
            cand --workflows 'Also run the workflows of this TOML file (the built-in demo stays); an invalid file is refused with its file, line and key'
            cand --broker 'Consume from this broker instead of the dq server at --url: a DriftQ v1 server (http://…) or a NATS JetStream cluster (nats://h1:4222,nats://h2:4222), with no dq server in between'
            cand --nats-creds 'NATS credentials file (JWT and nkey seed) for --broker nats://…'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;bench'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand runs 'Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)'
            cand broker '/v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;bench;runs'= {
            cand -c 'Concurrent clients (producers for `broker`)'
            cand --concurrency 'Concurrent clients (producers for `broker`)'
            cand -n 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]'
            cand --count 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]'
            cand -d 'Stop starting new work after this long instead, e.g. 10s'
            cand --duration 'Stop starting new work after this long instead, e.g. 10s'
            cand --size 'Bytes of payload: each run''s input, each message''s value'
            cand --fail-ratio 'Fraction (0 to 1) that fails: runs forced to fail at tool_call (dead-lettered at their first attempt), or messages nacked at their first delivery (acked when redelivered)'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;bench;broker'= {
            cand -c 'Concurrent clients (producers for `broker`)'
            cand --concurrency 'Concurrent clients (producers for `broker`)'
            cand -n 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]'
            cand --count 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]'
            cand -d 'Stop starting new work after this long instead, e.g. 10s'
            cand --duration 'Stop starting new work after this long instead, e.g. 10s'
            cand --size 'Bytes of payload: each run''s input, each message''s value'
            cand --fail-ratio 'Fraction (0 to 1) that fails: runs forced to fail at tool_call (dead-lettered at their first attempt), or messages nacked at their first delivery (acked when redelivered)'
            cand --batch 'Messages per produce request and most offsets per ack request, through dq''s batch forms; 1 sends one request per message as DriftQ v1 does'
            cand --partitions 'Partitions of the benchmark topic (one consume stream each)'
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;bench;help'= {
            cand runs 'Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)'
            cand broker '/v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;bench;help;runs'= {
        }
        &'dq;bench;help;broker'= {
        }
        &'dq;bench;help;help'= {
        }
        &'dq;completions'= {
            cand --url 'The dq server [default: http://127.0.0.1:8000]'
            cand --color 'When to use colour; NO_COLOR in the environment means never'
            cand --timeout 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never'
            cand --token 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)'
            cand --json 'Print the result as JSON (one document, or one object per line when streaming)'
            cand -q 'Print only the result: no progress or notes on stderr'
            cand --quiet 'Print only the result: no progress or notes on stderr'
            cand -y 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --yes 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
            cand --utc 'Show times in UTC instead of the local zone'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'dq;help'= {
            cand up 'Start the server: broker, runs API and worker(s) in one process'
            cand down 'Stop a server started with `dq up --detach`'
            cand run 'Start a run and follow it until it ends (exit 0 succeeded, 3 dead-lettered)'
            cand events 'Show a run''s timeline, one line per event'
            cand dlq 'Inspect dead-letter records'
            cand replay 'Replay a run, with the fix applied or a new failure, and follow it until it ends'
            cand runs 'List runs and show one run''s state'
            cand workflows 'List the workflows the server runs and show one''s steps and retry policies'
            cand demo 'The 2-minute demo as a checklist: fail, DLQ persisted, replay with the fix, success'
            cand health 'Check that the server and its broker answer'
            cand emit 'Push a debug event into a run''s timeline'
            cand worker 'Run a worker in this process against the broker of the dq server at --url, or at --broker'
            cand bench 'Load-test a dq server (--url, else an embedded one): runs or /v1 messages per second and latency'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dq;help;up'= {
        }
        &'dq;help;down'= {
        }
        &'dq;help;run'= {
        }
        &'dq;help;events'= {
        }
        &'dq;help;dlq'= {
            cand show 'Show a run''s latest DLQ record [default: the latest dead-lettered run]'
            cand list 'List DLQ records, newest first'
            cand redrive 'Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted'
        }
        &'dq;help;dlq;show'= {
        }
        &'dq;help;dlq;list'= {
        }
        &'dq;help;dlq;redrive'= {
        }
        &'dq;help;replay'= {
        }
        &'dq;help;runs'= {
            cand list 'List runs, newest first'
            cand show 'Show one run: state, attempts, last error, replays'
            cand wait 'Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout'
        }
        &'dq;help;runs;list'= {
        }
        &'dq;help;runs;show'= {
        }
        &'dq;help;runs;wait'= {
        }
        &'dq;help;workflows'= {
            cand list 'List the workflows: name, where from, steps'
            cand show 'Show one workflow''s steps, what each does and how it is retried'
        }
        &'dq;help;workflows;list'= {
        }
        &'dq;help;workflows;show'= {
        }
        &'dq;help;demo'= {
        }
        &'dq;help;health'= {
        }
        &'dq;help;emit'= {
        }
        &'dq;help;worker'= {
        }
        &'dq;help;bench'= {
            cand runs 'Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)'
            cand broker '/v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards'
        }
        &'dq;help;bench;runs'= {
        }
        &'dq;help;bench;broker'= {
        }
        &'dq;help;completions'= {
        }
        &'dq;help;help'= {
        }
    ]
    $completions[$command]
}
