"""Reading what customers answer: reply classification and inbound events as interactions."""
