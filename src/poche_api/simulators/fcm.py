"""Firebase Cloud Messaging simulator: the HTTP v1 send endpoint and topic management.

It speaks the routes firebase-admin 7.7 calls (``messages:send``; v1 topic subscriptions
``registrations/{token}/topicSubscriptions``; legacy Instance ID ``iid/v1:batchAdd|batchRemove``)
and answers with FCM's error envelope, so the SDK raises the same exception classes it raises
against Google. It validates what FCM validates (one target, string-only data, 4096-byte payload,
2048 bytes for topic messages, topic names, token shape, TTL ≤ 28 days, reserved data keys,
``validate_only``), and injects failures on demand through ``/_control/*`` (unregistered tokens,
sender-id mismatch, third-party auth errors, 503 storms, 429 with Retry-After, latency). Counters tell
tests what was delivered, per token, to prove there was no loss and no duplicate.

Written with bare Starlette routes and orjson: the push benchmark drives 100,000 sends at it.
"""

import asyncio
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from poche_api.config import Settings
from poche_api.simulators import Simulator, register

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
TOPIC_RE = re.compile(r"^[a-zA-Z0-9\-_.~%]+$")
# FCM registration tokens are long URL-safe strings (often "<instance>:APA91b..."); the
# simulator accepts 32 to 4096 characters of that alphabet and refuses anything else.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-:.]{32,4096}$")
MAX_PAYLOAD_BYTES = 4096
MAX_TOPIC_PAYLOAD_BYTES = 2048
MAX_TTL_SECONDS = 2_419_200
RESERVED_DATA_KEYS = {"from", "message_type", "collapse_key", "notification"}
RESERVED_DATA_PREFIXES = ("google.", "gcm.")
TARGETS = ("token", "fid", "topic", "condition")
STATUS_OF = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class FcmState:
    """What the simulator received and which failures it injects; reset with /_control/reset."""

    requests: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    validated: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_messages: list[dict[str, Any]] = field(default_factory=list)
    unregistered: set[str] = field(default_factory=set)
    sender_mismatch: set[str] = field(default_factory=set)
    third_party_auth: set[str] = field(default_factory=set)
    storm_remaining: int = 0
    storm_status: int = 503
    quota_remaining: int = 0
    quota_retry_after: int = 1
    topics: dict[str, set[str]] = field(default_factory=dict)
    ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    keep_messages: int = 1000
    latency_seconds: float = 0.0


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _error(
    state: FcmState,
    status: int,
    message: str,
    *,
    fcm_code: str | None = None,
    field_violation: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    details: list[dict[str, Any]] = []
    if fcm_code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": fcm_code})
    if field_violation:
        details.append(
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [{"field": field_violation, "description": message}],
            }
        )
    state.errors[fcm_code or STATUS_OF.get(status, str(status))] += 1
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": STATUS_OF.get(status, "UNKNOWN"),
            "details": details,
        }
    }
    return _json(body, status, headers)


def _injected(state: FcmState) -> Response | None:
    if state.storm_remaining > 0:
        state.storm_remaining -= 1
        code = "UNAVAILABLE" if state.storm_status == 503 else "INTERNAL"
        return _error(state, state.storm_status, "The service is unavailable.", fcm_code=code)
    if state.quota_remaining > 0:
        state.quota_remaining -= 1
        return _error(
            state,
            429,
            "Quota exceeded for sending messages.",
            fcm_code="QUOTA_EXCEEDED",
            headers={"Retry-After": str(state.quota_retry_after)},
        )
    return None


def _ttl_seconds(value: Any) -> float | None:
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return float(value[:-1])
    except ValueError:
        return None


