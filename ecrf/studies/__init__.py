"""Studies, arms, visit definitions and sites."""
