#!/usr/bin/env bash
# Load test through the real binaries (make load): a private local stack (moto + the three
# functions under `cargo lambda watch`, scripts/stack.sh, free ports on 127.0.0.1), then N
# deliveries at concurrency C, 20 % of them duplicates (half of those fired at the same moment
# as their original, half later), mixing all 19 event types of events/reply/. Afterwards:
#   - no request got a 5xx, and every unique event was answered `accepted` exactly once;
#   - the actionable queue holds every unique actionable event exactly once (drained, counted
#     by event_id), and nothing else;
#   - the table holds exactly one record per unique event, COMPLETED (scanned).
# Prints throughput and latency p50/p90/p99. Exits non-zero when an assertion fails.
#
#   N=5000 C=32 scripts/load.sh          (defaults)
#   LOAD_TIMEOUT=1200                     bound on the sending phase, seconds (default 1200)
#
# Loopback only; bounded in count (N <= 100000) and time; the stack is always stopped.
set -euo pipefail

# shellcheck source=scripts/stack.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stack.sh"
cd "$RW_ROOT"

N="${N:-5000}"
C="${C:-32}"
LOAD_TIMEOUT="${LOAD_TIMEOUT:-1200}"
[[ $N =~ ^[0-9]+$ && $N -ge 10 && $N -le 100000 ]] || rw_die "N must be a number of deliveries between 10 and 100000, got '$N'"
[[ $C =~ ^[0-9]+$ && $C -ge 1 && $C -le 256 ]] || rw_die "C must be a concurrency between 1 and 256, got '$C'"
[[ $LOAD_TIMEOUT =~ ^[0-9]+$ && $LOAD_TIMEOUT -ge 10 ]] || rw_die "LOAD_TIMEOUT must be seconds (>= 10), got '$LOAD_TIMEOUT'"

STACK_DIR="$RW_ROOT/.stack/load-$$"
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ $rc -ne 0 && -f $STACK_DIR/watch.log ]]; then
        rw_note "tail of the functions' log:"
        grep -vE '^\s+(Compiling|Blocking|Finished|Running|Fresh)' "$STACK_DIR/watch.log" | tail -n 15 >&2 || true
    fi
    rw_say "stopping the load-test stack"
    stack_stop "$STACK_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$SECONDS
stack_start "$STACK_DIR" private
rw_say "stack ready in $((SECONDS - start)) s; sending $N deliveries at concurrency $C"

moto_env "$STACK_DIR"
set -a
# shellcheck disable=SC1091
source "$STACK_DIR/env"
set +a
export RW_WATCH_PORT="$(cat "$STACK_DIR/watch.port")" RW_EVENTS="$RW_ROOT/events/reply"
export N C LOAD_TIMEOUT
rw_python - <<'PY'
import collections, http.client, json, os, random, sys, threading, time
from concurrent.futures import ThreadPoolExecutor, wait

import boto3

N, C, TIMEOUT = int(os.environ["N"]), int(os.environ["C"]), float(os.environ["LOAD_TIMEOUT"])
PORT = int(os.environ["RW_WATCH_PORT"])
TOKEN = "reply-local-test-token-0001"
TABLE, QUEUE = os.environ["IDEMPOTENCY_TABLE_NAME"], os.environ["ACTIONABLE_QUEUE_URL"]
DEFAULT_ACTIONABLE = {
    "email_replied", "reply_categorized", "email_bounced", "email_auto_reply", "contact_finished",
    "contact_opted_out", "contact_called", "linkedin_connection_request_accepted",
    "linkedin_message_replied", "linkedin_reply_categorized", "email_account_connection_lost",
    "email_account_error", "linkedin_account_alerts", "autopilot_stopped",
}
actionable_types = (
    set(t.strip() for t in os.environ["ACTIONABLE_EVENTS"].split(",") if t.strip())
    if os.environ.get("ACTIONABLE_EVENTS") else DEFAULT_ACTIONABLE
)

