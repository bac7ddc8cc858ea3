"""The fault suite: hostile input to the controller and the firmware core (issue 5)."""
