"""The oracle: what a correct ZStack answers. One implementation, used by the contract suites and the load
scenarios alike. Never imports the reference server (see ARCHITECTURE.md)."""

from zscheck.checks.agreement import check_echo_matches_query, check_query_visibility, check_strings_round_trip
from zscheck.checks.expectations import (
    FACETS,
    ErrorTable,
    Facets,
    ProtocolRule,
    default_table,
    field_of_wrong_kind,
    gson_reads,
)
from zscheck.checks.response import (
    Probe,
    check_inventory,
    judge,
    judge_call,
    judge_protocol,
    judge_read,
    parse_zstack_time,
)
from zscheck.checks.transitions import check_change, check_failed_request, check_query_agrees
from zscheck.checks.violations import Expected, Violation

# Every check name a Violation can carry, with what it catches: reports and docs list them from here.
CHECKS: dict[str, str] = {
    "transport": "the target gave no usable HTTP answer (refused, reset, timed out, oversized)",
    "job_completes": "the api-job reached a final answer before the polling deadline",
    "status_code": "the HTTP status of the answer and of the job's final answer",
    "accepted_body": "a 202 names its api-job (`location`, the X-Job-UUID sent) and a positive `apiTimeout`",
    "job_protocol": "X-Job-UUID rules (a reused or malformed one is a 400), polls of unknown jobs (404), non-GET (405)",
    "schema_presence": "a job result carries `schema` exactly when the poll sent X-JSON-Schema",
    "pending_body": "a job still processing answers 202 {}",
    "plain_text": "transport-level rejections are plain text with ZStack's message",
    "envelope": "the final body's shape: exactly one of inventory/error (rest), success consistent (documented)",
    "error_code_shape": "an ErrorCode has a code like SYS.1007, its code's own description, and details",
    "error_code": "the outcome and ErrorCode the error-code table prescribes for the input",
    "inventory_schema": "an ImageInventory is complete and well typed (enums, timestamps, refs)",
    "inventory_identity": "the inventory is the image named in the path",
    "state_matches_event": "after enable/disable the image is Enabled/Disabled",
    "query_agrees": "a query shows the last acknowledged change",
    "read_answer": "a query of an image by uuid answers 200 with exactly that image",
    "linearizable": "under load, every image's history of changes and reads is linearizable",
    "failed_request_changes_nothing": "a failed request leaves the image as it was",
    "status_untouched": "a state change never touches the image's status",
    "no_other_field_changes": "a state change writes only state and lastOpDate",
    "last_op_date": "lastOpDate never goes backwards, advances on a real change, stays on a same-state one",
    "echo_matches_query": "the inventory a change, update or recover answers equals a query right after, every field",
    "strings_round_trip": "names and descriptions (Chinese and ASCII) come back exactly as sent",
    "query_visibility": "a normal account's query lists its own images and none of another account's",
    "setup": "the target's answers while the harness logs in and creates its fixtures keep the contract",
    "session_rejected": "a live session is never refused (ID.1001) before it expires",
}

__all__ = [
    "CHECKS",
    "FACETS",
    "ErrorTable",
    "Expected",
    "Facets",
    "Probe",
    "ProtocolRule",
    "Violation",
    "check_change",
    "check_echo_matches_query",
    "check_failed_request",
    "check_inventory",
    "check_query_agrees",
    "check_query_visibility",
    "check_strings_round_trip",
    "default_table",
    "field_of_wrong_kind",
    "gson_reads",
    "judge",
    "judge_call",
    "judge_protocol",
    "judge_read",
    "parse_zstack_time",
]
