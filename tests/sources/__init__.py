"""Tests of the source clients."""
