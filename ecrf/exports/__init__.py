"""Data out: who may export what (`export_scope`), and one entry point for every format (`run_export`).

The writers read the instrument descriptions (`ecrf.crfs.registry`), never a form: `ecrf.exports.tabular`
writes one zip of datasets and a data dictionary (CSV, Stata, SPSS, SAS transport), `ecrf.exports.odm` one
CDISC ODM 1.3.2 file. Every export is limited to its `Scope` and goes to the audit trail.
"""