def validate_message(message: Any) -> tuple[str, str | None] | None:
    """FCM's checks on a v1 message: (error message, violating field) or None when valid."""
    if not isinstance(message, dict):
        return "Request contains an invalid argument.", "message"
    targets = [name for name in TARGETS if message.get(name)]
    if len(targets) != 1:
        return "Exactly one of token, fid, topic or condition must be set.", "message"
    target = targets[0]
    if target in ("token", "fid") and not (
        isinstance(message[target], str) and TOKEN_RE.match(message[target])
    ):
        return "The registration token is not a valid FCM registration token", "message.token"
    if target == "topic" and not (
        isinstance(message["topic"], str) and TOPIC_RE.match(message["topic"])
    ):
        return "Invalid topic name.", "message.topic"
    data = message.get("data")
    if data is not None:
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            return "Invalid value at 'message.data': values must be strings.", "message.data"
        for key in data:
            if key in RESERVED_DATA_KEYS or key.startswith(RESERVED_DATA_PREFIXES):
                return f"Invalid data payload key: {key}", "message.data"
    notification = message.get("notification")
    if notification is not None and not isinstance(notification, dict):
        return "Invalid value at 'message.notification'.", "message.notification"
    android = message.get("android") or {}
    if not isinstance(android, dict):
        return "Invalid value at 'message.android'.", "message.android"
    if "ttl" in android:
        ttl = _ttl_seconds(android["ttl"])
        if ttl is None or not 0 <= ttl <= MAX_TTL_SECONDS:
            return "Invalid value at 'message.android.ttl'.", "message.android.ttl"
    if android.get("priority") not in (None, "normal", "high"):
        return "Invalid value at 'message.android.priority'.", "message.android.priority"
    payload = orjson.dumps({"data": data or {}, "notification": notification or {}})
    limit = MAX_TOPIC_PAYLOAD_BYTES if target in ("topic", "condition") else MAX_PAYLOAD_BYTES
    if len(payload) > limit:
        return f"Message is too big: {len(payload)} bytes > {limit}.", "message"
    return None


