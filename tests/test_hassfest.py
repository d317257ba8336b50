"""The hassfest rules that can be checked offline, and the musl rule for requirements."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest

from custom_components.phoenyra_ems import PLATFORMS
from custom_components.phoenyra_ems.binary_sensor import BINARY_SENSORS
from custom_components.phoenyra_ems.button import OPTIMIZE_BUTTON
from custom_components.phoenyra_ems.select import STRATEGY_SELECT
from custom_components.phoenyra_ems.sensor import SENSORS
from custom_components.phoenyra_ems.switch import SWITCHES

INTEGRATION = Path(__file__).parents[1] / "custom_components" / "phoenyra_ems"

# Home Assistant OS and the official container run on Alpine (musl): a requirement without musllinux wheels
# for x86_64 and aarch64 is built from source at install time there, fails, and the integration does not
# load. These are known to have such wheels (checked on the registry); cvxpy and prophet are not and must
# never be manifest requirements.
MUSL_WHEELS = {
    "highspy",
    "pymodbus",
    # Pure Python (py2.py3-none-any): installs anywhere; pymodbus needs it for Modbus RTU.
    "pyserial",
    "numpy",
    "scipy",
    "pandas",
    "aiohttp",
    "voluptuous",
}


def load(name: str) -> Any:
    return json.loads((INTEGRATION / name).read_text(encoding="utf-8"))


def keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in tree.items():
        out |= (
            keys(value, f"{prefix}{key}.")
            if isinstance(value, dict)
            else {prefix + key}
        )
    return out


def test_manifest_keys_and_order() -> None:
    manifest = load("manifest.json")
    order = list(manifest)
    assert order[:2] == ["domain", "name"]
    assert order[2:] == sorted(order[2:])
    assert manifest["domain"] == INTEGRATION.name
    for key in (
        "version",
        "codeowners",
        "documentation",
        "issue_tracker",
        "config_flow",
        "iot_class",
    ):
        assert manifest.get(key), key
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert "quality_scale" not in manifest


def test_requirements_install_on_home_assistant_os() -> None:
    for requirement in load("manifest.json")["requirements"]:
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()
        assert name in MUSL_WHEELS, f"{requirement} has no known musllinux wheels"
        # Ranges, not pins, so Home Assistant's package constraints can choose the version.
        assert "==" not in requirement, requirement


def test_hacs_minimum_version() -> None:
    hacs = json.loads((INTEGRATION.parents[1] / "hacs.json").read_text())
    assert hacs["homeassistant"] == "2025.4.0"
    assert hacs["name"] == load("manifest.json")["name"]


def test_translations_have_the_same_keys() -> None:
    english = keys(load("translations/en.json"))
    german = keys(load("translations/de.json"))
    assert english == german
    assert all(value.strip() for value in _leaves(load("translations/de.json")))


def _leaves(tree: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for value in tree.values():
        out.extend(_leaves(value) if isinstance(value, dict) else [value])
    return out


def _steps(tree: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every form step and section of the config and options flows."""
    found: list[tuple[str, dict[str, Any]]] = []
    for flow in ("config", "options"):
        for step_id, step in tree[flow]["step"].items():
            found.append((f"{flow}.{step_id}", step))
            found.extend(
                (f"{flow}.{step_id}.{name}", sec)
                for name, sec in step.get("sections", {}).items()
            )
    return found


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_field_has_a_description(language: str) -> None:
    for where, step in _steps(load(f"translations/{language}.json")):
        assert set(step.get("data", {})) == set(step.get("data_description", {})), where


def test_every_entity_is_translated_and_has_an_icon() -> None:
    strings = load("translations/en.json")["entity"]
    icons = load("icons.json")["entity"]
    described = {
        "sensor": SENSORS,
        "select": (STRATEGY_SELECT,),
        "switch": SWITCHES,
        "button": (OPTIMIZE_BUTTON,),
        "binary_sensor": BINARY_SENSORS,
    }
    assert set(described) == {platform.value for platform in PLATFORMS}
    for platform, descriptions in described.items():
        translation_keys = {d.translation_key for d in descriptions}
        assert translation_keys == set(strings[platform]), platform
        assert translation_keys == set(icons[platform]), platform
        for description in descriptions:
            assert strings[platform][description.translation_key]["name"]
            options = getattr(description, "options", None)
            if options:
                assert set(options) == set(
                    strings[platform][description.translation_key]["state"]
                )


def test_flow_selectors_and_errors_are_translated() -> None:
    strings = load("translations/en.json")
    source = (INTEGRATION / "config_flow.py").read_text() + (
        INTEGRATION / "device_flow.py"
    ).read_text()
    translated = {**strings["config"]["error"], **strings["options"]["error"]}
    for error in re.findall(
        r'"(must_be_positive|invalid_\w+|\w+_unavailable|\w+_required|modbus_\w+'
        r'|entity_\w+|topic_\w+|target_\w+)"',
        source,
    ):
        assert error in translated, error
    for selector_key in (
        "mode",
        "price_source",
        "export_mode",
        "selection_mode",
        "manual_strategy",
        "engine",
    ):
        assert strings["selector"][selector_key]["options"], selector_key


def test_exceptions_used_in_code_are_translated() -> None:
    english = load("translations/en.json")
    # Repair issues use translation keys as well, from their own section.
    strings = {**english["exceptions"], **english["issues"]}
    used: set[str] = set()
    for path in INTEGRATION.glob("*.py"):
        used |= set(re.findall(r'translation_key="(\w+)"', path.read_text()))
    exception_keys = used - {
        d.translation_key
        for d in (
            *SENSORS,
            STRATEGY_SELECT,
            *SWITCHES,
            OPTIMIZE_BUTTON,
            *BINARY_SENSORS,
        )
    }
    assert exception_keys <= set(strings)
    assert exception_keys


def test_engine_imports_nothing_from_home_assistant() -> None:
    for path in (INTEGRATION / "engine").rglob("*.py"):
        assert not re.search(
            r"^\s*(from|import)\s+homeassistant", path.read_text(), re.MULTILINE
        ), path