def function_for(event_type):
    if event_type.startswith(("email_account_", "linkedin_account_", "autopilot_")):
        return "account-webhook", "account"
    if event_type.startswith("linkedin_"):
        return "linkedin-webhook", "linkedin"
    return "email-webhook", "email"

templates = []
for name in sorted(os.listdir(os.environ["RW_EVENTS"])):
    with open(os.path.join(os.environ["RW_EVENTS"], name), encoding="utf-8") as f:
        templates.append((name[:-5], json.load(f)))

rng = random.Random(20261126)
run = f"{int(time.time())}-{os.getpid()}"
duplicates = N // 5
uniques = N - duplicates
events = []  # (event_id, type, path, body bytes)
for i in range(uniques):
    event_type, template = templates[i % len(templates)]
    body = json.loads(json.dumps(template))
    event_id = f"load-{run}-{i:06d}"
    body["event"]["id"] = event_id
    function, category = function_for(event_type)
    path = f"/lambda-url/{function}/webhooks/{category}?token={TOKEN}"
    events.append((event_id, event_type, path, json.dumps(body).encode()))

# Jobs: ("one", event) or ("burst", event, copies). Half the duplicates are fired at the same
# moment as their original (a burst of 2), the other half later, as Reply's retries would be.
concurrent_dups = duplicates // 2
later_dups = duplicates - concurrent_dups
burst_of = set(rng.sample(range(uniques), concurrent_dups))
jobs = [("burst", e, 2) if i in burst_of else ("one", e) for i, e in enumerate(events)]
rng.shuffle(jobs)
later = [("one", events[rng.randrange(uniques)]) for _ in range(later_dups)]
# Later duplicates go into the second half of the run, spread out.
half = len(jobs) // 2
for job in later:
    jobs.insert(rng.randrange(half, len(jobs) + 1), job)
assert sum(1 if j[0] == "one" else j[2] for j in jobs) == N

local = threading.local()
lock = threading.Lock()
answers = collections.defaultdict(list)  # event_id -> [(status, code)]
latencies = []
statuses = collections.Counter()
deadline = time.monotonic() + TIMEOUT

def post(event):
    event_id, _, path, body = event
    if time.monotonic() > deadline:
        raise TimeoutError("LOAD_TIMEOUT passed")
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    started = time.perf_counter()
    try:
        conn.request("POST", path, body=body, headers={"content-type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        status = response.status
    except (http.client.HTTPException, OSError):
        local.conn = None
        conn.close()
        raise
    elapsed = time.perf_counter() - started
    try:
        answer = json.loads(raw)
        code = answer.get("status") or answer.get("error", {}).get("code")
    except ValueError:
        code = "not-json:" + raw[:80].decode("utf-8", "replace")
    with lock:
        latencies.append(elapsed)
        statuses[status] += 1
        answers[event_id].append((status, code))

def burst(event, copies):
    barrier = threading.Barrier(copies)
    errors = []
    def fire():
        try:
            barrier.wait(timeout=30)
            post(event)
        except Exception as err:  # reported below
            errors.append(err)
    threads = [threading.Thread(target=fire) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]

def run_job(job):
    if job[0] == "one":
        post(job[1])
    else:
        burst(job[1], job[2])

began = time.perf_counter()
failures = []
with ThreadPoolExecutor(max_workers=C) as pool:
    futures = [pool.submit(run_job, job) for job in jobs]
    done, pending = wait(futures, timeout=TIMEOUT + 60)
    for future in done:
        if future.exception() is not None:
            failures.append(repr(future.exception()))
    if pending:
        failures.append(f"{len(pending)} jobs did not finish within LOAD_TIMEOUT")
        for future in pending:
            future.cancel()
wall = time.perf_counter() - began

sent = sum(statuses.values())
lat = sorted(latencies)
def pct(p):
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000 if lat else float("nan")
print(f"\nsent {sent} deliveries ({uniques} unique events, {duplicates} duplicates: "
      f"{concurrent_dups} fired together with their original, {later_dups} later) "
      f"in {wall:.1f} s at concurrency {C}")
print(f"throughput  {sent / wall:.1f} deliveries/s")
print(f"latency     p50 {pct(50):.1f} ms   p90 {pct(90):.1f} ms   p99 {pct(99):.1f} ms   max {pct(100):.1f} ms")
codes = collections.Counter(code for a in answers.values() for _, code in a)
print("answers     " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())) +
      "   (" + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())) + ")")

