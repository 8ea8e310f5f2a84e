"""Input validation for live endpoints (output is live/draw_messages.py's state dicts)."""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework import serializers

from core.serializers import CachedFieldsModelSerializer
from live import fairness
from live.models import Draw, Entry

MAX_LOTTERY_NUMBER = 99
MAX_BALLOT_SIZE = 20


class CheckinInput(serializers.Serializer):
    nonce = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    code = serializers.CharField(max_length=16, required=False, allow_blank=True, allow_null=True,
                                 default=None)


class ScreenKeyInput(serializers.Serializer):
    label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class PrizeInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000, default=1)
    rank = serializers.IntegerField(min_value=1, max_value=1000)
    matches = serializers.IntegerField(min_value=0, max_value=MAX_BALLOT_SIZE, required=False,
                                       allow_null=True, default=None)


class DrawInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Draw.Kind.choices, default=Draw.Kind.RAFFLE)
    eligibility = serializers.ChoiceField(choices=Draw.Eligibility.choices,
                                          default=Draw.Eligibility.REGISTERED)
    requires_verified_phone = serializers.BooleanField(default=False)
    entries_close_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    claim_window_minutes = serializers.IntegerField(min_value=1, max_value=60 * 24 * 30,
                                                    default=60)
    numbers_count = serializers.IntegerField(min_value=1, max_value=MAX_BALLOT_SIZE,
                                             required=False, allow_null=True, default=None)
    numbers_max = serializers.IntegerField(min_value=1, max_value=MAX_LOTTERY_NUMBER,
                                           required=False, allow_null=True, default=None)
    max_ballots = serializers.IntegerField(min_value=1, max_value=100, default=1)
    lottery_mode = serializers.ChoiceField(choices=Draw.LotteryMode.choices,
                                           default=Draw.LotteryMode.TIERS)
    recurrence = serializers.ChoiceField(choices=Draw.Recurrence.choices,
                                         default=Draw.Recurrence.NONE)
    recurrence_time = serializers.TimeField(required=False, allow_null=True, default=None)
    prizes = PrizeInput(many=True, allow_empty=False)

    def validate_prizes(self, prizes):
        # A PATCH replaces the whole list, but DRF skips required fields and
        # defaults of nested items when the root serializer is partial: a prize
        # without a rank reached validate() and raised KeyError (500).
        missing = sorted({name for p in prizes for name in ("name", "rank") if name not in p})
        if missing:
            raise serializers.ValidationError(
                gettext("Each prize needs %(fields)s.") % {"fields": ", ".join(missing)})
        return [{"quantity": 1, "matches": None, **p} for p in prizes]

    def _value(self, attrs, name):
        if name in attrs:
            return attrs[name]
        if self.instance is not None:
            if name == "prizes":
                return [{"rank": p.rank, "matches": p.matches} for p in self.instance.prizes.all()]
            return getattr(self.instance, name)
        return None

    def validate(self, attrs):
        errors: dict[str, list[str]] = {}
        kind = self._value(attrs, "kind")
        prizes = self._value(attrs, "prizes") or []
        ranks = [p["rank"] for p in prizes]
        if len(ranks) != len(set(ranks)):
            errors["prizes"] = ["Each prize needs its own rank."]
        if kind == Draw.Kind.LOTTERY:
            k, n = self._value(attrs, "numbers_count"), self._value(attrs, "numbers_max")
            if k is None or n is None:
                errors["numbers_count"] = ["A lottery needs numbers_count and numbers_max."]
            elif k > n:
                errors["numbers_count"] = ["Must not exceed numbers_max."]
            elif any(p.get("matches") is not None and p["matches"] > k for p in prizes):
                errors["prizes"] = ["A tier cannot need more matches than numbers on a ballot."]
        elif any(p.get("matches") is not None for p in prizes):
            errors["prizes"] = ["Only lottery prizes have `matches` tiers."]
        close_at, scheduled = (self._value(attrs, "entries_close_at"),
                               self._value(attrs, "scheduled_at"))
        if close_at and scheduled and close_at > scheduled:
            errors["entries_close_at"] = ["Entries must close no later than the draw."]
        if (self._value(attrs, "recurrence") == Draw.Recurrence.DAILY
                and self._value(attrs, "recurrence_time") is None):
            errors["recurrence_time"] = ["A daily draw needs its local time of day."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


FALLBACK_HELP = ("Perform a tombola-beacon-v2 draw without its beacon round, giving the "
                 "reason: only once it is awaiting_beacon, BEACON_FALLBACK_AFTER_SECONDS after "
                 "its round was due (the draw's beacon.fallback_allowed_at); the proof "
                 "records it.")


class DrawCreateInput(DrawInput):
    algorithm = serializers.ChoiceField(
        choices=fairness.ALGORITHMS, required=False, allow_null=True, default=None,
        help_text="The fairness scheme (docs/fairness.md). Unset: tombola-beacon-v2 when a "
                  "randomness beacon is configured, else tombola-hmac-sha256-v1.")


class PerformInput(serializers.Serializer):
    winners = serializers.ListField(child=serializers.DictField(), required=False,
                                    allow_null=True, default=None)
    beacon_fallback = serializers.CharField(
        required=False, allow_null=True, default=None, min_length=3, max_length=500,
        help_text=FALLBACK_HELP)


class ParticipateInput(serializers.Serializer):
    # Ballot content is checked by the service (its own error code, invalid_ballot).
    numbers = serializers.JSONField(required=False, default=None)


class BallotInput(ParticipateInput):
    draw = serializers.IntegerField(min_value=1)


class BallotOutput(CachedFieldsModelSerializer):
    numbers = serializers.SerializerMethodField()
    draw_title = serializers.CharField(source="draw.title")
    event = serializers.IntegerField(source="draw.event_id")
    draw_status = serializers.CharField(source="draw.status")
    winning_numbers = serializers.JSONField(source="draw.winning_numbers")
    matches = serializers.SerializerMethodField()
    prize = serializers.SerializerMethodField()

    class Meta:
        model = Entry
        fields = ["id", "draw", "draw_title", "event", "draw_status", "ballot_no", "numbers",
                  "winning_numbers", "matches", "prize", "created_at"]

    def get_numbers(self, entry) -> list[int]:
        return entry.number_list

    def get_matches(self, entry) -> int | None:
        if not entry.draw.winning_numbers:
            return None
        return len(set(entry.number_list) & set(entry.draw.winning_numbers))

    def get_prize(self, entry) -> str | None:
        win = getattr(entry, "win", None)
        return win.prize.name if win is not None and win.forfeited_at is None else None


class ResultLookupInput(serializers.Serializer):
    # ASCII digits only: \d would also accept other scripts' digits.
    phone_last4 = serializers.RegexField(r"^[0-9]{4}\Z", trim_whitespace=False, error_messages={
        "invalid": "Give exactly the last 4 digits of the phone number."})


class ForwardInput(serializers.Serializer):
    entries = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1,
                                    max_length=100_000)


