"""The shared kernel: what every capability uses (money, parties, the audit chain, storage with its
unit of work and outbox, outward connections). It imports no capability package.
"""
