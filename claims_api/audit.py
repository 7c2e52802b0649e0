from claims_api.models import audit_event
from services.kit.audit import AuditLog

audit = AuditLog(audit_event)
