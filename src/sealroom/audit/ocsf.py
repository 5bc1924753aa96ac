"""Audit records as OCSF events (Open Cybersecurity Schema Framework, schema version ``OCSF_VERSION``).

``to_ocsf(record)`` turns one audit record (a dict as ``sealroom.audit.query`` returns it) into one OCSF
event of the class that fits its action:

========================================  ==========================================================
Sealroom action                            OCSF class (uid) and activity
========================================  ==========================================================
``auth.login``, ``auth.mfa.verify``,      Authentication (3002): Logon; ``auth.logout``,
``integration.auth``, ``auth.sso.login``, ``auth.sso.logout``, ``session.end``, ``session.timeout``:
``auth.sso.token``, ``auth.sso.recheck``  Logoff; ``auth.sso.recheck``: Other
``session.open``                          Authorize Session (3003): Assign Privileges
``access.decision``, ``access.check``     Web Resource Access Activity (6004): Access Grant / Deny
``admin.grant.*``, ``access.grant.*``,    User Access Management (3005): Assign / Revoke Privileges
``access.elevation.*``, ``auth.sso.roles``,
``access.break_glass``
``admin.user.*``, ``auth.mfa.enroll``,    Account Change (3001): Create, Enable, Disable, Password
``auth.mfa.reset``                        Change, MFA Factor Enable / Disable
``image.ingest``, ``image.open``,         File Hosting Activity (6006): Upload, Open, Update,
``image.reclassify``, ``delivery.export``, Download, Delete (the "file" is the stored image, by id;
``retention.delete``                      its name is never known to the log)
``analysis.run`` that found personal      Data Security Finding (2006): Create (counts by entity type)
data
``alert.raise``                           Detection Finding (2004): Create
everything else                           API Activity (6003): Create / Read / Update / Delete
========================================  ==========================================================

Every event keeps the whole sealed record under ``unmapped.sealroom`` (seq, event_id, prev_mac, mac,
details…), so an OCSF export or feed still carries the chain and can be verified. Sealroom records no
network addresses: ``src_endpoint`` names the workspace session (or the host, for operators and
background work) rather than an IP. Audit details hold ids, counts and keyed hashes only, so nothing
here is personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from sealroom import __version__
from sealroom.audit.chain import parse_ts

OCSF_VERSION: Final = "1.3.0"
"""The released OCSF schema version every event declares (``metadata.version``)."""

PRODUCT: Final = {"name": "Sealroom", "vendor_name": "Sealroom", "version": __version__}

# Severity ids: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical.
ALERT_SEVERITY: Final[Mapping[str, int]] = {
    "emergency": 5, "alert": 5, "critical": 5, "error": 4, "warning": 3, "notice": 2,
}  # fmt: skip

_CLASSES: Final[Mapping[int, tuple[str, int, str]]] = {
    # class_uid: (class_name, category_uid, category_name)
    2004: ("Detection Finding", 2, "Findings"),
    2006: ("Data Security Finding", 2, "Findings"),
    3001: ("Account Change", 3, "Identity & Access Management"),
    3002: ("Authentication", 3, "Identity & Access Management"),
    3003: ("Authorize Session", 3, "Identity & Access Management"),
    3005: ("User Access Management", 3, "Identity & Access Management"),
    6003: ("API Activity", 6, "Application Activity"),
    6004: ("Web Resource Access Activity", 6, "Application Activity"),
    6006: ("File Hosting Activity", 6, "Application Activity"),
}

# action -> (class_uid, activity_id, activity_name)
_EXACT: Final[Mapping[str, tuple[int, int, str]]] = {
    "auth.login": (3002, 1, "Logon"),
    "auth.mfa.verify": (3002, 1, "Logon"),
    "integration.auth": (3002, 1, "Logon"),
    "auth.sso.login": (3002, 1, "Logon"),
    "auth.sso.token": (3002, 1, "Logon"),
    "auth.sso.recheck": (3002, 99, "Other"),
    "auth.logout": (3002, 2, "Logoff"),
    "auth.sso.logout": (3002, 2, "Logoff"),
    "session.end": (3002, 2, "Logoff"),
    "session.timeout": (3002, 2, "Logoff"),
    "session.open": (3003, 1, "Assign Privileges"),
    "admin.grant.create": (3005, 1, "Assign Privileges"),
    "access.elevation.grant": (3005, 1, "Assign Privileges"),
    "auth.sso.roles": (3005, 1, "Assign Privileges"),
    "access.break_glass": (3005, 1, "Assign Privileges"),
    "admin.grant.revoke": (3005, 2, "Revoke Privileges"),
    "access.grant.expire": (3005, 2, "Revoke Privileges"),
    "access.elevation.expire": (3005, 2, "Revoke Privileges"),
    "admin.user.create": (3001, 1, "Create"),
    "admin.user.enable": (3001, 2, "Enable"),
    "admin.user.password": (3001, 3, "Password Change"),
    "admin.user.disable": (3001, 5, "Disable"),
    "auth.mfa.enroll": (3001, 10, "MFA Factor Enable"),
    "auth.mfa.reset": (3001, 11, "MFA Factor Disable"),
    "image.ingest": (6006, 1, "Upload"),
    "delivery.export": (6006, 2, "Download"),
    "image.reclassify": (6006, 3, "Update"),
    "retention.delete": (6006, 4, "Delete"),
    "image.open": (6006, 14, "Open"),
    "result.deliver": (6003, 2, "Read"),
    "alert.raise": (2004, 1, "Create"),
}

_API_VERBS: Final = (
    (("create", "submit", "place", "ingest", "raise", "anchor", "signoff"), 1, "Create"),
    (("search", "verify", "export", "read", "show", "list", "check", "access"), 2, "Read"),
    (("delete", "purge", "revoke", "orphan", "shred"), 4, "Delete"),
)


def to_ocsf(record: Mapping[str, Any]) -> dict[str, Any]:
    """The OCSF event for one audit record (``ts`` canonical text, ``details`` an object).

    Raises ``KeyError``/``ValueError`` for a record missing its sealed fields.
    """
    action = str(record["action"])
    details: Mapping[str, Any] = record.get("details") or {}
    class_uid, activity_id, activity_name = _classify(action, str(record["outcome"]), details)
    class_name, category_uid, category_name = _CLASSES[class_uid]
    millis = event_time(record)
    failed = record["outcome"] in ("deny", "failure")
    event: dict[str, Any] = {
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "class_uid": class_uid,
        "class_name": class_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        "time": millis,
        "severity_id": _severity(action, str(record["outcome"]), details),
        "status_id": 2 if failed else 1,
        "status": "Failure" if failed else "Success",
        "message": _message(record),
        "metadata": {
            "version": OCSF_VERSION,
            "product": dict(PRODUCT),
            "uid": record["event_id"],
            "sequence": record["seq"],
            "log_name": "sealroom.audit",
            "logged_time": millis,
        },
        "actor": _actor(record),
        "src_endpoint": _endpoint(record),
        "unmapped": {"sealroom": dict(record)},
    }
    if record.get("reason"):
        event["status_detail"] = record["reason"]
    _CLASS_FIELDS[class_uid](event, record, details)
    return event


def _classify(action: str, outcome: str, details: Mapping[str, Any]) -> tuple[int, int, str]:
    if action in ("access.decision", "access.check", "access.unmask"):
        return (6004, 1, "Access Grant") if outcome == "allow" else (6004, 2, "Access Deny")
    if action == "analysis.run" and outcome == "success" and details.get("entity_counts"):
        return 2006, 1, "Create"
    if action == "auth.sso.roles" and details.get("removed") and not details.get("added"):
        return 3005, 2, "Revoke Privileges"
    if action in _EXACT:
        return _EXACT[action]
    words = set(action.replace("_", ".").split("."))
    for verbs, activity_id, name in _API_VERBS:
        if words & set(verbs):
            return 6003, activity_id, name
    return 6003, 3, "Update"


def _severity(action: str, outcome: str, details: Mapping[str, Any]) -> int:
    if action == "alert.raise":
        return ALERT_SEVERITY.get(str(details.get("severity")), 4)
    if action.startswith("access.break_glass"):
        return 4
    if outcome == "deny":
        return 3
    return 2 if outcome == "failure" else 1


def _message(record: Mapping[str, Any]) -> str:
    target = record.get("image_id") or record.get("case_id")
    text = f"{record['actor']} {record['action']} {record['outcome']}"
    return f"{text} ({target})" if target else text


def _user(name: str) -> dict[str, Any]:
    if name.startswith("operator:"):
        type_id, type_name = 2, "Admin"
    elif name.startswith(("system", "integration:")):
        type_id, type_name = 3, "System"
    else:
        type_id, type_name = 1, "User"
    return {"name": name, "type_id": type_id, "type": type_name}


def _actor(record: Mapping[str, Any]) -> dict[str, Any]:
    actor: dict[str, Any] = {"user": _user(str(record["actor"]))}
    if record.get("session_id"):
        actor["session"] = {"uid": record["session_id"]}
    return actor


def _endpoint(record: Mapping[str, Any]) -> dict[str, Any]:
    if record.get("session_id"):
        return {"name": "sealroom session", "uid": record["session_id"]}
    return {"name": "sealroom host"}


def _subject(details: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """The user an IAM event is about: a named user in the details, else the actor."""
    for key in ("username", "user", "requester", "target_user"):
        if isinstance(details.get(key), str):
            return _user(details[key])
    return _user(str(record["actor"]))


def _authentication(event: dict[str, Any], record: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    event["user"] = _subject(details, record)
    event["service"] = {"name": "Sealroom"}
    if record["action"] == "auth.mfa.verify" or details.get("mfa") is True:
        event["is_mfa"] = True
    if record.get("session_id"):
        event["session"] = {"uid": record["session_id"]}


def _privileges(details: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for key in ("roles", "role"):
        value = details.get(key)
        if isinstance(value, list):
            found.extend(str(item) for item in value)
        elif isinstance(value, str):
            found.append(value)
    for key, label in (("case_id", "case"), ("dataset", "dataset")):
        if isinstance(details.get(key), str):
            found.append(f"{label}:{details[key]}")
    return found


def _authorize_session(event: dict[str, Any], record: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    event["user"] = _subject(details, record)
    event["privileges"] = _privileges(details) or ["session"]
    event["session"] = {"uid": record.get("session_id")}


def _user_access(event: dict[str, Any], record: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    event["user"] = _subject(details, record)
    privileges = _privileges(details)
    if record.get("case_id"):
        privileges.append(f"case:{record['case_id']}")
    event["privileges"] = sorted(set(privileges))
    if record["action"].startswith("access.break_glass"):
        event["unmapped"]["break_glass"] = True


def _account_change(event: dict[str, Any], record: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    event["user"] = _subject(details, record)


def _web_access(event: dict[str, Any], record: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    resource: dict[str, Any] = {"type": "image" if record.get("image_id") else "case"}
    uid = record.get("image_id") or record.get("case_id") or details.get("dataset")
    if uid:
        resource["uid"] = uid
    if isinstance(details.get("requested"), str):
        resource["name"] = details["requested"]
    event["web_resources"] = [resource]
    event["http_request"] = {}  # required by the class; the audit log keeps no HTTP details


def _file_hosting(event: dict[str, Any], record: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    file: dict[str, Any] = {"name": record.get("image_id") or "image", "type_id": 1, "type": "Regular File"}
    if record.get("image_id"):
        file["uid"] = record["image_id"]
    digest = details.get("sha256") or details.get("delivery_sha256")
    if isinstance(digest, str):
        file["hashes"] = [{"algorithm_id": 3, "algorithm": "SHA-256", "value": digest}]
    event["file"] = file


def _finding(title: str, record: Mapping[str, Any]) -> dict[str, Any]:
    return {"uid": record["event_id"], "title": title, "created_time": event_time(record)}


def event_time(record: Mapping[str, Any]) -> int:
    """Milliseconds since the epoch of a record's canonical ``ts``."""
    return int(parse_ts(str(record["ts"])).timestamp() * 1000)


