"""Flags: overdue visits, SAE report clocks, stale AEs and safety signals from entered data."""
