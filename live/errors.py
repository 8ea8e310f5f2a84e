"""Live's domain errors: each answer a client can act on has its own code.

Services, selectors and the organiser tools raise these; core/errors.py renders them
(one JSON error shape for the API and the WebSocket).
"""

from __future__ import annotations

from core.errors import Conflict, DomainError, NotFound


class Forbidden(DomainError):
    status_code = 403


# --- Check-in --------------------------------------------------------------------


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    detail = "You are already checked in to this event."


class InvalidCheckinCode(DomainError):
    code = "invalid_checkin_code"
    detail = "The check-in code is wrong or has expired; read the one on the screen."


class EventNotOpen(Conflict):
    code = "event_not_open"
    detail = "This event is not open for check-in."


class CheckinNotOpenYet(Conflict):
    code = "checkin_not_open_yet"
    detail = "Check-in for this event has not opened yet."

    def __init__(self, opens_at) -> None:
        super().__init__(f"Check-in opens at {opens_at.isoformat()}.",
                         extra={"opens_at": opens_at.isoformat()})


# --- Draws: edit, enter, perform -----------------------------------------------


class DrawNotFound(NotFound):
    code = "draw_not_found"
    detail = "No such draw."


class EntryNotFound(NotFound):
    code = "ballot_not_found"
    detail = "No such ballot."


class WinningBallotNotFound(NotFound):
    code = "winning_ballot_not_found"
    detail = "No such winning ballot."


class DrawNotEditable(Conflict):
    code = "draw_not_editable"
    detail = "Entries are closed; the draw can no longer be edited."


class DrawScheduledInPast(DomainError):
    code = "scheduled_in_past"
    detail = "A draw cannot be scheduled in the past; pick a later time or perform it now."

    def __init__(self) -> None:
        super().__init__(extra={"fields": {"scheduled_at": [self.detail]}})


class DrawHasEntries(Conflict):
    code = "draw_has_entries"
    detail = "The kind and ballot shape of a draw cannot change once it has entries."


class EntriesClosed(Conflict):
    code = "entries_closed"
    detail = "Entries to this draw are closed."


class NotEnterable(Conflict):
    code = "draw_not_enterable"
    detail = "Winners of external draws are imported; there is nothing to enter."


class NotCheckedIn(Forbidden):
    code = "not_checked_in"
    detail = "Check in at the event to enter this draw."


class NotTicketHolder(Forbidden):
    code = "not_ticket_holder"
    detail = "Only ticket holders can enter this draw."


class PhoneNotVerified(Forbidden):
    code = "phone_not_verified"
    detail = "Verify your phone number to enter this draw."


class AlreadyEntered(Conflict):
    code = "already_entered"
    detail = "You have already entered this draw."


class InvalidBallot(DomainError):
    code = "invalid_ballot"
    detail = "A ballot needs distinct whole numbers within the draw's range."


class BallotLimitReached(Conflict):
    code = "ballot_limit_reached"
    detail = "You hold the most ballots this draw allows."


class AlreadyPerformed(Conflict):
    code = "already_performed"
    detail = "This draw has already been performed."


class NotPerformed(Conflict):
    code = "not_performed"
    detail = "This draw has not been performed yet."


class InvalidExternalWinners(DomainError):
    code = "invalid_winners"
    detail = "External winners must name this draw's prizes, existing users, within quantity."


# --- Claims and redraws --------------------------------------------------------


class NotAWinner(Forbidden):
    code = "not_a_winner"
    detail = "You have no prize to claim in this draw."


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    detail = "You have already claimed your prize."


class ClaimWindowClosed(Conflict):
    code = "claim_window_closed"
    detail = "The claim window of this prize has closed."


class ClaimWindowOpen(Conflict):
    code = "claim_window_open"
    detail = "Unclaimed prizes can be redrawn only after their claim window."


class NothingToRedraw(Conflict):
    code = "nothing_to_redraw"
    detail = "Every prize is claimed or still within its claim window."


class RedrawNotSupported(Conflict):
    code = "redraw_not_supported"
    detail = "Only raffle prizes can be redrawn."


# --- Organiser tools: winner imports, forwarding to the operator ----------------


class InvalidWinnersFile(DomainError):
    code = "invalid_winners_file"
    detail = "The file has errors; nothing was imported."


class NotExternal(Conflict):
    code = "draw_not_external"
    detail = "Only external draws take imported winners."


class WinnersAlreadyImported(Conflict):
    code = "winners_already_imported"
    detail = "This draw already has different winners; they cannot be replaced by an import."


class NoOperatorEndpoint(Conflict):
    code = "no_operator_endpoint"
    detail = "This event has no active operator endpoint; configure one in the admin."


class NothingToForward(DomainError):
    code = "nothing_to_forward"
    detail = "Select at least one participant of this event."
