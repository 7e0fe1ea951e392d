"""Data in from other systems: CDISC ODM 1.3.2 ClinicalData (`flask ecrf import-odm`)."""
