"""The emulator's REST API surface (``/services/data``), as an API client sees it over HTTPS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from helpers import USERNAME, get_args, run_cli

from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.emulator.records import new_account

V = "/services/data/v62.0"


class Api:
    """GETs (and POSTs) to the emulator's REST API with one access token."""

    def __init__(
        self, org: SalesforceEmulator, http: requests.Session, token: str, ca_bundle: str
    ) -> None:
        self.org, self.http, self.token, self.ca_bundle = org, http, token, ca_bundle

    def get(self, path: str, token: str | None = None, **params: str) -> requests.Response:
        bearer = self.token if token is None else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        url = f"{self.org.url}{path}"
        return self.http.get(url, params=params, headers=headers, verify=self.ca_bundle, timeout=30)

    def ok(self, path: str, **params: str) -> Any:
        answer = self.get(path, **params)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"].startswith("application/json")
        return answer.json()

    def refused(self, status: int, code: str, path: str, **params: str) -> str:
        answer = self.get(path, **params)
        assert answer.status_code == status, answer.text
        [error] = answer.json()
        assert error["errorCode"] == code
        message: str = error["message"]
        return message


@pytest.fixture
def api(org: SalesforceEmulator, env: dict[str, str], key: str, ca_bundle: str) -> Iterator[Api]:
    token = run_cli(get_args(org, key), env).credential()["AccessToken"]
    with requests.Session() as http:
        yield Api(org, http, token, ca_bundle)


def test_versions_are_public_as_salesforce_s_are(api: Api) -> None:
    versions = api.ok("/services/data", token="")
    assert {"label": "API 62.0", "url": "/services/data/v62.0", "version": "62.0"} in versions
    assert api.get("/services/data/", token="not-a-session").status_code == 200


def test_resources_by_version(api: Api) -> None:
    assert api.ok(V) == {
        name: f"{V}/{name}" for name in ("limits", "query", "queryAll", "sobjects")
    }
    assert api.ok(V + "/") == api.ok(V)


def test_limits_have_salesforce_s_shape_and_count_requests(api: Api) -> None:
    first = api.ok(V + "/limits")
    assert {"DailyApiRequests", "DataStorageMB", "FileStorageMB"} <= set(first)
    for limit in first.values():
        assert set(limit) == {"Max", "Remaining"}
        assert 0 <= limit["Remaining"] <= limit["Max"]
    second = api.ok(V + "/limits")
    assert second["DailyApiRequests"]["Remaining"] == first["DailyApiRequests"]["Remaining"] - 1


def test_query_accounts(api: Api) -> None:
    answer = api.ok(V + "/query", q="SELECT Id, Name FROM Account")
    assert answer["totalSize"] == 3 and answer["done"] is True
    assert "nextRecordsUrl" not in answer
    names = [record["Name"] for record in answer["records"]]
    assert names == [account["Name"] for account in api.org.accounts]
    for record in answer["records"]:
        assert list(record) == ["attributes", "Id", "Name"]
        assert record["attributes"] == {
            "type": "Account",
            "url": f"{V}/sobjects/Account/{record['Id']}",
        }
        assert record["Id"].startswith("001") and len(record["Id"]) == 18


def test_accounts_are_set_from_python(api: Api) -> None:
    api.org.accounts = [new_account("Acme", Industry="Energy"), new_account("Globex")]
    answer = api.ok(V + "/query", q="select name, industry from ACCOUNT where Name = 'Acme'")
    assert answer["totalSize"] == 1
    assert answer["records"][0]["Name"] == "Acme" and answer["records"][0]["Industry"] == "Energy"
    ordered = api.ok(V + "/query", q="SELECT Name FROM Account ORDER BY Name DESC LIMIT 1")
    assert [r["Name"] for r in ordered["records"]] == ["Globex"]
    count = api.ok(V + "/query", q="SELECT COUNT() FROM Account")
    assert (count["totalSize"], count["records"]) == (2, [])


