"""Phoenyra EMS engine: the battery planning model, optimizer, simulator and demo data.

Nothing in this package imports Home Assistant. It takes plain data (dataclasses, numpy arrays)
and returns plain data, so it is tested, benchmarked and replayed on its own.

Sign conventions, used everywhere in the engine and the integration (they are Home Assistant's
Energy dashboard conventions):
- battery power is positive while the battery discharges and negative while it charges;
- grid power is positive while the site imports and negative while it exports.
"""
