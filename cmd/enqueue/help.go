package main

// The help texts. A command's help is its usage, its flags (written from the flag set), then
// the rest: output, examples.

const topHelp = `enqueue puts tasks for the ovqueue workers into Redis.

Usage:
  enqueue callback --order N --action A [flags]   schedule or change an OV verification callback
  enqueue licence --order N --product P [flags]   modify or cancel a third-party licence (alias: license)
  enqueue backfill FILE|- [flags]                 enqueue many rows from JSON Lines or CSV
  enqueue dead list|export FILE|replay [flags]    read, export or replay the dead-letter record

Run 'enqueue COMMAND --help' for a command's flags and examples.

Environment:
  REDIS_URL   the workers' Redis (default redis://127.0.0.1:6379/0); --redis-url overrides it

Results go to standard output (JSON with --json), problems to standard error.

Exit codes:
  0  done; duplicates count as done
  1  some rows or tasks failed, or the run was interrupted
  2  usage or configuration error: nothing was done
`

const callbackUsage = `Usage: enqueue callback --order N --action A [--time "2024-02-02 13:03"] [--phone P] [--email E]
                        [--extension X] [--language L] [--comments C] [common flags]

Enqueue one ovcallback:update task: the provider's !UpdateUserOvCallback for an OV order.
The task ID is derived from the content (or from --key), so enqueueing the same callback
twice is reported as a duplicate, with the existing task's ID and state, and exits 0.
`

const callbackMore = `
Output:
  enqueued ovcallback:update:1234567:428fd13ff1e2708a queue=default state=pending
  duplicate ovcallback:update:1234567:428fd13ff1e2708a queue=default state=pending
  With --json: {"result":"enqueued","id":"...","queue":"default","state":"pending"}

Examples:
  enqueue callback --order 1234567 --action ScheduledCallback --time "2024-02-02 13:03"
  enqueue callback --order 1234567 --action ReplacePhone --phone "+44 20 7946 0000" --account eu
  enqueue callback --order 1234567 --action sendCallbackEmail --key booking-8812 --json
`

const licenceUsage = `Usage: enqueue licence --order N --product P [--action CANCELLICENCE] [--cancel-type T]
                       [--qualys-login L] [--qualys-company C] [--codeguard-user U]
                       [--codeguard-email E] [common flags]
       (alias: enqueue license)

Enqueue one licence:modify task: the provider's !modifyThirdPartyDetails, which cancels a
third-party licence (--action CANCELLICENCE) or changes its account details. The task ID is
derived from the content (or from --key), so enqueueing the same change twice is reported as
a duplicate, with the existing task's ID and state, and exits 0.
`

const licenceMore = `
Output:
  enqueued licence:modify:123456:1a2adb2bce3e9788 queue=default state=pending
  duplicate licence:modify:123456:1a2adb2bce3e9788 queue=default state=archived
  With --json: {"result":"enqueued","id":"...","queue":"default","state":"pending"}

Examples:
  enqueue licence --order 123456 --product 1061 --action CANCELLICENCE --cancel-type "ON EXPIRATION"
  enqueue licence --order 123456 --product 700 --codeguard-email ops@example.com
  enqueue license --order 123456 --product 341 --action CANCELLICENCE --at "2024-03-01 00:00"
`

const backfillUsage = `Usage: enqueue backfill FILE|- [--format jsonl|csv] [--dry-run] [--skip-invalid]
                        [--concurrency N] [--rate N] [common flags]

Enqueue one task per row of FILE (- reads standard input), on queue backfill unless --queue
says otherwise.

Rows are JSON Lines, one object a line:
  {"type":"licence:modify","orderNumber":123456,"product":1061,"action":"CANCELLICENCE"}
or CSV with a header row of the same names; an empty cell is an absent field:
  type,orderNumber,product,action,cancelType
  licence:modify,123456,1061,CANCELLICENCE,ON EXPIRATION
The fields errorCode, errorMessage, errorItem, httpStatus, reason, attempts, failedAt, taskId,
entryId, replayedAt and contentId are left out of the payload, so a file from 'enqueue dead
export' can be fixed and fed back; a row of a task enqueued with a key keeps the key while its
content is unchanged, and once a row's task is enqueued (or found live) the dead letter its
entryId names, if one of its taskId, is marked replayed.

The whole input is validated first; every bad row is reported on standard error as
FILE:LINE: field: why. With any bad row nothing is enqueued, unless --skip-invalid. While it
validates, the backfill builds each row's task and keeps it in a temporary file (in $TMPDIR,
about the size of the input, gone when the command ends); then it contacts Redis and
enqueues those tasks, --concurrency at a time (a Redis it cannot reach counts every valid
row as failed). Each row's task ID comes from its content, so running the same
backfill again enqueues nothing new: its rows are counted as duplicates. --account sets the
account of rows that name none; --max-retry, --in and --at apply to every row.

Progress goes to standard error: a bar on a terminal, else a line every 5 seconds. Ctrl-C
stops taking rows, lets the enqueues in flight finish, prints the summary and the last line
handled; run the same command again to continue. A second Ctrl-C exits at once. If Redis
fails for many rows in a row, the backfill stops the same way.
`

