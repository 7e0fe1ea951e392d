"""Alerts for study staff (e.g. a randomization list running out)."""
