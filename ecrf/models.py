"""Imports every model so the metadata (and Alembic) sees all tables."""
from ecrf.auth.models import Membership, PasswordReset, Role, User, UserSession
from ecrf.studies.models import Arm, Site, Study, StudySite, VisitDefinition
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit
from ecrf.crfs.models import CrfEntry
from ecrf.screening.models import ScreeningRecord
from ecrf.randomization.models import RandomizationSlot
from ecrf.alerts.models import Alert
from ecrf.audit.models import AuditEvent
from ecrf.queries.models import DataQuery, QueryMessage
from ecrf.deviations.models import ProtocolDeviation
from ecrf.crfs.models import Signature
from ecrf.safety.models import Flag
from ecrf.notify.models import NightlyRun, OutboxEmail, SchedulerLease
from ecrf.submissions.models import FormSubmission
from ecrf.crfs.registry import registry

registry()  # imports every instrument's typed table

__all__ = ["FormSubmission", "PasswordReset", "UserSession", "Alert", "Arm", "AuditEvent", "CrfEntry", "DataQuery", "Flag", "NightlyRun", "OutboxEmail", "SchedulerLease", "ProtocolDeviation", "QueryMessage", "Signature", "RandomizationSlot", "ScreeningRecord", "Membership", "Role", "Site", "Study", "StudySite", "Subject", "SubjectStatus", "User", "Visit", "VisitDefinition"]
