"""The Azure role definitions in ``iam/azure/``: the shape ``az role definition create
--role-definition @FILE`` takes (Azure CLI, "az role definition create"; the fields of an Azure
custom role, "Azure custom roles"), data actions only, exactly the ones sf-credproc's calls need,
and the same ones its error messages name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sf_credproc.config.azurekv_uri import parse_azure_key_id
from sf_credproc.keys.azurekv_key import call_of

AZURE = Path(__file__).resolve().parents[1] / "iam" / "azure"
FIELDS = {
    "Name",
    "IsCustom",
    "Description",
    "Actions",
    "NotActions",
    "DataActions",
    "NotDataActions",
    "AssignableScopes",
}
SIGN = "Microsoft.KeyVault/vaults/keys/sign/action"
READ = "Microsoft.KeyVault/vaults/keys/read"
#: A vault's resource id: the narrowest scope a Key Vault role can be assignable at.
VAULT_SCOPE = re.compile(
    r"/subscriptions/[0-9a-f-]{36}/resourceGroups/[\w.()-]{1,90}"
    r"/providers/Microsoft\.KeyVault/vaults/[a-z][a-z0-9-]{1,22}[a-z0-9]\Z"
)
KEY = parse_azure_key_id("https://acme-jwt.vault.azure.net/keys/sf")


def role(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((AZURE / name).read_text())
    return loaded


def test_the_folder_holds_the_two_roles() -> None:
    assert sorted(p.name for p in AZURE.glob("*.json")) == [
        "keyvault-cert-role.json",
        "keyvault-signer-role.json",
    ]


@pytest.mark.parametrize(
    ("name", "data_actions"),
    [("keyvault-signer-role.json", [SIGN]), ("keyvault-cert-role.json", [READ, SIGN])],
)
def test_role_definition_shape_and_exact_data_actions(name: str, data_actions: list[str]) -> None:
    definition = role(name)
    assert set(definition) == FIELDS
    assert definition["IsCustom"] is True
    assert isinstance(definition["Name"], str) and definition["Name"]
    assert isinstance(definition["Description"], str) and definition["Description"]
    # Control-plane actions none: the role cannot read or change the vault, only use one key.
    assert definition["Actions"] == [] and definition["NotActions"] == []
    assert definition["NotDataActions"] == []
    assert sorted(definition["DataActions"]) == data_actions
    assert definition["AssignableScopes"]
    for scope in definition["AssignableScopes"]:
        assert VAULT_SCOPE.match(scope), scope


def test_error_messages_name_the_roles_data_actions() -> None:
    sign, read = call_of(KEY, "k", "sign"), call_of(KEY, "k", "get key")
    assert role("keyvault-signer-role.json")["DataActions"] == [sign.data_action]
    assert set(role("keyvault-cert-role.json")["DataActions"]) == {
        sign.data_action,
        read.data_action,
    }
    assert "iam/azure/keyvault-signer-role.json" in sign.role
    assert "iam/azure/keyvault-cert-role.json" in read.role