const backfillMore = `
Output (standard output), one summary line:
  enqueued=9998 duplicate=2 invalid=0 failed=0
  With --dry-run the same line, counting only invalid rows; standard error says how many rows
  are valid.
  With --json: {"enqueued":9998,"duplicate":2,"invalid":0,"failed":0}, plus "stoppedAfterLine"
  when it stopped early (0 before the first row; "stoppedWhileValidating": true too when
  interrupted while validating), and "dryRun" and "valid" with --dry-run.

Exit code 1 when any row is invalid (even with --skip-invalid), fails to enqueue, or the run
is interrupted; the summary still counts what was done.

Examples:
  enqueue backfill cancellations.csv --dry-run
  enqueue backfill cancellations.csv --rate 50
  zcat rows.jsonl.gz | enqueue backfill - --skip-invalid --json
  enqueue dead export fix.jsonl --code -4 && $EDITOR fix.jsonl && enqueue backfill fix.jsonl --queue default
`

const deadUsage = `Usage: enqueue dead list [--code C] [--type T] [--json]
       enqueue dead export FILE|- [--code C] [--type T] [--json]
       enqueue dead replay [--code C] [--type T] [--json]

The dead-letter record: every task a worker gave up on, with the provider's errorCode and
message, kept in Redis for good (asynq's own archive forgets after 10,000 tasks or 90 days).

  list     one line per dead letter, oldest first (JSON Lines with --json)
  export   write them as backfill rows to FILE (- for standard output), plus errorCode,
           errorMessage, errorItem, httpStatus, reason, attempts, failedAt, taskId, entryId,
           replayedAt and (for a task enqueued with a key) contentId: fix the rows, then feed
           the file to 'enqueue backfill', which leaves those fields out of the payload but
           keeps the key of an unchanged row, and marks the dead letter of each row whose task
           it finds live or enqueues replayed (a later replay does not send the unfixed task
           again). An existing FILE is never overwritten.
  replay   enqueue each dead letter again, once, as a fresh task with its original task ID
           and an unspent retry budget: in place of asynq's archived copy when it still holds
           the task, else rebuilt from the record. Dead letters already replayed, and
           further dead letters of a task this run put back, are skipped; a task that is
           already back, in any queue, is a duplicate. It takes the dead letters there when it
           starts: those of tasks that fail again while it runs wait for the next replay.

A failure that brought no errorCode (an error page, a timeout, a payload that never reached
the provider) shows errorCode=none (null in JSON); --code 0 selects those, and an errorCode
of 0 that came with an HTTP error.
`

const deadMore = `
Output:
  list:    2024-02-02T13:03:00Z licence:modify:123456:1a2adb2bce3e9788 type=licence:modify queue=default reason=permanent errorCode=-4 attempts=1 replayed=no errorMessage="Invalid product"
  export:  exported=12 file=fix.jsonl            ({"exported":12,"file":"fix.jsonl"} with --json)
           to standard output (-): exported=12 on standard error ({"exported":12} with --json)
  replay:  replayed licence:modify:123456:1a2adb2bce3e9788 queue=default state=pending from=archive
           duplicate ovcallback:update:77:9e8d7c6b5a4f3e2d queue=default state=pending
           replayed=1 duplicate=1 failed=0 skipped=3
           (with --json, one object a task, then the summary object)

Examples:
  enqueue dead list --code -42
  enqueue dead export - --type licence:modify | jq .errorMessage
  enqueue dead replay --code -14
`

// deadHelp is `enqueue dead --help`.
const deadHelp = deadUsage + `
Flags:
  --code C           only dead letters with this provider errorCode (0: failures without one)
  --type T           only dead letters of this task type: ovcallback:update or licence:modify
  --json             write results as JSON
  --redis-url URL    the workers' Redis (default $REDIS_URL, else redis://127.0.0.1:6379/0)
` + deadMore
