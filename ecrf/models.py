"""Imports every model so the metadata (and Alembic) sees all tables."""
from ecrf.auth.models import Membership, Role, User
from ecrf.studies.models import Arm, Site, Study, StudySite, VisitDefinition
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit

__all__ = ["Arm", "Membership", "Role", "Site", "Study", "StudySite", "Subject", "SubjectStatus", "User", "Visit", "VisitDefinition"]
