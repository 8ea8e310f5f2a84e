"""Gates over HTTP (README "Running the gates"): scanning, the offline gates' download and
upload, gates and their check-in lists, conflicts for staff.

Scanning, the offline download and upload, the gates' figures and check-in lists need the
gate role: the `ticketing.scan_ticket` permission (a group such as "Gate staff"), not
`is_staff`. Creating gates and handling conflicts are staff's (model permissions).
"""

from __future__ import annotations

import base64

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.local_time import api_iso
from core.models import Event
from core.permissions import StaffModelPermission
from core.schema import errors
from core.throttles import ScopedThrottle
from ticketing import filters, selectors
from ticketing import ticket_code_format as fmt
from ticketing.models import Gate, ScanConflict, TicketRedemption
from ticketing.services import gates
from ticketing.services.ticket_codes import event_key_row
from ticketing.views import PaginatedListView

MAX_UPLOAD = 500
BUNDLE_PAGE = 5000


class GateRole(permissions.BasePermission):
    """Accounts holding ticketing.scan_ticket (superusers hold every permission)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("ticketing.scan_ticket"))


class GateRoleOrStaff(StaffModelPermission):
    """The gate role, or staff with the view's model permissions."""

    def has_permission(self, request, view) -> bool:
        return GateRole().has_permission(request, view) or super().has_permission(request, view)


def _event(pk: int) -> Event:
    event = Event.objects.select_related("signing_key").filter(pk=pk).first()
    if event is None:
        raise NotFound(gettext("No such event."), code="event_not_found")
    return event


# --- scanning ----------------------------------------------------------------------------


class ScanInput(serializers.Serializer):
    code = serializers.CharField(max_length=fmt.MAX_CODE_LENGTH, trim_whitespace=True,
                                 help_text="What the ticket's QR code says (TKT1:...).")
    gate = serializers.CharField(max_length=60, help_text="The name of the scanning gate.")


class ScanTicketOutput(serializers.Serializer):
    id = serializers.IntegerField()
    section = serializers.CharField()
    row = serializers.CharField()
    seat = serializers.CharField()


class ScanOutput(serializers.Serializer):
    result = serializers.ChoiceField(choices=gates.SCAN_RESULTS)
    gate = serializers.CharField()
    ticket = ScanTicketOutput(allow_null=True)
    used_at = serializers.DateTimeField(
        allow_null=True, help_text="valid: now; already_used: when it was first scanned.")
    used_gate = serializers.CharField(allow_null=True,
                                      help_text="already_used: the gate it came in through.")
    admitting_gates = serializers.ListField(
        child=serializers.CharField(), help_text="wrong_gate: the gates that admit it.")


def scan_body(outcome: gates.ScanOutcome, gate: Gate) -> dict:
    ticket, used = outcome.ticket, outcome.redemption
    return {
        "result": outcome.result, "gate": gate.name,
        "ticket": None if ticket is None else {
            "id": ticket.pk, "section": ticket.seat.row.section.name,
            "row": ticket.seat.row.label, "seat": ticket.seat.label},
        "used_at": api_iso(used.scanned_at) if used else None,
        "used_gate": used.gate.name if used else None,
        "admitting_gates": outcome.admitting_gates,
    }


class ScanView(APIView):
    permission_classes = [GateRole]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "gate_scan"

    @extend_schema(request=ScanInput, responses={200: ScanOutput, **errors(
        e404="event_not_found, gate_not_found")})
    def post(self, request: Request, pk: int) -> Response:
        """Scan a ticket at a gate (gate role).

        Answers `valid` (the ticket is redeemed now, exactly once however many gates scan it
        at the same moment), `already_used` (with when and at which gate), `refunded`,
        `wrong_event`, `wrong_gate` (its section is not admitted here; `admitting_gates`
        says where) or `invalid` (not a ticket code, or a forged one); all with 200."""
        data = _valid(ScanInput, request)
        event = _event(pk)
        gate = gates.gate_of(event=event, name=data["gate"])
        outcome = gates.ticket_scan(event=event, gate=gate, code=data["code"],
                                    actor=request.user)
        return Response(scan_body(outcome, gate))


