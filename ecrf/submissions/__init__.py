"""Posts that create something are made single: a key per rendered form (see `services`)."""