@pytest.mark.parametrize("resource", ["query", "queryAll"])
def test_paging_to_the_end(api: Api, resource: str) -> None:
    api.org.accounts = [new_account(f"Account {n:02d}") for n in range(7)]
    api.org.query_page_size = 3
    page = api.ok(f"{V}/{resource}", q="SELECT Id, Name FROM Account")
    seen, pages = [], 1
    while True:
        assert page["totalSize"] == 7
        seen += [record["Name"] for record in page["records"]]
        if page["done"]:
            assert "nextRecordsUrl" not in page
            break
        assert len(page["records"]) == 3
        assert page["nextRecordsUrl"].startswith(f"{V}/query/01g")
        assert page["nextRecordsUrl"].endswith(f"-{3 * pages}")
        page, pages = api.ok(page["nextRecordsUrl"]), pages + 1
    assert pages == 3
    assert seen == [f"Account {n:02d}" for n in range(7)]


def test_a_query_locator_is_the_user_s_own(
    api: Api, org: SalesforceEmulator, env: dict[str, str], key: str
) -> None:
    org.query_page_size = 1
    next_url = api.ok(V + "/query", q="SELECT Id FROM Account")["nextRecordsUrl"]
    org.add_user("other@acme.example", approve=org.apps)
    other = run_cli(get_args(org, key, "--username", "other@acme.example"), env).credential()
    answer = api.get(next_url, token=other["AccessToken"])
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    api.refused(400, "INVALID_QUERY_LOCATOR", f"{V}/query/01gNOTALOCATOR-1")
    assert api.ok(next_url)["records"]  # still the owner's


def test_organization_and_user(api: Api, org: SalesforceEmulator) -> None:
    [organization] = api.ok(V + "/query", q="SELECT Id, Name, IsSandbox FROM Organization")[
        "records"
    ]
    assert organization["Id"] == org.org_id and organization["IsSandbox"] is False
    soql = "SELECT Id, Username FROM User WHERE Username = '" + USERNAME + "'"  # noqa: S608 (a constant)
    [user] = api.ok(V + "/query", q=soql)["records"]
    assert user["Id"] == org.users[USERNAME].user_id
    record = api.ok(f"{V}/sobjects/User/{user['Id'][:15]}")
    assert record["Username"] == USERNAME and record["attributes"]["type"] == "User"
    fields = api.ok(f"{V}/sobjects/Organization/{org.org_id}", fields="Name")
    assert list(fields) == ["attributes", "Name", "Id"]  # Salesforce adds the Id
    api.refused(404, "NOT_FOUND", f"{V}/sobjects/User/005000000000000AAA")
    api.refused(400, "INVALID_FIELD", f"{V}/sobjects/User/{user['Id']}", fields="Nope")


def test_describe_global_and_per_object(api: Api) -> None:
    described = api.ok(V + "/sobjects")
    assert described["encoding"] == "UTF-8"
    by_name = {sobject["name"]: sobject for sobject in described["sobjects"]}
    assert {"Account", "Organization", "User"} <= set(by_name)
    assert by_name["Account"]["keyPrefix"] == "001" and by_name["Account"]["queryable"]
    assert by_name["Account"]["urls"]["describe"] == f"{V}/sobjects/Account/describe"
    account = api.ok(V + "/sobjects/Account/describe")
    assert account["name"] == "Account" and account["childRelationships"] == []
    fields = {field["name"]: field for field in account["fields"]}
    assert fields["Id"]["type"] == "id" and fields["Id"]["soapType"] == "tns:ID"
    assert fields["Name"]["type"] == "string" and fields["Name"]["nameField"]
    basic = api.ok(V + "/sobjects/Account")
    assert basic["objectDescribe"]["name"] == "Account" and basic["recentItems"] == []
    api.refused(404, "NOT_FOUND", V + "/sobjects/Nope__c/describe")
    api.refused(404, "NOT_FOUND", V + "/sobjects/Nope__c")