# --- Output shapes (for the OpenAPI schema; the bodies are live/draw_messages.py's dicts)


class CheckinOutput(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.IntegerField()
    checked_in_at = serializers.DateTimeField()
    nonce = serializers.CharField(allow_null=True)


class ScreenKeyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.IntegerField()
    label = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)


class ScreenKeyIssuedOutput(ScreenKeyOutput):
    key = serializers.CharField(help_text="Shown once; only its hash is stored.")


class PrizeState(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    rank = serializers.IntegerField()
    matches = serializers.IntegerField(allow_null=True)


class WinnerState(serializers.Serializer):
    id = serializers.IntegerField()
    prize_id = serializers.IntegerField()
    prize = serializers.CharField()
    rank = serializers.IntegerField()
    winner = serializers.CharField(help_text="Masked name: `Ivan P.` or `i***@example.com`.")
    entry_id = serializers.IntegerField(allow_null=True)
    round = serializers.IntegerField()
    claim_deadline = serializers.DateTimeField(allow_null=True)
    claimed_at = serializers.DateTimeField(allow_null=True)
    forfeited_at = serializers.DateTimeField(allow_null=True)


class LotteryState(serializers.Serializer):
    numbers_count = serializers.IntegerField()
    numbers_max = serializers.IntegerField()
    max_ballots = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=Draw.LotteryMode.choices)


class BeaconState(serializers.Serializer):
    chain_hash = serializers.CharField()
    round = serializers.IntegerField(allow_null=True,
                                     help_text="The first round published after entries close.")
    round_at = serializers.DateTimeField(allow_null=True)
    randomness = serializers.CharField(allow_null=True)
    signature = serializers.CharField(allow_null=True)
    waiting_since = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    fallback_allowed_at = serializers.DateTimeField(allow_null=True)
    fallback = serializers.DictField(allow_null=True)


class DrawState(serializers.Serializer):
    """The DRAW dict of live/streams.py, as REST and the streams send it."""

    # The docstring above is this component's description in the OpenAPI schema, left
    # as published; the dict itself is built in live/draw_messages.py (draw_state).

    id = serializers.IntegerField()
    event_id = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=Draw.Kind.choices)
    status = serializers.ChoiceField(choices=Draw.Status.choices)
    eligibility = serializers.ChoiceField(choices=Draw.Eligibility.choices)
    requires_verified_phone = serializers.BooleanField()
    scheduled_at = serializers.DateTimeField(allow_null=True)
    entries_close_at = serializers.DateTimeField(allow_null=True)
    claim_window_minutes = serializers.IntegerField()
    algorithm = serializers.ChoiceField(choices=fairness.ALGORITHMS)
    beacon = BeaconState(allow_null=True, help_text="tombola-beacon-v2 draws: the drand round.")
    seed_commitment = serializers.CharField()
    seed = serializers.CharField(allow_null=True, help_text="Revealed once performed.")
    entries_count = serializers.IntegerField()
    entries_digest = serializers.CharField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    performed_at = serializers.DateTimeField(allow_null=True)
    winning_numbers = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    proof_url = serializers.CharField()
    lottery = LotteryState(allow_null=True)
    recurrence = serializers.ChoiceField(choices=Draw.Recurrence.choices)
    prizes = PrizeState(many=True)
    winners = WinnerState(many=True)


class EntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    draw = serializers.IntegerField()
    ballot_no = serializers.IntegerField()
    numbers = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    created_at = serializers.DateTimeField()


class PerformWinnerInput(serializers.Serializer):
    prize_id = serializers.IntegerField()
    user_id = serializers.IntegerField()


class PerformInputSchema(serializers.Serializer):
    """PerformInput as documented: external draws name their winners."""

    winners = PerformWinnerInput(many=True, required=False, allow_null=True)
    beacon_fallback = serializers.CharField(required=False, allow_null=True,
                                            help_text=FALLBACK_HELP)


class ClaimedPrize(serializers.Serializer):
    winner_id = serializers.IntegerField()
    prize = serializers.CharField()
    claimed_at = serializers.DateTimeField()


class ClaimOutput(serializers.Serializer):
    draw = serializers.IntegerField()
    claimed = ClaimedPrize(many=True)


class NotifyOutput(serializers.Serializer):
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Already notified before this call.")


class ProofPrize(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    rank = serializers.IntegerField()
    quantity = serializers.IntegerField()
    matches = serializers.IntegerField(allow_null=True)


class ProofLottery(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Draw.LotteryMode.choices)
    numbers_count = serializers.IntegerField()
    numbers_max = serializers.IntegerField()
    winning_numbers = serializers.ListField(child=serializers.IntegerField(), allow_null=True)


class ProofWinner(serializers.Serializer):
    prize_id = serializers.IntegerField()
    entry_id = serializers.IntegerField(allow_null=True)
    pick = serializers.IntegerField(allow_null=True)
    round = serializers.IntegerField()


class ProofChain(serializers.Serializer):
    hash = serializers.CharField()
    public_key = serializers.CharField()
    period = serializers.IntegerField()
    genesis_time = serializers.IntegerField()
    scheme = serializers.CharField()


class ProofBeacon(serializers.Serializer):
    chain = ProofChain()
    round = serializers.IntegerField(allow_null=True)
    round_at = serializers.IntegerField(allow_null=True, help_text="Unix time of the round.")
    randomness = serializers.CharField(allow_null=True)
    signature = serializers.CharField(allow_null=True)
    previous_signature = serializers.CharField(allow_null=True)
    fallback = serializers.DictField(allow_null=True)


class ProofOutput(serializers.Serializer):
    """Everything `python -m live.verify` needs to recompute the winners."""

    draw_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Draw.Kind.choices)
    algorithm = serializers.CharField()
    beacon = ProofBeacon(allow_null=True, help_text="tombola-beacon-v2 only (docs/fairness.md).")
    entries_close_at = serializers.DateTimeField(allow_null=True)
    scheduled_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    seed_commitment = serializers.CharField()
    seed = serializers.CharField(allow_null=True)
    entries_digest = serializers.CharField(allow_null=True)
    entries_count = serializers.IntegerField(allow_null=True)
    entries = serializers.ListField(child=serializers.CharField(), allow_null=True,
                                    help_text="`<entry id>` or `<entry id>:<numbers>` lines.")
    prizes = ProofPrize(many=True)
    lottery = ProofLottery(allow_null=True)
    winners = ProofWinner(many=True)


class WinningBallotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    draw = serializers.IntegerField()
    event = serializers.IntegerField()
    draw_title = serializers.CharField()
    ballot = serializers.IntegerField(allow_null=True)
    numbers = serializers.ListField(child=serializers.IntegerField())
    winning_numbers = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    prize = serializers.CharField()
    winner = serializers.CharField()
    won_at = serializers.DateTimeField()


class ResultOutput(serializers.Serializer):
    winner = serializers.CharField(help_text="Masked name.")
    phone = serializers.CharField(help_text="Masked: `+7******1234`.")
    prize = serializers.CharField()
    claimed = serializers.BooleanField()


class ForwardOutput(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.IntegerField()
    status = serializers.CharField()
    entries = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class MyEntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    draw = serializers.IntegerField()
    draw_title = serializers.CharField()
    draw_kind = serializers.ChoiceField(choices=Draw.Kind.choices)
    draw_status = serializers.ChoiceField(choices=Draw.Status.choices)
    event = serializers.IntegerField()
    event_title = serializers.CharField()
    event_starts_at = serializers.DateTimeField()
    ballot_no = serializers.IntegerField()
    numbers = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    scheduled_at = serializers.DateTimeField(allow_null=True, help_text="When the draw runs.")
    state = serializers.ChoiceField(
        choices=["open", "closed", "won", "forfeited", "not_won"],
        help_text="open: entries open; closed: entries closed, not drawn yet; won: a prize "
                  "(see prize, claim_deadline, claimed_at); forfeited: won but not claimed "
                  "in time; not_won: drawn, no prize.")
    prize = serializers.CharField(allow_null=True)
    claim_deadline = serializers.DateTimeField(allow_null=True)
    claimed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
