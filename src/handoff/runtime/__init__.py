"""Runtime speed-ups kept out of the use cases: the cycle-collector pause for bulk work and the forked
helpers that render drafts and read bank lines ahead.
"""
