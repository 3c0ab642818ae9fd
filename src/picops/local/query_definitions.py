"""Saved Logs Insights query definitions on the embedded endpoint.

moto's CloudWatch Logs has no PutQueryDefinition, DescribeQueryDefinitions or DeleteQueryDefinition, so a
stack whose model saves queries (docs/operating.md, "Saved queries") could not be provisioned locally.
`install()` adds the three operations to moto's Logs responses, kept per account and region beside the log
groups, with AWS's request and answer shapes: Put creates (a new id) or, given `queryDefinitionId`, replaces
name, query and log groups; Describe filters on a name prefix and pages with `nextToken`; Delete of an
unknown id is ResourceNotFoundException.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

_INSTALLED = "_picops_query_definitions"
MAX_RESULTS = 1000  # DescribeQueryDefinitions' own upper bound


def _store(backend: Any) -> dict[str, dict[str, Any]]:
    # On the backend object, so moto's reset (new backends) forgets them with everything else.
    found: dict[str, dict[str, Any]] | None = backend.__dict__.get(_INSTALLED)
    if found is None:
        found = {}
        backend.__dict__[_INSTALLED] = found
    return found


def _put(response: Any) -> str:
    from moto.logs.exceptions import ResourceNotFoundException

    store = _store(response.logs_backend)
    given = response._get_param("queryDefinitionId")
    if given and given not in store:
        raise ResourceNotFoundException("The specified query definition does not exist.")
    definition_id = given or str(uuid.uuid4())
    store[definition_id] = {
        "queryDefinitionId": definition_id,
        "name": response._get_param("name"),
        "queryString": response._get_param("queryString"),
        "logGroupNames": list(response._get_param("logGroupNames") or []),
        "lastModified": int(time.time() * 1000),
    }
    return json.dumps({"queryDefinitionId": definition_id})


def _describe(response: Any) -> str:
    prefix = response._get_param("queryDefinitionNamePrefix") or ""
    limit = int(response._get_param("maxResults") or MAX_RESULTS)
    start = int(response._get_param("nextToken") or 0)
    found = [d for d in _store(response.logs_backend).values() if str(d["name"]).startswith(prefix)]
    page = found[start : start + limit]
    body: dict[str, Any] = {"queryDefinitions": page}
    if start + limit < len(found):
        body["nextToken"] = str(start + limit)
    return json.dumps(body)


def _delete(response: Any) -> str:
    from moto.logs.exceptions import ResourceNotFoundException

    store = _store(response.logs_backend)
    if store.pop(response._get_param("queryDefinitionId"), None) is None:
        raise ResourceNotFoundException("The specified query definition does not exist.")
    return json.dumps({"success": True})


def install() -> None:
    """Give moto's Logs responses the three query-definition operations (once per process)."""
    from moto.logs.responses import LogsResponse

    if getattr(LogsResponse, _INSTALLED, False):
        return
    # moto dispatches an operation to the responses' method of its snake_case name.
    LogsResponse.put_query_definition = _put  # type: ignore[attr-defined]
    LogsResponse.describe_query_definitions = _describe  # type: ignore[attr-defined]
    LogsResponse.delete_query_definition = _delete  # type: ignore[attr-defined]
    setattr(LogsResponse, _INSTALLED, True)
