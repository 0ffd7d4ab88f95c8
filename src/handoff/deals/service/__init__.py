"""Deals use cases: receive and apply deal events, fix an order's billing fields, poll CRMs."""
