"""Who may read which part of the operator's report and of the audit trail.

A group's data (its members' turns, their unanswered questions, the
documents their answers cited, their feedback and audit records) is shown
only to that group's admins (`Principal.admin_of`). A turn belongs to the
groups its caller had when it was answered, as its audit record says
(`audit_log.StoreAuditLog.turn_owners`); a turn with no such record (an
unrestricted caller's, or one logged before the trail was kept) is shown
only to those who see everything: an unrestricted caller (no auth, the
shared `--auth_token`, the owner of the database file) or an admin of `"*"`.
"""

from __future__ import annotations

from lepton_tf.server.identity import EVERYONE, Principal
from lepton_tf.store.audit_log import StoreAuditLog
from lepton_tf.store.conversation_store import ConversationStore


def require_admin(viewer: Principal) -> None:
    """Raises PermissionError unless `viewer` administers some group (or is unrestricted)."""
    if not viewer.unrestricted and not viewer.admin_of:
        raise PermissionError(f"{viewer.name} administers no group: the report and the "
                              "audit trail are for admins (admin_of in the tokens file).")


def sees_all(viewer: Principal | None) -> bool:
    """Whether `viewer` (None: the database file's owner) sees every group's data."""
    return viewer is None or viewer.unrestricted or EVERYONE in viewer.admin_of


def visible_turn_ids(store: ConversationStore, viewer: Principal | None) -> set[str] | None:
    """The turns `viewer` may see in the report (None: all of them).

    Raises:
        PermissionError: the viewer administers no group.
    """
    if viewer is not None:
        require_admin(viewer)
    if sees_all(viewer):
        return None
    return {turn_id for turn_id, (_, groups) in StoreAuditLog(store).turn_owners().items()
            if groups & viewer.admin_of}
