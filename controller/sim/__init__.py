"""The device simulator: N devices speaking the contract from one process (`simulator`)."""
