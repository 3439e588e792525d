"""The pure core: every rule of SPEC section 4 lives here, once, with no I/O.

Where to find a rule:

- 4.1 Identification: who the customer is (rules in order, then the remembered link; e-mails
  compared case-insensitively; ids too long to be ids passed over) — `identify.py`, with
  `fields.py` (where a value comes from in Comm100) and `context.py` (the conversation).
- 4.2 Events and what they do: the decision for every row (none / overwrite / fill_empty,
  auto_create / agent_create / never, needs_contact, at most 10 attributes per call) —
  `decide.py`; values converted to Optimove's types (dates, numbers) — `values.py`.
- 4.3 Outcomes, record states, channels, agents' events — `records.py`.
- 4.4 Optimove's budget (the sliding window, never 51 calls in 10 s) and the backoff between
  attempts — `budget.py`. (Order, durability and isolation are the engine's, `sync/`.)
- 4.5 An agent's edit: what may be changed and what is written — `edits.py`.
- 4.7 A preview: candidate settings decided over past conversations by the rules above —
  `preview.py`; restoring a change from the sync log (refused when a field changed since, or
  for a creation) — `restore.py`.
- 3 Settings and their validation (every problem at once, URLs, masking) — `settings.py`,
  `urls.py`; an Optimove attribute (name, alias, type) — `attributes.py`; mappings whose
  Comm100 values may not fit their attribute's type (a warning at *Save*) — `mapping_types.py`.

Nothing here imports anything of ours but the foundation modules (`errors`, `safe_text`); the
properties of these rules are tested with hypothesis under `tests/domain/`.
"""
