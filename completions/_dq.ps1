
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'dq' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'dq'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'dq' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Start the server: broker, runs API and worker(s) in one process')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Stop a server started with `dq up --detach`')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Start a run and follow it until it ends (exit 0 succeeded, 3 dead-lettered)')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Show a run''s timeline, one line per event')
            [CompletionResult]::new('dlq', 'dlq', [CompletionResultType]::ParameterValue, 'Inspect dead-letter records')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Replay a run, with the fix applied or a new failure, and follow it until it ends')
            [CompletionResult]::new('runs', 'runs', [CompletionResultType]::ParameterValue, 'List runs and show one run''s state')
            [CompletionResult]::new('workflows', 'workflows', [CompletionResultType]::ParameterValue, 'List the workflows the server runs and show one''s steps and retry policies')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'The 2-minute demo as a checklist: fail, DLQ persisted, replay with the fix, success')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Check that the server and its broker answer')
            [CompletionResult]::new('emit', 'emit', [CompletionResultType]::ParameterValue, 'Push a debug event into a run''s timeline')
            [CompletionResult]::new('worker', 'worker', [CompletionResultType]::ParameterValue, 'Run a worker in this process against the broker of the dq server at --url, or at --broker')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Load-test a dq server (--url, else an embedded one): runs or /v1 messages per second and latency')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;up' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on; a non-loopback address requires --token')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Where the server keeps its data, pid and log [default: the platform data dir + /dq]')
            [CompletionResult]::new('--header-timeout', '--header-timeout', [CompletionResultType]::ParameterName, 'Close a connection whose request head is not complete this long after it connects or starts sending it [default: 10s]')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close a keep-alive connection idle this long between requests, or whose client reads none of its answer for this long [default: 30s]')
            [CompletionResult]::new('--body-timeout', '--body-timeout', [CompletionResultType]::ParameterName, 'Answer 408 and close when a request body has not fully arrived this long after its head [default: 30s]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Open connections at most; past it new ones wait to be accepted [default: half the open-file limit, at most 1024]')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'In-process workers (0: none, runs wait for `dq worker`)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Commands each worker executes in parallel [default: 16]')
            [CompletionResult]::new('--step-delay', '--step-delay', [CompletionResultType]::ParameterName, 'Pretend work per step of the built-in demo, e.g. 200ms [default: 200ms]')
            [CompletionResult]::new('--max-attempts', '--max-attempts', [CompletionResultType]::ParameterName, 'Attempts per run before dead-lettering, 1 to 100 [default: 3]')
            [CompletionResult]::new('--max-abandoned', '--max-abandoned', [CompletionResultType]::ParameterName, 'Attempts abandoned by a vanished worker (a server restart, an expired lease) per run before dead-lettering with reason max_abandoned, 1 to 1000; they do not count against --max-attempts [default: 10]')
            [CompletionResult]::new('--backoff', '--backoff', [CompletionResultType]::ParameterName, 'Wait between attempts, multiplied by the attempt number [default: 300ms]')
            [CompletionResult]::new('--workflows', '--workflows', [CompletionResultType]::ParameterName, 'Also run the workflows of this TOML file (the built-in demo stays); an invalid file is refused with its file, line and key')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Use this external broker instead of the embedded one: a DriftQ v1 server (http://…) or a NATS JetStream cluster (nats://h1:4222,nats://h2:4222; tls:// for TLS; user:password@ or token@ in the URL)')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'NATS credentials file (JWT and nkey seed) for --broker nats://…')
            [CompletionResult]::new('--max-in-flight', '--max-in-flight', [CompletionResultType]::ParameterName, 'Messages in flight per topic, group and partition [default: 64]')
            [CompletionResult]::new('--max-topics', '--max-topics', [CompletionResultType]::ParameterName, 'Most topics at once; one more is refused with 429 (each run makes one) [default: 100000]')
            [CompletionResult]::new('--max-total-partitions', '--max-total-partitions', [CompletionResultType]::ParameterName, 'Most partitions across all topics; a topic over it is refused with 429 [default: 1000000]')
            [CompletionResult]::new('--archive-after', '--archive-after', [CompletionResultType]::ParameterName, 'Archive a finished run''s timeline this long after its last event and delete its topic (reads and replays go on as before); off: keep every run''s topic [default: 10s]')
            [CompletionResult]::new('--max-unfinished-runs', '--max-unfinished-runs', [CompletionResultType]::ParameterName, 'Most runs queued or running at once; one more is refused with 429 and Retry-After (what keeps memory bounded when runs come faster than the workers end them); off: no limit [default: 10000]')
            [CompletionResult]::new('--group-retention', '--group-retention', [CompletionResultType]::ParameterName, 'Forget a consumer group idle this long (no stream, nothing in flight), e.g. 7d, 12h [default: 7d]')
            [CompletionResult]::new('--cors-origin', '--cors-origin', [CompletionResultType]::ParameterName, 'A web origin that may call the API besides the server''s own and http://localhost:3000 (repeatable)')
            [CompletionResult]::new('--cors-origin-regex', '--cors-origin-regex', [CompletionResultType]::ParameterName, 'A regular expression for web origins that may call the API, matched against the whole origin (repeatable); in a GitHub Codespace, https://*.app.github.dev is allowed too')
            [CompletionResult]::new('--allowed-host', '--allowed-host', [CompletionResultType]::ParameterName, 'A Host name to answer besides localhost, loopback addresses and --listen; * for any (repeatable)')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Read the token (16 characters or more) from this file instead of --token / DQ_TOKEN')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--detach', '--detach', [CompletionResultType]::ParameterName, 'Run in the background (pid and log in the data dir); print the URL once healthy')
            [CompletionResult]::new('--open', '--open', [CompletionResultType]::ParameterName, 'Open the dashboard in a browser once the server is up ($BROWSER, else xdg-open or open)')
            [CompletionResult]::new('--no-fsync', '--no-fsync', [CompletionResultType]::ParameterName, 'Answer produces before they reach the disk (faster, loses the last writes on a crash)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;down' {
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Where the server keeps its data, pid and log [default: the platform data dir + /dq]')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--wipe', '--wipe', [CompletionResultType]::ParameterName, 'Also delete the data directory (asks first on a terminal unless -y). Only a directory `dq up` marked as its data dir (a `dq-data-dir` file), and in it only dq''s files; any other directory exits 2, untouched')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;run' {
            [CompletionResult]::new('--fail', '--fail', [CompletionResultType]::ParameterName, 'Force a failure when this step starts (none, fetch_input, transform, tool_call, finalize)')
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'The run''s input: JSON, @FILE, or - for stdin')
            [CompletionResult]::new('--workflow', '--workflow', [CompletionResultType]::ParameterName, 'The workflow to run')
            [CompletionResult]::new('--max-attempts', '--max-attempts', [CompletionResultType]::ParameterName, 'Attempts before dead-lettering, 1 to 100 (the server''s default when absent)')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--detach', '--detach', [CompletionResultType]::ParameterName, 'Print the run id and return without following')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;events' {
            [CompletionResult]::new('--type', '--type', [CompletionResultType]::ParameterName, 'Only events of this type (repeatable); * and ? are wildcards, e.g. ''step.*''')
            [CompletionResult]::new('--grep', '--grep', [CompletionResultType]::ParameterName, 'Only events whose JSON contains this text')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only events after this sequence number: the number leading each line (`seq` in JSON)')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep following new events until Ctrl-C')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep following new events until Ctrl-C')
            [CompletionResult]::new('--until-end', '--until-end', [CompletionResultType]::ParameterName, 'With --follow: stop when the run''s current start or replay ends (exit 0 succeeded, 3 dead-lettered)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;dlq' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show a run''s latest DLQ record [default: the latest dead-lettered run]')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List DLQ records, newest first')
            [CompletionResult]::new('redrive', 'redrive', [CompletionResultType]::ParameterValue, 'Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;dlq;show' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--full', '--full', [CompletionResultType]::ParameterName, 'Print the whole payload on a terminal too (there, long strings and payloads are shortened; a pipe and --json always get all of it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;dlq;list' {
            [CompletionResult]::new('--run', '--run', [CompletionResultType]::ParameterName, 'Only this run''s record')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most this many')
            [CompletionResult]::new('--after', '--after', [CompletionResultType]::ParameterName, 'The next page: list what comes after this run (the `next` of a JSON page)')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;dlq;redrive' {
            [CompletionResult]::new('--error', '--error', [CompletionResultType]::ParameterName, 'Only runs whose DLQ error contains this text (case-insensitive)')
            [CompletionResult]::new('--workflow', '--workflow', [CompletionResultType]::ParameterName, 'Only runs of this workflow')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only runs dead-lettered within this long (e.g. 1h, 30m)')
            [CompletionResult]::new('--fail', '--fail', [CompletionResultType]::ParameterName, 'Replay with a forced failure at this step instead (fetch_input, transform, tool_call, finalize)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one input field over the original input (VALUE is JSON, or a string when it is not valid JSON); repeatable')
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'Input overrides over the original input, as a JSON object, @FILE, or - for stdin')
            [CompletionResult]::new('--max-attempts', '--max-attempts', [CompletionResultType]::ParameterName, 'Attempts for this replay, 1 to 100 (the run''s when absent)')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Replays requested per second at most, e.g. 10 or 10/s')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Replay at most this many runs')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--fix', '--fix', [CompletionResultType]::ParameterName, 'Apply the fix: replay without the forced failure')
            [CompletionResult]::new('--keep-overrides', '--keep-overrides', [CompletionResultType]::ParameterName, 'Start from the previous replay''s input (its overrides kept) instead of the original input')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'List what would be replayed, replay nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;dlq;help' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show a run''s latest DLQ record [default: the latest dead-lettered run]')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List DLQ records, newest first')
            [CompletionResult]::new('redrive', 'redrive', [CompletionResultType]::ParameterValue, 'Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;dlq;help;show' {
            break
        }
        'dq;dlq;help;list' {
            break
        }
        'dq;dlq;help;redrive' {
            break
        }
        'dq;dlq;help;help' {
            break
        }
        'dq;replay' {
            [CompletionResult]::new('--fail', '--fail', [CompletionResultType]::ParameterName, 'Replay with a forced failure at this step instead (fetch_input, transform, tool_call, finalize)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Override one input field over the original input (VALUE is JSON, or a string when it is not valid JSON); repeatable')
            [CompletionResult]::new('--input', '--input', [CompletionResultType]::ParameterName, 'Input overrides over the original input, as a JSON object, @FILE, or - for stdin')
            [CompletionResult]::new('--max-attempts', '--max-attempts', [CompletionResultType]::ParameterName, 'Attempts for this replay, 1 to 100 (the run''s when absent)')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Run from this step, reusing the outputs the steps before it have in the run''s timeline [default: the step that failed]')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--fix', '--fix', [CompletionResultType]::ParameterName, 'Apply the fix: replay without the forced failure')
            [CompletionResult]::new('--keep-overrides', '--keep-overrides', [CompletionResultType]::ParameterName, 'Start from the previous replay''s input (its overrides kept) instead of the original input')
            [CompletionResult]::new('--detach', '--detach', [CompletionResultType]::ParameterName, 'Print the replay and return without following')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replay even while the run or an earlier replay is still queued or running: that one is superseded (its worker stops at the next step). Without it, such a replay is refused (exit 4)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;runs' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one run: state, attempts, last error, replays')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;runs;list' {
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'Only runs in this state (queued, running, retrying, succeeded, dead_lettered; dlq, failed and dead-lettered mean dead_lettered)')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most this many')
            [CompletionResult]::new('--after', '--after', [CompletionResultType]::ParameterName, 'The next page: list what comes after this run (the `next` of a JSON page)')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;runs;show' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;runs;wait' {
            [CompletionResult]::new('--replay', '--replay', [CompletionResultType]::ParameterName, 'Wait for this replay (0: the first start) [default: the run''s latest]')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;runs;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one run: state, attempts, last error, replays')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;runs;help;list' {
            break
        }
        'dq;runs;help;show' {
            break
        }
        'dq;runs;help;wait' {
            break
        }
        'dq;runs;help;help' {
            break
        }
        'dq;workflows' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the workflows: name, where from, steps')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one workflow''s steps, what each does and how it is retried')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;workflows;list' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;workflows;show' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;workflows;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the workflows: name, where from, steps')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one workflow''s steps, what each does and how it is retried')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;workflows;help;list' {
            break
        }
        'dq;workflows;help;show' {
            break
        }
        'dq;workflows;help;help' {
            break
        }
        'dq;demo' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--fast', '--fast', [CompletionResultType]::ParameterName, 'Drop the pretend delays (embedded server only: no step delay, no backoff)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;health' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;emit' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;worker' {
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Commands each worker executes in parallel [default: 16]')
            [CompletionResult]::new('--step-delay', '--step-delay', [CompletionResultType]::ParameterName, 'Pretend work per step of the built-in demo, e.g. 200ms [default: 200ms]')
            [CompletionResult]::new('--max-attempts', '--max-attempts', [CompletionResultType]::ParameterName, 'Attempts per run before dead-lettering, 1 to 100 [default: 3]')
            [CompletionResult]::new('--max-abandoned', '--max-abandoned', [CompletionResultType]::ParameterName, 'Attempts abandoned by a vanished worker (a server restart, an expired lease) per run before dead-lettering with reason max_abandoned, 1 to 1000; they do not count against --max-attempts [default: 10]')
            [CompletionResult]::new('--backoff', '--backoff', [CompletionResultType]::ParameterName, 'Wait between attempts, multiplied by the attempt number [default: 300ms]')
            [CompletionResult]::new('--workflows', '--workflows', [CompletionResultType]::ParameterName, 'Also run the workflows of this TOML file (the built-in demo stays); an invalid file is refused with its file, line and key')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Consume from this broker instead of the dq server at --url: a DriftQ v1 server (http://…) or a NATS JetStream cluster (nats://h1:4222,nats://h2:4222), with no dq server in between')
            [CompletionResult]::new('--nats-creds', '--nats-creds', [CompletionResultType]::ParameterName, 'NATS credentials file (JWT and nkey seed) for --broker nats://…')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;bench' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('runs', 'runs', [CompletionResultType]::ParameterValue, 'Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)')
            [CompletionResult]::new('broker', 'broker', [CompletionResultType]::ParameterValue, '/v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;bench;runs' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Concurrent clients (producers for `broker`)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Concurrent clients (producers for `broker`)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'Stop starting new work after this long instead, e.g. 10s')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Stop starting new work after this long instead, e.g. 10s')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Bytes of payload: each run''s input, each message''s value')
            [CompletionResult]::new('--fail-ratio', '--fail-ratio', [CompletionResultType]::ParameterName, 'Fraction (0 to 1) that fails: runs forced to fail at tool_call (dead-lettered at their first attempt), or messages nacked at their first delivery (acked when redelivered)')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;bench;broker' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Concurrent clients (producers for `broker`)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Concurrent clients (producers for `broker`)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'Stop starting new work after this long instead, e.g. 10s')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Stop starting new work after this long instead, e.g. 10s')
            [CompletionResult]::new('--size', '--size', [CompletionResultType]::ParameterName, 'Bytes of payload: each run''s input, each message''s value')
            [CompletionResult]::new('--fail-ratio', '--fail-ratio', [CompletionResultType]::ParameterName, 'Fraction (0 to 1) that fails: runs forced to fail at tool_call (dead-lettered at their first attempt), or messages nacked at their first delivery (acked when redelivered)')
            [CompletionResult]::new('--batch', '--batch', [CompletionResultType]::ParameterName, 'Messages per produce request and most offsets per ack request, through dq''s batch forms; 1 sends one request per message as DriftQ v1 does')
            [CompletionResult]::new('--partitions', '--partitions', [CompletionResultType]::ParameterName, 'Partitions of the benchmark topic (one consume stream each)')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;bench;help' {
            [CompletionResult]::new('runs', 'runs', [CompletionResultType]::ParameterValue, 'Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)')
            [CompletionResult]::new('broker', 'broker', [CompletionResultType]::ParameterValue, '/v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;bench;help;runs' {
            break
        }
        'dq;bench;help;broker' {
            break
        }
        'dq;bench;help;help' {
            break
        }
        'dq;completions' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The dq server [default: http://127.0.0.1:8000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour; NO_COLOR in the environment means never')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as JSON (one document, or one object per line when streaming)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result: no progress or notes on stderr')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of the local zone')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'dq;help' {
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Start the server: broker, runs API and worker(s) in one process')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Stop a server started with `dq up --detach`')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Start a run and follow it until it ends (exit 0 succeeded, 3 dead-lettered)')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Show a run''s timeline, one line per event')
            [CompletionResult]::new('dlq', 'dlq', [CompletionResultType]::ParameterValue, 'Inspect dead-letter records')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Replay a run, with the fix applied or a new failure, and follow it until it ends')
            [CompletionResult]::new('runs', 'runs', [CompletionResultType]::ParameterValue, 'List runs and show one run''s state')
            [CompletionResult]::new('workflows', 'workflows', [CompletionResultType]::ParameterValue, 'List the workflows the server runs and show one''s steps and retry policies')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'The 2-minute demo as a checklist: fail, DLQ persisted, replay with the fix, success')
            [CompletionResult]::new('health', 'health', [CompletionResultType]::ParameterValue, 'Check that the server and its broker answer')
            [CompletionResult]::new('emit', 'emit', [CompletionResultType]::ParameterValue, 'Push a debug event into a run''s timeline')
            [CompletionResult]::new('worker', 'worker', [CompletionResultType]::ParameterValue, 'Run a worker in this process against the broker of the dq server at --url, or at --broker')
            [CompletionResult]::new('bench', 'bench', [CompletionResultType]::ParameterValue, 'Load-test a dq server (--url, else an embedded one): runs or /v1 messages per second and latency')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dq;help;up' {
            break
        }
        'dq;help;down' {
            break
        }
        'dq;help;run' {
            break
        }
        'dq;help;events' {
            break
        }
        'dq;help;dlq' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show a run''s latest DLQ record [default: the latest dead-lettered run]')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List DLQ records, newest first')
            [CompletionResult]::new('redrive', 'redrive', [CompletionResultType]::ParameterValue, 'Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted')
            break
        }
        'dq;help;dlq;show' {
            break
        }
        'dq;help;dlq;list' {
            break
        }
        'dq;help;dlq;redrive' {
            break
        }
        'dq;help;replay' {
            break
        }
        'dq;help;runs' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one run: state, attempts, last error, replays')
            [CompletionResult]::new('wait', 'wait', [CompletionResultType]::ParameterValue, 'Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout')
            break
        }
        'dq;help;runs;list' {
            break
        }
        'dq;help;runs;show' {
            break
        }
        'dq;help;runs;wait' {
            break
        }
        'dq;help;workflows' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the workflows: name, where from, steps')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one workflow''s steps, what each does and how it is retried')
            break
        }
        'dq;help;workflows;list' {
            break
        }
        'dq;help;workflows;show' {
            break
        }
        'dq;help;demo' {
            break
        }
        'dq;help;health' {
            break
        }
        'dq;help;emit' {
            break
        }
        'dq;help;worker' {
            break
        }
        'dq;help;bench' {
            [CompletionResult]::new('runs', 'runs', [CompletionResultType]::ParameterValue, 'Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)')
            [CompletionResult]::new('broker', 'broker', [CompletionResultType]::ParameterValue, '/v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards')
            break
        }
        'dq;help;bench;runs' {
            break
        }
        'dq;help;bench;broker' {
            break
        }
        'dq;help;completions' {
            break
        }
        'dq;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
