from claims_api.models import audit_event
from services.audit import AuditLog

audit = AuditLog(audit_event)
