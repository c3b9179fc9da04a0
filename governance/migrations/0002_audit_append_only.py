"""Make the audit table append-only at the database: UPDATE, DELETE and TRUNCATE raise.

The triggers bind every role that does not own the table (and the owner too, unless it
disables them explicitly with ALTER TABLE, which the hash chain then exposes).
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION governance_audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'governance_auditevent is append-only: % is not allowed (the audit chain is never changed or deleted; export it instead)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_event_no_update_delete
    BEFORE UPDATE OR DELETE ON governance_auditevent
    FOR EACH ROW EXECUTE FUNCTION governance_audit_reject_change();

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON governance_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_reject_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON governance_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_update_delete ON governance_auditevent;
DROP FUNCTION IF EXISTS governance_audit_reject_change();
"""


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
