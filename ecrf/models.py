"""Imports every model so the metadata (and Alembic) sees all tables."""

from ecrf.alerts.models import Alert
from ecrf.api.models import ApiToken, IdempotentRequest
from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Membership, PasswordReset, Role, User, UserSession
from ecrf.crfs.models import CrfEntry, Signature
from ecrf.crfs.registry import registry
from ecrf.deviations.models import ProtocolDeviation
from ecrf.exports.models import ExportJob
from ecrf.notify.models import NightlyRun, OutboxEmail, SchedulerLease
from ecrf.queries.models import DataQuery, QueryMessage
from ecrf.randomization.models import RandomizationSlot
from ecrf.safety.models import Flag
from ecrf.screening.models import ScreeningRecord
from ecrf.studies.models import Arm, Site, Study, StudySite, VisitDefinition
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.submissions.models import FormSubmission
from ecrf.visits.models import Visit

registry()  # imports every instrument's typed table

__all__ = [
    "Alert",
    "ApiToken",
    "Arm",
    "AuditEvent",
    "CrfEntry",
    "DataQuery",
    "ExportJob",
    "Flag",
    "FormSubmission",
    "IdempotentRequest",
    "Membership",
    "NightlyRun",
    "OutboxEmail",
    "PasswordReset",
    "ProtocolDeviation",
    "QueryMessage",
    "RandomizationSlot",
    "Role",
    "SchedulerLease",
    "ScreeningRecord",
    "Signature",
    "Site",
    "Study",
    "StudySite",
    "Subject",
    "SubjectStatus",
    "User",
    "UserSession",
    "Visit",
    "VisitDefinition",
]
