"""The nightly pass, the digest emails and their outbox."""
