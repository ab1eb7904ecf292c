"""``GET /services/data/vNN.N/limits``: the org's limits, in the shape of the REST API Developer
Guide's "Limits" resource (``{"Name": {"Max": n, "Remaining": n}, ...}``).

A handful of the real keys with a Developer Edition org's maxima; ``DailyApiRequests`` counts down
with the REST requests the emulator has answered since its last reset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .org import EmulatedOrg

_MAXIMA = {
    "ConcurrentAsyncGetReportInstances": 200,
    "DailyApiRequests": 15000,
    "DailyAsyncApexExecutions": 250000,
    "DailyBulkApiBatches": 15000,
    "DailyBulkV2QueryJobs": 10000,
    "DailyGenericStreamingApiEvents": 10000,
    "DataStorageMB": 5,
    "FileStorageMB": 20,
    "HourlyTimeBasedWorkflow": 50,
    "SingleEmailMessages": 15,
}


def limits(emulator: EmulatedOrg) -> dict[str, Any]:
    """The limits document, ``DailyApiRequests`` less the REST requests answered so far."""
    used = sum(
        n for path, n in emulator.request_counts.items() if path.startswith("/services/data")
    )
    document = {name: {"Max": most, "Remaining": most} for name, most in _MAXIMA.items()}
    document["DailyApiRequests"]["Remaining"] = max(0, _MAXIMA["DailyApiRequests"] - used)
    return document
