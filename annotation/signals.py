"""Signals for the apps built on annotation (agreement recomputes its dashboard), so annotation need not import
them."""

from django.dispatch import Signal

# Sent once a change to a campaign's judgments is committed: a judgment submitted or revised, the campaign locked.
# Keyword argument: campaign_id.
judgments_changed = Signal()