def test_columns_for_the_salesforce_cli(api: Api) -> None:
    columns = api.ok(V + "/query", q="SELECT Id, Name FROM Account", columns="true")
    assert columns["entityName"] == "Account" and columns["keyPrefix"] == "001"
    assert columns["idSelected"] is True
    assert [c["columnName"] for c in columns["columnMetadata"]] == ["Id", "Name"]
    assert all(c["joinColumns"] == [] for c in columns["columnMetadata"])


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FRM Account",
        "SELECT FROM Account",
        "SELECT Id FROM",
        "SELECT Id FROM Account WHERE",
        "SELECT Id FROM Account WHERE Name LIKE 'A%'",
        "SELECT Id FROM Account LIMIT many",
        "SELECT Id FROM Account; DELETE",
        "UPDATE Account SET Name = 'x'",
    ],
)
def test_bad_soql_is_malformed(api: Api, soql: str) -> None:
    assert "unexpected token" in api.refused(400, "MALFORMED_QUERY", V + "/query", q=soql)


def test_unknown_objects_fields_and_an_empty_query(api: Api) -> None:
    message = api.refused(400, "INVALID_TYPE", V + "/query", q="SELECT Id FROM Widget__c")
    assert "sObject type 'Widget__c' is not supported" in message
    message = api.refused(400, "INVALID_FIELD", V + "/query", q="SELECT Id, Nope FROM Account")
    assert "No such column 'Nope' on entity 'Account'" in message
    api.refused(400, "INVALID_FIELD", V + "/query", q="SELECT Id FROM Account WHERE Nope = 1")
    message = api.refused(400, "MALFORMED_QUERY", V + "/query")
    assert message == "A query string has to be specified"


def test_unknown_versions_and_resources_and_writes(api: Api) -> None:
    api.refused(404, "NOT_FOUND", "/services/data/v99.0/limits")
    api.refused(404, "NOT_FOUND", "/services/data/v30.0/limits")  # retired in 2025
    assert api.ok("/services/data/v51.0/limits")  # what the Salesforce CLI asks for a user's record
    api.refused(404, "NOT_FOUND", "/services/data/latest/limits")
    api.refused(404, "NOT_FOUND", V + "/tooling/query", q="SELECT Id FROM ApexClass")
    api.refused(404, "NOT_FOUND", V + "/sobjects/Account/describe/more")
    bearer = {"Authorization": f"Bearer {api.token}"}
    url = f"{api.org.url}{V}/sobjects/Account"
    write = api.http.post(url, json={}, headers=bearer, verify=api.ca_bundle, timeout=30)
    assert write.status_code == 405
    assert write.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


ENDPOINTS = [
    (V, {}),
    (V + "/limits", {}),
    (V + "/query", {"q": "SELECT Id FROM Account"}),
    (V + "/queryAll", {"q": "SELECT Id FROM Account"}),
    (V + "/query/01gAAAAAAAAAAAAAAA-2", {}),
    (V + "/sobjects", {}),
    (V + "/sobjects/Account", {}),
    (V + "/sobjects/Account/describe", {}),
    (V + "/sobjects/Organization/00D000000000000AAA", {}),
    ("/services/data/v99.0/limits", {}),
]


@pytest.mark.parametrize("session", ["missing", "unknown", "revoked", "expired"])
def test_every_resource_needs_a_live_session(
    api: Api, org: SalesforceEmulator, session: str
) -> None:
    token = {"missing": "", "unknown": org.org_id[:15] + "!AQnot-a-session"}.get(session, api.token)
    if session == "revoked":
        assert org.revoke(api.token)[0] == 200
    if session == "expired":
        org.clock = lambda: time.time() + 7201  # past the session timeout (2 hours)
    for path, params in ENDPOINTS:
        answer = api.get(path, token=token, **params)
        assert answer.status_code == 401, path
        assert answer.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
