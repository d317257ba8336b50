"""Clients of the outside world: price APIs and site devices.

Like the engine, these modules import nothing from Home Assistant: they take what the integration
hands them (for HTTP, Home Assistant's shared aiohttp session) and return engine types.
"""
