"""The admin page: user accounts and their memberships (see `ecrf.admin.services` for who may use it)."""