def _data_security(event: dict[str, Any], record: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    counts = details.get("entity_counts") or {}
    event["finding_info"] = _finding("Personal data found in an analysed image", record)
    event["data_security"] = {
        "category": "Personal data",
        "data_lifecycle_state": "Data in Use",
        "detection_system": "Sealroom offline engine",
        "pattern_match": ", ".join(f"{kind}×{count}" for kind, count in sorted(counts.items())),
    }
    if record.get("image_id"):
        event["file"] = {"name": record["image_id"], "uid": record["image_id"], "type_id": 1}
    event["is_alert"] = False


def _detection(event: dict[str, Any], record: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    rule = str(details.get("rule") or "alert")
    event["finding_info"] = _finding(f"Sealroom alert rule {rule}", record)
    event["is_alert"] = True


def _api(event: dict[str, Any], record: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    event["api"] = {"operation": record["action"], "service": {"name": "Sealroom"}}
    resources = [
        {"type": kind, "uid": record[key]} for key, kind in (("image_id", "image"), ("case_id", "case"))
        if record.get(key)
    ]  # fmt: skip
    if resources:
        event["resources"] = resources


_CLASS_FIELDS: Final[Mapping[int, Callable[[dict[str, Any], Mapping[str, Any], Mapping[str, Any]], None]]] = {
    2004: _detection,
    2006: _data_security,
    3001: _account_change,
    3002: _authentication,
    3003: _authorize_session,
    3005: _user_access,
    6003: _api,
    6004: _web_access,
    6006: _file_hosting,
}
