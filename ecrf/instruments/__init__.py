"""Instruments: one module per family, each with its typed table(s) and `INSTRUMENTS`."""
