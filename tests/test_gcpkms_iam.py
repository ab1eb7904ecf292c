"""The Google Cloud custom roles in ``iam/``: what ``gcloud iam roles create --file`` takes, and
exactly the permissions sf-credproc's calls need (Cloud KMS "Permissions and roles":
``asymmetricSign`` needs ``cloudkms.cryptoKeyVersions.useToSign``, ``getPublicKey`` needs
``cloudkms.cryptoKeyVersions.viewPublicKey``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sf_credproc.keys.gcpkms_key import SIGN_PERMISSION, VIEW_PERMISSION

IAM = Path(__file__).resolve().parents[1] / "iam"
#: The fields of a role file ("Creating and managing custom roles"; the Role resource of the IAM
#: REST reference): title up to 100 characters, description up to 256, a launch stage.
FIELDS = {"title", "description", "stage", "includedPermissions"}
STAGES = {"ALPHA", "BETA", "GA", "DEPRECATED", "DISABLED", "EAP"}
ROLES = {
    "gcp-kms-signer-role.yaml": {SIGN_PERMISSION},
    "gcp-kms-setup-role.yaml": {SIGN_PERMISSION, VIEW_PERMISSION},
}


def role(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((IAM / name).read_text())
    return loaded


def test_the_roles_are_the_gcp_documents_in_iam() -> None:
    assert sorted(p.name for p in IAM.glob("gcp-*")) == sorted(ROLES)


@pytest.mark.parametrize(("name", "permissions"), sorted(ROLES.items()))
def test_role_file_shape_and_exact_permissions(name: str, permissions: set[str]) -> None:
    document = role(name)
    assert set(document) == FIELDS
    assert isinstance(document["title"], str)
    assert 0 < len(document["title"]) <= 100
    assert isinstance(document["description"], str)
    assert 0 < len(document["description"]) <= 256
    assert document["stage"] in STAGES
    listed = document["includedPermissions"]
    assert isinstance(listed, list)
    assert len(listed) == len(set(listed))
    assert set(listed) == permissions
    for permission in listed:
        assert re.fullmatch(r"[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+", permission)


def test_the_runtime_role_cannot_read_the_public_key() -> None:
    """Least privilege: get never calls getPublicKey, so the job's role does not grant it."""
    assert VIEW_PERMISSION not in role("gcp-kms-signer-role.yaml")["includedPermissions"]


def test_the_permission_hint_names_a_shipped_role() -> None:
    from google.api_core.exceptions import PermissionDenied

    from sf_credproc.keys.gcpkms_errors import GcpKmsCall, translate_gcpkms_error

    error = translate_gcpkms_error(
        PermissionDenied("denied"),  # type: ignore[no-untyped-call]
        GcpKmsCall("asymmetricSign", SIGN_PERMISSION, "gcpkms:x"),
    )
    named = re.findall(r"iam/[\w.-]+", error.hint or "")
    assert named
    assert all((IAM.parent / path).is_file() for path in named)
