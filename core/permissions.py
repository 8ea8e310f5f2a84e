"""Staff API permissions: the Django model permissions the admin already enforces.

``is_staff`` only says "may use the staff tools"; what a staff account may do is
its model permissions (``live.change_draw``, ``core.add_event``, ...), given in the
admin (groups or per user). The admin refuses a staff account without them; these
classes make the API refuse it too (403), so the two doors have one lock.

A view names what each method needs::

    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("live.view_entry",), "POST": ("live.add_draw",)}

A method the map does not name is refused to everyone but superusers (who hold
every permission): a new method cannot be open by omission. HEAD and OPTIONS
need what GET needs. Non-superuser staff cost one permissions query per request
(ModelBackend caches them on the user object); attendees never reach it.
"""

from __future__ import annotations

from rest_framework import permissions


def required_permissions(view, method: str) -> tuple[str, ...] | None:
    """The permissions `view` asks for `method`, or None when it names none."""
    mapping = getattr(view, "staff_permissions", {})
    if method in ("HEAD", "OPTIONS"):
        method = "GET"
    return mapping.get(method)


class StaffModelPermission(permissions.BasePermission):
    """Staff holding the view's model permissions for this method (401 anonymous,
    403 anyone else)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        if user.is_superuser:
            return True
        needed = required_permissions(view, request.method)
        return needed is not None and user.has_perms(needed)


class ReadOrStaffModelPermission(StaffModelPermission):
    """Anyone may read; writes need staff with the view's model permissions."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return super().has_permission(request, view)


class AuthenticatedReadOrStaffModelPermission(StaffModelPermission):
    """Logged-in users may read; writes need staff with the view's model permissions."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return super().has_permission(request, view)
