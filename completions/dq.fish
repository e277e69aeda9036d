# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dq_global_optspecs
    string join \n url= json color= q/quiet timeout= y/yes utc token= h/help V/version
end

function __fish_dq_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dq_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dq_using_subcommand
    set -l cmd (__fish_dq_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dq -n "__fish_dq_needs_command" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_needs_command" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_needs_command" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_needs_command" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_needs_command" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_needs_command" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_needs_command" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_needs_command" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_needs_command" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_needs_command" -f -a "up" -d 'Start the server: broker, runs API and worker(s) in one process'
complete -c dq -n "__fish_dq_needs_command" -f -a "down" -d 'Stop a server started with `dq up --detach`'
complete -c dq -n "__fish_dq_needs_command" -f -a "run" -d 'Start a run and follow it until it ends (exit 0 succeeded, 3 dead-lettered)'
complete -c dq -n "__fish_dq_needs_command" -f -a "events" -d 'Show a run\'s timeline, one line per event'
complete -c dq -n "__fish_dq_needs_command" -f -a "dlq" -d 'Inspect dead-letter records'
complete -c dq -n "__fish_dq_needs_command" -f -a "replay" -d 'Replay a run, with the fix applied or a new failure, and follow it until it ends'
complete -c dq -n "__fish_dq_needs_command" -f -a "runs" -d 'List runs and show one run\'s state'
complete -c dq -n "__fish_dq_needs_command" -f -a "workflows" -d 'List the workflows the server runs and show one\'s steps and retry policies'
complete -c dq -n "__fish_dq_needs_command" -f -a "demo" -d 'The 2-minute demo as a checklist: fail, DLQ persisted, replay with the fix, success'
complete -c dq -n "__fish_dq_needs_command" -f -a "health" -d 'Check that the server and its broker answer'
complete -c dq -n "__fish_dq_needs_command" -f -a "emit" -d 'Push a debug event into a run\'s timeline'
complete -c dq -n "__fish_dq_needs_command" -f -a "worker" -d 'Run a worker in this process against the broker of the dq server at --url, or at --broker'
complete -c dq -n "__fish_dq_needs_command" -f -a "bench" -d 'Load-test a dq server (--url, else an embedded one): runs or /v1 messages per second and latency'
complete -c dq -n "__fish_dq_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c dq -n "__fish_dq_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand up" -l listen -d 'Address to listen on; a non-loopback address requires --token' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l data-dir -d 'Where the server keeps its data, pid and log [default: the platform data dir + /dq]' -r -F
complete -c dq -n "__fish_dq_using_subcommand up" -l header-timeout -d 'Close a connection whose request head is not complete this long after it connects or starts sending it [default: 10s]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l idle-timeout -d 'Close a keep-alive connection idle this long between requests, or whose client reads none of its answer for this long [default: 30s]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l body-timeout -d 'Answer 408 and close when a request body has not fully arrived this long after its head [default: 30s]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l max-connections -d 'Open connections at most; past it new ones wait to be accepted [default: half the open-file limit, at most 1024]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l workers -d 'In-process workers (0: none, runs wait for `dq worker`)' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l concurrency -d 'Commands each worker executes in parallel [default: 16]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l step-delay -d 'Pretend work per step of the built-in demo, e.g. 200ms [default: 200ms]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l max-attempts -d 'Attempts per run before dead-lettering, 1 to 100 [default: 3]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l max-abandoned -d 'Attempts abandoned by a vanished worker (a server restart, an expired lease) per run before dead-lettering with reason max_abandoned, 1 to 1000; they do not count against --max-attempts [default: 10]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l backoff -d 'Wait between attempts, multiplied by the attempt number [default: 300ms]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l workflows -d 'Also run the workflows of this TOML file (the built-in demo stays); an invalid file is refused with its file, line and key' -r -F
complete -c dq -n "__fish_dq_using_subcommand up" -l broker -d 'Use this external broker instead of the embedded one: a DriftQ v1 server (http://…) or a NATS JetStream cluster (nats://h1:4222,nats://h2:4222; tls:// for TLS; user:password@ or token@ in the URL)' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l nats-creds -d 'NATS credentials file (JWT and nkey seed) for --broker nats://…' -r -F
complete -c dq -n "__fish_dq_using_subcommand up" -l max-in-flight -d 'Messages in flight per topic, group and partition [default: 64]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l max-topics -d 'Most topics at once; one more is refused with 429 (each run makes one) [default: 100000]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l max-total-partitions -d 'Most partitions across all topics; a topic over it is refused with 429 [default: 1000000]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l archive-after -d 'Archive a finished run\'s timeline this long after its last event and delete its topic (reads and replays go on as before); off: keep every run\'s topic [default: 10s]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l max-unfinished-runs -d 'Most runs queued or running at once; one more is refused with 429 and Retry-After (what keeps memory bounded when runs come faster than the workers end them); off: no limit [default: 10000]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l group-retention -d 'Forget a consumer group idle this long (no stream, nothing in flight), e.g. 7d, 12h [default: 7d]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l cors-origin -d 'A web origin that may call the API besides the server\'s own and http://localhost:3000 (repeatable)' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l cors-origin-regex -d 'A regular expression for web origins that may call the API, matched against the whole origin (repeatable); in a GitHub Codespace, https://*.app.github.dev is allowed too' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l allowed-host -d 'A Host name to answer besides localhost, loopback addresses and --listen; * for any (repeatable)' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l token-file -d 'Read the token (16 characters or more) from this file instead of --token / DQ_TOKEN' -r -F
complete -c dq -n "__fish_dq_using_subcommand up" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand up" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand up" -l detach -d 'Run in the background (pid and log in the data dir); print the URL once healthy'
complete -c dq -n "__fish_dq_using_subcommand up" -l open -d 'Open the dashboard in a browser once the server is up ($BROWSER, else xdg-open or open)'
complete -c dq -n "__fish_dq_using_subcommand up" -l no-fsync -d 'Answer produces before they reach the disk (faster, loses the last writes on a crash)'
complete -c dq -n "__fish_dq_using_subcommand up" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand up" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand up" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand up" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand up" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand down" -l data-dir -d 'Where the server keeps its data, pid and log [default: the platform data dir + /dq]' -r -F
complete -c dq -n "__fish_dq_using_subcommand down" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand down" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand down" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand down" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand down" -l wipe -d 'Also delete the data directory (asks first on a terminal unless -y). Only a directory `dq up` marked as its data dir (a `dq-data-dir` file), and in it only dq\'s files; any other directory exits 2, untouched'
complete -c dq -n "__fish_dq_using_subcommand down" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand down" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand down" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand down" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand down" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand down" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand run" -l fail -d 'Force a failure when this step starts (none, fetch_input, transform, tool_call, finalize)' -r -f -a "none\t''
fetch_input\t''
transform\t''
tool_call\t''
finalize\t''"
complete -c dq -n "__fish_dq_using_subcommand run" -l input -d 'The run\'s input: JSON, @FILE, or - for stdin' -r
complete -c dq -n "__fish_dq_using_subcommand run" -l workflow -d 'The workflow to run' -r
complete -c dq -n "__fish_dq_using_subcommand run" -l max-attempts -d 'Attempts before dead-lettering, 1 to 100 (the server\'s default when absent)' -r
complete -c dq -n "__fish_dq_using_subcommand run" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand run" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand run" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand run" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand run" -l detach -d 'Print the run id and return without following'
complete -c dq -n "__fish_dq_using_subcommand run" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand run" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand run" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand run" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand run" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand events" -l type -d 'Only events of this type (repeatable); * and ? are wildcards, e.g. \'step.*\'' -r
complete -c dq -n "__fish_dq_using_subcommand events" -l grep -d 'Only events whose JSON contains this text' -r
complete -c dq -n "__fish_dq_using_subcommand events" -l since -d 'Only events after this sequence number: the number leading each line (`seq` in JSON)' -r
complete -c dq -n "__fish_dq_using_subcommand events" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand events" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand events" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand events" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand events" -s f -l follow -d 'Keep following new events until Ctrl-C'
complete -c dq -n "__fish_dq_using_subcommand events" -l until-end -d 'With --follow: stop when the run\'s current start or replay ends (exit 0 succeeded, 3 dead-lettered)'
complete -c dq -n "__fish_dq_using_subcommand events" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand events" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand events" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand events" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand events" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand events" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -f -a "show" -d 'Show a run\'s latest DLQ record [default: the latest dead-lettered run]'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -f -a "list" -d 'List DLQ records, newest first'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -f -a "redrive" -d 'Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted'
complete -c dq -n "__fish_dq_using_subcommand dlq; and not __fish_seen_subcommand_from show list redrive help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -l full -d 'Print the whole payload on a terminal too (there, long strings and payloads are shortened; a pipe and --json always get all of it)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -l run -d 'Only this run\'s record' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -l limit -d 'At most this many' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -l after -d 'The next page: list what comes after this run (the `next` of a JSON page)' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l error -d 'Only runs whose DLQ error contains this text (case-insensitive)' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l workflow -d 'Only runs of this workflow' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l since -d 'Only runs dead-lettered within this long (e.g. 1h, 30m)' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l fail -d 'Replay with a forced failure at this step instead (fetch_input, transform, tool_call, finalize)' -r -f -a "fetch_input\t''
transform\t''
tool_call\t''
finalize\t''"
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l set -d 'Override one input field over the original input (VALUE is JSON, or a string when it is not valid JSON); repeatable' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l input -d 'Input overrides over the original input, as a JSON object, @FILE, or - for stdin' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l max-attempts -d 'Attempts for this replay, 1 to 100 (the run\'s when absent)' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l rate -d 'Replays requested per second at most, e.g. 10 or 10/s' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l limit -d 'Replay at most this many runs' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l fix -d 'Apply the fix: replay without the forced failure'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l keep-overrides -d 'Start from the previous replay\'s input (its overrides kept) instead of the original input'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l dry-run -d 'List what would be replayed, replay nothing'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from redrive" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show a run\'s latest DLQ record [default: the latest dead-lettered run]'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "list" -d 'List DLQ records, newest first'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "redrive" -d 'Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted'
complete -c dq -n "__fish_dq_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand replay" -l fail -d 'Replay with a forced failure at this step instead (fetch_input, transform, tool_call, finalize)' -r -f -a "fetch_input\t''
transform\t''
tool_call\t''
finalize\t''"
complete -c dq -n "__fish_dq_using_subcommand replay" -l set -d 'Override one input field over the original input (VALUE is JSON, or a string when it is not valid JSON); repeatable' -r
complete -c dq -n "__fish_dq_using_subcommand replay" -l input -d 'Input overrides over the original input, as a JSON object, @FILE, or - for stdin' -r
complete -c dq -n "__fish_dq_using_subcommand replay" -l max-attempts -d 'Attempts for this replay, 1 to 100 (the run\'s when absent)' -r
complete -c dq -n "__fish_dq_using_subcommand replay" -l from -d 'Run from this step, reusing the outputs the steps before it have in the run\'s timeline [default: the step that failed]' -r
complete -c dq -n "__fish_dq_using_subcommand replay" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand replay" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand replay" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand replay" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand replay" -l fix -d 'Apply the fix: replay without the forced failure'
complete -c dq -n "__fish_dq_using_subcommand replay" -l keep-overrides -d 'Start from the previous replay\'s input (its overrides kept) instead of the original input'
complete -c dq -n "__fish_dq_using_subcommand replay" -l detach -d 'Print the replay and return without following'
complete -c dq -n "__fish_dq_using_subcommand replay" -l force -d 'Replay even while the run or an earlier replay is still queued or running: that one is superseded (its worker stops at the next step). Without it, such a replay is refused (exit 4)'
complete -c dq -n "__fish_dq_using_subcommand replay" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand replay" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand replay" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand replay" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand replay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand replay" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -f -a "list" -d 'List runs, newest first'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -f -a "show" -d 'Show one run: state, attempts, last error, replays'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -f -a "wait" -d 'Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout'
complete -c dq -n "__fish_dq_using_subcommand runs; and not __fish_seen_subcommand_from list show wait help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -l status -d 'Only runs in this state (queued, running, retrying, succeeded, dead_lettered; dlq, failed and dead-lettered mean dead_lettered)' -r -f -a "queued\t''
running\t''
retrying\t''
succeeded\t''
dead_lettered\t''"
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -l limit -d 'At most this many' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -l after -d 'The next page: list what comes after this run (the `next` of a JSON page)' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -l replay -d 'Wait for this replay (0: the first start) [default: the run\'s latest]' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from wait" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "list" -d 'List runs, newest first'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one run: state, attempts, last error, replays'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "wait" -d 'Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout'
complete -c dq -n "__fish_dq_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -f -a "list" -d 'List the workflows: name, where from, steps'
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -f -a "show" -d 'Show one workflow\'s steps, what each does and how it is retried'
complete -c dq -n "__fish_dq_using_subcommand workflows; and not __fish_seen_subcommand_from list show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the workflows: name, where from, steps'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one workflow\'s steps, what each does and how it is retried'
complete -c dq -n "__fish_dq_using_subcommand workflows; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand demo" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand demo" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand demo" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand demo" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand demo" -l fast -d 'Drop the pretend delays (embedded server only: no step delay, no backoff)'
complete -c dq -n "__fish_dq_using_subcommand demo" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand demo" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand demo" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand demo" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand demo" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand health" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand health" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand health" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand health" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand health" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand health" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand health" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand health" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand health" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand health" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand emit" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand emit" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand emit" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand emit" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand emit" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand emit" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand emit" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand emit" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand emit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand emit" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand worker" -l concurrency -d 'Commands each worker executes in parallel [default: 16]' -r
complete -c dq -n "__fish_dq_using_subcommand worker" -l step-delay -d 'Pretend work per step of the built-in demo, e.g. 200ms [default: 200ms]' -r
complete -c dq -n "__fish_dq_using_subcommand worker" -l max-attempts -d 'Attempts per run before dead-lettering, 1 to 100 [default: 3]' -r
complete -c dq -n "__fish_dq_using_subcommand worker" -l max-abandoned -d 'Attempts abandoned by a vanished worker (a server restart, an expired lease) per run before dead-lettering with reason max_abandoned, 1 to 1000; they do not count against --max-attempts [default: 10]' -r
complete -c dq -n "__fish_dq_using_subcommand worker" -l backoff -d 'Wait between attempts, multiplied by the attempt number [default: 300ms]' -r
complete -c dq -n "__fish_dq_using_subcommand worker" -l workflows -d 'Also run the workflows of this TOML file (the built-in demo stays); an invalid file is refused with its file, line and key' -r -F
complete -c dq -n "__fish_dq_using_subcommand worker" -l broker -d 'Consume from this broker instead of the dq server at --url: a DriftQ v1 server (http://…) or a NATS JetStream cluster (nats://h1:4222,nats://h2:4222), with no dq server in between' -r
complete -c dq -n "__fish_dq_using_subcommand worker" -l nats-creds -d 'NATS credentials file (JWT and nkey seed) for --broker nats://…' -r -F
complete -c dq -n "__fish_dq_using_subcommand worker" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand worker" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand worker" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand worker" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand worker" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand worker" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand worker" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand worker" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand worker" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand worker" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -f -a "runs" -d 'Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)'
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -f -a "broker" -d '/v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards'
complete -c dq -n "__fish_dq_using_subcommand bench; and not __fish_seen_subcommand_from runs broker help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -s c -l concurrency -d 'Concurrent clients (producers for `broker`)' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -s n -l count -d 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -s d -l duration -d 'Stop starting new work after this long instead, e.g. 10s' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -l size -d 'Bytes of payload: each run\'s input, each message\'s value' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -l fail-ratio -d 'Fraction (0 to 1) that fails: runs forced to fail at tool_call (dead-lettered at their first attempt), or messages nacked at their first delivery (acked when redelivered)' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from runs" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -s c -l concurrency -d 'Concurrent clients (producers for `broker`)' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -s n -l count -d 'Stop after this many runs or messages [default: 1000 runs, 100000 messages]' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -s d -l duration -d 'Stop starting new work after this long instead, e.g. 10s' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l size -d 'Bytes of payload: each run\'s input, each message\'s value' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l fail-ratio -d 'Fraction (0 to 1) that fails: runs forced to fail at tool_call (dead-lettered at their first attempt), or messages nacked at their first delivery (acked when redelivered)' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l batch -d 'Messages per produce request and most offsets per ack request, through dq\'s batch forms; 1 sends one request per message as DriftQ v1 does' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l partitions -d 'Partitions of the benchmark topic (one consume stream each)' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from broker" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "runs" -d 'Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "broker" -d '/v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards'
complete -c dq -n "__fish_dq_using_subcommand bench; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand completions" -l url -d 'The dq server [default: http://127.0.0.1:8000]' -r
complete -c dq -n "__fish_dq_using_subcommand completions" -l color -d 'When to use colour; NO_COLOR in the environment means never' -r -f -a "auto\t'Colour when writing to a terminal'
always\t'Always colour (except with --json)'
never\t'Never colour'"
complete -c dq -n "__fish_dq_using_subcommand completions" -l timeout -d 'Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default, following and waiting ones only with --timeout; 0 means never' -r
complete -c dq -n "__fish_dq_using_subcommand completions" -l token -d 'Bearer token sent to the server (and required by `dq up` on a non-loopback address)' -r
complete -c dq -n "__fish_dq_using_subcommand completions" -l json -d 'Print the result as JSON (one document, or one object per line when streaming)'
complete -c dq -n "__fish_dq_using_subcommand completions" -s q -l quiet -d 'Print only the result: no progress or notes on stderr'
complete -c dq -n "__fish_dq_using_subcommand completions" -s y -l yes -d 'Answer yes to confirmations (implied when CI is set or stdin is not a terminal)'
complete -c dq -n "__fish_dq_using_subcommand completions" -l utc -d 'Show times in UTC instead of the local zone'
complete -c dq -n "__fish_dq_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dq -n "__fish_dq_using_subcommand completions" -s V -l version -d 'Print version'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "up" -d 'Start the server: broker, runs API and worker(s) in one process'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "down" -d 'Stop a server started with `dq up --detach`'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "run" -d 'Start a run and follow it until it ends (exit 0 succeeded, 3 dead-lettered)'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "events" -d 'Show a run\'s timeline, one line per event'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "dlq" -d 'Inspect dead-letter records'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "replay" -d 'Replay a run, with the fix applied or a new failure, and follow it until it ends'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "runs" -d 'List runs and show one run\'s state'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "workflows" -d 'List the workflows the server runs and show one\'s steps and retry policies'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "demo" -d 'The 2-minute demo as a checklist: fail, DLQ persisted, replay with the fix, success'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "health" -d 'Check that the server and its broker answer'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "emit" -d 'Push a debug event into a run\'s timeline'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "worker" -d 'Run a worker in this process against the broker of the dq server at --url, or at --broker'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "bench" -d 'Load-test a dq server (--url, else an embedded one): runs or /v1 messages per second and latency'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c dq -n "__fish_dq_using_subcommand help; and not __fish_seen_subcommand_from up down run events dlq replay runs workflows demo health emit worker bench completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from dlq" -f -a "show" -d 'Show a run\'s latest DLQ record [default: the latest dead-lettered run]'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from dlq" -f -a "list" -d 'List DLQ records, newest first'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from dlq" -f -a "redrive" -d 'Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from runs" -f -a "list" -d 'List runs, newest first'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from runs" -f -a "show" -d 'Show one run: state, attempts, last error, replays'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from runs" -f -a "wait" -d 'Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from workflows" -f -a "list" -d 'List the workflows: name, where from, steps'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from workflows" -f -a "show" -d 'Show one workflow\'s steps, what each does and how it is retried'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "runs" -d 'Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)'
complete -c dq -n "__fish_dq_using_subcommand help; and __fish_seen_subcommand_from bench" -f -a "broker" -d '/v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards'
