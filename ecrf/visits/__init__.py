"""Visits, their windows and status."""
