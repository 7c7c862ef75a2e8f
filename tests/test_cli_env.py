"""Boolean environment variables of `iamd serve` are read one way, and strictly."""

from __future__ import annotations

import pytest
from iamd_server.runtime import cli


@pytest.mark.parametrize("value", ["False", "false", "0", "no", "off", ""])
def test_false_spellings_leave_plain_http_jwks_off(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("IAMD_OIDC_ALLOW_HTTP", value)
    assert cli._build_parser().parse_args(["serve"]).oidc_allow_http is False


@pytest.mark.parametrize(("name", "attribute"), [
    ("IAMD_OIDC_ALLOW_HTTP", "oidc_allow_http"),
    ("IAMD_OTEL", "otel"),
])  # fmt: skip
def test_true_spellings_turn_flags_on(
    monkeypatch: pytest.MonkeyPatch, name: str, attribute: str
) -> None:
    for value in ("true", "TRUE", "1", "yes", "on"):
        monkeypatch.setenv(name, value)
        assert getattr(cli._build_parser().parse_args(["serve"]), attribute) is True


def test_bootstrap_defaults_on_and_turns_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IAMD_BOOTSTRAP", raising=False)
    assert cli._build_parser().parse_args(["serve"]).bootstrap is True
    monkeypatch.setenv("IAMD_BOOTSTRAP", "Off")
    assert cli._build_parser().parse_args(["serve"]).bootstrap is False


def test_an_unrecognised_value_is_an_error_not_a_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAMD_OIDC_ALLOW_HTTP", "maybe")
    with pytest.raises(SystemExit, match="IAMD_OIDC_ALLOW_HTTP='maybe' is not a boolean"):
        cli._build_parser()
