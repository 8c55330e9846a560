"""The one poll engine: one prediction's rules, the schedule, streams followed.

`options` holds `WaitOptions` and their checks; `rules` one prediction's wait
(deadline, failure window, backoff, the hooks once); `schedule` whose turn it
is among many and the sync and async drivers; `streams` a prediction's
events followed and resumed.
"""
