"""Subjects and enrolment."""
