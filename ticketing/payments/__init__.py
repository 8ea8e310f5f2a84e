"""Payment providers: where top-up money comes from (README "Payments").

- `base.py`: the `PaymentProvider` protocol, the values providers return, and
  `payment_provider(name)`, which builds the configured one.
- `stripe_provider.py`: Stripe PaymentIntents; notifications are Stripe's signed webhooks.
- `manual.py`: bank transfer with a reference; staff confirm receipt.
- `demo.py`: credits at once, DEBUG only.

Providers only talk to the outside; every write (payment rows, the wallet, the ledger,
audit entries) is in `ticketing/services/payments.py`.
"""
