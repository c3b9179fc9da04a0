"""The policy layer's pure logic: no Django, no database, no Redis.

Services load the facts (delegations, exemptions, counters) and call these functions; unit
tests call them directly. Each decision comes back with its trace: every check, the input it
looked at and whether it passed, in words staff can read.
"""
