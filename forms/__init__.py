"""WTForms forms: one module per instrument or domain."""