problems = list(failures)
five_xx = sum(v for k, v in statuses.items() if k >= 500)
if five_xx:
    problems.append(f"{five_xx} responses were 5xx")
unexpected = {k: v for k, v in codes.items() if k not in ("accepted", "duplicate", "in_progress")}
if unexpected:
    problems.append(f"unexpected answers: {unexpected}")
accepted_counts = collections.Counter(
    sum(1 for _, code in answers.get(e[0], []) if code == "accepted") for e in events)
if set(accepted_counts) != {1}:
    problems.append(f"unique events by number of 'accepted' answers: {dict(accepted_counts)} (want all 1)")

# The queue: drain it (bounded), count by event_id.
sqs = boto3.client("sqs")
in_queue = collections.Counter()
empty_polls = 0
drain_began = time.monotonic()
drain_deadline = drain_began + 600
while empty_polls < 3 and time.monotonic() < drain_deadline:
    out = sqs.receive_message(QueueUrl=QUEUE, MaxNumberOfMessages=10, VisibilityTimeout=900,
                              WaitTimeSeconds=0)
    batch = out.get("Messages", [])
    if not batch:
        empty_polls += 1
        time.sleep(0.2)
        continue
    empty_polls = 0
    for m in batch:
        in_queue[json.loads(m["Body"])["event_id"]] += 1
    # Counted: delete them, so the emulator's next receive scans a shorter queue.
    sqs.delete_message_batch(QueueUrl=QUEUE, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
if empty_polls < 3:
    # Say so rather than report unread messages as lost.
    problems_drain = f"the queue did not drain within {drain_deadline - drain_began:.0f} s"
else:
    problems_drain = None
print(f"drained     in {time.monotonic() - drain_began:.1f} s")
expected_in_queue = {e[0] for e in events if e[1] in actionable_types}
lost = expected_in_queue - set(in_queue)
duplicated = {k: v for k, v in in_queue.items() if v > 1}
stray = set(in_queue) - expected_in_queue
print(f"queue       {sum(in_queue.values())} messages for {len(in_queue)} event ids; "
      f"{len(expected_in_queue)} actionable unique events expected: "
      f"lost {len(lost)}, duplicated {len(duplicated)}, stray {len(stray)}")
if problems_drain:
    problems.append(problems_drain)
if lost or duplicated or stray:
    problems.append(f"queue: lost {sorted(lost)[:5]}, duplicated {dict(list(duplicated.items())[:5])}, stray {sorted(stray)[:5]}")

# The table: scan, one COMPLETED record per unique event.
dynamodb = boto3.client("dynamodb")
records = collections.Counter()
not_completed = []
kwargs = {"TableName": TABLE, "ConsistentRead": True}
for _ in range(10_000):
    out = dynamodb.scan(**kwargs)
    for item in out["Items"]:
        key = item["id"]["S"].removeprefix("reply#")
        records[key] += 1
        if item["status"]["S"] != "COMPLETED":
            not_completed.append((key, item["status"]["S"]))
    if "LastEvaluatedKey" not in out:
        break
    kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
unique_ids = {e[0] for e in events}
missing = unique_ids - set(records)
extra = set(records) - unique_ids
print(f"table       {sum(records.values())} records for {len(unique_ids)} unique events: "
      f"missing {len(missing)}, not COMPLETED {len(not_completed)}, extra {len(extra)}")
if missing or not_completed or extra:
    problems.append(f"table: missing {sorted(missing)[:5]}, not completed {not_completed[:5]}, extra {sorted(extra)[:5]}")

if problems:
    print("\nFAILED:", *problems, sep="\n  ")
    sys.exit(1)
print("\nPASSED: every unique event accepted once, recorded COMPLETED once, and (if actionable) "
      "in the queue exactly once; no 5xx")
PY
