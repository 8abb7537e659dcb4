"""Output devices and the gateway-side session runner with its own safety interlock.

The interlock here is the second, independent enforcement of the hard limits: whatever the closed
loop asks for, a device never runs longer, stronger or more often than its limits allow.
"""