def build(settings: Settings) -> Starlette:
    state = FcmState()

    async def send(request: Request) -> Response:
        state.requests += 1
        if state.latency_seconds:
            await asyncio.sleep(state.latency_seconds)
        injected = _injected(state)
        if injected is not None:
            return injected
        project = request.path_params["project"]
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(state, 400, "Invalid JSON payload received.", fcm_code="INVALID_ARGUMENT")
        if not isinstance(body, dict) or not set(body) <= {"message", "validate_only"}:
            return _error(state, 400, "Invalid JSON payload received.", fcm_code="INVALID_ARGUMENT")
        message = body.get("message")
        problem = validate_message(message)
        if problem is not None:
            return _error(
                state, 400, problem[0], fcm_code="INVALID_ARGUMENT", field_violation=problem[1]
            )
        assert isinstance(message, dict)  # noqa: S101 - validate_message checked it
        token = message.get("token") or message.get("fid")
        if token in state.unregistered:
            return _error(state, 404, "Requested entity was not found.", fcm_code="UNREGISTERED")
        if token in state.sender_mismatch:
            return _error(state, 403, "SenderId mismatch", fcm_code="SENDER_ID_MISMATCH")
        if token in state.third_party_auth:
            return _error(
                state,
                401,
                "Auth error from APNS or Web Push Service",
                fcm_code="THIRD_PARTY_AUTH_ERROR",
            )
        if body.get("validate_only"):
            state.validated += 1
            return _json({"name": f"projects/{project}/messages/fake_message_id"})
        message_id = next(state.ids)
        key = token or f"/topics/{message.get('topic') or message.get('condition')}"
        state.delivered[key] += 1
        if state.keep_messages:
            state.last_messages.append(message)
            del state.last_messages[: -state.keep_messages]
        return _json({"name": f"projects/{project}/messages/0:{message_id}"})

    def _topic_args(token: str, topic: str) -> Response | None:
        if not TOPIC_RE.match(topic):
            return _error(state, 400, "Invalid topic name.", fcm_code="INVALID_ARGUMENT")
        if not TOKEN_RE.match(token):
            return _error(state, 400, "Invalid registration token.", fcm_code="INVALID_ARGUMENT")
        if token in state.unregistered:
            return _error(state, 404, "Requested entity was not found.", fcm_code="UNREGISTERED")
        return None

    async def subscribe(request: Request) -> Response:
        state.requests += 1
        injected = _injected(state)
        if injected is not None:
            return injected
        token = unquote(request.path_params["token"])
        topic = request.query_params.get("topic_name", "")
        problem = _topic_args(token, topic)
        if problem is not None:
            return problem
        members = state.topics.setdefault(topic, set())
        if token in members:  # firebase-admin counts a 409 as success: not an error here
            conflict = {"code": 409, "message": "Already subscribed.", "status": "ALREADY_EXISTS"}
            return _json({"error": conflict}, 409)
        members.add(token)
        return _json({})

    async def unsubscribe(request: Request) -> Response:
        state.requests += 1
        injected = _injected(state)
        if injected is not None:
            return injected
        token = unquote(request.path_params["token"])
        topic = unquote(request.path_params["topic"])
        problem = _topic_args(token, topic)
        if problem is not None:
            return problem
        members = state.topics.get(topic, set())
        if token not in members and request.query_params.get("allow_missing") != "true":
            return _error(state, 404, "Subscription not found.")
        members.discard(token)
        return _json({})

    async def iid_batch(request: Request) -> Response:
        state.requests += 1
        if request.headers.get("access_token_auth") != "true":
            return _json({"error": "InvalidAuthentication"}, 401)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json({"error": "InvalidJsonPayload"}, 400)
        to, tokens = body.get("to"), body.get("registration_tokens")
        if not (isinstance(to, str) and to.startswith("/topics/")) or not isinstance(tokens, list):
            return _json({"error": "InvalidParameters"}, 400)
        topic = to.removeprefix("/topics/")
        if not TOPIC_RE.match(topic) or not 0 < len(tokens) <= 1000:
            return _json({"error": "InvalidParameters"}, 400)
        operation = request.path_params["operation"]
        if operation not in ("batchAdd", "batchRemove"):
            return _json({"error": "NotFound"}, 404)
        adding = operation == "batchAdd"
        members = state.topics.setdefault(topic, set())
        results: list[dict[str, str]] = []
        for token in tokens:
            if not isinstance(token, str) or not TOKEN_RE.match(token):
                results.append({"error": "INVALID_ARGUMENT"})
            elif token in state.unregistered:
                results.append({"error": "NOT_FOUND"})
            else:
                (members.add if adding else members.discard)(token)
                results.append({})
        return _json({"results": results})

    # ---- test-only controls (the simulator itself is never mounted in production) ----

    async def control(request: Request) -> Response:
        action = request.path_params["action"]
        body: dict[str, Any] = {}
        if request.method == "POST":
            raw = await request.body()
            body = orjson.loads(raw) if raw else {}
        tokens = set(body.get("tokens", []))
        if action == "reset":
            fresh = FcmState()
            for name in FcmState.__dataclass_fields__:
                setattr(state, name, getattr(fresh, name))
        elif action == "unregister":
            state.unregistered |= tokens
        elif action == "sender-mismatch":
            state.sender_mismatch |= tokens
        elif action == "third-party-auth":
            state.third_party_auth |= tokens
        elif action == "storm":
            state.storm_remaining = int(body.get("requests", 0))
            state.storm_status = int(body.get("status", 503))
        elif action == "quota":
            state.quota_remaining = int(body.get("requests", 0))
            state.quota_retry_after = int(body.get("retry_after", 1))
        elif action == "latency":
            state.latency_seconds = float(body.get("seconds", 0))
        elif action == "keep-messages":
            state.keep_messages = int(body.get("count", 0))
        elif action != "stats":
            return _json({"error": f"unknown control {action}"}, 404)
        return _json(
            {
                "requests": state.requests,
                "delivered_total": sum(state.delivered.values()),
                "delivered": dict(state.delivered),
                "duplicates": sorted(k for k, n in state.delivered.items() if n > 1),
                "validated": state.validated,
                "errors": dict(state.errors),
                "storm_remaining": state.storm_remaining,
                "quota_remaining": state.quota_remaining,
                "topics": {name: sorted(m) for name, m in state.topics.items() if m},
                "last_messages": state.last_messages[-50:],
            }
        )

    app = Starlette(
        routes=[
            Route("/v1/projects/{project}/messages:send", send, methods=["POST"]),
            Route(
                "/v1/projects/{project}/registrations/{token}/topicSubscriptions",
                subscribe,
                methods=["POST"],
            ),
            Route(
                "/v1/projects/{project}/registrations/{token}/topicSubscriptions/{topic}",
                unsubscribe,
                methods=["DELETE"],
            ),
            Route("/iid/v1:{operation:str}", iid_batch, methods=["POST"]),
            Route("/_control/{action}", control, methods=["GET", "POST"]),
        ]
    )
    app.state.fcm = state
    return app


register(
    Simulator(
        name="fcm",
        build=build,
        description="Firebase Cloud Messaging HTTP v1 send + topic management, failure injection",
    )
)
