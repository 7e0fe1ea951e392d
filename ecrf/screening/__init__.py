"""Screening: the screening log, eligibility from the protocol, enrolment from a screening record."""