def _valid(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- offline gates -----------------------------------------------------------------------


class BundleQuery(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0,
                                     help_text="The last ticket id of the previous page.")
    limit = serializers.IntegerField(min_value=1, max_value=BUNDLE_PAGE, default=BUNDLE_PAGE)


class BundleGate(serializers.Serializer):
    name = serializers.CharField()
    section_ids = serializers.ListField(child=serializers.IntegerField(),
                                        help_text="Admitted sections; empty: all.")


class BundleOutput(serializers.Serializer):
    event_id = serializers.IntegerField()
    key_type = serializers.CharField(help_text='"ed25519"')
    public_key = serializers.CharField(help_text="The event's raw 32-byte key, base64.")
    gates = BundleGate(many=True)
    valid = serializers.ListField(child=serializers.IntegerField(),
                                  help_text="Valid ticket ids of this page, ascending.")
    used = serializers.ListField(child=serializers.IntegerField(),
                                 help_text="Those of `valid` already redeemed.")
    issued_up_to = serializers.IntegerField(
        help_text="The highest ticket id of the event when this page was read: a signed "
                  "code with a higher id was sold since (valid); a lower one not in `valid` "
                  "was cancelled.")
    next_after = serializers.IntegerField(allow_null=True,
                                          help_text="Pass as `after` for the next page; "
                                                    "null: this was the last.")


class OfflineBundleView(APIView):
    permission_classes = [GateRole]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "gate_offline"

    @extend_schema(parameters=[BundleQuery], responses={200: BundleOutput, **errors(
        e404="event_not_found")})
    def get(self, request: Request, pk: int) -> Response:
        """Download what an offline gate needs (gate role).

        The event's public key, its gates and the sections each admits, and the valid
        ticket ids (a page of up to 5000, by id; follow `next_after`), marking those
        already used. `ticketing/offline_gate.py` checks codes with it without a network."""
        query = BundleQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        event = _event(pk)
        page = selectors.gate_bundle_page(event.pk, after=query.validated_data["after"],
                                          limit=query.validated_data["limit"])
        limit = query.validated_data["limit"]
        gate_rows = Gate.objects.filter(event=event).prefetch_related("sections")
        return Response({
            "event_id": event.pk, "key_type": "ed25519",
            "public_key": base64.b64encode(bytes(event_key_row(event).public_key)).decode(),
            "gates": [{"name": g.name, "section_ids": sorted(s.pk for s in g.sections.all())}
                      for g in gate_rows],
            "valid": [ticket_id for ticket_id, _ in page],
            "used": [ticket_id for ticket_id, used in page if used],
            "issued_up_to": selectors.last_ticket_id(event.pk),
            "next_after": page[-1][0] if len(page) == limit else None,
        })


class QueuedScanInput(serializers.Serializer):
    scan_id = serializers.CharField(max_length=64, help_text="Made by the gate (a UUID).")
    code = serializers.CharField(max_length=fmt.MAX_CODE_LENGTH)
    scanned_at = serializers.DateTimeField()


class UploadInput(serializers.Serializer):
    gate = serializers.CharField(max_length=60)
    scans = QueuedScanInput(many=True, max_length=MAX_UPLOAD, allow_empty=True)


class UploadedScanOutput(serializers.Serializer):
    scan_id = serializers.CharField()
    result = serializers.CharField(
        help_text="valid, conflict (another gate's earlier scan keeps the entry; staff see "
                  "it), already_used (this gate's earlier scan), refunded, wrong_event, "
                  "wrong_gate, invalid")
    ticket_id = serializers.IntegerField(allow_null=True)


class UploadOutput(serializers.Serializer):
    results = UploadedScanOutput(many=True)


class ScanUploadView(APIView):
    permission_classes = [GateRole]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "gate_offline"

    @extend_schema(request=UploadInput, responses={200: UploadOutput, **errors(
        e404="event_not_found, gate_not_found")})
    def post(self, request: Request, pk: int) -> Response:
        """Upload an offline gate's queued scans (gate role).

        Up to 500 a request. Idempotent: a scan already uploaded (same gate and `scan_id`)
        answers what it did the first time. The first scan of a ticket wins; a later one at
        another gate is a conflict reported to staff (GET .../scan-conflicts/)."""
        data = _valid(UploadInput, request)
        event = _event(pk)
        gate = gates.gate_of(event=event, name=data["gate"])
        results = []
        for item in data["scans"]:
            row = gates.offline_scan_record(event=event, gate=gate, scan=gates.QueuedScan(
                **item), actor=request.user)
            results.append({"scan_id": row.scan_id, "result": row.result,
                            "ticket_id": row.ticket_id})
        return Response({"results": results})


# --- gates and their lists ---------------------------------------------------------------


class GateInput(serializers.Serializer):
    name = serializers.CharField(max_length=60)
    section_ids = serializers.ListField(child=serializers.IntegerField(min_value=1),
                                        max_length=200, default=list,
                                        help_text="Admitted sections; empty: all.")


class GateFigures(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    sections = serializers.ListField(child=serializers.CharField())
    scanned = serializers.IntegerField()
    expected = serializers.IntegerField()


class EntryProgressOutput(serializers.Serializer):
    scanned = serializers.IntegerField()
    expected = serializers.IntegerField()
    gates = GateFigures(many=True)


class GateListView(APIView):
    permission_classes = [GateRoleOrStaff]
    staff_permissions = {"GET": ("ticketing.view_gate",), "POST": ("ticketing.add_gate",)}

    @extend_schema(responses={200: EntryProgressOutput, **errors(e404="event_not_found")})
    def get(self, request: Request, pk: int) -> Response:
        """List an event's gates with their entry progress (gate role or staff).

        Each gate's admitted sections, tickets scanned in through it and tickets it expects;
        in all. Live: ws/events/<id>/gates/."""
        return Response(selectors.entry_progress(_event(pk).pk))

    @extend_schema(request=GateInput, responses={201: GateFigures, **errors(
        e404="event_not_found", e409="gate_name_taken")})
    def post(self, request: Request, pk: int) -> Response:
        """Add a gate to an event (staff).

        With the sections it admits (none: every section), e.g. a "VIP" gate for the VIP
        sections."""
        if not request.user.is_staff or not request.user.has_perm("ticketing.add_gate"):
            # The gate role reads; only staff add gates.
            self.permission_denied(request)
        data = _valid(GateInput, request)
        event = _event(pk)
        gate = gates.gate_create(event=event, name=data["name"], section_ids=data["section_ids"],
                                 actor=request.user)
        figures = next(g for g in selectors.entry_progress(event.pk)["gates"]
                       if g["id"] == gate.pk)
        return Response(figures, status=status.HTTP_201_CREATED)


class RedemptionOutput(serializers.ModelSerializer):
    gate = serializers.CharField(source="gate.name")
    section = serializers.CharField(source="ticket.seat.row.section.name")
    row = serializers.CharField(source="ticket.seat.row.label")
    seat = serializers.CharField(source="ticket.seat.label")

    class Meta:
        model = TicketRedemption
        fields = ["id", "ticket_id", "gate", "section", "row", "seat", "scanned_at", "source"]


class GateEntriesView(PaginatedListView):
    operation_docs = {
        "GET": """List a gate's check-ins (gate role or staff).

        The tickets that came in through this gate, newest first: section, row, seat, when,
        online or uploaded by an offline gate.""",
    }
    permission_classes = [GateRoleOrStaff]
    staff_permissions = {"GET": ("ticketing.view_ticketredemption",)}
    serializer_class = RedemptionOutput
    filterset_class = filters.RedemptionFilters

    def get_queryset(self):
        event = _event(self.kwargs["pk"])
        gate = Gate.objects.filter(event=event, pk=self.kwargs["gate_id"]).first()
        if gate is None:
            raise NotFound(gettext("This event has no such gate."), code="gate_not_found")
        return TicketRedemption.objects.filter(gate=gate).select_related(
            "gate", "ticket__seat__row__section")


class ScanConflictOutput(serializers.ModelSerializer):
    kept_gate = serializers.CharField(source="kept_gate.name")
    other_gate = serializers.CharField(source="other_gate.name")

    class Meta:
        model = ScanConflict
        fields = ["id", "ticket_id", "kept_gate", "kept_scanned_at", "other_gate",
                  "other_scanned_at", "detected_at", "resolved_at"]


class ScanConflictListView(PaginatedListView):
    operation_docs = {
        "GET": """List an event's scan conflicts (staff).

        Tickets let in at two gates that could not know of each other (offline): the first
        scan kept the entry; the other gate and time are here. Filter by `resolved`.""",
    }
    permission_classes = [StaffModelPermission]
    staff_permissions = {"GET": ("ticketing.view_scanconflict",)}
    serializer_class = ScanConflictOutput
    filterset_class = filters.ScanConflictFilters

    def get_queryset(self):
        return ScanConflict.objects.filter(event=_event(self.kwargs["pk"])).select_related(
            "kept_gate", "other_gate")


class ScanConflictResolveView(APIView):
    permission_classes = [StaffModelPermission]
    staff_permissions = {"POST": ("ticketing.change_scanconflict",)}

    @extend_schema(request=None, responses={200: ScanConflictOutput, **errors(
        e404="event_not_found, scan_conflict_not_found")})
    def post(self, request: Request, pk: int, conflict_id: int) -> Response:
        """Mark a scan conflict resolved (staff).

        Staff looked into it; resolving twice is harmless."""
        conflict = gates.scan_conflict_resolve(event=_event(pk), conflict_id=conflict_id,
                                               actor=request.user)
        return Response(ScanConflictOutput(conflict).data)
