"""Users, memberships and logging in."""
