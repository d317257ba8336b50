"""End-to-end tests of the panel and cards (scripts/e2e); not part of the unit-test suite."""
