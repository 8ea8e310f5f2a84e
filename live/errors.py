"""Live's domain errors: each answer a client can act on has its own code.

Services, selectors and the organiser tools raise these; core/errors.py renders them
(one JSON error shape for the API and the WebSocket).
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError, NotFound
from core.local_time import api_iso, local_format


class Forbidden(DomainError):
    status_code = 403


# --- Check-in --------------------------------------------------------------------


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    detail = _("You are already checked in to this event.")


class InvalidCheckinCode(DomainError):
    code = "invalid_checkin_code"
    detail = _("The check-in code is wrong or has expired; read the one on the screen.")


class EventNotOpen(Conflict):
    code = "event_not_open"
    detail = _("This event is not open for check-in.")


class CheckinNotOpenYet(Conflict):
    code = "checkin_not_open_yet"
    detail = _("Check-in for this event has not opened yet.")

    def __init__(self, opens_at, *, time_zone: str | None = None) -> None:
        # The detail in the event's local time and zone, `opens_at` for machines.
        super().__init__(gettext("Check-in opens at %(time)s.")
                         % {"time": local_format(opens_at, tz=time_zone)},
                         extra={"opens_at": api_iso(opens_at)})


# --- Draws: edit, enter, perform -----------------------------------------------


class DrawNotFound(NotFound):
    code = "draw_not_found"
    detail = _("No such draw.")


class EntryNotFound(NotFound):
    code = "ballot_not_found"
    detail = _("No such ballot.")


class WinningBallotNotFound(NotFound):
    code = "winning_ballot_not_found"
    detail = _("No such winning ballot.")


class DrawNotEditable(Conflict):
    code = "draw_not_editable"
    detail = _("Entries are closed; the draw can no longer be edited.")


class DrawScheduledInPast(DomainError):
    code = "scheduled_in_past"
    detail = _("A draw cannot be scheduled in the past; pick a later time or perform it now.")

    def __init__(self) -> None:
        super().__init__(extra={"fields": {"scheduled_at": [str(self.detail)]}})


class DrawHasEntries(Conflict):
    code = "draw_has_entries"
    detail = _("The kind and ballot shape of a draw cannot change once it has entries.")


class EntriesClosed(Conflict):
    code = "entries_closed"
    detail = _("Entries to this draw are closed.")


class NotEnterable(Conflict):
    code = "draw_not_enterable"
    detail = _("Winners of external draws are imported; there is nothing to enter.")


class NotCheckedIn(Forbidden):
    code = "not_checked_in"
    detail = _("Check in at the event to enter this draw.")


class NotTicketHolder(Forbidden):
    code = "not_ticket_holder"
    detail = _("Only ticket holders can enter this draw.")


class PhoneNotVerified(Forbidden):
    code = "phone_not_verified"
    detail = _("Verify your phone number to enter this draw.")


class AlreadyEntered(Conflict):
    code = "already_entered"
    detail = _("You have already entered this draw.")


class InvalidBallot(DomainError):
    code = "invalid_ballot"
    detail = _("A ballot needs distinct whole numbers within the draw's range.")


class BallotLimitReached(Conflict):
    code = "ballot_limit_reached"
    detail = _("You hold the most ballots this draw allows.")


class AlreadyPerformed(Conflict):
    code = "already_performed"
    detail = _("This draw has already been performed.")


class BeaconNotConfigured(DomainError):
    code = "beacon_not_configured"
    detail = _("No randomness beacon is configured here, so a draw cannot use "
               "tombola-beacon-v2.")


class BeaconFallbackNotAllowed(Conflict):
    code = "beacon_fallback_not_allowed"
    detail = _("Only a draw awaiting its beacon round, long enough after that round was due, "
               "may be performed without it.")


class NotPerformed(Conflict):
    code = "not_performed"
    detail = _("This draw has not been performed yet.")


class InvalidExternalWinners(DomainError):
    code = "invalid_winners"
    detail = _("External winners must name this draw's prizes, existing users, within quantity.")


# --- Claims and redraws --------------------------------------------------------


class NotAWinner(Forbidden):
    code = "not_a_winner"
    detail = _("You have no prize to claim in this draw.")


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    detail = _("You have already claimed your prize.")


class ClaimWindowClosed(Conflict):
    code = "claim_window_closed"
    detail = _("The claim window of this prize has closed.")


class ClaimWindowOpen(Conflict):
    code = "claim_window_open"
    detail = _("Unclaimed prizes can be redrawn only after their claim window.")


class NothingToRedraw(Conflict):
    code = "nothing_to_redraw"
    detail = _("Every prize is claimed or still within its claim window.")


class RedrawNotSupported(Conflict):
    code = "redraw_not_supported"
    detail = _("Only raffle prizes can be redrawn.")


# --- Organiser tools: winner imports, forwarding to the operator ----------------


class InvalidWinnersFile(DomainError):
    code = "invalid_winners_file"
    detail = _("The file has errors; nothing was imported.")


class NotExternal(Conflict):
    code = "draw_not_external"
    detail = _("Only external draws take imported winners.")


class WinnersAlreadyImported(Conflict):
    code = "winners_already_imported"
    detail = _("This draw already has different winners; they cannot be replaced by an import.")


class NoOperatorEndpoint(Conflict):
    code = "no_operator_endpoint"
    detail = _("This event has no active operator endpoint; configure one in the admin.")


class NothingToForward(DomainError):
    code = "nothing_to_forward"
    detail = _("Select at least one participant of this event.")
