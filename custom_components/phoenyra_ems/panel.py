"""The sidebar panel and the Lovelace cards of Phoenyra EMS: serves the built bundle and registers both.

The bundle (``frontend/phoenyra-ems.js``, built from the repository's ``frontend/`` by
``scripts/build_frontend``) defines the panel element and the cards. It is served from a static path and
loaded with a query string made of its content hash, so a browser never keeps an outdated copy after an
update (a .gz beside it is served to browsers that accept it). The static path lives as long as Home
Assistant runs (aiohttp cannot remove routes); the panel and the cards' module are registered with the first
site and removed with the last one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from homeassistant.components import frontend, panel_custom
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import callback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

PANEL_URL_PATH = "phoenyra-ems"
PANEL_TITLE = "Phoenyra EMS"
PANEL_ICON = "mdi:battery-charging-high"
PANEL_ELEMENT = "phoenyra-ems-panel"
STATIC_URL = f"/{DOMAIN}_static"
BUNDLE = "phoenyra-ems.js"
FRONTEND_DIR = Path(__file__).parent / "frontend"

_DATA: HassKey[dict[str, str]] = HassKey(f"{DOMAIN}_panel")


def _bundle_version(path: Path) -> str:
    """Return a short hash of the bundle's content (it changes with every build that changes it)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


async def async_register_panel(hass: HomeAssistant) -> None:
    """Serve the bundle, add the panel to the sidebar and load the cards on every dashboard.

    Safe to call again (e.g. for every site that is set up): what is registered already is left alone.
    """
    if "frontend" not in hass.config.components:
        # No user interface to add to (only possible with frontend as an after-dependency).
        return
    data = hass.data.setdefault(_DATA, {})
    if "module_url" not in data:
        version = await hass.async_add_executor_job(
            _bundle_version, FRONTEND_DIR / BUNDLE
        )
        await hass.http.async_register_static_paths(
            [StaticPathConfig(STATIC_URL, str(FRONTEND_DIR), cache_headers=True)]
        )
        data["module_url"] = f"{STATIC_URL}/{BUNDLE}?v={version}"
    module_url = data["module_url"]
    if "registered" in data:
        return
    await panel_custom.async_register_panel(
        hass,
        frontend_url_path=PANEL_URL_PATH,
        webcomponent_name=PANEL_ELEMENT,
        sidebar_title=PANEL_TITLE,
        sidebar_icon=PANEL_ICON,
        module_url=module_url,
        embed_iframe=False,
        require_admin=False,
    )
    frontend.add_extra_js_url(hass, module_url)
    data["registered"] = module_url


@callback
def async_unregister_panel(hass: HomeAssistant) -> None:
    """Remove the panel and the cards' module (when the last site is removed)."""
    data = hass.data.get(_DATA)
    if not data or "registered" not in data:
        return
    module_url = data.pop("registered")
    frontend.async_remove_panel(hass, PANEL_URL_PATH, warn_if_unknown=False)
    frontend.remove_extra_js_url(hass, module_url)
