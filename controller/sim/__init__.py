"""The device simulator: the pure device model with the firmware's rules (`device`), the generic
event-loop parts (`reactor`), and N devices speaking the contract from one process and one thread
(`simulator`, over `loop`, `traffic` and `pump`)."""
